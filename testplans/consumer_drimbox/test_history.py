"""Exam history (ITI-18), VIHF, manifest retrieval (ITI-43) and the exam page
(ANS DRIM-M_DATA Validateur XDS/XDS.xml)."""

from __future__ import annotations

import datetime as dt

import pytest

from harness.checks import expect, expect_equal, fail, inconclusive
from harness.vihf import verify_vihf
from testplans.consumer_drimbox.conftest import PROFESSIONAL, answered, driver_step, open_exam, open_patient
from testplans.consumer_drimbox.exams import patient_cx
from testplans.consumer_drimbox.traffic import queries, require_kos, retrieves, vihf_attributes

APPROVED = "urn:oasis:names:tc:ebxml-regrep:StatusType:Approved"
KOS_TYPE = "IMG-KOS^^1.2.250.1.213.1.1.4.12"
VIHF_FIXED = {"VIHF_Version": "3.0", "Ressource_URN": "urn:dmp", "Authentification_Mode": "INDIRECTE"}
VIHF_PRESENT = ("Secteur_Activite", "urn:oasis:names:tc:xspa:1.0:subject:subject-id", "Identifiant_Structure",
                "LPS_ID", "LPS_Nom", "LPS_Version", "LPS_ID_HOMOLOGATION_DMP",
                "urn:oasis:names:tc:xacml:2.0:subject:role", "urn:oasis:names:tc:xspa:1.0:subject:purposeofuse")
RESOURCE_ID = "urn:oasis:names:tc:xacml:2.0:resource:resource-id"


def _is_find_documents(query, patient) -> bool:
    return query.name == "FindDocuments" and query.one("$XDSDocumentEntryPatientId") == patient_cx(patient)


def _consumer_query(patient, rule: str):
    """(request, query) of the Consumer's FindDocuments for ``patient`` (not the harness loader's queries)."""
    seen = queries(until=lambda qs: any(_is_find_documents(q, patient) for q in qs))
    found = [(r, q) for r, q in seen if _is_find_documents(q, patient)]
    if not found:
        fail(rule, "ITI-18 requests seen by the DMP", f"FindDocuments for {patient_cx(patient)}",
             [(q.name, q.one("$XDSDocumentEntryPatientId")) for _, q in seen],
             "no FindDocuments query for the patient of the contextual call")
    return found[-1]


def _find_documents(patient):
    return _consumer_query(patient, "CON-Q-FINDDOCS")[1]


@pytest.mark.requirement("CON-Q-FINDDOCS")
def test_find_documents_parameters(world, publish):
    exam = publish(series=1, instances=1)
    open_patient(world, exam.patient)
    query = _find_documents(exam.patient)
    statuses = query.any_of("$XDSDocumentEntryStatus") or []
    expect(APPROVED in statuses, rule="CON-Q-FINDDOCS", location="$XDSDocumentEntryStatus", expected=APPROVED,
           observed=statuses, message="the query must ask for Approved entries")
    types = query.any_of("$XDSDocumentEntryTypeCode") or []
    expect_equal(types, [KOS_TYPE], rule="CON-Q-FINDDOCS", location="$XDSDocumentEntryTypeCode",
                 message="the query must select the KOS (typeCode IMG-KOS)")


@pytest.mark.requirement("CON-Q-REFID")
def test_study_uid_uses_find_documents_by_reference_id(world, browser, publish):
    exam = publish(series=1, instances=1)
    browser.open(exam.patient, StudyInstanceUID=exam.study_uid)  # the contextual call alone, no screen
    seen = queries(until=lambda qs: any(q.name == "FindDocumentsByReferenceId" for q in qs))
    by_ref = [q for _, q in seen if q.name == "FindDocumentsByReferenceId"]
    expect(bool(by_ref), rule="CON-Q-REFID", location="ITI-18 requests", expected="FindDocumentsByReferenceId",
           observed=[q.name for _, q in seen], message="the Study Instance UID of the call was not used")
    refs = [str(v) for v in by_ref[-1].any_of("$XDSDocumentEntryReferenceIdList") or []]
    ok = [r for r in refs if r.split("^")[0] == exam.study_uid and r.endswith("^urn:ihe:iti:xds:2016:studyInstanceUID")]
    expect(bool(ok), rule="CON-Q-REFID", location="$XDSDocumentEntryReferenceIdList",
           expected=f"{exam.study_uid}^^^...^urn:ihe:iti:xds:2016:studyInstanceUID", observed=refs,
           message="reference id is not the Study Instance UID in CXi form")


