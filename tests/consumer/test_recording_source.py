"""The plan's recording WADO-RS Source: it records headers, negotiates, and misbehaves as asked."""

from __future__ import annotations

import pytest
from werkzeug.test import Client

from harness.dicomweb.multipart import MultipartError, parse_multipart
from testplans.consumer_drimbox.exams import new_patient, write_fixture_study
from testplans.consumer_drimbox.recording_source import RecordingSource

ACCEPT = 'multipart/related; type="application/dicom"; transfer-syntax=1.2.840.10008.1.2.1; q=0.5'


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    return write_fixture_study(tmp_path_factory.mktemp("rs"), new_patient(), series=1, instances=3)


@pytest.fixture
def source(study):
    src = RecordingSource()
    src.add_files([r.path for r in study])
    return src


def _get(source, study, accept=ACCEPT, **headers):
    url = f"/wado-rs/studies/{study[0].study_instance_uid}/series/{study[0].series_instance_uid}"
    return Client(source.wsgi).get(url, headers={"Accept": accept, **headers})


def test_serves_and_records(source, study):
    resp = _get(source, study, **{"KOS-SOPInstanceUID": "1.2.3"})
    parts = parse_multipart(resp.headers["Content-Type"], resp.get_data())
    assert resp.status_code == 200 and len(parts) == 3
    assert "transfer-syntax=1.2.840.10008.1.2.1" in resp.headers["Content-Type"]
    seen = source.seen(study[0].series_instance_uid)
    assert seen[0].header("Kos-Sopinstanceuid") == "1.2.3" and seen[0].status == 200


def test_406_when_explicit_is_not_accepted(source, study):
    accept = 'multipart/related; type="application/dicom"; transfer-syntax=1.2.840.10008.1.2.4.80'
    assert _get(source, study, accept=accept).status_code == 406


def test_unknown_series_and_bad_paths(source, study):
    client = Client(source.wsgi)
    assert client.get(f"/wado-rs/studies/{study[0].study_instance_uid}/series/9.9").status_code == 404
    assert client.get("/wado-rs/studies/x y").status_code == 400
    assert client.get("/other").status_code == 404


def test_another_root_is_served_and_recorded(source, study):
    url = f"/dicom-web/studies/{study[0].study_instance_uid}/series/{study[0].series_instance_uid}"
    resp = Client(source.wsgi).get(url, headers={"Accept": ACCEPT})
    assert resp.status_code == 200 and source.seen(study[0].series_instance_uid)[-1].path == url


def test_once_then_always(source, study):
    uid = study[0].series_instance_uid
    source.misbehave(uid, "401", "503", always="410")
    assert [_get(source, study).status_code for _ in range(4)] == [401, 503, 410, 410]


@pytest.mark.parametrize(("action", "count"), [("missing", 2), ("extra", 4)])
def test_missing_and_extra(source, study, action, count):
    source.misbehave(study[0].series_instance_uid, always=action)
    resp = _get(source, study)
    assert len(parse_multipart(resp.headers["Content-Type"], resp.get_data())) == count


@pytest.mark.parametrize("action", ["truncate", "wrong-boundary"])
def test_malformed_bodies_do_not_parse(source, study, action):
    source.misbehave(study[0].series_instance_uid, always=action)
    resp = _get(source, study)
    with pytest.raises(MultipartError):
        parse_multipart(resp.headers["Content-Type"], resp.get_data())


def test_bad_length_announces_less_than_sent(source, study):
    source.misbehave(study[0].series_instance_uid, always="bad-length")
    resp = _get(source, study)
    headers, data = parse_multipart(resp.headers["Content-Type"], resp.get_data())[-1]
    announced = int(dict(headers)["Content-Length"])
    assert announced == len(data) - 100


def test_unknown_action_is_refused(source, study):
    with pytest.raises(ValueError):
        source.misbehave(study[0].series_instance_uid, "418")
