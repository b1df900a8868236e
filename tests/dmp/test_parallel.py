"""8 clients x 100 submissions in parallel: all 800 registered and queryable (issue 4, load)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from harness.xds.query import entry_summary
from simulators.dmp import reference
from simulators.dmp.config import DmpConfig

from .dmp_testing import client_of, find, kos_sub, new_patient

CLIENTS, EACH = 8, 100


def test_eight_clients_hundred_submissions_each(tmp_path):
    with reference.start(DmpConfig(workdir=tmp_path, vihf="off", profile="xds")) as ref:
        patients = [new_patient() for _ in range(CLIENTS)]
        # built before the clock starts: the server, not the KOS maker, is under test
        subs = [[kos_sub(p, references=2, signature=False) for _ in range(EACH)] for p in patients]

        def run(i: int) -> list[str]:
            client = client_of(ref)
            return [r.status for r in (client.provide_and_register(s, mtom=True) for s in subs[i])
                    if not r.success]

        with ThreadPoolExecutor(CLIENTS) as pool:
            failures = [f for result in pool.map(run, range(CLIENTS)) for f in result]
        assert failures == []
        client = client_of(ref)
        for patient, mine in zip(patients, subs, strict=True):
            found = {entry_summary(o)["uniqueId"] for o in find(client, patient)}
            assert found == {s.documents[0].uniqueId for s in mine}
        assert ref.app.storage.count("doc") == CLIENTS * EACH
        assert ref.app.storage.document_count() == CLIENTS * EACH
