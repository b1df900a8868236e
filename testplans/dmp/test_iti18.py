"""ITI-18 Registry Stored Query: every stored query the DMP uses, filters, return types, error codes.

Every answer is compared with the exact set the query defines (IHE ITI TF-2a §3.18.4.1.2.3.7): the
``submitted`` fixture registers the same metadata for a decoy patient first, so an answer that leaks
another patient's entries, misses one, or reports a wrong availabilityStatus fails the requirement.
"""

from __future__ import annotations

import pytest

from harness.checks import expect, inconclusive
from testplans.dmp.conftest import lookup, lookup_set
from testplans.dmp.entries import (
    APPROVED,
    DEPRECATED,
    HAS_MEMBER,
    SIGNS,
    kos_of,
    listing,
    signature_of,
    status_name,
)
from testplans.dmp.helpers import (
    expect_associations,
    expect_entries,
    expect_error,
    expect_ids,
    find,
    get_documents,
    query,
    summaries,
)

KOS_CLASS = "31^^1.2.250.1.213.1.1.4.1"
KOS_TYPE = "IMG-KOS^^1.2.250.1.213.1.1.4.12"
KOS_FORMAT = "1.2.840.10008.5.1.4.1.1.88.59^^1.2.840.10008.2.6.1"
MODALITY = "1.2.250.1.213.1.1.5.618"
NORMAL = "N^^2.16.840.1.113883.5.25"
MASQUE_PS = "MASQUE_PS^^1.2.250.1.213.1.1.4.13"


def _ids(sub) -> list[str]:
    return [d.uniqueId for d in sub.documents]


@pytest.mark.requirement("DMP-SQ-FD")
def test_find_documents_returns_the_patients_entries(client, submitted, patient, ledger):
    """FindDocuments by patient (ITI TF-2a §3.18.4.1.2.3.7.1): the KOS and Signature01 of the patient,
    LeafClass with an entryUUID, status Approved; none of the decoy patient's twin entries."""
    sub = submitted()
    for statuses in ([APPROVED], [APPROVED, DEPRECATED]):
        found = find(client, patient, "DMP-SQ-FD", statuses=statuses)
        expect_entries(found, _ids(sub), ledger=ledger, rule="DMP-SQ-FD", patient=patient, what="FindDocuments",
                       location=f"FindDocuments patient {patient}, status {listing(map(status_name, statuses))}")
        no_uuid = [ledger.name(e["uniqueId"], e) for e in found if not (e["id"] or "").startswith("urn:uuid:")]
        expect(not no_uuid, rule="DMP-SQ-FD", location="ExtrinsicObject/@id", expected="an entryUUID (urn:uuid:...)",
               observed=f"no entryUUID on {listing(no_uuid)}", message="LeafClass entries without their entryUUID")


@pytest.mark.requirement("DMP-SQ-FD-STATUS")
def test_find_documents_honours_the_status_filter(client, submitted, replaced, patient, ledger):
    """$XDSDocumentEntryStatus (ITI TF-2a §3.18.4.1.2.3.7.1): after an RPLC the replaced KOS is
    Deprecated; each status list returns exactly the entries in those statuses."""
    first = submitted()
    new = replaced(first)
    replaced(ledger.decoys[first.submission_set.uniqueId])
    old = kos_of(first).uniqueId
    if lookup(client, ledger, old)["status"] != DEPRECATED:
        inconclusive(f"the DMP did not deprecate {ledger.name(old)} that an RPLC replaced (see DMP-PNR-RPLC)")
    approved = [signature_of(first).uniqueId, *_ids(new)]
    status = {uid: APPROVED for uid in approved} | {old: DEPRECATED}
    cases = (([APPROVED], approved), ([DEPRECATED], [old]), ([APPROVED, DEPRECATED], [*approved, old]))
    for statuses, expected in cases:
        names = listing(map(status_name, statuses))
        expect_entries(find(client, patient, "DMP-SQ-FD-STATUS", statuses=statuses), expected, ledger=ledger,
                       rule="DMP-SQ-FD-STATUS", patient=patient, status=status,
                       location=f"FindDocuments $XDSDocumentEntryStatus {names}", what=f"FindDocuments for {names}")


