"""SQLite plans of the stored queries: each one starts from an index on the values it is given and
reads a candidate's multi-valued codes through its id, never a whole table or every entry that
shares a code (with 10^6 entries of one event code, that was a full index range per candidate)."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

import pytest

from harness.xds.query import STORED_QUERIES, QueryRequest
from simulators.dmp.ebxml import APPROVED
from simulators.dmp.queries import run_query
from simulators.dmp.storage import SqliteStorage

PATIENT = "1234567890^^^&1.2.250.1.213.1.4.10&ISO^NH"
DOC = "urn:uuid:0190a1b2-0000-7000-8000-000000000001"


class PlanRecorder(SqliteStorage):
    """Records SQLite's plan of every statement the queries run."""

    def __init__(self, path: str) -> None:
        super().__init__(path)
        self.plans: list[tuple[str, list[str]]] = []

    def query(self, text: str, params: Sequence[Any] = ()) -> list[tuple]:
        if not text.startswith("EXPLAIN"):
            steps = [row[3] for row in super().query("EXPLAIN QUERY PLAN " + text, params)]
            self.plans.append((text, steps))
        return super().query(text, params)


def _request(name: str, **params: list[list[str | int]]) -> QueryRequest:
    return QueryRequest(STORED_QUERIES[name], params={f"${k}": v for k, v in params.items()})


CASES = {
    "FindDocuments, every multi-valued filter": _request(
        "FindDocuments", XDSDocumentEntryPatientId=[[PATIENT]], XDSDocumentEntryStatus=[[APPROVED]],
        XDSDocumentEntryEventCodeList=[["24627-2^^2.16.840.1.113883.6.1"], ["CT^^1.2.840.10008.2.16.4"]],
        XDSDocumentEntryConfidentialityCode=[["N^^2.16.840.1.113883.5.25"]],
        XDSDocumentEntryAuthorPerson=[["%Martin%"]]),
    "FindDocumentsByReferenceId": _request(
        "FindDocumentsByReferenceId", XDSDocumentEntryPatientId=[[PATIENT]], XDSDocumentEntryStatus=[[APPROVED]],
        XDSDocumentEntryReferenceIdList=[["A1^^^&1.2.3&ISO^urn:ihe:iti:xds:2013:accession"]]),
    "GetDocuments by uniqueId": _request("GetDocuments", XDSDocumentEntryUniqueId=[["1.2.3.4"]]),
    "GetAssociations": _request("GetAssociations", uuid=[[DOC]]),
    "GetSubmissionSetAndContents": _request("GetSubmissionSetAndContents", XDSSubmissionSetUniqueId=[["1.2.3"]],
                                            XDSDocumentEntryConfidentialityCode=[["N^^2.16.840.1.113883.5.25"]]),
}


@pytest.mark.parametrize("case", CASES)
def test_stored_queries_search_by_index_and_read_codes_by_entry(case, tmp_path):
    storage = PlanRecorder(str(tmp_path / "dmp.sqlite"))
    try:
        run_query(storage, CASES[case])
        assert storage.plans, "the query ran no SQL"
        for sql, steps in storage.plans:
            scans = [s for s in steps if s.startswith("SCAN")]
            assert not scans, f"full scan {scans} in {sql}"
            for step in (s for s in steps if s.startswith("SEARCH m ")):
                assert "obj_id=?" in step, f"multi searched without the entry's id ({step}) in {sql}"
    finally:
        storage.close()


def test_a_database_made_with_the_older_multi_indexes_gets_the_new_one(tmp_path):
    path = tmp_path / "dmp.sqlite"
    with sqlite3.connect(path) as old:
        old.executescript("CREATE TABLE multi (obj_id TEXT NOT NULL, kind TEXT NOT NULL, value TEXT NOT NULL);"
                          "CREATE INDEX multi_obj ON multi(obj_id, kind);"
                          "CREATE INDEX multi_value ON multi(kind, value);"
                          "INSERT INTO multi VALUES ('urn:uuid:x', 'event', 'CT^^1.2.840.10008.2.16.4');")
    old.close()
    storage = SqliteStorage(path)
    try:
        names = {row[0] for row in storage.query("SELECT name FROM sqlite_master WHERE type = 'index' "
                                                 "AND tbl_name = 'multi'")}
        assert names == {"multi_key"}
        assert storage.query("SELECT value FROM multi WHERE obj_id = 'urn:uuid:x'") == \
            [("CT^^1.2.840.10008.2.16.4",)]
    finally:
        storage.close()
