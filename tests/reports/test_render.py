"""reports.render: a DICOM dump made once per dataset is the same text as a fresh one, in a multipart body and
alone, and each dataset keeps its own."""

from __future__ import annotations

import io

from pydicom import Dataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from reports import render


def _part10(patient: str) -> bytes:
    ds = Dataset()
    ds.PatientName, ds.PatientID, ds.SOPClassUID = patient, "248098765432109", "1.2.840.10008.5.1.4.1.1.2"
    ds.SOPInstanceUID = generate_uid()
    ds.file_meta = Dataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID, ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPClassUID, ds.SOPInstanceUID
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()


def test_a_dump_made_again_is_the_text_of_a_fresh_one():
    data = _part10("DUPONT^Hélène")
    render._DUMPS.clear()
    first = render.dicom_dump(data)
    assert "DUPONT^Hélène" in first and first == render._dicom_dump(data)
    assert render.dicom_dump(data) == first and len(render._DUMPS) == 1


def test_each_dataset_keeps_its_own_dump():
    one, two = _part10("ONE^Patient"), _part10("TWO^Patient")
    assert "ONE^Patient" in render.dicom_dump(one) and "TWO^Patient" in render.dicom_dump(two)
    assert "TWO^Patient" not in render.dicom_dump(one)


def test_the_same_instance_in_two_multipart_bodies_renders_alike():
    data = _part10("DUPONT^Hélène")
    body = b"--b\r\nContent-Type: application/dicom\r\n\r\n" + data + b"\r\n--b--\r\n"
    ct = 'multipart/related; type="application/dicom"; boundary=b'
    render._DUMPS.clear()
    first = render.render_body(body, ct)
    assert render.render_body(body, ct) == first and "DUPONT^Hélène" in first