_CODE_CASES = [  # (parameter, values, the test patient's entries expected)
    ("$XDSDocumentEntryClassCode", [KOS_CLASS, "11488-4^^2.16.840.1.113883.6.1"], "KOS"),
    ("$XDSDocumentEntryClassCode", ["11488-4^^2.16.840.1.113883.6.1"], ""),
    ("$XDSDocumentEntryTypeCode", [KOS_TYPE], "KOS"),
    ("$XDSDocumentEntryTypeCode", ["18748-4^^2.16.840.1.113883.6.1"], ""),
    ("$XDSDocumentEntryFormatCode", [KOS_FORMAT], "KOS"),
    ("$XDSDocumentEntryFormatCode", ["urn:ihe:rad:PDF^^1.3.6.1.4.1.19376.1.2.3"], ""),
    ("$XDSDocumentEntryPracticeSettingCode", ["AMBULATOIRE^^1.2.250.1.213.1.1.4.9"], "KOS Signature01"),
    ("$XDSDocumentEntryPracticeSettingCode", ["URGENCES^^1.2.250.1.213.1.1.4.9"], ""),
    ("$XDSDocumentEntryHealthcareFacilityTypeCode", ["SA07^^1.2.250.1.71.4.2.4"], "KOS Signature01"),
    ("$XDSDocumentEntryHealthcareFacilityTypeCode", ["SA01^^1.2.250.1.71.4.2.4"], ""),
]


@pytest.mark.requirement("DMP-SQ-FD-CODES")
@pytest.mark.parametrize("param,values,expected", [
    pytest.param(*case, id=f"{case[0].removeprefix('$XDSDocumentEntry')}-{'match' if case[2] else 'miss'}")
    for case in _CODE_CASES])
def test_find_documents_code_filters(client, submitted, patient, ledger, param, values, expected):
    """Coded parameters (ITI TF-2a §3.18.4.1.2.3.7.1, §3.18.4.1.2.3.5): the values of one parameter are
    ORed; Signature01 shares the KOS's practice setting and facility type, not its class, type or format."""
    sub = submitted()
    want = {"KOS": kos_of(sub).uniqueId, "Signature01": signature_of(sub).uniqueId}
    expect_entries(find(client, patient, "DMP-SQ-FD-CODES", **{param: values}), [want[k] for k in expected.split()],
                   ledger=ledger, rule="DMP-SQ-FD-CODES", patient=patient, location=f"FindDocuments {param} "
                   f"{listing(values)}", what=f"FindDocuments filtered on {param}")


@pytest.mark.requirement("DMP-SQ-FD-EVENT")
def test_find_documents_event_codes_and_or(client, submitted, patient, ledger):
    """$XDSDocumentEntryEventCodeList (ITI TF-2a §3.18.4.1.2.3.5): values of one Slot ORed, Slots ANDed."""
    kos = kos_of(submitted(modalities=("CT", "MR"))).uniqueId
    cases = [  # (slots, KOS expected)
        ([[f"CT^^{MODALITY}"]], True),
        ([[f"US^^{MODALITY}", f"MR^^{MODALITY}"]], True),  # OR inside a slot
        ([[f"CT^^{MODALITY}"], [f"MR^^{MODALITY}"]], True),  # AND of slots, both present
        ([[f"CT^^{MODALITY}"], [f"US^^{MODALITY}"]], False),  # AND of slots, US absent
        ([[f"US^^{MODALITY}"]], False),
    ]
    for slots, matches in cases:
        shown = " AND ".join(f"({' OR '.join(s.split('^')[0] for s in slot)})" for slot in slots)
        expect_entries(find(client, patient, "DMP-SQ-FD-EVENT", **{"$XDSDocumentEntryEventCodeList": slots}),
                       [kos] if matches else [], ledger=ledger, rule="DMP-SQ-FD-EVENT", patient=patient,
                       location=f"FindDocuments $XDSDocumentEntryEventCodeList {shown}",
                       what="AND/OR semantics of the event code list")


