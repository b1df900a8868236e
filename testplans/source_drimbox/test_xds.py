"""The RAD-68 publication the DMP received: what the DMP answered first (STYLE §17), then the request
itself: the full XDS validator under the DMP rules, its VIHF, its Signature01, and the KOS entry's metadata."""

from __future__ import annotations

import hashlib

import pytest

from fixtures.mutations.goodset import ACC_ISSUER
from harness.checks import expect, expect_equal, fail
from harness.soap import ITI41_ACTION
from testplans.source_drimbox.conftest import publish, published_kos, published_request
from testplans.source_drimbox.outcomes import expect_signature01, expect_valid_request, expect_vihf
from testplans.source_drimbox.support import Timing

INS_OID = "1.2.250.1.213.1.4.10"


def _code(c) -> tuple | None:
    return None if c is None else (c.node, c.coding_scheme)


@pytest.mark.requirement("SRC-XDS-ACCEPTED")
def test_report_publication_is_accepted_by_the_dmp(env):
    pub = publish(env, "main")
    if pub.ack is not None and pub.ack.code == "AA" and pub.pnr is None:
        fail("SRC-XDS-ACCEPTED", "DMP repository", "a RAD-68 request for the study after the ACK AA",
             f"nothing within {Timing.publish:.0f} s", "a report acknowledged AA must be published")
    pnr = published_request(env, "main")
    answer = pnr.answer()
    expect(answer.accepted, rule="SRC-XDS-ACCEPTED", location="RegistryResponse/@status",
           expected="Success", observed=answer.describe(), message="the DMP refused the publication")


@pytest.mark.requirement("SRC-XDS-VALID")
def test_publication_passes_the_dmp_metadata_rules(env):
    expect_valid_request(published_request(env, "main"))


@pytest.mark.requirement("SRC-XDS-VIHF")
def test_publication_carries_a_valid_vihf(env):
    expect_vihf(env, published_request(env, "main"))


@pytest.mark.requirement("SRC-XDS-TRANSPORT")
def test_publication_is_mtom_pnr(env):
    pnr = published_kos(env, "main")
    ctype = pnr.content_type.lower()
    expect(ctype.startswith("multipart/related") and "application/xop+xml" in ctype, rule="SRC-XDS-TRANSPORT",
           location="Content-Type", expected='multipart/related; type="application/xop+xml"', observed=ctype,
           message="RAD-68 is sent as MTOM/XOP")
    expect_equal(pnr.action, ITI41_ACTION, rule="SRC-XDS-TRANSPORT", location="wsa:Action",
                 message="the ITI-41 action is used for RAD-68")


@pytest.mark.requirement("SRC-XDS-META")
def test_kos_entry_has_the_dmp_codes(env):
    entry = published_kos(env, "main").kos_entry()
    where = f"ExtrinsicObject[@id='{entry.id}']"
    expect_equal(entry.mimeType, "application/dicom", rule="SRC-XDS-META", location=f"{where}/@mimeType")
    expect_equal(_code(entry.classCode), ("31", "1.2.250.1.213.1.1.4.1"), rule="SRC-XDS-META",
                 location=f"{where}/classCode")
    expect_equal(_code(entry.typeCode), ("IMG-KOS", "1.2.250.1.213.1.1.4.12"), rule="SRC-XDS-META",
                 location=f"{where}/typeCode")
    expect_equal(entry.languageCode, "fr-FR", rule="SRC-XDS-META", location=f"{where}/languageCode")
    expect(bool(entry.title), rule="SRC-XDS-META", location=f"{where}/Name", expected="a title",
           observed=entry.title, message="the entry has a title")
    confs = [_code(c) for c in entry.confidentialityCodes]
    expect(("N", "2.16.840.1.113883.5.25") in confs, rule="SRC-XDS-META", location=f"{where}/confidentialityCode",
           expected="N / 2.16.840.1.113883.5.25", observed=confs, message="normal confidentiality")


@pytest.mark.requirement("SRC-XDS-FORMAT")
def test_kos_format_code(env):
    entry = published_kos(env, "main").kos_entry()
    expect_equal(_code(entry.formatCode), ("1.2.840.10008.5.1.4.1.1.88.59", "1.2.840.10008.2.6.1"),
                 rule="SRC-XDS-FORMAT", location=f"ExtrinsicObject[@id='{entry.id}']/formatCode",
                 message="formatCode of a KOS (the urn:ihe:rad form is deprecated)")


