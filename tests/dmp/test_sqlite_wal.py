"""SQLite checkpoints run beside the writers, not inside a COMMIT under the write lock.

The write connections never checkpoint (``wal_autocheckpoint=0``); every ``_CHECKPOINT_EVERY``
commits, or when the WAL grew by ``_CHECKPOINT_GROWTH`` bytes, a background PASSIVE checkpoint copies
the WAL into the database file. These tests show
that it happens (the database file grows while nothing else would write it), that the data reads
back the same after a reopen, and that closing the storage waits for a running checkpoint.
"""

from __future__ import annotations

import os
import threading

from simulators.dmp import storage as storage_mod
from simulators.dmp.ebxml import Indexed
from simulators.dmp.storage import Batch, SqliteStorage, StoredObject


def _batch(n: int) -> Batch:
    uid = f"2.25.{n}"
    ind = Indexed(id=f"urn:uuid:00000000-0000-4000-8000-{n:012d}", kind="doc", unique_id=uid, patient_id="P^^^&1&ISO")
    return Batch(objects=[StoredObject(ind, "Approved", b"<rim:ExtrinsicObject x='1'/>")],
                 documents=[("1.2.3", uid, "application/dicom", bytes([n % 256]) * 1_500_000)])


def test_commits_are_checkpointed_in_the_background(tmp_path, monkeypatch):
    monkeypatch.setattr(storage_mod, "_CHECKPOINT_EVERY", 4)
    store = SqliteStorage(tmp_path / "dmp.sqlite")
    try:
        db_before = os.path.getsize(tmp_path / "dmp.sqlite")
        for n in range(3):
            store.commit(_batch(n))
        assert os.path.getsize(tmp_path / "dmp.sqlite") == db_before, "a write connection checkpointed"
        store.commit(_batch(3))  # the 4th commit starts the checkpointer
        assert store._checkpointer is not None
        store._checkpointer.join(30)
        assert os.path.getsize(tmp_path / "dmp.sqlite") > db_before + 4 * 1_500_000
    finally:
        store.close()
    reopened = SqliteStorage(tmp_path / "dmp.sqlite")
    try:
        assert [reopened.document("1.2.3", f"2.25.{n}")[1][:1] for n in range(4)] == [bytes([n]) for n in range(4)]
    finally:
        reopened.close()


def test_a_large_transaction_is_checkpointed_without_waiting_for_the_commit_count(tmp_path, monkeypatch):
    monkeypatch.setattr(storage_mod, "_CHECKPOINT_EVERY", 10**6)
    monkeypatch.setattr(storage_mod, "_CHECKPOINT_GROWTH", 2_000_000)
    store = SqliteStorage(tmp_path / "dmp.sqlite")
    try:
        db_before = os.path.getsize(tmp_path / "dmp.sqlite")
        store.commit(_batch(0))  # 1.5 MB: below the growth threshold
        assert store._checkpointer is None
        store.commit(_batch(1))  # 3 MB of WAL now
        assert store._checkpointer is not None
        store._checkpointer.join(30)
        assert os.path.getsize(tmp_path / "dmp.sqlite") > db_before + 2 * 1_500_000
    finally:
        store.close()


def test_close_waits_for_a_running_checkpoint(tmp_path, monkeypatch):
    monkeypatch.setattr(storage_mod, "_CHECKPOINT_EVERY", 1)
    release, started = threading.Event(), threading.Event()
    store = SqliteStorage(tmp_path / "dmp.sqlite")
    real = store.checkpoint

    def slow_checkpoint():
        started.set()
        release.wait(30)
        return real()

    store.checkpoint = slow_checkpoint
    store.commit(_batch(0))
    assert started.wait(30)
    closer = threading.Thread(target=store.close)
    closer.start()
    closer.join(0.2)
    assert closer.is_alive(), "close() returned while a checkpoint was running"
    release.set()
    closer.join(30)
    assert not closer.is_alive()
