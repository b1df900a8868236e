"""The REST API mirroring the CLI, the Gazelle EVS v2 endpoints and the OpenAPI 3.1 document
(harness/console/api.py, evs.py)."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import pytest

from tests.console.conftest import token_of


@pytest.fixture(scope="module")
def good_files(tmp_path_factory) -> dict[str, Path]:
    from fixtures.reference_content import start_reference

    ref = start_reference(None, tmp_path_factory.mktemp("good"))
    return {f"{p.parent.name}/{p.name}": p for p in ref.files}


@pytest.fixture(scope="module")
def bad_hl7(tmp_path_factory) -> bytes:
    from fixtures.reference_content import start_reference

    ref = start_reference("hl7-wrong-message-type", tmp_path_factory.mktemp("bad"))
    return next(p for p in ref.files if p.parent.name == "exam1" and p.name == "oru.hl7").read_bytes()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def test_the_openapi_document_is_valid_openapi_3_1(app):
    validator = pytest.importorskip("openapi_spec_validator", reason="openapi-spec-validator is a test extra")
    response = app.test_client().get("/api/v1/openapi.json")
    assert response.status_code == 200
    document = response.json
    assert document["openapi"] == "3.1.0"
    validator.validate(document)
    routes = {r.rule.replace("<int:", "{").replace(">", "}") for r in app.url_map.iter_rules()
              if r.rule.startswith(("/api/", "/validation/"))}
    assert routes == set(document["paths"])


def test_evs_profiles_and_a_passed_and_a_failed_input(vendor, good_files, bad_hl7):
    headers = token_of(vendor)
    client = vendor.client
    profiles = client.get("/validation/v2/profiles", headers=headers).json
    assert {p["profileID"] for p in profiles} == {"drimcheck-dmp", "drimcheck-xds"}
    assert profiles[0]["inputs"][0] == {"id": "contentToValidate", "label": profiles[0]["inputs"][0]["label"],
                                        "required": True}
    body = {"validationProfileId": "drimcheck-dmp", "inputs": [
        {"id": "contentToValidate", "itemId": "oru.hl7", "content": _b64(good_files["exam1/oru.hl7"].read_bytes())}]}
    report = client.post("/validation/v2/validate", json=body, headers=headers).json
    assert report["overallResult"] == "PASSED", report
    assert report["modelVersion"] == "2.0" and report["validationMethod"]["validationProfileID"] == "drimcheck-dmp"
    assert report["reports"][0]["subReportResult"] == "PASSED"
    body["inputs"].append({"id": "contentToValidate", "itemId": "bad.hl7", "content": _b64(bad_hl7)})
    # the same token through Gazelle's own scheme
    gazelle = {"Authorization": headers["Authorization"].replace("Bearer", "GazelleAPIKey")}
    report = client.post("/validation/v2/validate", json=body, headers=gazelle).json
    assert report["overallResult"] == "FAILED"
    assert [r["subReportResult"] for r in report["reports"]] == ["PASSED", "FAILED"]
    failed = [a for a in report["reports"][1]["assertionReports"] if a["result"] == "FAILED"]
    assert failed and all({"assertionID", "description", "severity", "priority"} <= set(a) for a in failed)
    assert report["counters"]["numberOfFailedWithErrors"] == sum(a["severity"] == "ERROR" for a in failed) > 0


def test_evs_undefined_for_an_unknown_kind_and_400_for_a_bad_request(vendor):
    headers = token_of(vendor)
    client = vendor.client
    body = {"validationProfileId": "drimcheck-xds", "inputs": [{"itemId": "x", "content": _b64(b"hello world")}]}
    report = client.post("/validation/v2/validate", json=body, headers=headers).json
    assert report["overallResult"] in ("UNDEFINED", "FAILED")
    bad = client.post("/validation/v2/validate", headers=headers,
                      json={"validationProfileId": "nope", "inputs": [{"content": "%%%"}]})
    assert bad.status_code == 400
    assert any(p.startswith("validationProfileId") for p in bad.json["problems"])
    assert any("not base64" in p for p in bad.json["problems"])


def test_validate_api_multipart_and_json(vendor, good_files, bad_hl7):
    headers = token_of(vendor)
    client = vendor.client
    files = [(io.BytesIO(good_files["exam1/kos.dcm"].read_bytes()), "kos.dcm"), (io.BytesIO(bad_hl7), "oru.hl7")]
    response = client.post("/api/v1/validate", headers=headers, data={"file": files, "profile": "dmp"},
                           content_type="multipart/form-data")
    assert response.status_code == 200
    assert [(r["file"], r["ok"]) for r in response.json["reports"]] == [("kos.dcm", True), ("oru.hl7", False)]
    response = client.post("/api/v1/validate", headers=headers, json={
        "files": [{"name": "cr-img.xml", "content": _b64(good_files["exam1/cr-img.xml"].read_bytes())}]})
    assert response.json["ok"] is True and response.json["reports"][0]["kind"] == "cda"
    assert client.post("/api/v1/validate", headers=headers, json={"files": [{"content": "%%"}]}).status_code == 400


def test_the_validators_page_takes_dropped_files(vendor, bad_hl7):
    response = vendor.post("/validate", {"file": [(io.BytesIO(bad_hl7), "oru.hl7")], "profile": "dmp"},
                           content_type="multipart/form-data")
    assert response.status_code == 200 and "FAILED" in response.text and "HL7-" in response.text


def test_profiles_and_campaigns_over_the_api(app, vendor):
    headers = token_of(vendor)
    client = vendor.client
    bad = client.post("/api/v1/profiles", headers=headers, json={"yaml": "name: x\nactor: dmp\ncolour: 1\n"})
    assert bad.status_code == 422 and any(p.startswith("colour") for p in bad.json["problems"])
    text = "name: Acme DMP\nactor: dmp\nendpoints: {registry: http://127.0.0.1:1/r, repository: http://127.0.0.1:1/p}\n"
    made = client.post("/api/v1/profiles", headers=headers, json={"yaml": text})
    assert made.status_code == 201
    pid = made.json["id"]
    assert client.put(f"/api/v1/profiles/{pid}", headers=headers, json={"yaml": text}).json["version"] == 2
    assert client.get(f"/api/v1/profiles/{pid}", headers=headers).json["versions"] == [2, 1]
    checked = client.post("/api/v1/profiles/check", headers=headers, json={"yaml": text, "connect": True}).json
    assert [e["ok"] for e in checked["endpoints"]] == [False, False]
    assert [p["id"] for p in client.get("/api/v1/profiles", headers=headers).json] == [pid]

    started = client.post("/api/v1/campaigns", headers=headers, json={"sut": "reference:content", "plans": ["content"]})
    assert started.status_code == 202 and started.json["state"] == "queued"
    cid = started.json["id"]
    assert client.get(f"/api/v1/campaigns/{cid}", headers=headers).json["id"] == cid
    assert client.get(f"/api/v1/campaigns/{cid}/results", headers=headers).status_code == 409
    assert client.get(f"/api/v1/campaigns/{cid}/report", headers=headers).status_code == 409
    assert client.post(f"/api/v1/campaigns/{cid}/cancel", headers=headers).json["state"] == "cancelled"
    assert client.post(f"/api/v1/campaigns/{cid}/cancel", headers=headers).status_code == 409
    refused = client.post("/api/v1/campaigns", headers=headers, json={"profile_id": pid, "plans": ["content"]})
    assert refused.status_code == 422 and "plan content checks a content" in refused.json["error"]
