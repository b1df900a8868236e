"""8 clients x 100 submissions in parallel: all 800 registered and queryable, on one
process and on two worker processes; a uniqueId sent to two workers at once is registered once."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from harness.xds.clients import XdsClient
from harness.xds.query import entry_summary
from simulators.dmp import reference
from simulators.dmp.config import DmpConfig
from simulators.dmp.workers import WorkerPool, start_workers

from .dmp_testing import client_of, find, kos_sub, new_patient

CLIENTS, EACH = 8, 100


def _submissions() -> tuple[list[str], list[list]]:
    """CLIENTS patients x EACH submissions, built before the load: the server, not the KOS maker, is under test."""
    patients = [new_patient() for _ in range(CLIENTS)]
    return patients, [[kos_sub(p, references=2, signature=False) for _ in range(EACH)] for p in patients]


def _load_and_check(make_client, storage, patients: list[str], subs: list[list]) -> None:
    """CLIENTS threads send their submissions at once; each is registered once and queryable."""
    def run(i: int) -> list[str]:
        client = make_client()
        return [r.status for r in (client.provide_and_register(s, mtom=True) for s in subs[i]) if not r.success]

    with ThreadPoolExecutor(CLIENTS) as pool:
        failures = [f for result in pool.map(run, range(CLIENTS)) for f in result]
    assert failures == []
    client = make_client()
    for patient, mine in zip(patients, subs, strict=True):
        found = {entry_summary(o)["uniqueId"] for o in find(client, patient)}
        assert found == {s.documents[0].uniqueId for s in mine}
    assert storage.count("doc") == CLIENTS * EACH
    assert storage.document_count() == CLIENTS * EACH


def test_eight_clients_hundred_submissions_each(tmp_path):
    patients, subs = _submissions()
    with reference.start(DmpConfig(workdir=tmp_path, vihf="off", profile="xds")) as ref:
        _load_and_check(lambda: client_of(ref), ref.app.storage, patients, subs)


def _pool_client(pool: WorkerPool) -> XdsClient:
    return XdsClient(pool.endpoints["registry"], pool.endpoints["repository"], actor="test:dmp-workers")


def test_two_workers_eight_clients_hundred_submissions_each(tmp_path):
    """The same load on ``--workers 2``: every submission registered once, queryable from any worker."""
    patients, subs = _submissions()
    with start_workers(DmpConfig(workdir=tmp_path, vihf="off", profile="xds"), 2) as pool:
        _load_and_check(lambda: _pool_client(pool), pool.storage, patients, subs)


def test_duplicate_sent_to_two_workers_at_once_registers_once(db_url, tmp_path):
    """Two worker processes on one database receive the same submission at the same instant, 12
    times over: each time one registers it and the other answers XDSDuplicateUniqueIdInRegistry
    (the uniqueId check and the commit share the cross-process write lock)."""
    config = DmpConfig(workdir=tmp_path, db=db_url, vihf="off", profile="xds")
    with start_workers(config, 1) as first, start_workers(config, 1) as second:
        clients = [_pool_client(first), _pool_client(second)]
        barrier = threading.Barrier(2)
        for _ in range(12):
            sub = kos_sub(new_patient(), references=2, signature=False)

            def send(client: XdsClient, sub=sub) -> tuple[bool, list[str]]:
                barrier.wait(timeout=30)
                result = client.provide_and_register(sub, mtom=True)
                return result.success, [e.code for e in result.errors]

            with ThreadPoolExecutor(2) as executor:
                outcomes = list(executor.map(send, clients))
            assert sorted(ok for ok, _ in outcomes) == [False, True], outcomes
            refused = next(codes for ok, codes in outcomes if not ok)
            assert "XDSDuplicateUniqueIdInRegistry" in refused, refused
            assert len(find(clients[0], sub.submission_set.patientId)) == 1