def _check_vihf(req, patient, what: str) -> None:
    if req.security is None:
        fail("CON-VIHF", f"{what} wsse:Security", "a VIHF assertion", "(none)", "request without a VIHF")
    attrs = vihf_attributes(req.security)
    for name, value in VIHF_FIXED.items():
        expect_equal(attrs.get(name), [value], rule="CON-VIHF", location=f"{what} VIHF {name}")
    for name in VIHF_PRESENT:
        expect(bool(attrs.get(name)) and all(v is not None and v != "" for v in attrs[name]), rule="CON-VIHF",
               location=f"{what} VIHF {name}", expected="a value", observed=attrs.get(name),
               message="mandatory VIHF attribute missing")
    expect_equal(attrs.get(RESOURCE_ID), [patient_cx(patient)], rule="CON-VIHF", location=f"{what} VIHF resource-id",
                 message="resource-id must be the patient's INS in NH form")
    name_id = req.security.findtext(".//{urn:oasis:names:tc:SAML:2.0:assertion}NameID")
    expect_equal((name_id or "").strip(), "8" + PROFESSIONAL, rule="CON-VIHF", location=f"{what} VIHF NameID",
                 message="NameID must be the logged-in professional's national id")


@pytest.mark.requirement("CON-VIHF")
def test_vihf_on_query_and_retrieve(world, publish):
    exam = publish(series=1, instances=1)
    open_exam(world, exam)
    _check_vihf(_consumer_query(exam.patient, "CON-VIHF")[0], exam.patient, "ITI-18")
    _check_vihf(_retrieve(exam, "CON-VIHF"), exam.patient, "ITI-43")


@pytest.mark.requirement("CON-VIHF-SIGNED")
def test_vihf_is_signed(world, publish):
    if not world.vihf_trust:
        inconclusive("the SUT profile gives no credentials.vihf_ca (the CA of the Consumer's VIHF signer)")
    exam = publish(series=1, instances=1)
    open_exam(world, exam)
    for what, request in (("ITI-18", _consumer_query(exam.patient, "CON-VIHF-SIGNED")[0]),
                          ("ITI-43", _retrieve(exam, "CON-VIHF-SIGNED"))):
        sent = dt.datetime.fromtimestamp(request.exchange.started, dt.UTC)
        findings = verify_vihf(request.security, trust_store=world.vihf_trust, patient=patient_cx(exam.patient),
                               now=sent)
        sig = [f for f in findings if "Signature" in f.location or "signature" in f.message.lower()
               or f.rule == "DMP-VIHF-001"]
        if sig:
            fail("CON-VIHF-SIGNED", f"{what} {sig[0].location}", "a valid enveloped signature by the structure's "
                 "certificate", sig[0].found or "(none)", sig[0].message)


def _retrieve(exam, rule: str):
    """The Consumer's ITI-43 request for the exam's KOS (after the driver opened the exam)."""
    got = [req for req, pairs in retrieves() if any(uid == exam.unique_id for _repo, uid in pairs)]
    if not got:
        fail(rule, "ITI-43 requests seen by the DMP", f"a RetrieveDocumentSet for {exam.unique_id}",
             "none", "opening the exam did not retrieve its KOS")
    return got[-1]


def _listed(world, patient) -> list[dict]:
    open_patient(world, patient)
    rows = driver_step(world.driver.listed_exams, "read the exam list")
    answered(world, "exam list rows", rows)
    return rows


def _row_of(rows: list[dict], exam) -> dict | None:
    """The row showing ``exam``: its uniqueId when the screen carries it, else its accession number."""
    return next((r for r in rows if r.get("unique_id") == exam.unique_id
                 or exam.accession in (r.get("description") or "")), None)


