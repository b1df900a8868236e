"""Third-party KOS manifests (../shared/corpus) parse, and their findings are the ones explained here."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from harness.findings import Severity
from harness.validators.dciodvfy import parse_output, run_dciodvfy
from harness.validators.kos import validate_kos

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus"


def error_rules(path, profile="dmp"):
    return {f.rule for f in validate_kos(path, profile=profile) if f.severity is Severity.ERROR}


def test_ans_kos_ok_is_clean(corpus_file):
    """ANS cross-validator "OK" case (ANS DRIM-M_DATA OK_Cas_Passant): no error, no warning."""
    findings = validate_kos(corpus_file("derived/kos_ok.dcm"))
    assert [f for f in findings if f.severity is not Severity.INFO] == []


def test_ans_standard_conformance_sample_gets_the_agencys_ok(corpus_file):
    """OK_KOS_Valide passes the agency's conformance check (IOD level, dciodvfy): no error. Its root item TEXT
    titled DCM^DCM (not TID 2010) and its patient name without ^ are warnings."""
    path = corpus_file("derived/kos_valide.dcm")
    assert error_rules(path) == set()
    assert {f.rule for f in validate_kos(path) if f.severity is Severity.WARNING} >= {"KOS-SR-001", "KOS-PAT-004"}


def test_demonstrator_kos(corpus_file):
    """The ANS demonstrator's test KOS: type 2 attributes absent (dciodvfy agrees), no birth date, sex or given
    name."""
    assert error_rules(corpus_file("kos/drimbox_kos.dcm")) == {"KOS-IOD-002", "KOS-PAT-004"}
    assert error_rules(corpus_file("drimbox-poc-samples/KOS/ko.dcm")) == {"KOS-PAT-004"}


NIST = sorted((CORPUS / "xds/nist-testkit/tests/idc_init").glob("*/*.dcm")) if CORPUS.exists() else []


@pytest.mark.skipif(not NIST, reason=f"corpus folder missing: {CORPUS / 'xds/nist-testkit/tests/idc_init'}")
@pytest.mark.parametrize("path", NIST, ids=lambda p: p.name)
def test_nist_xds_i_manifests(path):
    """NIST XDS-I manifests are IHE manifests: clean under profile xds; under dmp they lack the CI-SIS parts
    (INS patient id, Retrieve URL for WADO-RS, referenced request)."""
    assert error_rules(path, "xds") == set()
    assert error_rules(path) <= {"KOS-PAT-001", "KOS-PAT-002", "KOS-URL-001", "KOS-REQ-001", "KOS-PAT-004"}
    assert {"KOS-PAT-001", "KOS-URL-001"} <= error_rules(path)


DCIODVFY_OUTPUT = """Warning - Missing attribute or value that would be needed to build DICOMDIR - Study ID
KeyObjectSelectionDocument
Error - Missing attribute Type 2 Required Element=<AccessionNumber> Module=<GeneralStudy>
Warning - </CurrentRequestedProcedureEvidenceSequence(0040,a375)[1]/ReferencedSeriesSequence(0008,1115)[1]/\
RetrieveURL(0008,1190)> - Attribute is not present in standard DICOM IOD
Warning - Attribute is not present in standard DICOM IOD - (0x0020,0x0013) IS Instance Number
Warning - Attribute is not present in standard DICOM IOD - (0x0020,0x0013) IS Instance Number
(0x6167,0x6272)  ?  - Error - Bad Value Length - not a multiple of 2
"""


def test_dciodvfy_output_mapping():
    findings = parse_output(DCIODVFY_OUTPUT)
    assert all(f.rule == "DCIODVFY" and f.origin == "dciodvfy" for f in findings)
    assert {f.severity for f in findings if "Type 2" in f.message} == {Severity.WARNING}
    assert any(f.message.endswith("(x2)") and f.location == "(0020,0013)" for f in findings)
    assert any(f.location.startswith("CurrentRequestedProcedureEvidenceSequence") and f.severity is Severity.INFO
               for f in findings)
    assert any(f.location == "(6167,6272)" and f.severity is Severity.WARNING for f in findings)


def test_dciodvfy_on_the_good_kos_gives_no_warning(good):
    if shutil.which("dciodvfy") is None:
        pytest.skip("dicom3tools dciodvfy not installed")
    findings = run_dciodvfy(good["exam1/kos.dcm"])
    assert findings and all(f.severity is Severity.INFO for f in findings)


def test_dciodvfy_never_changes_the_verdict(good):
    with_tool = validate_kos(good["exam1/kos.dcm"], dciodvfy=True)
    assert not [f for f in with_tool if f.severity is Severity.ERROR]
