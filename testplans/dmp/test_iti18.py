"""ITI-18 Registry Stored Query: every stored query the DMP uses, filters, return types, error codes."""

from __future__ import annotations

import pytest

from harness.checks import expect, expect_equal
from harness.xds.query import entry_summary
from testplans.dmp.conftest import APPROVED, DEPRECATED, kos_entry
from testplans.dmp.helpers import expect_error, expect_success, find, get_documents, uids

KOS_CLASS = "31^^1.2.250.1.213.1.1.4.1"
KOS_TYPE = "IMG-KOS^^1.2.250.1.213.1.1.4.12"
KOS_FORMAT = "1.2.840.10008.5.1.4.1.1.88.59^^1.2.840.10008.2.6.1"
MODALITY = "1.2.250.1.213.1.1.5.618"
RPLC = "urn:ihe:iti:2007:AssociationType:RPLC"


@pytest.mark.requirement("DMP-SQ-FD")
def test_find_documents_returns_leaf_class_entries(client, submitted, patient):
    sub = submitted()
    mine = {d.uniqueId for d in sub.documents}
    found = find(client, patient, "DMP-SQ-FD")
    expect(mine <= uids(found), rule="DMP-SQ-FD", location="FindDocuments", expected=sorted(mine),
           observed=sorted(uids(found)), message="FindDocuments did not return the patient's new entries")
    for entry in (e for e in found if e["uniqueId"] in mine):
        expect(entry["status"] == APPROVED and entry["id"] and entry["patientId"] == patient, rule="DMP-SQ-FD",
               location=f"ExtrinsicObject {entry['id']}", expected=f"status Approved, patientId {patient}",
               observed=f"status {entry['status']}, patientId {entry['patientId']}",
               message="LeafClass entry lacks status or patientId")


@pytest.mark.requirement("DMP-SQ-FD-STATUS")
def test_find_documents_honours_the_status_filter(client, submitted, make_submission, patient):
    from harness.xds.model import Association

    first = submitted()
    [old] = get_documents(client, "DMP-SQ-FD-STATUS", unique_ids=[kos_entry(first).uniqueId])
    new = make_submission()
    new.associations.append(Association("assoc-rplc", RPLC, kos_entry(new).id, old["id"]))
    expect_success(client.provide_and_register(new), "DMP-SQ-FD-STATUS", "setup: RPLC submission")
    deprecated = get_documents(client, "DMP-SQ-FD-STATUS", unique_ids=[old["uniqueId"]])[0]["status"]
    if deprecated != DEPRECATED:
        from harness.checks import not_applicable

        not_applicable("the SUT did not deprecate the replaced entry (see DMP-PNR-RPLC)")
    approved = uids(find(client, patient, "DMP-SQ-FD-STATUS", statuses=[APPROVED]))
    expect(old["uniqueId"] not in approved, rule="DMP-SQ-FD-STATUS", location="FindDocuments status=Approved",
           expected="no Deprecated entry", observed=f"{old['uniqueId']} (Deprecated) returned",
           message="the status filter is ignored")
    only_deprecated = uids(find(client, patient, "DMP-SQ-FD-STATUS", statuses=[DEPRECATED]))
    new_uid = kos_entry(new).uniqueId
    expect(old["uniqueId"] in only_deprecated and new_uid not in only_deprecated, rule="DMP-SQ-FD-STATUS",
           location="FindDocuments status=Deprecated", expected=f"{old['uniqueId']} and not {new_uid}",
           observed=sorted(only_deprecated), message="wrong entries for status Deprecated")


