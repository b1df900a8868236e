"""ITI-41 / RAD-68 Provide and Register: acceptance, computed hash, error codes, atomicity, RPLC."""

from __future__ import annotations

import hashlib

import pytest

from harness.checks import expect, expect_equal, inconclusive
from harness.xds.model import Association
from testplans.dmp.conftest import APPROVED, DEPRECATED, kos_entry, lookup, lookup_set
from testplans.dmp.entries import RPLC, SIGNS, listing, signature_of
from testplans.dmp.helpers import answer, expect_entries, expect_error, expect_success, get_documents, summaries
from testplans.dmp.kos import make_kos, new_uid


@pytest.mark.requirement("DMP-PNR-001", "DMP-SOAP-001")
def test_kos_submission_is_accepted(client, make_submission, patient, ledger):
    """RAD-68 in MTOM (IHE RAD TF-2 §4.68, ITI TF-2b §3.41): Success, then the KOS and Signature01 are
    registered (GetDocuments), Approved, for the patient."""
    sub = make_submission()
    expect_success(client.provide_and_register(sub, mtom=True), "DMP-PNR-001", "RAD-68 of a KOS")
    ledger.record(sub)
    mine = [d.uniqueId for d in sub.documents]
    expect_entries(get_documents(client, "DMP-PNR-001", unique_ids=mine), mine, ledger=ledger, rule="DMP-PNR-001",
                   patient=patient, location="GetDocuments of the submitted entries",
                   what="the KOS and Signature01 after the submission")


@pytest.mark.requirement("DMP-SOAP-002")
def test_inline_base64_submission_is_accepted(client, make_submission):
    expect_success(client.provide_and_register(make_submission(), mtom=False), "DMP-SOAP-002",
                   "PnR with inline base64 documents")


@pytest.mark.requirement("DMP-PNR-HASH-COMPUTED")
def test_hash_and_size_are_computed_when_absent(client, make_submission, ledger):
    sub = make_submission()
    kos = kos_entry(sub)
    data = sub.document_bytes[kos.id]
    kos.hash = kos.size = None
    expect_success(client.provide_and_register(sub), "DMP-PNR-HASH-COMPUTED", "PnR without hash/size")
    ledger.record(sub)
    found = get_documents(client, "DMP-PNR-HASH-COMPUTED", unique_ids=[kos.uniqueId])
    expect_entries(found, [kos.uniqueId], ledger=ledger, rule="DMP-PNR-HASH-COMPUTED", what="the KOS entry",
                   location=f"GetDocuments {kos.uniqueId}")
    where = f"DocumentEntry {kos.uniqueId} slot"
    expect_equal((found[0]["hash"] or "no hash slot").lower(), hashlib.sha1(data).hexdigest(),
                 rule="DMP-PNR-HASH-COMPUTED", location=f"{where} hash", message="hash is not the SHA-1 of the KOS")
    expect_equal(found[0]["size"] or "no size slot", str(len(data)), rule="DMP-PNR-HASH-COMPUTED",
                 location=f"{where} size", message="size is not the KOS length")


@pytest.mark.requirement("DMP-PNR-ERR-HASH")
def test_wrong_hash_is_rejected(client, make_submission):
    sub = make_submission()
    kos_entry(sub).hash = "0" * 40
    expect_error(client.provide_and_register(sub), "XDSRepositoryMetadataError", "DMP-PNR-ERR-HASH",
                 "PnR with a hash that is not the document's")


@pytest.mark.requirement("DMP-PNR-ERR-SIZE")
def test_wrong_size_is_rejected(client, make_submission):
    sub = make_submission()
    kos_entry(sub).size = "7"
    expect_error(client.provide_and_register(sub), "XDSRepositoryMetadataError", "DMP-PNR-ERR-SIZE",
                 "PnR with a size that is not the document's")


@pytest.mark.requirement("DMP-PNR-ERR-PATIENT")
def test_document_patient_differs_from_submission_set(client, make_submission):
    from testplans.dmp.conftest import _ins_patient

    sub = make_submission()
    kos_entry(sub).patientId = _ins_patient()
    expect_error(client.provide_and_register(sub), "XDSPatientIdDoesNotMatch", "DMP-PNR-ERR-PATIENT",
                 "PnR whose DocumentEntry names another patient")