@pytest.mark.requirement("DMP-SQ-FD-CONF")
def test_find_documents_confidentiality(client, submitted, patient, ledger):
    """$XDSDocumentEntryConfidentialityCode (ITI TF-2a §3.18.4.1.2.3.7.1): a masked KOS (MASQUE_PS) is
    told apart from an unmasked one; every entry is also N (normal)."""
    masked = submitted(extra_confidentiality=["MASQUE_PS"], tag="masked")
    plain = submitted(tag="unmasked")
    cases = [([[MASQUE_PS]], [kos_of(masked).uniqueId]), ([[NORMAL], [MASQUE_PS]], [kos_of(masked).uniqueId]),
             ([[NORMAL]], _ids(masked) + _ids(plain))]
    for slots, expected in cases:
        shown = " AND ".join(slot[0].split("^")[0] for slot in slots)
        expect_entries(find(client, patient, "DMP-SQ-FD-CONF", **{"$XDSDocumentEntryConfidentialityCode": slots}),
                       expected, ledger=ledger, rule="DMP-SQ-FD-CONF", patient=patient,
                       location=f"FindDocuments $XDSDocumentEntryConfidentialityCode {shown}",
                       what="confidentiality filter")


@pytest.mark.requirement("DMP-SQ-FD-TIME")
def test_find_documents_time_ranges(client, submitted, patient, ledger):
    """Time ranges (ITI TF-2a §3.18.4.1.2.3.6): From inclusive, To exclusive, any precision. The KOS was
    created 2024-01-15 10:30:00 for a study of 2024-01-10 08:00-09:00; Signature01 has the creation time
    as its creation, start and stop time."""
    sub = submitted(creation_time="20240115103000", service_start="20240110080000", service_stop="20240110090000")
    kos, both = [kos_of(sub).uniqueId], _ids(sub)
    cases = [
        ({"$XDSDocumentEntryCreationTimeFrom": 20240115, "$XDSDocumentEntryCreationTimeTo": 20240116}, both),
        ({"$XDSDocumentEntryCreationTimeFrom": 20240116}, []),
        ({"$XDSDocumentEntryCreationTimeTo": 20240115103000}, []),  # To is exclusive
        ({"$XDSDocumentEntryCreationTimeFrom": 20240115103000}, both),  # From is inclusive
        ({"$XDSDocumentEntryServiceStartTimeFrom": 202401100800}, both),
        ({"$XDSDocumentEntryServiceStartTimeTo": 20240111}, kos),
        ({"$XDSDocumentEntryServiceStopTimeTo": 2024011009}, []),
        ({"$XDSDocumentEntryServiceStopTimeTo": 2024011010}, kos),
    ]
    for params, expected in cases:
        shown = ", ".join(f"{k.removeprefix('$XDSDocumentEntry')} {v}" for k, v in params.items())
        expect_entries(find(client, patient, "DMP-SQ-FD-TIME", **params), expected, ledger=ledger,
                       rule="DMP-SQ-FD-TIME", patient=patient, location=f"FindDocuments {shown}",
                       what="time range filter")


@pytest.mark.requirement("DMP-SQ-FD-AUTHOR")
def test_find_documents_author_person(client, submitted, patient, ledger):
    """$XDSDocumentEntryAuthorPerson (ITI TF-2a §3.18.4.1.2.3.7.1): LIKE matching with % and _; the KOS
    and Signature01 share the author 899700367909^DOC0036790^KIT."""
    both = _ids(submitted())
    for pattern, expected in (("899700367909^DOC0036790%", both), ("%^KIT^%", both), ("8997003679_9^%", both),
                              ("1234%", []), ("899700367909^DOC0036790", [])):
        expect_entries(find(client, patient, "DMP-SQ-FD-AUTHOR", **{"$XDSDocumentEntryAuthorPerson": [pattern]}),
                       expected, ledger=ledger, rule="DMP-SQ-FD-AUTHOR", patient=patient,
                       location=f"FindDocuments $XDSDocumentEntryAuthorPerson {pattern}",
                       what="author filter with wildcards")


@pytest.mark.requirement("DMP-SQ-OBJECTREF")
def test_object_ref_return_type(client, submitted, patient, ledger):
    """returnType ObjectRef (ITI TF-2a §3.18.4.1.2.1): exactly the entryUUIDs of the patient's entries."""
    sub = submitted()
    mine = [lookup(client, ledger, uid)["id"] for uid in _ids(sub)]
    for uid in _ids(ledger.decoys[sub.submission_set.uniqueId]):
        lookup(client, ledger, uid)  # names the decoy's entryUUIDs, should they come back
    result = query(client, "FindDocuments", {"$XDSDocumentEntryPatientId": patient,
                                             "$XDSDocumentEntryStatus": [APPROVED]}, "DMP-SQ-OBJECTREF",
                   return_type="ObjectRef")
    full = [ledger.name(o.get("id")) for o in result.query.objects]
    expect(not full, rule="DMP-SQ-OBJECTREF", location="AdhocQueryResponse/RegistryObjectList",
           expected="ObjectRef elements only", observed=f"full objects: {listing(full)}",
           message="returnType ObjectRef answered with full objects")
    expect_ids(result.query.refs, mine, ledger=ledger, rule="DMP-SQ-OBJECTREF", what="FindDocuments ObjectRef",
               location="AdhocQueryResponse/RegistryObjectList/ObjectRef")


