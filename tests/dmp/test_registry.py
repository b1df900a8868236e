"""Registry + repository behaviour, the same tests on SQLite and PostgreSQL."""

from __future__ import annotations

import time
import uuid

from harness.xds.query import entry_summary
from simulators.dmp import reference
from simulators.dmp.config import DmpConfig
from simulators.dmp.ebxml import Indexed
from simulators.dmp.storage import Batch, StoredObject, open_storage

from .dmp_testing import client_of, find, kos_sub

DELETED = "urn:asip:ci-sis:2010:StatusType:Deleted"


def test_submit_query_retrieve(dmp_server):
    client = client_of(dmp_server)
    sub = kos_sub()
    assert client.provide_and_register(sub).success
    entries = [entry_summary(o) for o in find(client, sub.submission_set.patientId)]
    assert {e["uniqueId"] for e in entries} == {d.uniqueId for d in sub.documents}
    kos = next(d for d in sub.documents if d.mimeType == "application/dicom")
    got = client.retrieve([(dmp_server.config.repository_unique_id, kos.uniqueId)])
    assert got.success and got.documents[0].data == sub.document_bytes[kos.id]


def test_data_survive_a_restart(db_url, tmp_path):
    sub = kos_sub()
    with reference.start(DmpConfig(db=db_url, workdir=tmp_path, vihf="off")) as ref:
        assert client_of(ref).provide_and_register(sub).success
    with reference.start(DmpConfig(db=db_url, workdir=tmp_path, vihf="off")) as ref:
        assert len(find(client_of(ref), sub.submission_set.patientId)) == 2


def test_delete_then_status_filters(dmp_server):
    client = client_of(dmp_server)
    sub = kos_sub()
    patient = sub.submission_set.patientId
    assert client.provide_and_register(sub).success
    kos = next(entry_summary(o) for o in find(client, patient) if o.get("mimeType") == "application/dicom")
    approved = "urn:oasis:names:tc:ebxml-regrep:StatusType:Approved"
    assert client.update_status(patient, kos["id"], approved, DELETED).success
    assert {entry_summary(o)["id"] for o in find(client, patient, [DELETED])} == {kos["id"]}
    assert kos["id"] not in {entry_summary(o)["id"] for o in find(client, patient)}
    again = client.update_status(patient, kos["id"], approved, DELETED)
    assert not again.success and again.error_codes == ["XDSMetadataUpdateError"]


def test_a_failing_batch_writes_nothing(db_url, tmp_path):
    """The storage contract behind atomicity: an error inside commit() rolls everything back."""
    storage = open_storage(db_url, tmp_path)
    try:
        before = storage.count()
        ident = f"urn:uuid:{__import__('uuid').uuid4()}"
        obj = StoredObject(Indexed(id=ident, kind="doc", unique_id="2.25.1" + ident[-6:]), "s", b"<x/>")
        batch = Batch(objects=[obj, obj])  # same id twice: the second insert violates UNIQUE
        try:
            storage.commit(batch)
        except Exception:
            pass
        else:
            raise AssertionError("a duplicate id was accepted")
        assert storage.count() == before
        assert storage.rows_by_ids([ident]) == []
    finally:
        storage.close()


def test_concurrent_submissions_of_one_unique_id_register_once(dmp_server):
    """Eight clients send the same document uniqueId at once: one wins, the others get an error."""
    from concurrent.futures import ThreadPoolExecutor

    first = kos_sub()
    kos = next(d for d in first.documents if d.mimeType == "application/dicom")
    subs = [first] + [kos_sub(first.submission_set.patientId, document_unique_id=kos.uniqueId) for _ in range(7)]
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda s: client_of(dmp_server).provide_and_register(s), subs))
    assert sum(r.success for r in results) == 1
    assert all("XDSNonIdenticalHash" in r.error_codes for r in results if not r.success)


def test_other_stored_queries(dmp_server):
    """GetSubmissionSets, GetDocumentsAndAssociations, GetRelatedDocuments (signs), FindFolders."""
    client = client_of(dmp_server)
    sub = kos_sub()
    patient = sub.submission_set.patientId
    assert client.provide_and_register(sub).success
    entries = {e["mimeType"]: e for e in (entry_summary(o) for o in find(client, patient))}
    kos, sig = entries["application/dicom"], entries["text/xml"]
    sets = client.query("GetSubmissionSets", {"$uuid": [kos["id"]]})
    assert sets.success and {entry_summary(o)["uniqueId"] for o in sets.query.of_kind("RegistryPackage")} == {
        sub.submission_set.uniqueId}
    both = client.query("GetDocumentsAndAssociations", {"$XDSDocumentEntryEntryUUID": [kos["id"]]})
    assert both.success and len(both.query.of_kind("ExtrinsicObject")) == 1 and both.query.of_kind("Association")
    related = client.query("GetRelatedDocuments", {"$XDSDocumentEntryUniqueId": sig["uniqueId"],
                                                   "$AssociationTypes": ["urn:ihe:iti:2007:AssociationType:signs"]})
    assert related.success and [a.get("associationType") for a in related.query.of_kind("Association")] == [
        "urn:ihe:iti:2007:AssociationType:signs"]
    folders = client.query("FindFolders", {"$XDSFolderPatientId": patient, "$XDSFolderStatus": [
        "urn:oasis:names:tc:ebxml-regrep:StatusType:Approved"]})
    assert folders.success and folders.query.objects == []
    both_ids = client.query("GetDocuments", {"$XDSDocumentEntryEntryUUID": [kos["id"]],
                                             "$XDSDocumentEntryUniqueId": [kos["uniqueId"]]})
    assert both_ids.error_codes == ["XDSStoredQueryParamNumber"]


def test_assigned_entry_uuids_are_time_ordered(dmp_server):
    """Symbolic ids get version-7 UUIDs (RFC 9562 §5.7): valid urn:uuid values whose order follows
    the submissions', the property that keeps the id indexes' writes on one page per commit."""
    client = client_of(dmp_server)
    ids = []
    for _ in range(2):
        sub = kos_sub()
        assert client.provide_and_register(sub).success
        ids.append(sorted(entry_summary(o)["id"] for o in find(client, sub.submission_set.patientId)))
        time.sleep(0.002)  # the next submission starts in a later millisecond
    for ident in ids[0] + ids[1]:
        parsed = uuid.UUID(ident.removeprefix("urn:uuid:"))
        assert ident.startswith("urn:uuid:") and parsed.version == 7 and parsed.variant == uuid.RFC_4122
    assert max(ids[0]) < min(ids[1])
