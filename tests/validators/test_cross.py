"""Cross-document checks: a consistent exam passes, documents of two exams disagree, subsets work."""

from __future__ import annotations

from harness.validators.cross import cross_validate, xds_facts
from harness.xmlsafe import parse_xml


def exam(good, key):
    return {"kos": good[f"{key}/kos.dcm"], "cda": good[f"{key}/cr-img.xml"], "xds": good[f"{key}/pnr.xml"],
            "hl7": good[f"{key}/oru.hl7"]}


def test_consistent_exams_pass(good):
    assert cross_validate(**exam(good, "exam1")) == []
    assert cross_validate(**exam(good, "exam2")) == []


def test_documents_of_two_exams_disagree(good):
    mixed = {**exam(good, "exam1"), "cda": good["exam2/cr-img.xml"]}
    rules = {f.rule for f in cross_validate(**mixed)}
    assert {"XVAL-PAT-001", "XVAL-PAT-002", "XVAL-PAT-003", "XVAL-PAT-004", "XVAL-STU-001", "XVAL-ACC-001",
            "XVAL-EVT-001"} <= rules


def test_any_subset(good):
    assert cross_validate(kos=good["exam1/kos.dcm"]) == []
    assert cross_validate() == []
    [f] = [f for f in cross_validate(kos=good["exam1/kos.dcm"], xds=good["exam2/pnr.xml"])
           if f.rule == "XVAL-PAT-001"]
    assert f.location == "KOS (0010,0020) vs XDS patientId"


def test_unreadable_document_is_an_error_naming_it(good, tmp_path):
    """A document that could not be read is never reported consistent: the cross check names it and why."""
    [f] = cross_validate(kos=b"garbage", cda=good["exam1/cr-img.xml"])
    assert (f.rule, f.severity.value, f.location) == ("XVAL-INPUT-001", "error", "the KOS given")
    assert "not a DICOM Part 10 file" in f.message
    path = tmp_path / "kos.dcm"
    path.write_bytes(b"garbage")
    assert [f.location for f in cross_validate(kos=path, cda=good["exam1/cr-img.xml"])] == [str(path)]


def test_xds_facts_of_the_ans_sample(corpus_file):
    root = parse_xml(corpus_file("drim-m-data/Echantillons validateurs/Validateur XDS/XDS.xml").read_bytes())
    facts = xds_facts(root)
    assert facts["ins"] == "162018885045327" and facts["modalities"] == {"MR"}
    assert facts["confidentiality"] == {"N"} and facts["accessions"] == {"7252295367250016"}
    assert facts["regions"] == set()  # the sample codes its region with scheme 1.2.250.1.213.2.5


CROSS_DIR = "drim-m-data/test a blanc/Cross-validateur"


def test_ans_cross_validator_ok_case(corpus_file):
    """ANS "OK_Cas_Passant" (KOS_OK as DICOM, HL7_OK head slice) with the masking sample's metadata: consistent."""
    kos = corpus_file("derived/kos_ok.dcm")
    hl7 = corpus_file(f"{CROSS_DIR}/OK_Cas_Passant/HL7_OK.hl7.head")
    xds = corpus_file(f"{CROSS_DIR}/OK_HL7_XDS_invisible_masque/Metadata_invisible_masque.xml")
    assert cross_validate(kos=kos, hl7=hl7, xds=xds) == []


def test_nested_masking_codes_belong_to_their_entry(corpus_file):
    xds = corpus_file(f"{CROSS_DIR}/OK_HL7_XDS_invisible_masque/Metadata_invisible_masque.xml")
    facts = xds_facts(parse_xml(xds.read_bytes()))
    assert facts["confidentiality"] == {"N", "MASQUE_PS", "INVISIBLE_PATIENT", "INVISIBLE_REPRESENTANTS_LEGAUX"}


def test_mtom_capture_with_and_without_header(good, tmp_path):
    """A captured MTOM request (as a vendor stores it) is validated and cross-checked like inline SOAP."""
    from fixtures.mutations.goodset import ACC_ISSUER, EXAMS, INS_OID, PLACER_ISSUER
    from harness.validators import validate_file
    from harness.xds.builder import build_pnr_message, kos_submission

    e, kos = EXAMS[0], good["exam1/kos.dcm"]
    sub = kos_submission(kos, patient_id=f"{e.ins}^^^&{INS_OID}&ISO^NH", study_uid=e.study_uid,
                         accession=e.accession, accession_issuer=ACC_ISSUER, order_id=e.placer,
                         order_issuer=PLACER_ISSUER, modalities=(e.modality,), regions=(e.region,),
                         document_unique_id=e.uid("kos"))
    ctype, body = build_pnr_message(sub, mtom=True)
    with_header = tmp_path / "capture.txt"
    with_header.write_bytes(b"Content-Type: " + ctype.encode() + b"\r\n\r\n" + body)
    bare = tmp_path / "capture.mime"
    bare.write_bytes(body)
    for path in (with_header, bare):
        report = validate_file(path)
        assert report.kind == "xds" and report.ok, [str(f) for f in report.findings]
        assert cross_validate(kos=kos, xds=path, cda=good["exam1/cr-img.xml"]) == []


def test_ans_cross_validator_ok_case_as_the_agency_gives_it(corpus_file):
    """OK_Cas_Passant as the ANS cross-validator takes it: the image and the KOS as dcm2xml dumps. The image
    carries the PACS's patient id and birth date (not the INS): those are not compared; its study, accession
    and the KOS referencing it agree."""
    folder = f"{CROSS_DIR}/OK_Cas_Passant"
    assert cross_validate(kos=corpus_file(f"{folder}/KOS_OK.xml"), image=corpus_file(f"{folder}/IMG_OK.xml"),
                          hl7=corpus_file(f"{folder}/HL7_OK.hl7.head")) == []


def test_image_of_another_exam_is_caught(corpus_file, good):
    """The ANS image against our good KOS: another study, another accession, not among the references."""
    findings = cross_validate(kos=good["exam1/kos.dcm"], image=corpus_file(f"{CROSS_DIR}/OK_Cas_Passant/IMG_OK.xml"))
    assert sorted(f.rule for f in findings) == ["XVAL-ACC-001", "XVAL-STU-001", "XVAL-STU-001"]


def test_group_names_what_it_could_not_compare(good, tmp_path):
    """A cross group never says OK about a file it did not read: an unknown file, an unreadable KOS."""
    from harness.validators import validate_files

    (tmp_path / "notes.txt").write_text("hello")
    (tmp_path / "kos.dcm").write_bytes(b"garbage")
    (tmp_path / "cr.xml").write_bytes(good["exam1/cr-img.xml"])
    paths = [tmp_path / "kos.dcm", tmp_path / "cr.xml", tmp_path / "notes.txt"]
    cross = validate_files(paths, cross_groups=[paths])[-1]
    assert not cross.ok and {(f.rule, f.location) for f in cross.findings} == {
        ("XVAL-INPUT-001", str(tmp_path / "kos.dcm")), ("XVAL-INPUT-001", str(tmp_path / "notes.txt"))}
    assert "not read" in cross.rule_sets[0].reason