@pytest.mark.requirement("DMP-SQ-REFID")
def test_find_documents_by_reference_id(client, submitted, patient, ledger):
    """FindDocumentsByReferenceId (ITI TF-2a §3.18.4.1.2.3.7.14): the KOS by its study instance UID or
    accession number; the decoy's KOS has the same accession number but belongs to another patient."""
    kos = kos_of(submitted())
    for ref in kos.referenceIdList:
        result = query(client, "FindDocumentsByReferenceId", {
            "$XDSDocumentEntryPatientId": patient, "$XDSDocumentEntryStatus": [APPROVED],
            "$XDSDocumentEntryReferenceIdList": [ref]}, "DMP-SQ-REFID")
        expect_entries(summaries(result), [kos.uniqueId], ledger=ledger, rule="DMP-SQ-REFID", patient=patient,
                       location=f"$XDSDocumentEntryReferenceIdList {ref}", what="FindDocumentsByReferenceId")


@pytest.mark.requirement("DMP-SQ-GETDOCS")
def test_get_documents_by_uuid_and_unique_id(client, submitted, ledger):
    """GetDocuments (ITI TF-2a §3.18.4.1.2.3.7.5): exactly the entries named, by uniqueId or entryUUID."""
    sub = submitted()
    kos = kos_of(sub).uniqueId
    by_uid = get_documents(client, "DMP-SQ-GETDOCS", unique_ids=[kos])
    expect_entries(by_uid, [kos], ledger=ledger, rule="DMP-SQ-GETDOCS", location=f"GetDocuments uniqueId {kos}",
                   what="GetDocuments by uniqueId")
    ledger.learn(by_uid)
    uuids = [by_uid[0]["id"], lookup(client, ledger, signature_of(sub).uniqueId)["id"]]
    expect_entries(get_documents(client, "DMP-SQ-GETDOCS", uuids=uuids), _ids(sub), ledger=ledger,
                   rule="DMP-SQ-GETDOCS", location=f"GetDocuments entryUUID {listing(uuids)}",
                   what="GetDocuments by entryUUID")


@pytest.mark.requirement("DMP-SQ-FSS")
def test_find_submission_sets(client, submitted, patient, ledger):
    """FindSubmissionSets (ITI TF-2a §3.18.4.1.2.3.7.2): exactly the patient's two submission sets."""
    sets = [submitted().submission_set.uniqueId, submitted().submission_set.uniqueId]
    result = query(client, "FindSubmissionSets", {"$XDSSubmissionSetPatientId": patient,
                                                  "$XDSSubmissionSetStatus": [APPROVED]}, "DMP-SQ-FSS")
    expect_entries(summaries(result), sets, ledger=ledger, rule="DMP-SQ-FSS", patient=patient,
                   location=f"FindSubmissionSets patient {patient}", what="FindSubmissionSets")


def _documents(client, ledger, sub) -> dict[str, str]:
    """{document uniqueId: entryUUID} of a registered submission (GetDocuments, a setup step)."""
    return {uid: lookup(client, ledger, uid)["id"] for uid in _ids(sub)}


def _the_set(client, ledger, result, sub, rule: str, location: str, **kwargs) -> str:
    """Check the answer holds exactly the submission set of ``sub``; return its entryUUID."""
    packages = summaries(result, "RegistryPackage")
    expect_entries(packages, [sub.submission_set.uniqueId], ledger=ledger, rule=rule, location=location,
                   what="the submission set", **kwargs)
    ledger.learn(packages)
    return next(p["id"] for p in packages if p["uniqueId"] == sub.submission_set.uniqueId)