@pytest.mark.requirement("DMP-SQ-FD-CODES")
@pytest.mark.parametrize("param,match,miss", [
    ("$XDSDocumentEntryClassCode", [KOS_CLASS, "11488-4^^2.16.840.1.113883.6.1"], ["11488-4^^2.16.840.1.113883.6.1"]),
    ("$XDSDocumentEntryTypeCode", [KOS_TYPE], ["18748-4^^2.16.840.1.113883.6.1"]),
    ("$XDSDocumentEntryFormatCode", [KOS_FORMAT], ["urn:ihe:rad:PDF^^1.3.6.1.4.1.19376.1.2.3"]),
    ("$XDSDocumentEntryPracticeSettingCode", ["AMBULATOIRE^^1.2.250.1.213.1.1.4.9"],
     ["URGENCES^^1.2.250.1.213.1.1.4.9"]),
    ("$XDSDocumentEntryHealthcareFacilityTypeCode", ["SA07^^1.2.250.1.71.4.2.4"], ["SA01^^1.2.250.1.71.4.2.4"]),
])
def test_find_documents_code_filters(client, submitted, patient, param, match, miss):
    kos = kos_entry(submitted())
    hit = uids(find(client, patient, "DMP-SQ-FD-CODES", **{param: match}))
    expect(kos.uniqueId in hit, rule="DMP-SQ-FD-CODES", location=f"FindDocuments {param}={match}",
           expected=f"KOS {kos.uniqueId} returned", observed=sorted(hit), message="matching code not found")
    none = uids(find(client, patient, "DMP-SQ-FD-CODES", **{param: miss}))
    expect(kos.uniqueId not in none, rule="DMP-SQ-FD-CODES", location=f"FindDocuments {param}={miss}",
           expected="KOS not returned", observed=sorted(none), message="a non-matching code was returned")


@pytest.mark.requirement("DMP-SQ-FD-EVENT")
def test_find_documents_event_codes_and_or(client, submitted, patient):
    kos = kos_entry(submitted(modalities=("CT", "MR")))
    cases = [  # (slots, expected to match)
        ([[f"CT^^{MODALITY}"]], True),
        ([[f"US^^{MODALITY}", f"MR^^{MODALITY}"]], True),  # OR inside a slot
        ([[f"CT^^{MODALITY}"], [f"MR^^{MODALITY}"]], True),  # AND of slots, both present
        ([[f"CT^^{MODALITY}"], [f"US^^{MODALITY}"]], False),  # AND of slots, US absent
    ]
    for slots, matches in cases:
        hit = kos.uniqueId in uids(find(client, patient, "DMP-SQ-FD-EVENT",
                                        **{"$XDSDocumentEntryEventCodeList": slots}))
        expect(hit == matches, rule="DMP-SQ-FD-EVENT", location=f"$XDSDocumentEntryEventCodeList {slots}",
               expected="returned" if matches else "not returned", observed="returned" if hit else "not returned",
               message="AND/OR semantics of eventCodeList")


@pytest.mark.requirement("DMP-SQ-FD-CONF")
def test_find_documents_confidentiality(client, submitted, patient):
    masked = kos_entry(submitted(extra_confidentiality=["MASQUE_PS"]))
    plain = kos_entry(submitted())
    hit = uids(find(client, patient, "DMP-SQ-FD-CONF",
                    **{"$XDSDocumentEntryConfidentialityCode": [["MASQUE_PS^^1.2.250.1.213.1.1.4.13"]]}))
    expect(masked.uniqueId in hit and plain.uniqueId not in hit, rule="DMP-SQ-FD-CONF",
           location="$XDSDocumentEntryConfidentialityCode=MASQUE_PS", expected=f"only {masked.uniqueId}",
           observed=sorted(hit), message="confidentiality filter")


@pytest.mark.requirement("DMP-SQ-FD-TIME")
def test_find_documents_time_ranges(client, submitted, patient):
    kos = kos_entry(submitted(creation_time="20240115103000", service_start="20240110080000",
                              service_stop="20240110090000"))
    cases = [
        ({"$XDSDocumentEntryCreationTimeFrom": 20240115, "$XDSDocumentEntryCreationTimeTo": 20240116}, True),
        ({"$XDSDocumentEntryCreationTimeFrom": 20240116}, False),
        ({"$XDSDocumentEntryCreationTimeTo": 20240115103000}, False),  # To is exclusive
        ({"$XDSDocumentEntryServiceStartTimeFrom": 202401100800}, True),
        ({"$XDSDocumentEntryServiceStopTimeTo": 2024011009}, False),
    ]
    for params, matches in cases:
        hit = kos.uniqueId in uids(find(client, patient, "DMP-SQ-FD-TIME", **params))
        expect(hit == matches, rule="DMP-SQ-FD-TIME", location=f"FindDocuments {params}",
               expected="returned" if matches else "not returned", observed="returned" if hit else "not returned",
               message="time range filter")


