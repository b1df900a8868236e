"""File kind detection: first bytes decide, the name only rescues a DICOM file without preamble."""

from __future__ import annotations

import pytest

from harness.validators import split_capture
from harness.validators.detect import detect_kind

CASES = [
    (b"\0" * 128 + b"DICM" + b"\2\0", "x.bin", "dicom"),
    (b"MSH|^~\\&|A\r", "", "hl7"),
    (b"\x0bMSH|^~\\&|A\r\x1c\r", "", "hl7"),
    (b"\xef\xbb\xbf<?xml version='1.0'?>\n<!-- c -->\n<ClinicalDocument xmlns='urn:hl7-org:v3'/>", "", "cda"),
    (b"<soap:Envelope xmlns:soap='http://www.w3.org/2003/05/soap-envelope'/>", "", "xds"),
    (b"<lcm:SubmitObjectsRequest xmlns:lcm='urn:x'/>", "", "xds"),
    (b"--MIMEBoundary\r\nContent-Type: application/xop+xml\r\n\r\n<s:Envelope/>", "", "xds"),
    (b"Content-Type: multipart/related; type=\"application/xop+xml\"\r\n\r\n--b", "", "xds"),
    (b"<!DOCTYPE x [<!ENTITY e SYSTEM 'file:///etc/passwd'>]><ClinicalDocument/>", "", "cda"),
    (b"<html/>", "", "unknown"),
    # DICOM written as XML: dcmtk dcm2xml (with or without file-format) and PS3.19 §A.1 Native DICOM Model
    (b"<?xml version='1.0' encoding='ISO-8859-1'?>\n<file-format><meta-header xfer='1.2.840.10008.1.2.1'/>", "",
     "dicom"),
    (b"<data-set xfer='1.2.840.10008.1.2.1' name='Little Endian Explicit'>", "", "dicom"),
    (b"<NativeDicomModel xmlns='http://dicom.nema.org/PS3.19/models/NativeDICOM'>", "x.xml", "dicom"),
    # HTTP captures: an MTOM request is XDS, a WADO-RS request is not
    (b"POST /repository HTTP/1.1\r\nContent-Type: multipart/related; type=\"application/xop+xml\"\r\n\r\n--b",
     "", "xds"),
    (b"GET /rs/studies/1 HTTP/1.1\r\nAccept: multipart/related; type=\"application/dicom\"\r\n", "req.txt",
     "unknown"),
    (b"  --MIMEBoundary_Bound\nContent-Type: application/xop+xml; type=\"application/soap+xml\"\n", "", "xds"),
    (b"garbage", "kos.dcm", "dicom"),
    (b"garbage", "notes.txt", "unknown"),
    (b"", "", "unknown"),
]


@pytest.mark.parametrize(("data", "name", "kind"), CASES)
def test_detect_kind(data, name, kind):
    assert detect_kind(data, name) == kind


def test_detect_the_good_set(good):
    kinds = {name: detect_kind(data, name) for name, data in good.items()}
    assert kinds == {n: {"dcm": "dicom", "xml": "cda" if "cr-img" in n else "xds", "hl7": "hl7"}[n.rsplit(".", 1)[1]]
                     for n in good}


@pytest.mark.parametrize(("data", "ctype"), [
    (b"<s:Envelope/>", "application/soap+xml; charset=UTF-8"),
    (b"Content-Type: multipart/related; boundary=b\r\n\r\n--b\r\n", "multipart/related; boundary=b"),
])
def test_split_capture(data, ctype):
    assert split_capture(data)[0] == ctype


def test_split_capture_without_header_derives_the_boundary():
    ctype, body = split_capture(b"--MIME42\r\nContent-Type: application/xop+xml\r\n\r\n<x/>\r\n--MIME42--")
    assert 'boundary="MIME42"' in ctype and body.startswith(b"--MIME42")
