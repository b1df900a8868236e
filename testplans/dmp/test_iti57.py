"""ITI-57 Update Document Set: the DMP deletion (status Deleted) and its error case."""

from __future__ import annotations

import pytest

from harness.checks import expect_equal
from testplans.dmp.conftest import APPROVED, DELETED, DEPRECATED, kos_entry
from testplans.dmp.helpers import expect_error, expect_success, get_documents


@pytest.mark.requirement("DMP-UPD-DELETE")
def test_delete_sets_status_deleted(client, submitted, patient):
    kos = kos_entry(submitted())
    [entry] = get_documents(client, "DMP-UPD-DELETE", unique_ids=[kos.uniqueId])
    result = client.update_status(patient, entry["id"], APPROVED, DELETED)
    expect_success(result, "DMP-UPD-DELETE", "ITI-57 NewStatus Deleted")
    [after] = get_documents(client, "DMP-UPD-DELETE", unique_ids=[kos.uniqueId])
    expect_equal(after["status"], DELETED, rule="DMP-UPD-DELETE", location=f"DocumentEntry {kos.uniqueId}",
                 message="status after deletion")


@pytest.mark.requirement("DMP-UPD-ERR")
def test_update_with_wrong_original_status(client, submitted, patient):
    kos = kos_entry(submitted())
    [entry] = get_documents(client, "DMP-UPD-ERR", unique_ids=[kos.uniqueId])
    result = client.update_status(patient, entry["id"], DEPRECATED, DELETED)
    expect_error(result, "XDSMetadataUpdateError", "DMP-UPD-ERR", "ITI-57 with a wrong OriginalStatus")


@pytest.mark.requirement("DMP-UPD-METADATA")
def test_metadata_update_creates_a_new_version(client, submitted, patient):
    kos = kos_entry(submitted())
    result = client.query("GetDocuments", {"$XDSDocumentEntryUniqueId": [kos.uniqueId]})
    expect_success(result, "DMP-UPD-METADATA", "GetDocuments before the update")
    [entry] = result.query.objects
    old_id = entry.get("id")

    def retitle(elem):
        for ls in elem.iterfind("{*}Name/{*}LocalizedString"):
            ls.set("value", "KOS mis a jour")

    expect_success(client.update_metadata(patient, entry, retitle), "DMP-UPD-METADATA", "ITI-57 new version")
    versions = get_documents(client, "DMP-UPD-METADATA", unique_ids=[kos.uniqueId])
    by_status = {v["status"]: v for v in versions}
    expect_equal(sorted(by_status), sorted([APPROVED, DEPRECATED]), rule="DMP-UPD-METADATA",
                 location=f"GetDocuments {kos.uniqueId}", message="versions after the update")
    expect_equal(by_status[DEPRECATED]["id"], old_id, rule="DMP-UPD-METADATA",
                 location=f"DocumentEntry {old_id}", message="the previous version is not the one Deprecated")
    expect_equal(by_status[APPROVED]["lid"], entry.get("lid") or old_id, rule="DMP-UPD-METADATA",
                 location="new version lid", message="the new version keeps the logical id")