@pytest.mark.requirement("DMP-SQ-FD-AUTHOR")
def test_find_documents_author_person(client, submitted, patient):
    kos = kos_entry(submitted())
    for pattern, matches in (("899700367909^DOC0036790%", True), ("%^KIT^%", True), ("1234%", False)):
        hit = kos.uniqueId in uids(find(client, patient, "DMP-SQ-FD-AUTHOR",
                                        **{"$XDSDocumentEntryAuthorPerson": [pattern]}))
        expect(hit == matches, rule="DMP-SQ-FD-AUTHOR", location=f"$XDSDocumentEntryAuthorPerson {pattern}",
               expected="returned" if matches else "not returned", observed="returned" if hit else "not returned",
               message="author filter with wildcards")


@pytest.mark.requirement("DMP-SQ-OBJECTREF")
def test_object_ref_return_type(client, submitted, patient):
    sub = submitted()
    ids = {e["id"] for e in get_documents(client, "DMP-SQ-OBJECTREF", unique_ids=[d.uniqueId for d in sub.documents])}
    result = client.query("FindDocuments", {"$XDSDocumentEntryPatientId": patient,
                                            "$XDSDocumentEntryStatus": [APPROVED]}, return_type="ObjectRef")
    expect_success(result, "DMP-SQ-OBJECTREF", "FindDocuments ObjectRef")
    expect(ids <= set(result.query.refs) and not result.query.objects, rule="DMP-SQ-OBJECTREF",
           location="AdhocQueryResponse/RegistryObjectList", expected=f"ObjectRef {sorted(ids)}, no full object",
           observed=f"{len(result.query.refs)} ObjectRef, {len(result.query.objects)} objects",
           message="returnType ObjectRef not honoured")


@pytest.mark.requirement("DMP-SQ-REFID")
def test_find_documents_by_reference_id(client, submitted, patient):
    sub = submitted()
    kos = kos_entry(sub)
    for ref in kos.referenceIdList:
        result = client.query("FindDocumentsByReferenceId", {
            "$XDSDocumentEntryPatientId": patient, "$XDSDocumentEntryStatus": [APPROVED],
            "$XDSDocumentEntryReferenceIdList": [ref]})
        expect_success(result, "DMP-SQ-REFID", "FindDocumentsByReferenceId")
        found = {entry_summary(o)["uniqueId"] for o in result.query.objects}
        expect_equal(found, {kos.uniqueId}, rule="DMP-SQ-REFID", location=f"referenceIdList {ref}",
                     message="the KOS is not found by its reference id")


@pytest.mark.requirement("DMP-SQ-GETDOCS")
def test_get_documents_by_uuid_and_unique_id(client, submitted):
    kos = kos_entry(submitted())
    [by_uid] = get_documents(client, "DMP-SQ-GETDOCS", unique_ids=[kos.uniqueId])
    [by_uuid] = get_documents(client, "DMP-SQ-GETDOCS", uuids=[by_uid["id"]])
    expect_equal(by_uuid["uniqueId"], kos.uniqueId, rule="DMP-SQ-GETDOCS", location=f"GetDocuments {by_uid['id']}",
                 message="GetDocuments by entryUUID")


@pytest.mark.requirement("DMP-SQ-FSS")
def test_find_submission_sets(client, submitted, patient):
    sub = submitted()
    result = client.query("FindSubmissionSets", {"$XDSSubmissionSetPatientId": patient,
                                                 "$XDSSubmissionSetStatus": [APPROVED]})
    expect_success(result, "DMP-SQ-FSS", "FindSubmissionSets")
    found = {entry_summary(o)["uniqueId"] for o in result.query.objects}
    expect(sub.submission_set.uniqueId in found, rule="DMP-SQ-FSS", location="FindSubmissionSets",
           expected=sub.submission_set.uniqueId, observed=sorted(found), message="the patient's submission set")


