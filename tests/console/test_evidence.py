"""The evidence browser: each captured exchange decoded on its page (SOAP/MTOM with its XOP parts, DICOM dump,
HL7 segments, HTTP headers), search by patient id, UID or requirement, evidence.zip download
(harness/console/evidence.py). The campaign folder is written here as drimcheck run writes it."""

from __future__ import annotations

import base64
import json

import pytest
from lxml import etree

from harness.console.jobs import campaign_dir


@pytest.fixture
def campaign(app, tmp_path):
    """A finished campaign of the vendor whose evidence holds an MTOM ITI-41 with a KOS, a WADO-RS DICOM
    answer and an HL7 v2 message, the exchanges of the tests of two requirements."""
    from fixtures.reference_content import start_reference
    from harness.soap import ITI41_ACTION, build_envelope, encode_mtom, xop_include

    ref = start_reference(None, tmp_path / "content")
    kos = next(p for p in ref.files if p.name == "kos.dcm").read_bytes()
    oru = next(p for p in ref.files if p.name == "oru.hl7").read_bytes()
    body = etree.Element("{urn:ihe:iti:xds-b:2007}ProvideAndRegisterDocumentSetRequest")
    doc = etree.SubElement(body, "{urn:ihe:iti:xds-b:2007}Document", id="Document01")
    doc.append(xop_include("kos@drimcheck"))
    envelope = build_envelope(body, action=ITI41_ACTION)
    content_type, mtom = encode_mtom(envelope, {"kos@drimcheck": kos}, action=ITI41_ACTION)

    store = app.extensions["console"].store
    cid = store.add_campaign(sut="reference:dmp", plans=["dmp"], only=[], user_id=store.user_by_name("vendor")["id"])
    store.set_state(cid, "finished", verdict="fail")
    out = campaign_dir(app.extensions["console"].data, cid) / "out"
    (out / "evidence").mkdir(parents=True)

    def side(headers, data):
        return {"headers": headers, "body": {"base64": base64.b64encode(data).decode(), "size": len(data),
                                             "sha256": "0" * 64}}

    exchanges = [
        {"id": "x1", "test": "dmp/test_iti41.py::test_pnr", "protocol": "soap", "actor": "dmp-simulator",
         "direction": "inbound", "summary": "POST /repository ITI-41", "peer": "127.0.0.1:1", "status": "200",
         "started": 1.0, "elapsed": 0.1, "error": None,
         "request": side([["Content-Type", content_type]], mtom), "response": side([], b"")},
        {"id": "x2", "test": "dmp/test_wado.py::test_instance", "protocol": "http", "actor": "harness:wado-client",
         "direction": "outbound", "summary": "GET /wado-rs/studies/1", "peer": "", "status": "200", "started": 2.0,
         "elapsed": 0.1, "error": None, "request": side([], b""),
         "response": side([["Content-Type", "application/dicom"]], kos)},
        {"id": "x3", "test": "dmp/test_wado.py::test_instance", "protocol": "hl7", "actor": "ris", "direction":
         "outbound", "summary": "ORU^R01", "peer": "", "status": "AA", "started": 3.0, "elapsed": 0.1, "error": None,
         "request": side([], oru), "response": side([], b"")},
    ]
    (out / "evidence" / "exchanges.jsonl").write_text("\n".join(json.dumps(e) for e in exchanges) + "\n{torn")
    results = {"summary": {"verdict": "fail", "requirements": {"failed": 1}}, "requirements": [
        {"id": "DMP-PNR-HASH-COMPUTED", "title": "hash", "level": "SHALL", "verdict": "failed",
         "failures": [{"rule": "DMP-PNR-HASH-COMPUTED", "location": "slot hash", "expected": "a", "observed": "b",
                       "message": "hash is not the SHA-1 of the KOS"}], "tests": ["dmp/test_iti41.py::test_pnr"]}],
        "tests": [{"nodeid": "dmp/test_iti41.py::test_pnr", "requirements": ["DMP-PNR-HASH-COMPUTED"],
                   "outcome": "failed", "exchanges": ["x1"]},
                  {"nodeid": "dmp/test_wado.py::test_instance", "requirements": ["SRC-WADO-001"], "outcome": "passed"}]}
    (out / "results.json").write_text(json.dumps(results))
    (out / "evidence.zip").write_bytes(b"PK\x05\x06" + b"\0" * 18)
    return cid, kos, oru


def test_each_exchange_is_listed_with_its_requirements(vendor, campaign):
    cid, _kos, _oru = campaign
    page = vendor.get(f"/campaigns/{cid}/evidence").text
    assert "POST /repository ITI-41" in page and "DMP-PNR-HASH-COMPUTED" in page and "ORU^R01" in page


def test_soap_mtom_is_decoded_with_its_parts(vendor, campaign):
    cid, kos, _oru = campaign
    import hashlib

    page = vendor.get(f"/campaigns/{cid}/exchanges/x1").text
    assert "MTOM/XOP envelope (action urn:ihe:iti:2007:ProvideAndRegisterDocumentSet-b)" in page
    assert "ProvideAndRegisterDocumentSetRequest" in page
    assert f"SHA-1 {hashlib.sha1(kos).hexdigest()}, DICOM" in page
    assert "(0008,0016) SOP Class UID" in page
    assert "multipart/related" in page  # the HTTP headers


def test_dicom_and_hl7_are_decoded(vendor, campaign):
    cid, _kos, oru = campaign
    assert "(0010,0020) Patient ID" in vendor.get(f"/campaigns/{cid}/exchanges/x2").text
    page = vendor.get(f"/campaigns/{cid}/exchanges/x3").text
    assert "HL7 v2 (one segment per line)" in page
    segments = oru.decode("utf-8").strip("\x0b\x1c\r\n").split("\r")
    assert "\nPID|" in page.replace("\r", "") and len(segments) > 3


def test_search_by_requirement_patient_id_and_uid(vendor, campaign):
    cid, kos, _oru = campaign
    import io

    import pydicom

    ds = pydicom.dcmread(io.BytesIO(kos))
    by_req = vendor.get(f"/campaigns/{cid}/evidence?q=dmp-pnr-hash").text
    assert "POST /repository ITI-41" in by_req and "GET /wado-rs" not in by_req
    by_uid = vendor.get(f"/campaigns/{cid}/evidence?q={ds.StudyInstanceUID}").text
    assert "GET /wado-rs/studies/1" in by_uid and "POST /repository" in by_uid and "body" in by_uid
    by_patient = vendor.get(f"/search?q={ds.PatientID!s}").text
    assert "ORU^R01" in by_patient


def test_a_failed_requirement_leads_to_its_messages(vendor, campaign):
    cid, _kos, _oru = campaign
    page = vendor.get(f"/campaigns/{cid}/requirements/DMP-PNR-HASH-COMPUTED").text
    assert "hash is not the SHA-1 of the KOS" in page and f"/campaigns/{cid}/exchanges/x1" in page
    assert vendor.get(f"/campaigns/{cid}/requirements/NOPE").status_code == 404


def test_evidence_zip_is_downloaded_and_other_files_are_not_served(vendor, campaign):
    cid, _kos, _oru = campaign
    response = vendor.get(f"/campaigns/{cid}/files/evidence.zip")
    assert response.status_code == 200 and response.headers["Content-Disposition"].startswith("attachment")
    assert vendor.get(f"/campaigns/{cid}/files/..%2Fresults.json").status_code == 404
    assert vendor.get(f"/campaigns/{cid}/files/run.log").status_code == 404
