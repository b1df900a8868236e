"""CR-IMG validator: header rules, level-1 documents, CI-SIS XSD and schematron, hostile XML."""

from __future__ import annotations

import pytest

from harness.findings import Severity
from harness.validators.cda import cda_facts, parse_cda, validate_cda, xpath_of
from harness.validators.schematron import find_schematron, parse_svrl, run_schematron

XSD = "xsd/cisis-cda-extended/infrastructure/cda/CDA_extended.xsd"


def errors(findings):
    return [f for f in findings if f.severity is Severity.ERROR]


def test_good_cda_passes_header_rules_and_ci_sis_xsd(good, corpus_file):
    xsd = corpus_file(XSD)
    for name in ("exam1/cr-img.xml", "exam2/cr-img.xml"):
        assert validate_cda(good[name], xsd=xsd) == []


@pytest.mark.parametrize("name", ["IMG_CR_IMG_2024.01.xml", "IMG_CR_IMG_2024.01_CDA-R2-Niveau-1.xml"])
def test_ci_sis_cr_img_examples_pass_header_rules(name, corpus_file):
    assert errors(validate_cda(corpus_file(f"cda/cisis/examples/{name}"))) == []


@pytest.mark.parametrize("name", ["IMG-DA-IMG_2024.01_TEP_Thorax.xml", "DOC_NON_STRUCTURE_CDA-R2-N1.xml"])
def test_other_ci_sis_documents_are_not_cr_img(name, corpus_file):
    """A 'demande d'acte' (55115-0) and a generic unstructured document are not CR-IMG reports."""
    rules = {f.rule for f in errors(validate_cda(corpus_file(f"cda/cisis/examples/{name}")))}
    assert "CDA-HDR-001" in rules


def test_xsd_errors_are_findings(good, corpus_file):
    xsd = corpus_file(XSD)
    broken = good["exam1/cr-img.xml"].replace(b"<title>", b"<titre>").replace(b"</title>", b"</titre>")
    findings = validate_cda(broken, xsd=xsd)
    assert {f.rule for f in findings} == {"CDA-XSD-001"} and findings[0].origin == "xsd"


def test_schematron_accepts_the_ci_sis_example_and_rejects_a_request_form(corpus_file):
    folder = corpus_file("cda/cisis/schematron")
    assert validate_cda(corpus_file("cda/cisis/examples/IMG_CR_IMG_2024.01.xml"), schematron_dir=folder) == []
    findings = validate_cda(corpus_file("cda/cisis/examples/IMG-DA-IMG_2024.01_TEP_Thorax.xml"),
                            schematron_dir=folder)
    sch = [f for f in findings if f.origin == "schematron"]
    assert sch and all(f.rule == "CDA-SCH-001" for f in sch)
    assert any("1.2.250.1.213.1.1.1.45" in f.message for f in sch)


def test_schematron_tool_failure_is_a_warning(tmp_path):
    bad = tmp_path / "bad.sch"
    bad.write_text("<schema xmlns='http://purl.oclc.org/dsdl/schematron'><pattern><rule context='/'>"
                   "<assert test='((('>x</assert></rule></pattern></schema>")
    findings = run_schematron(parse_cda(b"<ClinicalDocument xmlns='urn:hl7-org:v3'/>"), bad)
    assert [f.severity for f in findings] == [Severity.WARNING]


def test_find_schematron_in_folder(corpus_file):
    folder = corpus_file("cda/cisis/schematron")
    assert find_schematron(folder).name.startswith("CI-SIS_IMG-CR-IMG_")


def test_svrl_roles():
    svrl = (b"<svrl:schematron-output xmlns:svrl='http://purl.oclc.org/dsdl/svrl'>"
            b"<svrl:failed-assert test='a' location='/x'><svrl:text>A</svrl:text></svrl:failed-assert>"
            b"<svrl:failed-assert test='b' role='warning' location='/y'><svrl:text>B</svrl:text></svrl:failed-assert>"
            b"<svrl:successful-report test='c' location='/z'><svrl:text>C</svrl:text></svrl:successful-report>"
            b"</svrl:schematron-output>")
    assert [f.severity for f in parse_svrl(svrl)] == [Severity.ERROR, Severity.WARNING, Severity.INFO]


def test_not_a_clinical_document():
    [f] = validate_cda(b"<html xmlns='http://www.w3.org/1999/xhtml'/>")
    assert f.rule == "CDA-XML-001"


def test_xpath_locations(good):
    root = parse_cda(good["exam1/cr-img.xml"])
    event = root.find(".//{urn:hl7-org:v3}serviceEvent")
    assert xpath_of(event) == "/ClinicalDocument/documentationOf/serviceEvent"
    assert xpath_of(root.findall("{urn:hl7-org:v3}templateId")[1]) == "/ClinicalDocument/templateId[2]"


def test_facts_of_the_ci_sis_example(corpus_file):
    facts = cda_facts(parse_cda(corpus_file("cda/cisis/examples/IMG_CR_IMG_2024.01.xml").read_bytes()))
    assert facts["ins"] == "279035121518989" and facts["birthplace"] == "51215"
    assert facts["accessions"] == {"105234751", "105234752"} and facts["modalities"] == {"CT"}
    assert len(facts["study_uids"]) == 3
