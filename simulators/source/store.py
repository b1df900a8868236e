"""The Source's own records in SQLite: the KOS it built (the WADO-RS checks read them) and the outbox.

One file, transactional, so a restart keeps both (nothing acknowledged is lost).
"""

from __future__ import annotations

import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS kos (
    sop_uid TEXT PRIMARY KEY, study_uid TEXT NOT NULL, patient_cx TEXT NOT NULL,
    document_uid TEXT NOT NULL, entry_uuid TEXT NOT NULL, status TEXT NOT NULL,
    data BLOB NOT NULL, created REAL NOT NULL);
CREATE INDEX IF NOT EXISTS kos_study ON kos(study_uid);
CREATE TABLE IF NOT EXISTS kos_access (
    sop_uid TEXT PRIMARY KEY, confidentiality TEXT NOT NULL, authors TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS hl7_answered (
    sender TEXT NOT NULL, control_id TEXT NOT NULL, ack BLOB NOT NULL, received REAL NOT NULL,
    PRIMARY KEY (sender, control_id));
CREATE INDEX IF NOT EXISTS hl7_answered_received ON hl7_answered(received);
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL, url TEXT NOT NULL,
    content_type TEXT NOT NULL, body BLOB NOT NULL, study_uid TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending', attempts INTEGER NOT NULL DEFAULT 0,
    next_at REAL NOT NULL DEFAULT 0, last_error TEXT, created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS kos_author (
    sop_uid TEXT PRIMARY KEY, professional TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS study_report (
    study_uid TEXT PRIMARY KEY, first_message BLOB NOT NULL, message BLOB NOT NULL, first_professional TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS rejected (
    sop_uid TEXT PRIMARY KEY, study_uid TEXT NOT NULL, series_uid TEXT NOT NULL, reason TEXT NOT NULL,
    note_uid TEXT NOT NULL, received REAL NOT NULL);
CREATE INDEX IF NOT EXISTS rejected_study ON rejected(study_uid);
"""
CURRENT, REPLACED, DELETED = "current", "replaced", "deleted"
# How long the ACK of an accepted HL7 message is kept to answer a resend of it alike: a RIS resends
# when it missed the ACK, within its retry policy (minutes to hours), not weeks later.
ANSWER_RETENTION_S = 7 * 24 * 3600


@dataclass(frozen=True)
class StoredKos:
    sop_uid: str
    study_uid: str
    patient_cx: str
    document_uid: str
    entry_uuid: str
    status: str
    data: bytes


@dataclass(frozen=True)
class KosAccess:
    """Who may see a published KOS, as published: its confidentialityCodes and its authors' national ids
    (XDS DocumentEntry confidentialityCode and authorPerson XCN-1, ANS DRIM-M_DATA Validateur XDS/XDS.xml)."""

    sop_uid: str
    confidentiality: tuple[str, ...]
    authors: tuple[str, ...]


@dataclass(frozen=True)
class OutboxItem:
    id: int
    kind: str  # pnr | delete
    url: str
    content_type: str
    body: bytes
    study_uid: str
    state: str
    attempts: int
    next_at: float
    last_error: str | None


class SourceStore:
    """Thread-safe access to the Source's SQLite file."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.RLock()
        self._db = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- KOS ------------------------------------------------------------------------------
    def add_kos(self, kos: StoredKos, replaces: str | None = None) -> None:
        with self._lock:
            self._db.execute("BEGIN")
            if replaces:
                self._db.execute("UPDATE kos SET status=? WHERE sop_uid=?", (REPLACED, replaces))
            self._db.execute("INSERT INTO kos VALUES (?,?,?,?,?,?,?,?)",
                             (kos.sop_uid, kos.study_uid, kos.patient_cx, kos.document_uid, kos.entry_uuid,
                              kos.status, kos.data, time.time()))
            self._db.execute("COMMIT")

    def kos(self, sop_uid: str) -> StoredKos | None:
        with self._lock:
            row = self._db.execute("SELECT sop_uid, study_uid, patient_cx, document_uid, entry_uuid, status, data "
                                   "FROM kos WHERE sop_uid=?", (sop_uid,)).fetchone()
        return StoredKos(*row) if row else None

    def kos_of_study(self, study_uid: str, status: str | None = None) -> list[StoredKos]:
        sql = ("SELECT sop_uid, study_uid, patient_cx, document_uid, entry_uuid, status, data FROM kos "
               "WHERE study_uid=?" + (" AND status=?" if status else "") + " ORDER BY created")
        with self._lock:
            rows = self._db.execute(sql, (study_uid, status) if status else (study_uid,)).fetchall()
        return [StoredKos(*r) for r in rows]

    def add_kos_with_report(self, kos: StoredKos, replaces: str | None, professional: str, message: bytes | None,
                            first_professional: str) -> None:
        """The KOS, who its submission was made for (the VIHF's professional, kept as JSON: FAQ 8801 builds
        the VIHF of an image-change update from it) and, for a report's publication, that report's HL7
        message (what an image-change update rebuilds the KOS metadata from), in one transaction."""
        with self._lock:
            self._db.execute("BEGIN")
            try:
                if replaces:
                    self._db.execute("UPDATE kos SET status=? WHERE sop_uid=?", (REPLACED, replaces))
                self._db.execute("INSERT INTO kos VALUES (?,?,?,?,?,?,?,?)",
                                 (kos.sop_uid, kos.study_uid, kos.patient_cx, kos.document_uid, kos.entry_uuid,
                                  kos.status, kos.data, time.time()))
                self._db.execute("INSERT OR REPLACE INTO kos_author VALUES (?,?)", (kos.sop_uid, professional))
                if message is not None:
                    self._db.execute("INSERT INTO study_report VALUES (?,?,?,?) ON CONFLICT(study_uid) DO UPDATE "
                                     "SET message=excluded.message", (kos.study_uid, message, message,
                                                                      first_professional))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def professional(self, sop_uid: str) -> str | None:
        """The professional (JSON) the submission of KOS ``sop_uid`` was made for."""
        with self._lock:
            row = self._db.execute("SELECT professional FROM kos_author WHERE sop_uid=?", (sop_uid,)).fetchone()
        return row[0] if row else None

    def report_of(self, study_uid: str) -> tuple[bytes, bytes, str] | None:
        """(first report message, last published report message, first report's professional JSON)."""
        with self._lock:
            row = self._db.execute("SELECT first_message, message, first_professional FROM study_report "
                                   "WHERE study_uid=?", (study_uid,)).fetchone()
        return (bytes(row[0]), bytes(row[1]), row[2]) if row else None

    # -- IOCM rejections ------------------------------------------------------------------
    def reject(self, rows: list[tuple[str, str, str, str, str]]) -> int:
        """Record rejected instances (sop, study, series, reason, note uid); returns how many were new."""
        now = time.time()
        with self._lock:
            before = self._db.total_changes
            self._db.execute("BEGIN")
            self._db.executemany("INSERT OR IGNORE INTO rejected VALUES (?,?,?,?,?,?)",
                                 [(*r, now) for r in rows])
            self._db.execute("COMMIT")
            return self._db.total_changes - before

    def rejected(self, study_uid: str) -> set[str]:
        """SOP Instance UIDs of the study's rejected instances (IOCM)."""
        with self._lock:
            rows = self._db.execute("SELECT sop_uid FROM rejected WHERE study_uid=?", (study_uid,)).fetchall()
        return {r[0] for r in rows}

    def set_status(self, sop_uid: str, status: str) -> None:
        with self._lock:
            self._db.execute("UPDATE kos SET status=? WHERE sop_uid=?", (status, sop_uid))

    def set_access(self, access: KosAccess) -> None:
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO kos_access VALUES (?,?,?)",
                             (access.sop_uid, " ".join(access.confidentiality), " ".join(access.authors)))

    def access(self, sop_uid: str) -> KosAccess | None:
        with self._lock:
            row = self._db.execute("SELECT confidentiality, authors FROM kos_access WHERE sop_uid=?",
                                   (sop_uid,)).fetchone()
        return KosAccess(sop_uid, tuple(row[0].split()), tuple(row[1].split())) if row else None

    def published(self, study_uid: str, needle: str) -> list[tuple[str, bytes]]:
        """(content type, body) of the RAD-68 messages queued for a study whose body names ``needle``."""
        with self._lock:
            rows = self._db.execute("SELECT content_type, body FROM outbox WHERE kind='pnr' AND study_uid=? "
                                    "AND instr(body, ?) > 0 ORDER BY id", (study_uid, needle.encode())).fetchall()
        return [(r[0], bytes(r[1])) for r in rows]

    # -- HL7 messages already accepted (a RIS resends when it missed the ACK) -------------
    def answered(self, sender: str, control_id: str) -> bytes | None:
        """The ACK given to the message ``control_id`` (MSH-10) of ``sender`` (MSH-3^MSH-4), if accepted."""
        with self._lock:
            row = self._db.execute("SELECT ack FROM hl7_answered WHERE sender=? AND control_id=?",
                                   (sender, control_id)).fetchone()
        return bytes(row[0]) if row else None

    def remember_answer(self, sender: str, control_id: str, ack: bytes) -> None:
        """Keep the ACK of an accepted message; answers older than ANSWER_RETENTION_S go (the table
        would otherwise grow with every message the Source ever received)."""
        now = time.time()
        with self._lock:
            self._db.execute("INSERT OR IGNORE INTO hl7_answered VALUES (?,?,?,?)", (sender, control_id, ack, now))
            self._db.execute("DELETE FROM hl7_answered WHERE received < ?", (now - ANSWER_RETENTION_S,))

    # -- outbox ---------------------------------------------------------------------------
    def enqueue(self, kind: str, url: str, content_type: str, body: bytes, study_uid: str) -> int:
        with self._lock:
            cur = self._db.execute("INSERT INTO outbox (kind, url, content_type, body, study_uid, created) "
                                   "VALUES (?,?,?,?,?,?)", (kind, url, content_type, body, study_uid, time.time()))
            return int(cur.lastrowid or 0)

    def head(self) -> OutboxItem | None:
        """The oldest pending item: publications leave in order (an RPLC never overtakes its original)."""
        with self._lock:
            row = self._db.execute("SELECT id, kind, url, content_type, body, study_uid, state, attempts, next_at, "
                                   "last_error FROM outbox WHERE state='pending' ORDER BY id LIMIT 1").fetchone()
        return OutboxItem(*row) if row else None

    def items(self) -> list[OutboxItem]:
        with self._lock:
            rows = self._db.execute("SELECT id, kind, url, content_type, body, study_uid, state, attempts, next_at, "
                                    "last_error FROM outbox ORDER BY id").fetchall()
        return [OutboxItem(*r) for r in rows]

    def finish(self, item_id: int, state: str, error: str | None = None) -> None:
        with self._lock:
            self._db.execute("UPDATE outbox SET state=?, attempts=attempts+1, last_error=? WHERE id=?",
                             (state, error, item_id))

    def postpone(self, item_id: int, next_at: float, error: str) -> None:
        with self._lock:
            self._db.execute("UPDATE outbox SET attempts=attempts+1, next_at=?, last_error=? WHERE id=?",
                             (next_at, error, item_id))
