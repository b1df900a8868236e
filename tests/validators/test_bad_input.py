"""Hostile or broken input: a finding or a clear error, never a crash, a hang or a memory blow-up."""

from __future__ import annotations

import io

import pydicom
import pytest

from harness.findings import Severity
from harness.validators import detect_kind, validate_bytes, validate_file
from harness.validators.cda import validate_cda
from harness.validators.cross import cross_validate
from harness.validators.hl7v2 import validate_hl7
from harness.validators.kos import validate_kos


def only_rules(findings):
    return {f.rule for f in findings if f.severity is Severity.ERROR}


@pytest.mark.parametrize("cut", [0, 10, 131, 200, 500, 1000, 2000, -300, -40, -1])
def test_truncated_kos(good, cut):
    data = good["exam1/kos.dcm"][:cut] if cut else b""
    findings = validate_kos(data)
    assert "KOS-PARSE-001" in only_rules(findings) or only_rules(findings)  # never an exception


def test_truncated_kos_with_undefined_lengths(good):
    ds = pydicom.dcmread(io.BytesIO(good["exam1/kos.dcm"]))
    for elem in ds.iterall():
        if elem.VR == "SQ":
            elem.is_undefined_length = True
    buf = io.BytesIO()
    ds.save_as(buf)
    for cut in range(300, len(buf.getvalue()), 97):
        assert only_rules(validate_kos(buf.getvalue()[:cut]))


def test_not_dicom():
    [f] = validate_kos(b"%PDF-1.4 not a DICOM file" * 10)
    assert f.rule == "KOS-PARSE-001" and "DICOM" in f.message


def test_garbage_inside_the_evidence(good):
    data = bytearray(good["exam1/kos.dcm"])
    at = data.find(b"\x08\x00\x99\x11")  # first ReferencedSOPSequence: break its length
    data[at + 8:at + 12] = b"\xff\xff\xff\x7f"
    assert only_rules(validate_kos(bytes(data)))


def test_doctype_and_external_entity_are_refused():
    xxe = (b"<?xml version='1.0'?><!DOCTYPE ClinicalDocument [<!ENTITY x SYSTEM 'file:///etc/passwd'>]>"
           b"<ClinicalDocument xmlns='urn:hl7-org:v3'>&x;</ClinicalDocument>")
    [f] = validate_cda(xxe)
    assert f.rule == "CDA-XML-001" and f.found == "doctype"
    assert only_rules(validate_bytes(xxe, detect_kind(xxe))) == {"CDA-XML-001"}


def test_xml_bomb_file_is_refused_before_reading(tmp_path):
    """A 200 MB document (a sparse file made here, never committed) is refused on its size, unread."""
    path = tmp_path / "bomb.xml"
    with path.open("wb") as fh:
        fh.write(b"<ClinicalDocument xmlns='urn:hl7-org:v3'>")
        fh.truncate(200 * 1024 * 1024)
    [f] = validate_cda(path)
    assert f.rule == "CDA-XML-001" and f.found == "too-large"
    report = validate_file(path)
    assert report.kind == "cda" and [f.rule for f in report.findings] == ["CDA-XML-001"]


def test_oversized_xml_bytes_are_refused():
    bomb = b"<ClinicalDocument xmlns='urn:hl7-org:v3'>" + b"<a>" * (40 * 1024 * 1024 // 3)
    [f] = validate_cda(bomb)
    assert f.rule == "CDA-XML-001" and f.found == "too-large"


def test_huge_dicom_file_is_refused_before_reading(tmp_path):
    path = tmp_path / "huge.dcm"
    with path.open("wb") as fh:
        fh.truncate(300 * 1024 * 1024)
    [f] = validate_kos(path)
    assert f.rule == "KOS-PARSE-001" and "exceeds" in f.message


def test_billion_laughs_is_refused():
    lol = b"<!DOCTYPE l [<!ENTITY a 'aaaaaaaaaa'>" + b"".join(
        b"<!ENTITY %s '%s'>" % (bytes([98 + i]), (b"&" + bytes([97 + i]) + b";") * 10) for i in range(9)) + \
        b"]><ClinicalDocument xmlns='urn:hl7-org:v3'>&j;</ClinicalDocument>"
    assert only_rules(validate_cda(lol)) == {"CDA-XML-001"}


def test_invalid_utf8_xml():
    data = b"<?xml version='1.0' encoding='UTF-8'?><ClinicalDocument xmlns='urn:hl7-org:v3'>\xff\xfe</ClinicalDocument>"
    assert only_rules(validate_cda(data)) == {"CDA-XML-001"}


def test_hl7_with_wrong_separators_and_garbage():
    assert only_rules(validate_hl7(b"MSH#^~\\&#A#B\rPID#1\r")) == {"HL7-ENC-001"}
    assert only_rules(validate_hl7(b"\x00\x01\x02")) == {"HL7-ENC-001"}
    assert only_rules(validate_hl7(b"MSH|^~\\&|")) == {"HL7-MSH-001"}


def test_cross_with_hostile_documents():
    """Nothing hostile is read; each document that could not be is named, none is said consistent."""
    bomb = b"<!DOCTYPE x [<!ENTITY a 'b'>]><ClinicalDocument xmlns='urn:hl7-org:v3'/>"
    findings = cross_validate(kos=b"\0" * 10, cda=bomb, xds=b"<not-xml", hl7=b"\xff")
    assert {(f.rule, f.location) for f in findings} == {("XVAL-INPUT-001", f"the {k} given")
                                                        for k in ("KOS", "CDA", "XDS", "HL7")}