@pytest.mark.requirement("CON-HIST-LIST")
def test_history_lists_exam_details(world, publish):
    exam = publish(series=1, instances=1)
    row = _row_of(_listed(world, exam.patient), exam)
    if row is None:
        fail("CON-HIST-LIST", "exam list", f"the exam {exam.accession}", "absent", "the published exam is not listed")
    wanted = {"date": "14/03/2025", "modality": "CT", "region": "Thorax", "source": "BCOM"}
    for name, value in wanted.items():
        expect_equal(row.get(name), value, rule="CON-HIST-LIST", location=f"history column {name}")
    expect(exam.accession in (row.get("description") or ""), rule="CON-HIST-LIST",
           location="history column description", expected=f"contains {exam.accession}",
           observed=row.get("description"), message="no description")


@pytest.mark.requirement("CON-HIST-DEPRECATED")
def test_replaced_exam_is_hidden(world, publish):
    first = publish(series=1, instances=1)
    second = publish(first.patient, series=1, instances=1, replaces=first)
    rows = _listed(world, first.patient)
    expect(_row_of(rows, second) is not None, rule="CON-HIST-DEPRECATED", location="exam list",
           expected=f"the replacing exam {second.accession}", observed=rows,
           message="the replacing exam must be listed")
    expect(_row_of(rows, first) is None, rule="CON-HIST-DEPRECATED", location="exam list",
           expected=f"no row for the replaced exam {first.accession}", observed=rows,
           message="a replaced (Deprecated) KOS is shown")


@pytest.mark.requirement("CON-RET-ITI43")
def test_manifest_is_retrieved_by_iti43(world, publish):
    exam = publish(series=1, instances=1)
    open_exam(world, exam)
    _retrieve(exam, "CON-RET-ITI43")
    got = [pairs for _req, pairs in retrieves() if any(uid == exam.unique_id for _r, uid in pairs)]
    expect_equal(got[-1], [(world.dmp.endpoints["repository_unique_id"], exam.unique_id)], rule="CON-RET-ITI43",
                 location="RetrieveDocumentSetRequest/DocumentRequest",
                 message="the request must name the entry's repositoryUniqueId and uniqueId")


@pytest.mark.requirement("CON-EXAM-PAGE")
def test_exam_page_shows_series_viewer_and_import(world, publish):
    exam = publish(series=2, instances=2)
    open_exam(world, exam)
    require_kos(exam.unique_id)
    shown = driver_step(world.driver.shown_exam, "read the exam page")
    answered(world, "exam page", shown)
    expect_equal(set(shown.get("series") or []), set(exam.series_uids), rule="CON-EXAM-PAGE",
                 location="exam page series", message="every series of the KOS must be listed")
    links = shown.get("viewer_links") or []
    expect(bool(links) and all(link.startswith(world.source_url.split("/wado-rs")[0]) for link in links),
           rule="CON-EXAM-PAGE", location="viewer links", expected="links to the Source's viewer", observed=links,
           message="no link to the Source's viewer")
    expect(bool(shown.get("can_import")), rule="CON-EXAM-PAGE", location="import action",
           expected="an import action", observed="none", message="no import action")


@pytest.mark.requirement("CON-SOAP-WSA")
def test_dmp_requests_carry_ws_addressing(world, publish):
    exam = publish(series=1, instances=1)
    open_exam(world, exam)
    iti43 = _retrieve(exam, "CON-SOAP-WSA")
    requests_seen = [("ITI-18", _consumer_query(exam.patient, "CON-SOAP-WSA")[0]), ("ITI-43", iti43)]
    expect(iti43.mtom, rule="CON-SOAP-WSA", location="ITI-43 Content-Type", expected="MTOM/XOP",
           observed="plain SOAP", message="ITI-43 requests are sent as MTOM/XOP")
    for what, req in requests_seen:
        expect(bool(req.message_id), rule="CON-SOAP-WSA", location=f"{what} wsa:MessageID", expected="a URI",
               observed=req.message_id, message="no wsa:MessageID")
        path = "/registry" if what == "ITI-18" else "/repository"
        expect(bool(req.to) and req.to.endswith(path), rule="CON-SOAP-WSA", location=f"{what} wsa:To",
               expected=f"the DMP {path} endpoint", observed=req.to, message="wsa:To missing or wrong")
