"""The multipart codec against parsers and writers we did not write: dicomweb-client reads what
our writer serves; our parser reads urllib3's writer and Orthanc's WADO-RS responses."""

from __future__ import annotations

from pathlib import Path

import pydicom
import pytest
import requests

from harness.dicomweb.multipart import (
    boundary_from_content_type,
    content_type_header,
    iter_multipart,
    new_boundary,
    parse_multipart,
)
from harness.servers import serve_wsgi

CORPUS = Path(__file__).resolve().parents[2] / ".." / "shared" / "corpus" / "dicomweb"
FILES = [CORPUS / "dicomweb-client" / "file.dcm", CORPUS / "orthanc-tests" / "DummyCT.dcm"]


@pytest.fixture(scope="module")
def dicom_files() -> list[bytes]:
    missing = [p for p in FILES if not p.exists()]
    if missing:
        pytest.skip(f"corpus missing: {missing[0]}")
    return [p.read_bytes() for p in FILES]


def test_dicomweb_client_reads_our_multipart(dicom_files):
    dicomweb_client = pytest.importorskip("dicomweb_client")

    def app(environ, start_response):
        boundary = new_boundary()
        parts = (([("Content-Type", "application/dicom")], iter([data[:100], data[100:]])) for data in dicom_files)
        start_response("200 OK", [("Content-Type", content_type_header(
            "multipart/related", boundary, type="application/dicom"))])
        return iter_multipart(parts, boundary)

    server = serve_wsgi(app, "multipart-peer")
    try:
        client = dicomweb_client.DICOMwebClient(server.url)
        datasets = client.retrieve_series("1.2.3", "4.5.6")
    finally:
        server.stop()
    expected = [pydicom.dcmread(p) for p in FILES]
    assert [d.SOPInstanceUID for d in datasets] == [e.SOPInstanceUID for e in expected]


def test_parse_urllib3_writer():
    urllib3 = pytest.importorskip("urllib3")
    fields = {"a": ("a.dcm", b"DICM\r\n--x\r\n", "application/dicom"), "b": "text value"}
    body, content_type = urllib3.encode_multipart_formdata(fields, boundary="urllib3-boundary")
    parts = parse_multipart(content_type, body)
    assert [data for _headers, data in parts] == [b"DICM\r\n--x\r\n", b"text value"]
    assert dict(parts[0][0])["Content-Type"] == "application/dicom"


@pytest.fixture(scope="module")
def orthanc(tmp_path_factory):
    from harness import orthanc as orthanc_mod

    reason = orthanc_mod.skip_reason()
    if reason:
        pytest.skip(reason)
    server = orthanc_mod.start_orthanc(tmp_path_factory.mktemp("orthanc"))
    yield server
    server.stop()


def test_parse_orthanc_wado_rs_response(orthanc, dicom_files):
    data = dicom_files[1]
    assert requests.post(orthanc.rest_url + "/instances", data=data, timeout=30).status_code == 200
    ds = pydicom.dcmread(FILES[1])
    url = f"{orthanc.rest_url}/dicom-web/studies/{ds.StudyInstanceUID}"
    accept = 'multipart/related; type="application/dicom"; transfer-syntax=*'
    response = requests.get(url, headers={"Accept": accept}, timeout=30, stream=True)
    assert response.status_code == 200
    boundary_from_content_type(response.headers["Content-Type"])
    parts = parse_multipart(response.headers["Content-Type"], response.iter_content(7))
    assert len(parts) == 1
    assert parts[0][1] == data  # transfer-syntax=*: the stored file, byte for byte
