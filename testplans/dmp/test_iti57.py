"""ITI-57 Update Document Set: the DMP deletion (status Deleted), metadata update, and its error case."""

from __future__ import annotations

import pytest

from harness.checks import expect, inconclusive
from testplans.dmp.conftest import APPROVED, DELETED, DEPRECATED, kos_entry, lookup
from testplans.dmp.entries import listing, signature_of, status_name
from testplans.dmp.helpers import answer, expect_entries, expect_error, expect_success, get_documents


@pytest.mark.requirement("DMP-UPD-DELETE")
def test_delete_sets_status_deleted(client, submitted, patient, ledger):
    """ITI-57 UpdateAvailabilityStatus to Deleted (ITI TF-3 §4.2.2.3): the KOS, and only it, is Deleted
    (its Signature01 and the decoy patient's twin KOS stay Approved)."""
    sub = submitted()
    kos = kos_entry(sub).uniqueId
    entry = lookup(client, ledger, kos)
    result = client.update_status(patient, entry["id"], APPROVED, DELETED)
    expect_success(result, "DMP-UPD-DELETE", "ITI-57 NewStatus Deleted")
    expected = {kos: DELETED, signature_of(sub).uniqueId: APPROVED,
                kos_entry(ledger.decoys[sub.submission_set.uniqueId]).uniqueId: APPROVED}
    expect_entries(get_documents(client, "DMP-UPD-DELETE", unique_ids=list(expected)), expected, ledger=ledger,
                   status=expected, rule="DMP-UPD-DELETE", location="GetDocuments after the deletion",
                   what="statuses after the deletion")


@pytest.mark.requirement("DMP-UPD-ERR")
def test_update_with_wrong_original_status(client, submitted, patient, ledger):
    kos = kos_entry(submitted()).uniqueId
    entry = lookup(client, ledger, kos)
    result = client.update_status(patient, entry["id"], DEPRECATED, DELETED)
    expect_error(result, "XDSMetadataUpdateError", "DMP-UPD-ERR", "ITI-57 with a wrong OriginalStatus")
    expect_entries(get_documents(client, "DMP-UPD-ERR", unique_ids=[kos]), [kos], ledger=ledger, status=APPROVED,
                   rule="DMP-UPD-ERR", location="GetDocuments after the refused update",
                   what="the refused update changed the entry")


@pytest.mark.requirement("DMP-UPD-METADATA")
def test_metadata_update_creates_a_new_version(client, submitted, patient, ledger):
    """A DocumentEntry update (ITI TF-2b §3.57.4.1.3, ITI TF-3 §4.1.10): a new Approved version with the
    same lid and uniqueId; the previous version, and only it, becomes Deprecated."""
    kos = kos_entry(submitted()).uniqueId
    result = client.query("GetDocuments", {"$XDSDocumentEntryUniqueId": [kos]})
    objects = result.query.objects if result.success and result.query else []
    if len(objects) != 1:
        inconclusive(f"setup: GetDocuments of {ledger.name(kos)} answered {answer(result)} and {len(objects)} "
                     "entries, not the one entry registered")
    entry = objects[0]
    old_id = entry.get("id")

    def retitle(elem):
        for ls in elem.iterfind("{*}Name/{*}LocalizedString"):
            ls.set("value", "KOS mis a jour")

    expect_success(client.update_metadata(patient, entry, retitle), "DMP-UPD-METADATA", "ITI-57 new version")
    versions = get_documents(client, "DMP-UPD-METADATA", unique_ids=[kos])
    shown = listing((f"{v['id']} ({status_name(v['status'])}, lid {v['lid']})" for v in versions), "no version")
    old = [v for v in versions if v["id"] == old_id]
    new = [v for v in versions if v["id"] != old_id]
    ok = (len(old) == 1 and old[0]["status"] == DEPRECATED and len(new) == 1 and new[0]["status"] == APPROVED
          and new[0]["lid"] == (entry.get("lid") or old_id))
    expect(ok, rule="DMP-UPD-METADATA", location=f"GetDocuments {kos}",
           expected=f"{old_id} (Deprecated) and one new version (Approved, lid {entry.get('lid') or old_id})",
           observed=shown, message="versions after the update")