@pytest.mark.requirement("DMP-SQ-SSCONTENTS")
def test_get_submission_set_and_contents(client, submitted, ledger):
    """GetSubmissionSetAndContents (ITI TF-2a §3.18.4.1.2.3.7.8): the set, its two documents and the
    HasMember associations from the set to them, nothing else."""
    sub = submitted()
    docs = _documents(client, ledger, sub)
    result = query(client, "GetSubmissionSetAndContents", {"$XDSSubmissionSetUniqueId": sub.submission_set.uniqueId},
                   "DMP-SQ-SSCONTENTS")
    where = f"GetSubmissionSetAndContents {sub.submission_set.uniqueId}"
    ss_id = _the_set(client, ledger, result, sub, "DMP-SQ-SSCONTENTS", where)
    expect_entries(summaries(result, "ExtrinsicObject"), _ids(sub), ledger=ledger, rule="DMP-SQ-SSCONTENTS",
                   location=where, what="the documents of the set")
    expect_associations(summaries(result, "Association"), [(HAS_MEMBER, ss_id, i) for i in docs.values()],
                        ledger=ledger, rule="DMP-SQ-SSCONTENTS", location=where, what="the set's associations")


@pytest.mark.requirement("DMP-SQ-GETSS")
def test_get_submission_sets(client, submitted, ledger):
    """GetSubmissionSets (ITI TF-2a §3.18.4.1.2.3.7.9): the set holding the KOS and the HasMember
    association between them, nothing of the decoy patient's twin set."""
    sub = submitted()
    kos_id = _documents(client, ledger, sub)[kos_of(sub).uniqueId]
    result = query(client, "GetSubmissionSets", {"$uuid": [kos_id]}, "DMP-SQ-GETSS")
    where = f"GetSubmissionSets {kos_id}"
    ss_id = _the_set(client, ledger, result, sub, "DMP-SQ-GETSS", where)
    expect_associations(summaries(result, "Association"), [(HAS_MEMBER, ss_id, kos_id)], ledger=ledger,
                        rule="DMP-SQ-GETSS", location=where, what="the HasMember association of the KOS")


@pytest.mark.requirement("DMP-SQ-ASSOC")
def test_get_associations(client, submitted, ledger):
    """GetAssociations (ITI TF-2a §3.18.4.1.2.3.7.6): every association whose source or target is the
    object: for the KOS, the HasMember from its set; for Signature01, its HasMember and its signs."""
    sub = submitted()
    ss_id, docs = lookup_set(client, ledger, sub.submission_set.uniqueId), _documents(client, ledger, sub)
    kos_id, sig_id = docs[kos_of(sub).uniqueId], docs[signature_of(sub).uniqueId]
    for uuid, expected in ((kos_id, [(HAS_MEMBER, ss_id, kos_id)]),
                           (sig_id, [(HAS_MEMBER, ss_id, sig_id), (SIGNS, sig_id, ss_id)])):
        result = query(client, "GetAssociations", {"$uuid": [uuid]}, "DMP-SQ-ASSOC")
        expect_associations(summaries(result), expected, ledger=ledger, rule="DMP-SQ-ASSOC",
                            location=f"GetAssociations {uuid}", what=f"associations of {ledger.name(uuid)}")


@pytest.mark.requirement("DMP-SQ-GETALL")
def test_get_all(client, submitted, patient, ledger):
    """GetAll (ITI TF-2a §3.18.4.1.2.3.7.11): exactly the patient's set, documents and the associations
    between them (two HasMember, one signs)."""
    sub = submitted()
    docs = _documents(client, ledger, sub)
    result = query(client, "GetAll", {"$patientId": patient, "$XDSDocumentEntryStatus": [APPROVED],
                                      "$XDSSubmissionSetStatus": [APPROVED], "$XDSFolderStatus": [APPROVED]},
                   "DMP-SQ-GETALL")
    where = f"GetAll patient {patient}"
    ss_id = _the_set(client, ledger, result, sub, "DMP-SQ-GETALL", where, patient=patient)
    expect_entries(summaries(result, "ExtrinsicObject"), _ids(sub), ledger=ledger, rule="DMP-SQ-GETALL",
                   location=where, patient=patient, what="the patient's documents")
    sig_id = docs[signature_of(sub).uniqueId]
    expect_associations(summaries(result, "Association"),
                        [(HAS_MEMBER, ss_id, i) for i in docs.values()] + [(SIGNS, sig_id, ss_id)], ledger=ledger,
                        rule="DMP-SQ-GETALL", location=where, what="the patient's associations")


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