@pytest.mark.requirement("DMP-PNR-ERR-UNKNOWN-PATIENT")
def test_unknown_patient_is_rejected(client, make_submission):
    stranger = "999999999999999^^^&1.2.250.1.999.9.9&ISO^NH"
    sub = make_submission(patient_id=stranger)
    expect_error(client.provide_and_register(sub), "XDSUnknownPatientId", "DMP-PNR-ERR-UNKNOWN-PATIENT",
                 "PnR for a patient outside the INS domains")


@pytest.mark.requirement("DMP-PNR-ERR-DUPLICATE")
def test_duplicate_unique_id_is_rejected(client, submitted, make_submission):
    first = submitted()
    again = make_submission()
    again.submission_set.uniqueId = first.submission_set.uniqueId
    expect_error(client.provide_and_register(again), "XDSDuplicateUniqueIdInRegistry", "DMP-PNR-ERR-DUPLICATE",
                 "PnR re-using a registered SubmissionSet uniqueId")


@pytest.mark.requirement("DMP-PNR-ERR-NONIDENTICAL-HASH")
def test_same_unique_id_other_content_is_rejected(client, submitted, make_submission):
    first = submitted()
    again = make_submission(document_unique_id=kos_entry(first).uniqueId)  # other KOS bytes, same uniqueId
    expect_error(client.provide_and_register(again), "XDSNonIdenticalHash", "DMP-PNR-ERR-NONIDENTICAL-HASH",
                 "PnR of other bytes under a registered document uniqueId")


@pytest.mark.requirement("DMP-PNR-ERR-MISSING-DOC")
def test_entry_without_document_is_rejected(client, make_submission):
    sub = make_submission()
    del sub.document_bytes[kos_entry(sub).id]
    expect_error(client.provide_and_register(sub), "XDSMissingDocument", "DMP-PNR-ERR-MISSING-DOC",
                 "PnR whose KOS entry has no document")


@pytest.mark.requirement("DMP-PNR-ERR-MISSING-METADATA")
def test_document_without_entry_is_rejected(client, make_submission):
    sub = make_submission()
    sub.document_bytes["Orphan01"] = b"orphan"
    expect_error(client.provide_and_register(sub), "XDSMissingDocumentMetadata", "DMP-PNR-ERR-MISSING-METADATA",
                 "PnR carrying a document no entry describes")


@pytest.mark.requirement("DMP-PNR-ERR-METADATA")
def test_submission_without_submission_set_is_rejected(client, make_submission, patient):
    from harness.soap import ITI41_ACTION, build_envelope, encode_mtom
    from harness.xds import build_pnr_request

    sub = make_submission()
    req = build_pnr_request(sub)
    olist = req.find(".//{urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0}RegistryObjectList")
    for pkg in olist.findall("{urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0}RegistryPackage"):
        olist.remove(pkg)
    for assoc in olist.findall("{urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0}Association"):
        olist.remove(assoc)
    for cl in olist.findall("{urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0}Classification"):
        olist.remove(cl)
    env = build_envelope(req, action=ITI41_ACTION, header_extra=client.security_headers(patient))
    ctype, body = encode_mtom(env, {}, action=ITI41_ACTION)
    expect_error(client.post(client.repository_url, ctype, body), "XDSRegistryMetadataError",
                 "DMP-PNR-ERR-METADATA", "PnR without a SubmissionSet")


@pytest.mark.requirement("DMP-PNR-ERR-SIGNATURE")
def test_submission_with_a_forged_signature_is_rejected(client, make_submission):
    """Signature01 with every reference digest right but a SignatureValue that is not the signer's
    (that nothing of a rejected submission stays is DMP-PNR-ATOMIC's test)."""
    import base64
    import re

    from harness.xds.builder import fill_hash_size

    sub = make_submission()
    forged = base64.b64encode(bytes(256)).decode().encode()
    sub.document_bytes["Signature01"] = re.sub(rb"(<ds:SignatureValue>)[^<]*", rb"\g<1>" + forged,
                                               sub.document_bytes["Signature01"])
    fill_hash_size(sub)
    expect_error(client.provide_and_register(sub), "XDSRegistryMetadataError", "DMP-PNR-ERR-SIGNATURE",
                 "PnR whose Signature01 SignatureValue does not verify")


