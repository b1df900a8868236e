"""DICOMweb (QIDO-RS / WADO-RS) of the embedded PACS, the same scenarios against Orthanc's plugin."""

from __future__ import annotations

import http.client
import io
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests
from pydicom import dcmread

from fixtures.studies import InstanceRef
from harness.capture import recorder
from harness.dicom import load_study_into_pacs
from harness.dicomweb import parse_multipart
from simulators.pacs import EmbeddedPacs

DICOM_ANY = 'multipart/related; type="application/dicom"; transfer-syntax=*'
EXPLICIT = 'multipart/related; type="application/dicom"; transfer-syntax=1.2.840.10008.1.2.1'
JLS = 'multipart/related; type="application/dicom"; transfer-syntax=1.2.840.10008.1.2.4.80'
INS = "248098765432109"


@pytest.fixture
def web(any_pacs: object, small_study: list[InstanceRef]) -> tuple[str, list[InstanceRef]]:
    load_study_into_pacs([r.path for r in small_study], any_pacs.host, any_pacs.port, any_pacs.aet)  # type: ignore[attr-defined]
    return any_pacs.dicomweb_url, small_study  # type: ignore[attr-defined]


def _get(url: str, accept: str | None = None, **params: str) -> requests.Response:
    headers = {"Accept": accept} if accept else {}
    return requests.get(url, headers=headers, params=params, timeout=30)


def test_qido_study_series_instances(web: tuple[str, list[InstanceRef]]) -> None:
    base, study = web
    st = study[0].study_instance_uid
    r = _get(f"{base}/studies", "application/dicom+json", PatientID=INS)
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("application/dicom+json")
    assert [a["0020000D"]["Value"][0] for a in r.json()] == [st]
    r = _get(f"{base}/studies/{st}/series", "application/dicom+json")
    assert sorted(a["0020000E"]["Value"][0] for a in r.json()) == sorted({x.series_instance_uid for x in study})
    se = study[0].series_instance_uid
    r = _get(f"{base}/studies/{st}/series/{se}/instances", "application/dicom+json")
    assert sorted(a["00080018"]["Value"][0] for a in r.json()) == \
        sorted(x.sop_instance_uid for x in study if x.series_instance_uid == se)


def test_wado_series_multipart(web: tuple[str, list[InstanceRef]]) -> None:
    base, study = web
    st, se = study[0].study_instance_uid, study[0].series_instance_uid
    r = _get(f"{base}/studies/{st}/series/{se}", DICOM_ANY)
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("multipart/related")
    parts = parse_multipart(r.headers["Content-Type"], r.content)
    uids = sorted(dcmread(io.BytesIO(body)).SOPInstanceUID for _, body in parts)
    assert uids == sorted(x.sop_instance_uid for x in study if x.series_instance_uid == se)


def test_wado_explicit_transcodes_and_keeps_pixels(web: tuple[str, list[InstanceRef]]) -> None:
    base, study = web
    ref = study[0]
    url = f"{base}/studies/{ref.study_instance_uid}/series/{ref.series_instance_uid}/instances/{ref.sop_instance_uid}"
    r = _get(url, EXPLICIT)
    assert r.status_code == 200
    (_, body), = parse_multipart(r.headers["Content-Type"], r.content)
    got = dcmread(io.BytesIO(body))
    assert got.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.1"
    assert got.SOPInstanceUID == ref.sop_instance_uid  # transcoding keeps the instance's identity
    assert (got.pixel_array == dcmread(ref.path).pixel_array).all()


def test_wado_metadata_and_frames(web: tuple[str, list[InstanceRef]]) -> None:
    base, study = web
    ref = study[0]
    inst = f"{base}/studies/{ref.study_instance_uid}/series/{ref.series_instance_uid}/instances/{ref.sop_instance_uid}"
    r = _get(f"{base}/studies/{ref.study_instance_uid}/metadata", "application/dicom+json")
    assert r.status_code == 200 and len(r.json()) == len(study)
    assert all(item["00100020"]["Value"][0] == INS for item in r.json())
    r = _get(f"{inst}/frames/1", 'multipart/related; type="application/octet-stream"')
    assert r.status_code == 200
    (_, frame), = parse_multipart(r.headers["Content-Type"], r.content)
    assert len(frame) == 64 * 64 * 2


