"""Differential test: our XSDs (schemas/xsd) reach the official XSDs' verdict on every XML message
of the corpus. Two official sets are compared, the NIST toolkit and the
dcm4chee-xds copies of ebRS 3.0 (rim, rs, lcm, query) and IHE XDS.b (XDS.b_DocumentRepository.xsd);
XDS-I.b (RAD-69) payloads are outside every set, so all reject them as undeclared roots.

The payload validated is the first child of soap:Body for an envelope, else the root; files that
are not well-formed are skipped (no verdict from either side).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree
from xds_testdata import CORPUS

from harness.xds.schema import payload_of, schema_errors

OFFICIAL_SETS = {  # name -> (folder, schema file per namespace)
    "nist": (CORPUS / "xsd" / "nist-iheos-toolkit2", ["rim.xsd", "rs.xsd", "lcm.xsd", "query.xsd",
                                                       "XDS.b_DocumentRepository.xsd"]),
    "dcm4chee": (CORPUS / "xsd" / "dcm4chee-xds2-infoset" / "schema",
                 ["ebRS/rim.xsd", "ebRS/rs.xsd", "ebRS/lcm.xsd", "ebRS/query.xsd", "IHE/XDS.b_DocumentRepository.xsd"]),
}
NAMESPACES = ["urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0", "urn:oasis:names:tc:ebxml-regrep:xsd:rs:3.0",
              "urn:oasis:names:tc:ebxml-regrep:xsd:lcm:3.0", "urn:oasis:names:tc:ebxml-regrep:xsd:query:3.0",
              "urn:ihe:iti:xds-b:2007"]
XDS_DIR = CORPUS / "xds"


def _official_schema(name: str) -> etree.XMLSchema:
    folder, files = OFFICIAL_SETS[name]
    imports = "".join(f'<xs:import namespace="{ns}" schemaLocation="{(folder / f).as_uri()}"/>'
                      for ns, f in zip(NAMESPACES, files, strict=True))
    driver = (f'<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" targetNamespace="urn:x:driver">'
              f"{imports}</xs:schema>")
    return etree.XMLSchema(etree.fromstring(driver.encode(), base_url=(folder / "driver.xsd").as_uri()))


def _messages() -> list[Path]:
    """Every .xml under xds/, plus the ANS DMP-style submissions (drim-m-data, demonstrator XDM)."""
    found = sorted(XDS_DIR.rglob("*.xml")) if XDS_DIR.exists() else []
    found += sorted((CORPUS / "drim-m-data").rglob("XDS.xml")) if (CORPUS / "drim-m-data").exists() else []
    found += sorted((CORPUS / "drimbox-poc-samples").rglob("METADATA.XML")) \
        if (CORPUS / "drimbox-poc-samples").exists() else []
    return found


@pytest.fixture(scope="module", params=sorted(OFFICIAL_SETS))
def official(request):
    folder = OFFICIAL_SETS[request.param][0]
    if not folder.exists():
        pytest.skip(f"corpus missing: {folder}")
    return _official_schema(request.param)


def _payload(path: Path) -> etree._Element | None:
    try:
        root = etree.parse(str(path), etree.XMLParser(resolve_entities=False, no_network=True)).getroot()
    except etree.XMLSyntaxError:
        return None
    return payload_of(root)


@pytest.mark.parametrize("path", _messages() or [pytest.param(None, marks=pytest.mark.skip(
    reason=f"corpus missing: {XDS_DIR}"))], ids=lambda p: str(p.relative_to(CORPUS)) if p else "none")
def test_same_verdict_as_official_xsd(path, official):
    payload = _payload(path)
    if payload is None:
        pytest.skip("not well-formed XML: no verdict")
    theirs = official.validate(payload)
    ours = schema_errors(payload)
    assert (not ours) == theirs, f"official says {theirs}, ours says {ours or 'valid'}; " \
        f"official log: {official.error_log.last_error}"


def test_corpus_has_both_verdicts(official):
    """Guard: the folder holds valid and invalid payloads, so the comparison means something."""
    verdicts = {official.validate(p) for p in map(_payload, _messages()) if p is not None}
    assert verdicts == {True, False}


def _mutations(payload: etree._Element):
    """Named structural mutations of a valid payload, for a differential check beyond the corpus."""
    rim = "{urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0}"

    def first(tag):
        return next(payload.iter(rim + tag), None)

    def drop_attr(tag, attr):
        elem = first(tag)
        if elem is not None and elem.get(attr) is not None:
            del elem.attrib[attr]
            return True
        return False

    def long_value():
        elem = first("Value")
        if elem is None:
            return False
        elem.text = "x" * 257
        return True

    def unknown_child():
        elem = first("ExtrinsicObject")
        elem = first("RegistryPackage") if elem is None else elem
        if elem is None:
            return False
        etree.SubElement(elem, rim + "Bogus")
        return True

    def swap_name_description():
        for elem in payload.iter(rim + "ExtrinsicObject", rim + "RegistryPackage"):
            name, desc = elem.find(rim + "Name"), elem.find(rim + "Description")
            if name is not None and desc is not None:
                name.addprevious(desc)
                return True
        return False

    def empty_value_list():
        slot = first("Slot")
        if slot is None:
            return False
        slot.remove(slot[0])
        return True

    return {"drop-eo-id": lambda: drop_attr("ExtrinsicObject", "id"),
            "drop-classified-object": lambda: drop_attr("Classification", "classifiedObject"),
            "drop-assoc-type": lambda: drop_attr("Association", "associationType"),
            "drop-ei-value": lambda: drop_attr("ExternalIdentifier", "value"),
            "long-value": long_value, "unknown-child": unknown_child,
            "description-before-name": swap_name_description, "slot-without-value-list": empty_value_list}


SEEDS = ["xds/nist-messagevalidator/pnr.xml", "xds/ipf/SubmitObjectsRequest_ebrs30.xml",
         "xds/dcm4chee-xds/CreateFolderWithDocument.xml", "xds/nist-messagevalidator/sq-resp-lc.xml"]


@pytest.mark.parametrize("seed", SEEDS)
def test_same_verdict_on_mutations(seed, official):
    path = CORPUS / seed
    if not path.exists():
        pytest.skip(f"corpus missing: {path}")
    names = list(_mutations(_payload(path)))
    compared = 0
    for name in names:
        payload = _payload(path)
        if not _mutations(payload)[name]():
            continue
        compared += 1
        theirs, ours = official.validate(payload), not schema_errors(payload)
        assert ours == theirs, f"{name}: official {theirs}, ours {ours}"
        assert not theirs, f"{name} was meant to break the schema"
    assert compared >= 4