@pytest.mark.requirement("DMP-PNR-ATOMIC")
def test_rejected_submission_leaves_nothing(client, make_submission, dmp, ledger):
    """Two KOS in one submission, the second with a wrong size: neither may be registered nor stored."""
    sub = make_submission()
    good = kos_entry(sub)
    kos2, _ = make_kos()
    bad = type(good)(**{**good.__dict__, "id": "DocumentKOS2", "uniqueId": new_uid()})
    sub.documents.append(bad)
    sub.document_bytes[bad.id] = kos2
    bad.hash, bad.size = None, str(len(kos2) + 1)
    sub.associations.append(Association("assoc-kos2", "urn:oasis:names:tc:ebxml-regrep:AssociationType:HasMember",
                                        sub.submission_set.id, bad.id, {"SubmissionSetStatus": ["Original"]}))
    ledger.record(sub, "refused")
    result = client.provide_and_register(sub)
    if result.success:
        inconclusive("the DMP accepted a submission whose second KOS has a wrong size (see DMP-PNR-ERR-SIZE): "
                     "there is no rejected submission to look at")
    left = get_documents(client, "DMP-PNR-ATOMIC", unique_ids=[d.uniqueId for d in sub.documents])
    expect(not left, rule="DMP-PNR-ATOMIC", location="registry after the rejected submission",
           expected="no entry of the rejected submission",
           observed=listing(ledger.name(e["uniqueId"], e) for e in left),
           message=f"part of a submission refused with {answer(result)} was registered")
    if dmp.repository_unique_id:
        retrieved = client.retrieve([(dmp.repository_unique_id, good.uniqueId)])
        expect(not retrieved.documents, rule="DMP-PNR-ATOMIC", location=f"ITI-43 {good.uniqueId}",
               expected="XDSDocumentUniqueIdError", observed=f"{len(retrieved.documents)} document(s)",
               message="a document of the rejected submission was stored")


@pytest.mark.requirement("DMP-PNR-RPLC")
def test_replacement_deprecates_the_previous_kos(client, submitted, make_submission, ledger):
    """RPLC (ITI TF-3 §4.2.2.2.1): the replaced KOS becomes Deprecated, the new one is Approved, and
    nothing else changes (its Signature01, the decoy patient's twin KOS stay Approved)."""
    first = submitted()
    old = kos_entry(first)
    old_entry = lookup(client, ledger, old.uniqueId)
    new = make_submission()
    new_kos = kos_entry(new)
    new.associations.append(Association("assoc-rplc", RPLC, new_kos.id, old_entry["id"]))
    expect_success(client.provide_and_register(new), "DMP-PNR-RPLC", "PnR replacing a KOS (RPLC)")
    ledger.record(new, "replacing")
    twin = kos_entry(ledger.decoys[first.submission_set.uniqueId]).uniqueId
    expected = {old.uniqueId: DEPRECATED, new_kos.uniqueId: APPROVED, signature_of(first).uniqueId: APPROVED,
                twin: APPROVED}
    expect_entries(get_documents(client, "DMP-PNR-RPLC", unique_ids=list(expected)), expected, ledger=ledger,
                   status=expected, rule="DMP-PNR-RPLC", location="GetDocuments after the RPLC submission",
                   what="statuses after the replacement")


@pytest.mark.requirement("DMP-PNR-SIGNS")
def test_signature_document_and_signs_association(client, submitted, ledger):
    """Signature01 (ITI TF-3 §4.2.2.2, DSG): registered with a signs association from it to the submission
    set it signs."""
    sub = submitted()
    sig = lookup(client, ledger, signature_of(sub).uniqueId)
    ss_id = lookup_set(client, ledger, sub.submission_set.uniqueId)
    result = client.query("GetAssociations", {"$uuid": [sig["id"]]})
    expect_success(result, "DMP-PNR-SIGNS", "GetAssociations of Signature01")
    found = summaries(result)
    signs = [a for a in found if a["associationType"] == SIGNS]
    expect([(a["sourceObject"], a["targetObject"]) for a in signs] == [(sig["id"], ss_id)], rule="DMP-PNR-SIGNS",
           location=f"associations of {ledger.name(sig['id'])}",
           expected=f"one signs association from {ledger.name(sig['id'])} to {ledger.name(ss_id)}",
           observed=listing((ledger.association(a) for a in found), "no association"),
           message="the signs association is not registered as submitted")
