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