@pytest.mark.requirement("SRC-XDS-PATIENT")
def test_patient_id_is_the_ins(env):
    pnr = published_kos(env, "main")
    expected = f"{env.exams['main'].ins}^^^&{INS_OID}&ISO^NH"
    expect_equal(pnr.kos_entry().patientId, expected, rule="SRC-XDS-PATIENT",
                 location="XDSDocumentEntry.patientId")
    expect_equal(pnr.submission.submission_set.patientId, expected, rule="SRC-XDS-PATIENT",
                 location="XDSSubmissionSet.patientId")


@pytest.mark.requirement("SRC-XDS-REFID")
def test_reference_id_list(env):
    entry = published_kos(env, "main").kos_entry()
    ex = env.exams["main"]
    values = {v.rsplit("^", 1)[-1]: v for v in entry.referenceIdList}
    for kind, expected in [("urn:ihe:iti:xds:2013:accession", f"{ex.accession}^^^&{ACC_ISSUER}&ISO"),
                           ("urn:ihe:iti:xds:2016:studyInstanceUID", ex.study_uid),
                           ("urn:ihe:iti:xds:2013:order", ex.placer)]:
        found = values.get(kind, "")
        expect(found.startswith(expected), rule="SRC-XDS-REFID", location=f"referenceIdList[{kind}]",
               expected=f"{expected}...^{kind}", observed=found or entry.referenceIdList,
               message="the report's identifier in CXi form")


@pytest.mark.requirement("SRC-XDS-EVENT")
def test_event_code_has_the_modality(env):
    entry = published_kos(env, "main").kos_entry()
    codes = [_code(c) for c in entry.eventCodes]
    expected = (env.exams["main"].modality, "1.2.250.1.213.1.1.5.618")
    expect(expected in codes, rule="SRC-XDS-EVENT", location="eventCodeList", expected=expected, observed=codes,
           message="the modality of the study, coded in JDV_ModaliteAcquisition_CISIS")


@pytest.mark.requirement("SRC-XDS-SIGNATURE")
def test_signature_document_signs_the_submission(env):
    pnr = published_request(env, "main")
    sub = pnr.submission
    sigs = [d for d in sub.documents if d.mimeType == "text/xml"
            and _code(d.formatCode) and d.formatCode.node == "http://www.w3.org/2000/09/xmldsig#"]
    expect(len(sigs) == 1, rule="SRC-XDS-SIGNATURE", location="ExtrinsicObject[@mimeType='text/xml']",
           expected="one signature document", observed=len(sigs), message="the DMP requires Signature01")
    signs = [a for a in sub.associations if a.type == "urn:ihe:iti:2007:AssociationType:signs"]
    ss_id = sub.submission_set.id
    expect(any(a.source == sigs[0].id and a.target == ss_id for a in signs), rule="SRC-XDS-SIGNATURE",
           location="Association[@associationType='...:signs']", expected=f"{sigs[0].id} signs {ss_id}",
           observed=[(a.source, a.target) for a in signs], message="the signature signs the submission set")
    expect_signature01(env, pnr)


@pytest.mark.requirement("SRC-XDS-KOS")
def test_published_document_is_the_studys_kos(env):
    pnr = published_request(env, "main")
    entry = pnr.kos_entry()
    expect(entry is not None and pnr.kos_bytes() is not None, rule="SRC-XDS-KOS",
           location="ExtrinsicObject[@mimeType='application/dicom']", expected="the KOS document and its bytes",
           observed="no application/dicom entry" if entry is None else "no attachment for the entry",
           message="the publication carries the study's KOS")
    data = pnr.kos_bytes()
    where = f"ExtrinsicObject[@id='{entry.id}']"
    expect_equal((entry.hash or "").lower(), hashlib.sha1(data).hexdigest(), rule="SRC-XDS-KOS",
                 location=f"{where}/Slot[@name='hash']",
                 message="the entry's hash is the SHA-1 of the KOS it carries (IHE ITI TF-3 §4.2.3.2.11)")
    expect_equal(str(entry.size), str(len(data)), rule="SRC-XDS-KOS", location=f"{where}/Slot[@name='size']",
                 message="the entry's size is the KOS's length in bytes (IHE ITI TF-3 §4.2.3.2.19)")
    kos = pnr.kos()
    expect_equal(str(kos.SOPClassUID), "1.2.840.10008.5.1.4.1.1.88.59", rule="SRC-XDS-KOS",
                 location="(0008,0016)", message="the document is a KOS")
    expect_equal(str(kos.StudyInstanceUID), env.exams["main"].study_uid, rule="SRC-XDS-KOS",
                 location="(0020,000D)", message="the KOS is about the reported study")
