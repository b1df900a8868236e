"""simulators.consumer.importer: all-or-nothing C-STORE into the embedded PACS, reconciliation."""

from __future__ import annotations

import json

import pydicom
import pytest

from simulators.consumer.importer import import_series, parse_peer, reconcile
from simulators.consumer.retrieve import SeriesResult
from simulators.pacs import start_pacs
from testplans.consumer_drimbox.exams import new_patient, write_fixture_study


@pytest.fixture(scope="module")
def pacs(tmp_path_factory):
    with start_pacs(tmp_path_factory.mktemp("pacs"), aet="LOCALPACS", dicomweb=False) as running:
        yield running


def _result(tmp_path, status="complete", n=2):
    refs = write_fixture_study(tmp_path, new_patient(), series=1, instances=n)
    return SeriesResult(refs[0].series_instance_uid, status, files={r.sop_instance_uid: r.path for r in refs}), refs


@pytest.mark.parametrize(("spec", "ok"), [("PACS@127.0.0.1:104", True), ("127.0.0.1:104", False),
                                          ("PACS@host", False), ("@h:1", False), ("P@h:x", False)])
def test_parse_peer(spec, ok):
    if ok:
        assert parse_peer(spec, "ME").port == 104
    else:
        with pytest.raises(ValueError):
            parse_peer(spec, "ME")


def test_complete_series_is_imported(pacs, tmp_path):
    result, refs = _result(tmp_path)
    peer = parse_peer(pacs.endpoints["dimse"], "CONSUMER")
    assert import_series(result, peer).status == "imported" and result.imported == 2
    stored = {r["SOPInstanceUID"] for r in pacs.store.records({"series_uid": [result.series_uid]})}
    assert stored == {r.sop_instance_uid for r in refs}


@pytest.mark.parametrize("status", ["incomplete", "malformed", "deleted", "refused"])
def test_nothing_of_an_unfinished_series_is_sent(pacs, tmp_path, status):
    result, _ = _result(tmp_path, status)
    assert import_series(result, parse_peer(pacs.endpoints["dimse"], "C")).status == status
    assert pacs.store.records({"series_uid": [result.series_uid]}) == []


def test_unreachable_pacs_is_import_failed(tmp_path):
    result, _ = _result(tmp_path)
    assert import_series(result, parse_peer("NOPE@127.0.0.1:9", "C")).status == "import-failed"


def test_reconciliation(pacs, tmp_path):
    result, refs = _result(tmp_path, n=1)
    import_series(result, parse_peer(pacs.endpoints["dimse"], "C"), local_id="LOC1", local_issuer="CAB",
                  log_dir=tmp_path)
    rec = pacs.store.records({"sop_instance_uid": [refs[0].sop_instance_uid]})[0]
    ds = pydicom.dcmread(rec.path, stop_before_pixels=True)
    assert ds.PatientID == "LOC1" and ds.IssuerOfPatientID == "CAB"
    assert [o.PatientID for o in ds.OtherPatientIDsSequence] == [pydicom.dcmread(refs[0].path).PatientID]
    log = [json.loads(line) for line in (tmp_path / "reconciliation.jsonl").read_text().splitlines()]
    assert log[0]["local_patient_id"] == "LOC1" and log[0]["instances"] == 1


def test_reconcile_keeps_other_ids_once(tmp_path):
    refs = write_fixture_study(tmp_path, new_patient(), series=1, instances=1)
    once = reconcile(refs[0].path, "L", "I")
    twice = reconcile(once, "L2", "I")
    ids = [o.PatientID for o in pydicom.dcmread(twice).OtherPatientIDsSequence]
    assert ids == ["L", pydicom.dcmread(refs[0].path).PatientID]


def test_import_into_orthanc(tmp_path):
    from harness.orthanc import skip_reason, start_orthanc

    reason = skip_reason()
    if reason:
        pytest.skip(reason)
    result, refs = _result(tmp_path, n=2)
    with start_orthanc(tmp_path / "orthanc") as orthanc:
        peer = parse_peer(orthanc.endpoints["dimse"], "CONSUMER")
        assert import_series(result, peer).status == "imported"
        import requests

        found = requests.post(orthanc.rest_url + "/tools/find", json={
            "Level": "Instance", "Query": {"SeriesInstanceUID": result.series_uid}}, timeout=10).json()
        assert len(found) == len(refs)


class _FakeAssoc:
    """send_c_store answers from a script: a status, or None for 'no answer'."""

    def __init__(self, script: list):
        self.script, self.is_established, self.sent = script, True, []

    def send_c_store(self, path):
        from pydicom.dataset import Dataset

        self.sent.append(path)
        status = self.script.pop(0) if self.script else 0
        if status is None:
            self.is_established = False
            return Dataset()
        rsp = Dataset()
        rsp.Status = status
        return rsp

    def release(self):
        self.is_established = False


def test_no_answer_is_resent_on_a_new_association(tmp_path, monkeypatch):
    from simulators.consumer import importer

    refs = write_fixture_study(tmp_path, new_patient(), series=1, instances=3)
    assocs = [_FakeAssoc([0, None]), _FakeAssoc([])]
    monkeypatch.setattr(importer, "_associate", lambda peer, pairs: assocs.pop(0))
    statuses = importer.store_files(parse_peer("P@127.0.0.1:1", "C"), [r.path for r in refs])
    assert list(statuses.values()) == [0, 0, 0] and assocs == []


def test_refusal_stops_the_series(tmp_path, monkeypatch):
    from simulators.consumer import importer

    refs = write_fixture_study(tmp_path, new_patient(), series=1, instances=3)
    assoc = _FakeAssoc([0, 0xA700])
    monkeypatch.setattr(importer, "_associate", lambda peer, pairs: assoc)
    statuses = importer.store_files(parse_peer("P@127.0.0.1:1", "C"), [r.path for r in refs])
    assert list(statuses.values()) == [0, 0xA700] and len(assoc.sent) == 2
    result = SeriesResult("s", "complete", files={r.sop_instance_uid: r.path for r in refs})
    monkeypatch.setattr(importer, "_associate", lambda peer, pairs: _FakeAssoc([None, None, None]))
    assert import_series(result, parse_peer("P@127.0.0.1:1", "C")).status == "import-failed"
    assert "no answer" in result.detail