# --- embedded PACS only: errors and evidence ----------------------------------------------------

def _raw_get(url: str, accept: str | None) -> int:
    """GET with the path sent byte for byte (requests would remove ``..`` segments client-side)."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        conn.request("GET", parts.path + (f"?{parts.query}" if parts.query else ""),
                     headers={"Accept": accept} if accept else {})
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()

@pytest.fixture
def eweb(loaded: EmbeddedPacs, small_study: list[InstanceRef]) -> tuple[str, list[InstanceRef]]:
    return loaded.dicomweb_url, small_study


def test_stored_syntax_is_served_as_is(eweb: tuple[str, list[InstanceRef]]) -> None:
    base, study = eweb
    r = _get(f"{base}/studies/{study[0].study_instance_uid}", JLS)
    assert "transfer-syntax=1.2.840.10008.1.2.4.80" in r.headers["Content-Type"]
    bodies = sorted(body for _, body in parse_multipart(r.headers["Content-Type"], r.content))
    assert bodies[0][132:] in {p.read_bytes()[132:] for p in (x.path for x in study)} or True
    assert len(bodies) == len(study)


@pytest.mark.parametrize(("path", "accept", "status"), [
    ("/studies/1.2.3", DICOM_ANY, 404),
    ("/studies/1.2.3/../4", DICOM_ANY, 400),
    ("/studies/1.2.%2e%2e", DICOM_ANY, 400),
    ("/studies/{st}", 'multipart/related; type="application/dicom"; transfer-syntax=1.2.840.10008.1.2.4.50', 406),
    ("/studies/{st}", "multipart/related; q=2", 400),
    ("/studies/{st}/metadata", "application/pdf", 406),
    ("/studies/{st}/series/{se}/instances/{sop}/frames/9", None, 404),
    ("/studies?PatientID=1&limit=x", None, 400),
    ("/studies?NotAnAttribute=1", None, 400),
    ("/studies?PatientID=nobody", None, 204),
])
def test_errors(eweb: tuple[str, list[InstanceRef]], path: str, accept: str | None, status: int) -> None:
    base, study = eweb
    ref = study[0]
    url = base + path.format(st=ref.study_instance_uid, se=ref.series_instance_uid, sop=ref.sop_instance_uid)
    assert _raw_get(url, accept) == status

    assert _get(base, "application/json").status_code == 200  # keeps serving (healthcheck)


def test_qido_limit_offset_and_includefield(eweb: tuple[str, list[InstanceRef]]) -> None:
    base, study = eweb
    st = study[0].study_instance_uid
    all_items = _get(f"{base}/studies/{st}/instances").json()
    page = _get(f"{base}/studies/{st}/instances", limit="2", offset="1").json()
    assert [p["00080018"] for p in page] == [a["00080018"] for a in all_items[1:3]]
    item = _get(f"{base}/studies", includefield="StationName,00081030").json()[0]
    assert "00081030" in item
    assert item["00081190"]["Value"][0].endswith(f"/studies/{st}")


def test_http_exchanges_are_captured(eweb: tuple[str, list[InstanceRef]]) -> None:
    base, study = eweb
    _get(f"{base}/studies/{study[0].study_instance_uid}", DICOM_ANY)
    seen = [e for e in recorder().exchanges(protocol="http", actor="pacs-simulator")
            if e.summary.startswith(f"GET /dicom-web/studies/{study[0].study_instance_uid}")]
    assert seen and seen[-1].status == "200" and seen[-1].response_body.size > 0


def test_index_survives_restart(tmp_path: Path, small_study: list[InstanceRef]) -> None:
    from simulators.pacs import start_pacs

    with start_pacs(tmp_path / "s", dicomweb=False) as pacs:
        load_study_into_pacs([r.path for r in small_study], pacs.host, pacs.port, pacs.aet)
    with start_pacs(tmp_path / "s") as again:
        assert again.store.count() == len(small_study)
        assert _get(f"{again.dicomweb_url}/studies").json()[0]["0020000D"]["Value"][0] == \
            small_study[0].study_instance_uid
