"""simulators.source.cget: the Source reads the PACS by C-GET; same answers as through the PACS's WADO-RS."""

from __future__ import annotations

import io

import pytest
import requests
from pydicom import dcmread

from harness.dicomweb import parse_multipart
from simulators.source.rad107 import file_meta
from tests.source.conftest import pacs_bytes

ANY = 'multipart/related; type="application/dicom"; transfer-syntax=*'
EXPLICIT = "1.2.840.10008.1.2.1"


def _get(stack, key: str, accept: str, tail: str = ""):
    ex = stack.exams[key]
    return requests.get(f"{stack.source.endpoints['wado_rs']}/studies/{ex.study_uid}{tail}", headers={
        "Authorization": f"Bearer {stack.token()}", "KOS-SOPInstanceUID": stack.kos[key], "Accept": accept},
        timeout=60)


@pytest.mark.parametrize("key", ["explicit", "jls", "j2k"])
def test_study_in_its_stored_syntax(cget_stack, key):
    resp = _get(cget_stack, key, ANY)
    assert resp.status_code == 200, resp.text
    parts = parse_multipart(resp.headers["Content-Type"], resp.content)
    ex = cget_stack.exams[key]
    assert len(parts) == ex.series * ex.instances
    for _h, data in parts:
        ds = dcmread(io.BytesIO(data))
        held = dcmread(io.BytesIO(pacs_bytes(cget_stack, str(ds.SOPInstanceUID))))
        assert ds.file_meta.TransferSyntaxUID == held.file_meta.TransferSyntaxUID
        assert ds.PixelData == held.PixelData


def test_transcoded_and_instance_level(cget_stack):
    ex = cget_stack.exams["jls"]
    rec = cget_stack.pacs.store.records({"study_uid": [ex.study_uid]})[0]
    tail = f"/series/{rec['SeriesInstanceUID']}/instances/{rec['SOPInstanceUID']}"
    resp = _get(cget_stack, "jls", f'multipart/related; type="application/dicom"; transfer-syntax={EXPLICIT}', tail)
    [(_h, data)] = parse_multipart(resp.headers["Content-Type"], resp.content)
    assert file_meta(data) == (rec["SOPInstanceUID"], EXPLICIT)


def test_file_meta_reader():
    data = pacs_bytes_example()
    assert file_meta(data[:100]) is None
    with pytest.raises(ValueError):
        file_meta(b"\0" * 128 + b"NOPE" + b"\0" * 100)
    assert file_meta(data)[1] == EXPLICIT


def pacs_bytes_example() -> bytes:
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian

    ds = Dataset()
    ds.SOPClassUID, ds.SOPInstanceUID = "1.2.840.10008.5.1.4.1.1.7", "1.2.3.4"
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID = ds.SOPClassUID, ds.SOPInstanceUID
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta = meta
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()
