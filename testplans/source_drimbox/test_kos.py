"""The KOS manifest the Source publishes (ANS DRIM-M_DATA KOS_OK.xml, DICOM PS3.3 KOS IOD), read from the RAD-68
request the DMP received."""

from __future__ import annotations

import pytest
from pydicom import dcmread

from fixtures.mutations.goodset import ACC_ISSUER, PLACER_ISSUER
from harness.checks import expect, expect_equal, expect_no_errors
from harness.validators import validate_kos
from testplans.source_drimbox.conftest import published_kos

KOS_STRUCTURE_RULES = ("KOS-PARSE", "KOS-IOD", "KOS-SR", "KOS-EVD")  # the others have their own requirement


def _series(kos) -> dict[str, object]:
    study = kos.CurrentRequestedProcedureEvidenceSequence[0]
    return {str(s.SeriesInstanceUID): s for s in study.ReferencedSeriesSequence}


@pytest.mark.requirement("SRC-KOS-IOD")
def test_kos_is_a_valid_manifest(env):
    data = published_kos(env, "main").kos_bytes()
    findings = [f for f in validate_kos(data, profile="dmp") if f.rule.startswith(KOS_STRUCTURE_RULES)]
    expect_no_errors(findings, label="KOS structure (validate_kos)")


@pytest.mark.requirement("SRC-KOS-REFS")
def test_kos_references_every_instance_of_the_study(env):
    kos = published_kos(env, "main").kos()
    expected = set()
    for path in env.files["main"]:
        ds = dcmread(path, stop_before_pixels=True)
        expected.add((str(ds.SeriesInstanceUID), str(ds.SOPClassUID), str(ds.SOPInstanceUID)))
    found = {(se, str(r.ReferencedSOPClassUID), str(r.ReferencedSOPInstanceUID))
             for se, item in _series(kos).items() for r in item.ReferencedSOPSequence}
    expect_equal(found, expected, rule="SRC-KOS-REFS", location="(0040,A375)[0]>(0008,1115)",
                 message="the manifest references exactly the instances of the study")


@pytest.mark.requirement("SRC-KOS-URL")
def test_each_series_has_the_sources_retrieve_url(env):
    kos = published_kos(env, "main").kos()
    study = str(kos.StudyInstanceUID)
    for i, (se, item) in enumerate(_series(kos).items()):
        expect_equal(item.get("RetrieveURL"), f"{env.wado}/studies/{study}/series/{se}", rule="SRC-KOS-URL",
                     location=f"(0040,A375)[0]>(0008,1115)[{i}]>(0008,1190)",
                     message="Retrieve URL = <WADO-RS base>/studies/{study}/series/{series}")


@pytest.mark.requirement("SRC-KOS-PAT")
def test_kos_patient_is_the_reports(env):
    kos = published_kos(env, "main").kos()
    ex = env.exams["main"]
    checks = [
        ("(0010,0020)", kos.get("PatientID"), ex.ins, "PatientID is the INS"),
        ("(0010,0021)", kos.get("IssuerOfPatientID"), "ASIP-SANTE-INS-NIR", "issuer of the INS"),
        ("(0010,0024)[0]>(0040,0032)", kos.IssuerOfPatientIDQualifiersSequence[0].get("UniversalEntityID")
         if kos.get("IssuerOfPatientIDQualifiersSequence") else None, "1.2.250.1.213.1.4.10", "INS OID"),
        ("(0010,0010)", str(kos.get("PatientName", "")), f"{ex.birth_name}^{ex.given}", "birth name^first given"),
        ("(0010,0030)", kos.get("PatientBirthDate"), ex.birth_date, "birth date"),
        ("(0010,0040)", kos.get("PatientSex"), ex.sex, "sex"),
    ]
    for location, found, expected, what in checks:
        expect_equal(found, expected, rule="SRC-KOS-PAT", location=location, message=what)


@pytest.mark.requirement("SRC-KOS-REQ")
def test_kos_request_is_the_reports_order(env):
    kos = published_kos(env, "main").kos()
    ex = env.exams["main"]
    expect(bool(kos.get("ReferencedRequestSequence")), rule="SRC-KOS-REQ", location="(0040,A370)",
           expected=">= 1 item", observed=0, message="Referenced Request Sequence is missing")
    req = kos.ReferencedRequestSequence[0]
    acc_issuer = req.IssuerOfAccessionNumberSequence[0].get("UniversalEntityID") \
        if req.get("IssuerOfAccessionNumberSequence") else None
    placer_issuer = req.OrderPlacerIdentifierSequence[0].get("UniversalEntityID") \
        if req.get("OrderPlacerIdentifierSequence") else None
    for location, found, expected in [
            ("(0040,A370)[0]>(0008,0050)", req.get("AccessionNumber"), ex.accession),
            ("(0040,A370)[0]>(0008,0051)[0]>(0040,0032)", acc_issuer, ACC_ISSUER),
            ("(0040,A370)[0]>(0020,000D)", req.get("StudyInstanceUID"), ex.study_uid),
            ("(0040,A370)[0]>(0040,2016)", req.get("PlacerOrderNumberImagingServiceRequest"), ex.placer),
            ("(0040,A370)[0]>(0040,0026)[0]>(0040,0032)", placer_issuer, PLACER_ISSUER)]:
        expect_equal(found, expected, rule="SRC-KOS-REQ", location=location, message="value of the report's order")
