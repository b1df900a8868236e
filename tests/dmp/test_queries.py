"""simulators.dmp.queries: what QueryRules change, and what they leave alone."""

from __future__ import annotations

import pytest

from harness.xds.query import STORED_QUERIES, QueryError, QueryRequest
from simulators.dmp.ebxml import APPROVED
from simulators.dmp.queries import QueryRules, run_query
from simulators.dmp.storage import SqliteStorage


def test_a_parameter_the_rules_ignore_is_still_checked(tmp_path):
    """QueryRules.ignored drops a filter, not the parameter's checks: a registry with that bug still
    refuses a patient id that is not a CX (ITI TF-2a §3.18.4.1.2.3.8)."""
    storage = SqliteStorage(str(tmp_path / "dmp.sqlite"))
    ignoring = QueryRules(ignored=frozenset({"$XDSDocumentEntryPatientId"}))
    request = QueryRequest(STORED_QUERIES["FindDocuments"], params={
        "$XDSDocumentEntryPatientId": [["not-a-cx"]], "$XDSDocumentEntryStatus": [[APPROVED]]})
    try:
        with pytest.raises(QueryError) as exc:
            run_query(storage, request, ignoring)
        assert exc.value.code == "XDSRegistryError"
    finally:
        storage.close()
