"""Registry + repository storage: SQLite (default, one file, WAL) or PostgreSQL (given a URL).

Both backends implement the same small interface over the same tables; a submission is written
in ONE transaction (objects, index rows, document bytes and status changes together), so a
failure or a killed process leaves the registry and the repository exactly as they were
(ITI TF-2b §3.41.4.1.3: "the Submission Set shall be rejected as a whole").

Writers are serialised across threads AND processes (``serve dmp --workers N``) by
:meth:`Storage.write_transaction`: the checks a registry makes against its content (uniqueId not
registered yet, RPLC target still Approved) run inside the same transaction as the writes, under
the write lock (SQLite ``BEGIN IMMEDIATE`` behind a lock file, PostgreSQL a transaction-level
advisory lock), so two workers cannot both register one uniqueId.
"""

from __future__ import annotations

import fcntl
import os
import queue
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.findings import Finding
from simulators.dmp.ebxml import Indexed

_COLUMNS = ("id", "kind", "unique_id", "lid", "patient_id", "status", "class_code", "type_code",
            "format_code", "practice_code", "facility_code", "content_type", "creation_time",
            "service_start", "service_stop", "submission_time", "source_id", "repository_uid",
            "mime_type", "hash", "size", "assoc_type", "source", "target", "xml")

# Indexes: only what the queries look up, so a commit rewrites few index pages (SQLite appends a WAL
# frame per page it changes). The four on ``objects`` are partial: associations have no patient or
# uniqueId, other objects no source or target, and every query on them compares with a value, which
# implies IS NOT NULL. ``multi`` is read only through ``EXISTS (... m.obj_id = objects.id AND m.kind = ?
# AND m.value ...)`` for one candidate entry at a time: one index on (obj_id, kind, value) answers it
# alone. The older (kind, value) index led SQLite to read every entry sharing an event code for each
# candidate, and cost about 8 WAL frames per KOS submission; databases made before lose it here.
_DDL = """
CREATE TABLE IF NOT EXISTS objects (
  seq {serial},
  id TEXT NOT NULL UNIQUE, kind TEXT NOT NULL, unique_id TEXT, lid TEXT, patient_id TEXT,
  status TEXT, class_code TEXT, type_code TEXT, format_code TEXT, practice_code TEXT,
  facility_code TEXT, content_type TEXT, creation_time TEXT, service_start TEXT, service_stop TEXT,
  submission_time TEXT, source_id TEXT, repository_uid TEXT, mime_type TEXT, hash TEXT, size BIGINT,
  assoc_type TEXT, source TEXT, target TEXT, xml {blob} NOT NULL);
CREATE INDEX IF NOT EXISTS objects_patient ON objects(patient_id, kind, status) WHERE patient_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS objects_unique ON objects(unique_id) WHERE unique_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS objects_source ON objects(source) WHERE source IS NOT NULL;
CREATE INDEX IF NOT EXISTS objects_target ON objects(target) WHERE target IS NOT NULL;
CREATE TABLE IF NOT EXISTS multi (obj_id TEXT NOT NULL, kind TEXT NOT NULL, value TEXT NOT NULL);
DROP INDEX IF EXISTS multi_obj;
DROP INDEX IF EXISTS multi_value;
CREATE INDEX IF NOT EXISTS multi_key ON multi(obj_id, kind, value);
CREATE TABLE IF NOT EXISTS documents (
  repository_uid TEXT NOT NULL, unique_id TEXT NOT NULL, mime_type TEXT, data {blob} NOT NULL,
  PRIMARY KEY (repository_uid, unique_id));
CREATE TABLE IF NOT EXISTS capture_links (obj_id TEXT NOT NULL, exchange_id TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS capture_links_obj ON capture_links(obj_id);
CREATE TABLE IF NOT EXISTS findings (
  exchange_id TEXT NOT NULL, patient_id TEXT, action TEXT, rule TEXT NOT NULL, severity TEXT NOT NULL,
  location TEXT, message TEXT, expected TEXT, found TEXT, origin TEXT);
CREATE INDEX IF NOT EXISTS findings_exchange ON findings(exchange_id);
CREATE INDEX IF NOT EXISTS findings_patient ON findings(patient_id);
"""
_FINDING_COLUMNS = ("exchange_id", "patient_id", "action", "rule", "severity", "location", "message", "expected",
                    "found", "origin")


