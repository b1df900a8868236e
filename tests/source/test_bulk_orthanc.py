"""The reference Source in front of Orthanc: every BulkDataURI of its metadata (Orthanc's ``.../bulk/7fe00010``
moved under the Source's base) is served through the Source, with the token and KOS checks (PS3.18 F.2.6)."""

from __future__ import annotations

import json

import pytest
import requests
from pydicom import dcmread

from fixtures.studies import write_study
from harness.dicomweb import parse_multipart
from harness.orthanc import skip_reason, start_orthanc
from simulators.dmp import DmpConfig
from simulators.dmp.reference import start as start_dmp
from simulators.psc import start_psc
from simulators.ris import messages as M
from simulators.ris import send
from simulators.source import start_reference

OCTET = 'multipart/related; type="application/octet-stream"'


@pytest.fixture(scope="module")
def orthanc_stack(tmp_path_factory):
    if skip_reason():
        pytest.skip(skip_reason())
    root = tmp_path_factory.mktemp("source-orthanc")
    orthanc = start_orthanc(root / "orthanc")
    dmp = start_dmp(DmpConfig(workdir=root / "dmp", vihf="off"))
    psc = start_psc()
    source = None
    try:
        source = start_reference(None, root / "source", pacs_host=orthanc.host, pacs_port=orthanc.port,
                                 pacs_aet=orthanc.aet, pacs_dicomweb=orthanc.dicomweb_url,
                                 dmp_registry=dmp.endpoints["registry"], dmp_repository=dmp.endpoints["repository"],
                                 psc_introspect=psc.endpoints["introspect"])
        ex = M.exam("unit-bulk-orthanc", series=1, instances=2)
        files = [r.path for r in write_study(M.study_spec(ex, rows=16, columns=16), root / "study")]
        for f in files:
            requests.post(orthanc.rest_url + "/instances", data=f.read_bytes(), timeout=30).raise_for_status()
        _raw, ack = send(source.endpoints["mllp"], M.oru(ex))
        assert ack is not None and ack.code == "AA", ack
        kos = source.store.kos_of_study(ex.study_uid)[0].sop_uid
        yield source, psc, ex, kos, {str(dcmread(f).SOPInstanceUID): dcmread(f).PixelData for f in files}
    finally:
        if source is not None:
            source.stop()
        psc.stop()
        dmp.stop()
        orthanc.stop()


def _headers(psc, kos: str, accept: str) -> dict[str, str]:
    token = psc.issue_token("10001000002", "drimbox-consumer")
    return {"Authorization": f"Bearer {token}", "KOS-SOPInstanceUID": kos, "Accept": accept}


def test_every_bulk_data_uri_gives_the_pixel_data(orthanc_stack):
    source, psc, ex, kos, pixels = orthanc_stack
    base = source.endpoints["wado_rs"]
    meta = requests.get(f"{base}/studies/{ex.study_uid}/metadata", headers=_headers(psc, kos, "application/dicom+json"),
                        timeout=30)
    assert meta.status_code == 200, meta.text
    uris = {i["00080018"]["Value"][0]: i["7FE00010"]["BulkDataURI"] for i in meta.json()}
    assert set(uris) == set(pixels)
    for sop, uri in uris.items():
        assert uri.startswith(base + "/") and "/bulk/" in uri
        resp = requests.get(uri, headers=_headers(psc, kos, OCTET), timeout=30)
        assert resp.status_code == 200, resp.text
        [(_h, data)] = parse_multipart(resp.headers["Content-Type"], resp.content)
        assert data == pixels[sop]


def test_bulk_data_keeps_the_checks(orthanc_stack):
    source, psc, ex, kos, _pixels = orthanc_stack
    meta = requests.get(f"{source.endpoints['wado_rs']}/studies/{ex.study_uid}/metadata",
                        headers=_headers(psc, kos, "application/dicom+json"), timeout=30)
    uri = json.loads(meta.content)[0]["7FE00010"]["BulkDataURI"]
    assert requests.get(uri, headers={"Accept": OCTET}, timeout=30).status_code == 401
    no_kos = _headers(psc, kos, OCTET)
    del no_kos["KOS-SOPInstanceUID"]
    assert requests.get(uri, headers=no_kos, timeout=30).status_code == 400
    other = uri.rsplit("/instances/", 1)[0] + "/instances/1.2.3.4/bulk/7fe00010"
    assert requests.get(other, headers=_headers(psc, kos, OCTET), timeout=30).status_code == 404
    assert requests.get(uri.replace("/bulk/7fe00010", "/bulk/../../x"), headers=_headers(psc, kos, OCTET),
                        timeout=30).status_code == 400
