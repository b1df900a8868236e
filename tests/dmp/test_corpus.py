"""Interoperability with third-party XDS.b messages (../shared/corpus/xds): what is valid is
accepted (profile xds), the NIST negative cases are rejected with the error their names state.

Register (ITI-42) and metadata-only samples carry no documents: they are wrapped into a PnR with one
synthetic document per DocumentEntry (hash/size slots dropped, as the repository then computes them).
"""

from __future__ import annotations

import copy
import tempfile
from pathlib import Path

import pytest
from lxml import etree

from harness.soap import ITI41_ACTION, build_envelope, encode_mtom, xop_include
from harness.xmlsafe import parse_xml
from simulators.dmp import reference
from simulators.dmp.config import DmpConfig

from .dmp_testing import client_of

CORPUS = Path(__file__).resolve().parents[3] / "shared" / "corpus" / "xds"
RIM = "urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0"
LCM = "urn:oasis:names:tc:ebxml-regrep:xsd:lcm:3.0"
XDSB = "urn:ihe:iti:xds-b:2007"
SOAP_CT = f'application/soap+xml; charset=UTF-8; action="{ITI41_ACTION}"'

ACCEPTED = ["dcm4chee-xds/CreateFolderWithDocument.xml", "dcm4chee-xds/RegisterOneDocument.xml",
            "dcm4chee-xds/RegisterTwoDocuments.xml", "nist-messagevalidator/pnr.xml",
            "nist-messagevalidator/pnr-log.xml"]
# NIST negative cases: the name says what is wrong; each is a metadata error (ITI TF-3 Table 4.2.4.1-2)
REJECTED = {
    "nist-messagevalidator/pnr-assoc-to-self.xml": "XDSRegistryMetadataError",
    "nist-messagevalidator/pnr-bad-uplink.xml": "XDSRegistryMetadataError",
    "nist-messagevalidator/pnr-element-order.xml": "XDSRegistryMetadataError",
    "nist-messagevalidator/pnr-limited.xml": "XDSRegistryMetadataError",  # XDR limited metadata, not XDS
}
# SOAP-level NIST negatives, sent with their own envelope: a SOAP Sender fault
FAULTS = ["nist-messagevalidator/soap-noaction-pnr.xml", "nist-messagevalidator/soap-pnr-soap-order.xml",
          "nist-messagevalidator/soap-pnr.xml"]  # the last has no wsa:MessageID


def corpus(name: str) -> Path:
    path = CORPUS / name
    if not path.exists():
        pytest.skip(f"corpus missing: {path}")
    return path


@pytest.fixture(scope="module")
def server():
    with reference.start(DmpConfig(workdir=Path(tempfile.mkdtemp()), vihf="off", profile="xds")) as ref:
        yield ref


def as_pnr(path: Path, content: bytes = b"document") -> tuple[str, bytes]:
    root = parse_xml(path.read_bytes())
    sor = root if root.tag == f"{{{LCM}}}SubmitObjectsRequest" else root.find(f".//{{{LCM}}}SubmitObjectsRequest")
    sor = copy.deepcopy(sor)
    req = etree.Element(f"{{{XDSB}}}ProvideAndRegisterDocumentSetRequest", nsmap={"xdsb": XDSB})
    req.append(sor)
    attachments = {}
    for i, entry in enumerate(sor.iter(f"{{{RIM}}}ExtrinsicObject")):
        for slot in entry.findall(f"{{{RIM}}}Slot"):
            if slot.get("name") in ("hash", "size"):
                entry.remove(slot)
        cid = f"doc{i}@corpus"
        attachments[cid] = content + b" %d" % i
        etree.SubElement(req, f"{{{XDSB}}}Document", id=entry.get("id")).append(xop_include(cid))
    return encode_mtom(build_envelope(req, action=ITI41_ACTION), attachments, action=ITI41_ACTION)


@pytest.mark.parametrize("name", ACCEPTED)
def test_valid_submission_is_accepted(name):
    with reference.start(DmpConfig(workdir=Path(tempfile.mkdtemp()), vihf="off", profile="xds")) as ref:
        result = client_of(ref).post(ref.endpoints["repository"], *as_pnr(corpus(name)))
        assert result.success, result.errors


@pytest.mark.parametrize("name,code", sorted(REJECTED.items()))
def test_nist_negative_is_rejected(server, name, code):
    result = client_of(server).post(server.endpoints["repository"], *as_pnr(corpus(name)))
    assert not result.success and code in result.error_codes, result.errors


@pytest.mark.parametrize("name", FAULTS)
def test_nist_soap_negative_gets_a_fault(server, name):
    result = client_of(server).post(server.endpoints["repository"], SOAP_CT, corpus(name).read_bytes())
    assert result.fault is not None and result.fault.code == "Sender"


def test_resubmission_with_other_content_is_non_identical_hash():
    """dcm4chee's pair: the same document uniqueId submitted again with another hash."""
    with reference.start(DmpConfig(workdir=Path(tempfile.mkdtemp()), vihf="off", profile="xds")) as ref:
        client = client_of(ref)
        assert client.post(ref.endpoints["repository"],
                           *as_pnr(corpus("dcm4chee-xds/RegisterOneDocument.xml"), b"first")).success
        again = client.post(ref.endpoints["repository"],
                            *as_pnr(corpus("dcm4chee-xds/ResubmitWrongHash.xml"), b"second"))
        assert again.error_codes == ["XDSNonIdenticalHash"]


def test_nist_mtom_capture_is_accepted(server):
    raw = corpus("nist-messagevalidator/http-mtom-pnr.txt").read_bytes()
    head, _, body = raw.partition(b"\n\n")
    ctype = next(line.split(b":", 1)[1] for line in head.splitlines() if line.lower().startswith(b"content-type"))
    result = client_of(server).post(server.endpoints["repository"], ctype.decode().strip(), body)
    assert result.success and result.message.mtom, result.errors