_INSERT_OBJECT = f"INSERT INTO objects ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))})"


@dataclass
class StoredObject:
    index: Indexed
    status: str | None
    xml: bytes


@dataclass
class Batch:
    """Everything one transaction writes: new objects, document bytes, status changes."""

    objects: list[StoredObject] = field(default_factory=list)
    documents: list[tuple[str, str, str | None, bytes]] = field(default_factory=list)  # repo, uid, mime, data
    status_changes: list[tuple[str, str]] = field(default_factory=list)  # (object id, new status)
    exchange_id: str | None = None  # capture record that carried the submission (inspector)


@dataclass
class Row:
    id: str
    kind: str
    status: str | None
    xml: bytes
    seq: int = 0


class Storage:
    """Backend-neutral operations; SQL is written with ``?`` and adapted by the backend."""

    placeholder = "?"

    def __init__(self) -> None:
        self._pool: queue.LifoQueue = queue.LifoQueue()
        self._lock = threading.Lock()
        self._all: list[Any] = []
        self._write_lock = threading.Lock()  # one writer per process; the backend adds the cross-process lock
        self._local = threading.local()  # .cursor: the write transaction open in this thread

    # --- backend hooks -------------------------------------------------------------------
    def _connect(self) -> Any:
        raise NotImplementedError

    def _begin(self, conn: Any) -> None:
        raise NotImplementedError

    def _setup(self) -> None:
        raise NotImplementedError

    # --- connection pool -------------------------------------------------------------------
    @contextmanager
    def connection(self) -> Iterator[Any]:
        try:
            conn = self._pool.get_nowait()
        except queue.Empty:
            conn = self._connect()
            with self._lock:
                self._all.append(conn)
        try:
            yield conn
        finally:
            self._pool.put(conn)

    def close(self) -> None:
        with self._lock:
            conns, self._all = self._all, []
        for conn in conns:
            try:
                conn.close()
            except Exception:
                pass

    def sql(self, text: str) -> str:
        return text if self.placeholder == "?" else text.replace("?", self.placeholder)

    @contextmanager
    def transaction(self) -> Iterator[Any]:
        with self.connection() as conn:
            self._begin(conn)
            try:
                cur = conn.cursor()
                yield cur
            except BaseException:
                conn.rollback()
                raise
            else:
                conn.commit()

    # --- writes ------------------------------------------------------------------------------
    @contextmanager
    def write_transaction(self) -> Iterator[Any]:
        """The one write transaction at a time (threads and processes): reads made in this thread
        meanwhile (:meth:`query`, :meth:`rows`...) and :meth:`commit` join it, so checks and writes
        see and change the same state. Commits at the end, rolls back on any exception."""
        if getattr(self._local, "cursor", None) is not None:
            yield self._local.cursor  # nested: join the open transaction
            return
        with self._write_lock, self._cross_process_lock(), self.transaction() as cur:
            self._local.cursor = cur
            try:
                yield cur
            finally:
                self._local.cursor = None

    @contextmanager
    def _cross_process_lock(self) -> Iterator[None]:
        yield

    def commit(self, batch: Batch) -> None:
        """Write the whole batch in one transaction (the open write transaction if any), or nothing."""
        with self.write_transaction() as cur:
            self._write(cur, batch)

    def _write(self, cur: Any, batch: Batch) -> None:
        """Every row of the batch, one executemany per table (one prepared statement each)."""
        cur.executemany(self.sql(_INSERT_OBJECT), [_object_values(o) for o in batch.objects])
        multi = [(o.index.id, k, v) for o in batch.objects for k, v in o.index.multi]
        if multi:
            cur.executemany(self.sql("INSERT INTO multi (obj_id, kind, value) VALUES (?, ?, ?)"), multi)
        if batch.documents:
            cur.executemany(self.sql("INSERT INTO documents (repository_uid, unique_id, mime_type, data) "
                                     "VALUES (?, ?, ?, ?)"), batch.documents)
        if batch.status_changes:
            cur.executemany(self.sql("UPDATE objects SET status = ? WHERE id = ?"),
                            [(status, ident) for ident, status in batch.status_changes])
        if batch.exchange_id:
            cur.executemany(self.sql("INSERT INTO capture_links (obj_id, exchange_id) VALUES (?, ?)"),
                            [(o.index.id, batch.exchange_id) for o in batch.objects])

    def add_findings(self, exchange_id: str, patient: str | None, action: str | None,
                     findings: Iterable[Finding]) -> None:
        """Keep findings about a received message (e.g. VIHF in ``warn`` mode): evidence of the
        exchange ``exchange_id`` (its wsa:MessageID), not registry content."""
        rows = [(exchange_id, patient, action, f.rule, f.severity.value, f.location, f.message, f.expected,
                 f.found, f.origin) for f in findings]
        if rows:
            with self.write_transaction() as cur:
                cur.executemany(self.sql(f"INSERT INTO findings ({', '.join(_FINDING_COLUMNS)}) VALUES "
                                         f"({', '.join('?' * len(_FINDING_COLUMNS))})"), rows)

    def findings(self, where: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        """Stored findings as dicts (Finding.to_dict fields + exchange_id, patient_id, action)."""
        found = self.query(f"SELECT {', '.join(_FINDING_COLUMNS)} FROM findings WHERE {where}", params)
        return [dict(zip(_FINDING_COLUMNS, row, strict=True)) for row in found]

    # --- reads -------------------------------------------------------------------------------
    def query(self, text: str, params: Sequence[Any] = ()) -> list[tuple]:
        cur = getattr(self._local, "cursor", None)
        if cur is not None:  # inside this thread's write transaction: read what it sees
            cur.execute(self.sql(text), tuple(params))
            return cur.fetchall()
        with self.connection() as conn:
            cur = conn.cursor()
            cur.execute(self.sql(text), tuple(params))
            rows = cur.fetchall()
            self._end_read(conn)
            return rows

    def _end_read(self, conn: Any) -> None:
        """Close the implicit read transaction (PostgreSQL); SQLite runs reads in autocommit."""

    def rows(self, where: str, params: Sequence[Any] = (), order: str = "seq") -> list[Row]:
        found = self.query(f"SELECT id, kind, status, xml, seq FROM objects WHERE {where} ORDER BY {order}",
                           params)
        return [Row(r[0], r[1], r[2], bytes(r[3]), r[4]) for r in found]

    def rows_by_ids(self, ids: Iterable[str]) -> list[Row]:
        ids = list(dict.fromkeys(ids))
        out: list[Row] = []
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            out += self.rows(f"id IN ({', '.join('?' * len(chunk))})", chunk)
        return out

    def existing_unique_ids(self, unique_ids: Iterable[str]) -> dict[str, str]:
        """uniqueId -> hash of the registered objects among ``unique_ids``."""
        uids = list(dict.fromkeys(unique_ids))
        out: dict[str, str] = {}
        for start in range(0, len(uids), 500):
            chunk = uids[start:start + 500]
            for uid, digest in self.query(
                    f"SELECT unique_id, hash FROM objects WHERE unique_id IN ({', '.join('?' * len(chunk))})",
                    chunk):
                out[uid] = digest or ""
        return out

    def document(self, repository_uid: str, unique_id: str) -> tuple[str | None, bytes] | None:
        found = self.query("SELECT mime_type, data FROM documents WHERE repository_uid = ? AND unique_id = ?",
                           (repository_uid, unique_id))
        return (found[0][0], bytes(found[0][1])) if found else None

    def count(self, kind: str | None = None) -> int:
        if kind is None:
            return int(self.query("SELECT COUNT(*) FROM objects")[0][0])
        return int(self.query("SELECT COUNT(*) FROM objects WHERE kind = ?", (kind,))[0][0])

    def document_count(self) -> int:
        return int(self.query("SELECT COUNT(*) FROM documents")[0][0])

    def exchanges_of(self, ids: Iterable[str]) -> dict[str, list[str]]:
        ids = list(ids)
        out: dict[str, list[str]] = {}
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            for obj, exchange in self.query(
                    f"SELECT obj_id, exchange_id FROM capture_links WHERE obj_id IN ({', '.join('?' * len(chunk))})",
                    chunk):
                out.setdefault(obj, []).append(exchange)
        return out


def _object_values(obj: StoredObject) -> tuple:
    ind = obj.index
    s, t = ind.single, ind.times
    return (ind.id, ind.kind, ind.unique_id, ind.lid, ind.patient_id, obj.status, s.get("class"),
            s.get("type"), s.get("format"), s.get("practice"), s.get("facility"), s.get("content_type"),
            t.get("creation"), t.get("service_start"), t.get("service_stop"), t.get("submission"),
            ind.source_id, ind.repository_uid, ind.mime_type, ind.hash, ind.size, ind.assoc_type, ind.source,
            ind.target, obj.xml)


_CHECKPOINT_EVERY = 128  # commits between two background checkpoints (a KOS PnR adds ~25 WAL pages)
_CHECKPOINT_GROWTH = 32 << 20  # or as soon as the WAL file grew by this much
_WAL_SIZE_LIMIT = 64 << 20  # bytes the WAL file is cut back to after a checkpoint reset it


class SqliteStorage(Storage):
    """One file in WAL mode; each writer takes the write lock at BEGIN IMMEDIATE.

    SQLite's automatic checkpoint runs in the COMMIT that crosses its threshold, inside the write
    lock: copying the WAL into the database and syncing it there stalled every other writer (two DMP
    workers served about 160 PnR/s so, about 210 with the checkpoints moved out). Here the write connections never
    checkpoint; every ``_CHECKPOINT_EVERY`` commits (or ``_CHECKPOINT_GROWTH`` bytes of WAL) a
    short-lived thread runs a PASSIVE checkpoint on its own connection, which neither takes the
    write lock nor waits for readers.
    """

    def __init__(self, path: Path | str) -> None:
        super().__init__()
        self.path = str(path)
        self._lock_fd: int | None = None
        self._commits = 0
        self._wal_mark = 0  # WAL file size when the last checkpoint was started
        self._checkpointer: threading.Thread | None = None
        self._checkpoint_guard = threading.Lock()
        self._setup()

    @contextmanager
    def _cross_process_lock(self) -> Iterator[None]:
        """An flock on ``<db>.lock`` in front of BEGIN IMMEDIATE: writers of several processes queue
        in the kernel and wake as soon as the lock is free, where SQLite's busy handler would poll
        with growing sleeps (BEGIN IMMEDIATE + busy_timeout stay the guarantee)."""
        if self._lock_fd is None:
            self._lock_fd = os.open(self.path + ".lock", os.O_RDWR | os.O_CREAT, 0o644)
        fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)

    def _wal_size(self) -> int:
        try:
            return os.stat(self.path + "-wal").st_size
        except OSError:
            return 0

    def _committed(self) -> None:
        """Start a background checkpoint every ``_CHECKPOINT_EVERY`` commits, or sooner when the WAL
        file grew by ``_CHECKPOINT_GROWTH`` bytes (large transactions: a bulk load)."""
        size = self._wal_size()
        with self._checkpoint_guard:
            self._commits += 1
            self._wal_mark = min(self._wal_mark, size)  # the WAL file was cut back after a reset
            busy = self._checkpointer is not None and self._checkpointer.is_alive()
            grown = size - self._wal_mark >= _CHECKPOINT_GROWTH
            if busy or (self._commits < _CHECKPOINT_EVERY and not grown):
                return
            self._commits, self._wal_mark = 0, size
            self._checkpointer = threading.Thread(target=self.checkpoint, name="sqlite-checkpoint", daemon=True)
            self._checkpointer.start()

    def checkpoint(self) -> tuple[int, int, int]:
        """A PASSIVE checkpoint: (busy, WAL frames, frames copied into the database)."""
        with self.connection() as conn:
            return tuple(conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone())

    def close(self) -> None:
        with self._checkpoint_guard:
            running, self._checkpointer = self._checkpointer, None
        if running is not None:
            running.join()
        super().close()
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=60)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA busy_timeout=60000")
        conn.execute("PRAGMA wal_autocheckpoint=0")  # checkpoints run in the background: _committed
        conn.execute(f"PRAGMA journal_size_limit={_WAL_SIZE_LIMIT}")
        return conn

    def _begin(self, conn: sqlite3.Connection) -> None:
        conn.execute("BEGIN IMMEDIATE")

    def _setup(self) -> None:
        with self.connection() as conn:
            conn.executescript(_DDL.format(serial="INTEGER PRIMARY KEY AUTOINCREMENT", blob="BLOB"))

    @contextmanager
    def transaction(self) -> Iterator[Any]:
        with self.connection() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn.cursor()
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            else:
                conn.execute("COMMIT")
        self._committed()


