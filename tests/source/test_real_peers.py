"""Real peers: dicomweb-client (PyPI) through the reference Source; the source_drimbox plan with Orthanc as PACS."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydicom import dcmread
from pydicom.filewriter import dcmwrite

from harness.orthanc import skip_reason
from tests.source.conftest import pacs_bytes

REPO = Path(__file__).resolve().parents[2]


def _client(stack, key: str):
    dicomweb_client = pytest.importorskip("dicomweb_client")
    return dicomweb_client.DICOMwebClient(url=stack.source.endpoints["wado_rs"], headers={
        "Authorization": f"Bearer {stack.token()}", "KOS-SOPInstanceUID": stack.kos[key]})


def _part10(ds) -> bytes:
    buf = io.BytesIO()
    dcmwrite(buf, ds, enforce_file_format=True)
    return buf.getvalue()


@pytest.mark.parametrize("key", ["explicit", "jls"])
def test_dicomweb_client_gets_every_instance_as_the_pacs_holds_it(stack, key):
    ex = stack.exams[key]
    client = _client(stack, key)
    got = client.retrieve_study(ex.study_uid, media_types=(("application/dicom", "*"),))
    assert len(got) == ex.series * ex.instances
    for ds in got:
        held = dcmread(io.BytesIO(pacs_bytes(stack, str(ds.SOPInstanceUID))))
        assert ds.file_meta.TransferSyntaxUID == held.file_meta.TransferSyntaxUID
        assert ds.PixelData == held.PixelData
        assert _part10(ds) == _part10(held)


def test_raw_multipart_parts_are_byte_identical_to_the_pacs_files(stack):
    import requests

    from harness.dicomweb import parse_multipart

    ex = stack.exams["jls"]
    resp = requests.get(f"{stack.source.endpoints['wado_rs']}/studies/{ex.study_uid}", headers={
        "Authorization": f"Bearer {stack.token()}", "KOS-SOPInstanceUID": stack.kos["jls"],
        "Accept": 'multipart/related; type="application/dicom"; transfer-syntax=*'}, timeout=30)
    assert resp.status_code == 200
    for _headers, data in parse_multipart(resp.headers["Content-Type"], resp.content):
        sop = str(dcmread(io.BytesIO(data), stop_before_pixels=True).SOPInstanceUID)
        assert data == pacs_bytes(stack, sop)


def test_dicomweb_client_series_metadata_and_frames(stack):
    ex = stack.exams["explicit"]
    client = _client(stack, "explicit")
    series = stack.pacs.store.records({"study_uid": [ex.study_uid]})[0]["SeriesInstanceUID"]
    meta = client.retrieve_series_metadata(ex.study_uid, series)
    assert len(meta) == ex.instances
    sop = meta[0]["00080018"]["Value"][0]
    [frame] = client.retrieve_instance_frames(ex.study_uid, series, sop, frame_numbers=[1],
                                              media_types=("application/octet-stream",))
    held = dcmread(io.BytesIO(pacs_bytes(stack, sop)))
    assert frame == held.PixelData


@pytest.mark.skipif(skip_reason() is not None, reason=str(skip_reason()))
def test_plan_passes_with_orthanc_as_the_pacs(tmp_path):
    env = {**os.environ, "DRIMCHECK_SOURCE_PACS": "orthanc",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    proc = subprocess.run([sys.executable, "-m", "pytest", str(REPO / "testplans" / "source_drimbox"), "-q",
                           "-o", "addopts=", "-p", "harness.pytest_plugin", "-p", "no:cacheprovider",
                           "--sut", "reference:source"], cwd=str(REPO), env=env, capture_output=True, text=True,
                          timeout=600, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