@pytest.mark.requirement("DMP-SQ-SSCONTENTS")
def test_get_submission_set_and_contents(client, submitted):
    sub = submitted()
    result = client.query("GetSubmissionSetAndContents", {"$XDSSubmissionSetUniqueId": sub.submission_set.uniqueId})
    expect_success(result, "DMP-SQ-SSCONTENTS", "GetSubmissionSetAndContents")
    docs = {entry_summary(o)["uniqueId"] for o in result.query.of_kind("ExtrinsicObject")}
    members = [o for o in result.query.of_kind("Association")
               if o.get("associationType", "").endswith(":HasMember")]
    expect(docs == {d.uniqueId for d in sub.documents} and len(members) >= 2 and
           len(result.query.of_kind("RegistryPackage")) == 1, rule="DMP-SQ-SSCONTENTS",
           location="GetSubmissionSetAndContents", expected="1 set, its 2 documents, >= 2 HasMember",
           observed=f"{len(result.query.of_kind('RegistryPackage'))} set(s), {sorted(docs)}, {len(members)} HasMember",
           message="submission set contents")


@pytest.mark.requirement("DMP-SQ-ASSOC")
def test_get_associations(client, submitted):
    kos = kos_entry(submitted())
    [entry] = get_documents(client, "DMP-SQ-ASSOC", unique_ids=[kos.uniqueId])
    result = client.query("GetAssociations", {"$uuid": [entry["id"]]})
    expect_success(result, "DMP-SQ-ASSOC", "GetAssociations")
    assocs = result.query.of_kind("Association")
    expect(assocs and all(entry["id"] in (a.get("sourceObject"), a.get("targetObject")) for a in assocs),
           rule="DMP-SQ-ASSOC", location=f"GetAssociations {entry['id']}",
           expected="the HasMember association of the KOS", observed=len(assocs), message="associations")


@pytest.mark.requirement("DMP-SQ-GETALL")
def test_get_all(client, submitted, patient):
    sub = submitted()
    result = client.query("GetAll", {"$patientId": patient, "$XDSDocumentEntryStatus": [APPROVED],
                                     "$XDSSubmissionSetStatus": [APPROVED], "$XDSFolderStatus": [APPROVED]})
    expect_success(result, "DMP-SQ-GETALL", "GetAll")
    docs = {entry_summary(o)["uniqueId"] for o in result.query.of_kind("ExtrinsicObject")}
    sets = result.query.of_kind("RegistryPackage")
    expect({d.uniqueId for d in sub.documents} <= docs and len(sets) >= 1
           and len(result.query.of_kind("Association")) >= 3, rule="DMP-SQ-GETALL", location="GetAll",
           expected="its 2 documents, >= 1 set, >= 3 associations",
           observed=f"{sorted(docs)}, {len(sets)} set(s), {len(result.query.of_kind('Association'))} associations",
           message="GetAll contents")


@pytest.mark.requirement("DMP-SQ-ERR-PARAM")
def test_missing_required_parameter(client, patient):
    result = client.query("FindDocuments", {"$XDSDocumentEntryPatientId": patient})
    expect_error(result, "XDSStoredQueryParamNumber", "DMP-SQ-ERR-PARAM", "FindDocuments without status")


@pytest.mark.requirement("DMP-SQ-ERR-UNKNOWN")
def test_unknown_stored_query(client, patient):
    result = client.query("urn:uuid:00000000-0000-4000-8000-000000000000", {"$XDSDocumentEntryPatientId": patient})
    expect_error(result, "XDSUnknownStoredQuery", "DMP-SQ-ERR-UNKNOWN", "unknown stored query id")


@pytest.mark.requirement("DMP-SQ-ERR-VALUE")
def test_malformed_patient_id(client):
    result = client.query("FindDocuments", {"$XDSDocumentEntryPatientId": "not-a-cx",
                                            "$XDSDocumentEntryStatus": [APPROVED]})
    expect_error(result, "XDSRegistryError", "DMP-SQ-ERR-VALUE", "FindDocuments with a malformed patient id")