_PG_WRITE_LOCK = 0x44524D50  # "DRMP": the advisory lock key of the DMP writers


class PostgresStorage(Storage):
    """PostgreSQL through psycopg 3; the schema is created on first use."""

    placeholder = "%s"

    def __init__(self, dsn: str) -> None:
        super().__init__()
        import psycopg  # noqa: F401 - fail early with a clear ImportError

        self.dsn = dsn
        self._setup()

    def _connect(self) -> Any:
        import psycopg

        return psycopg.connect(self.dsn, autocommit=False)

    def _begin(self, conn: Any) -> None:
        pass  # psycopg opens a transaction on the first statement

    def _end_read(self, conn: Any) -> None:
        conn.rollback()

    @contextmanager
    def write_transaction(self) -> Iterator[Any]:
        """As the base class, plus a transaction-level advisory lock: one writer at a time across
        every process using this database (released by COMMIT or ROLLBACK)."""
        if getattr(self._local, "cursor", None) is not None:
            yield self._local.cursor
            return
        with super().write_transaction() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(%s)", (_PG_WRITE_LOCK,))
            yield cur

    def _setup(self) -> None:
        with self.connection() as conn:
            with conn.cursor() as cur:
                for stmt in _DDL.format(serial="BIGSERIAL PRIMARY KEY", blob="BYTEA").split(";"):
                    if stmt.strip():
                        cur.execute(stmt)
            conn.commit()

    def reset(self) -> None:
        """Drop every row (tests share one database)."""
        with self.transaction() as cur:
            cur.execute("TRUNCATE objects, multi, documents, capture_links, findings")


def open_storage(url: str | None, workdir: Path | None = None) -> Storage:
    """``sqlite:///path``, a plain path, ``postgresql://...``; None -> ``<workdir>/dmp.sqlite``."""
    if url is None:
        folder = workdir or Path.cwd()
        folder.mkdir(parents=True, exist_ok=True)
        return SqliteStorage(folder / "dmp.sqlite")
    if url.startswith(("postgresql://", "postgres://")):
        return PostgresStorage(url)
    if url.startswith("sqlite:///"):
        return SqliteStorage(url[len("sqlite:///"):])
    if url.startswith("sqlite:"):
        raise ValueError(f"--db {url!r}: write sqlite:///absolute/or/relative/path")
    if "://" in url:
        raise ValueError(f"--db {url!r}: use sqlite:///PATH or postgresql://USER@HOST/DB")
    return SqliteStorage(url)
