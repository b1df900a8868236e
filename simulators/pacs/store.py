"""Files on disk with an SQLite index: what the embedded PACS holds.

One row per instance carries the study, series and instance attributes the Study Root
C-FIND and QIDO-RS return (DICOM PS3.4 C.6.2.1.2, PS3.18 §10.6.3.3). Files are written to a
temporary name then renamed, and a study never changes patient, so a bad C-STORE leaves the
store as it was (bad input loses nothing).
"""

from __future__ import annotations

import logging
import os
import sqlite3
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.filewriter import write_file_meta_info
from pydicom.multival import MultiValue

log = logging.getLogger("drimcheck.pacs")

# column -> DICOM keyword; the level where the attribute lives (PS3.4 C.6.2.1.2 Table C.6-5/6/7)
COLUMNS: dict[str, tuple[str, str]] = {
    "patient_id": ("PatientID", "STUDY"),
    "issuer_of_patient_id": ("IssuerOfPatientID", "STUDY"),
    "patient_name": ("PatientName", "STUDY"),
    "patient_birth_date": ("PatientBirthDate", "STUDY"),
    "patient_sex": ("PatientSex", "STUDY"),
    "study_uid": ("StudyInstanceUID", "STUDY"),
    "study_date": ("StudyDate", "STUDY"),
    "study_time": ("StudyTime", "STUDY"),
    "accession_number": ("AccessionNumber", "STUDY"),
    "study_id": ("StudyID", "STUDY"),
    "study_description": ("StudyDescription", "STUDY"),
    "referring_physician": ("ReferringPhysicianName", "STUDY"),
    "series_uid": ("SeriesInstanceUID", "SERIES"),
    "modality": ("Modality", "SERIES"),
    "series_number": ("SeriesNumber", "SERIES"),
    "series_description": ("SeriesDescription", "SERIES"),
    "series_date": ("SeriesDate", "SERIES"),
    "body_part": ("BodyPartExamined", "SERIES"),
    "station_name": ("StationName", "SERIES"),
    "sop_instance_uid": ("SOPInstanceUID", "IMAGE"),
    "sop_class_uid": ("SOPClassUID", "IMAGE"),
    "instance_number": ("InstanceNumber", "IMAGE"),
    "rows": ("Rows", "IMAGE"),
    "columns": ("Columns", "IMAGE"),
    "number_of_frames": ("NumberOfFrames", "IMAGE"),
}

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS instances ("
    + ", ".join(f"{c} TEXT" for c in COLUMNS if c != "sop_instance_uid")
    + ", sop_instance_uid TEXT PRIMARY KEY, transfer_syntax TEXT, path TEXT, size INTEGER)"
)
_INDEXES = (
    "CREATE INDEX IF NOT EXISTS ix_study ON instances(study_uid)",
    "CREATE INDEX IF NOT EXISTS ix_series ON instances(series_uid)",
)


class StoreError(Exception):
    """A dataset the store refuses; ``status`` is the DIMSE status to answer (PS3.4 B.2.3)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Record:
    """One indexed instance: its attributes (keyword -> str) and where its file is."""

    values: dict[str, str]
    transfer_syntax: str
    path: Path
    size: int

    def __getitem__(self, keyword: str) -> str:
        return self.values.get(keyword, "")


def _text(ds: Dataset, keyword: str) -> str:
    value = ds.get(keyword, "")
    if value is None:
        return ""
    if isinstance(value, MultiValue | list | tuple):
        return "\\".join(str(v) for v in value)
    return str(value)


class InstanceStore:
    """Thread-safe index + file tree; every public method is one transaction."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.root / "index.sqlite", check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(_SCHEMA)
        for stmt in _INDEXES:
            self._db.execute(stmt)
        self._db.commit()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # --- writing -------------------------------------------------------------------------
    def add(self, ds: Dataset, file_meta: FileMetaDataset, raw: bytes) -> Record:
        """Index ``ds`` and write ``raw`` (its encoded bytes) as a Part 10 file.

        Raises :class:`StoreError` for a missing UID (0xC210 cannot understand) or a study that is
        already stored under another patient (0x0110 processing failure, PS3.7 C.4.2.1.4).
        """
        values = {kw: _text(ds, kw) for kw, _ in COLUMNS.values()}
        for key in ("SOPInstanceUID", "SOPClassUID", "StudyInstanceUID", "SeriesInstanceUID"):
            if not values[key]:
                raise StoreError(0xC210, f"dataset has no {key}")
        with self._lock:
            row = self._db.execute("SELECT patient_id FROM instances WHERE study_uid=? LIMIT 1",
                                   (values["StudyInstanceUID"],)).fetchone()
            if row is not None and row[0] != values["PatientID"]:
                raise StoreError(0x0110, f"study {values['StudyInstanceUID']} is stored for patient "
                                         f"{row[0]!r}, dataset says {values['PatientID']!r}")
            path = self._write_file(values, file_meta, raw)
            cols = [*COLUMNS, "transfer_syntax", "path", "size"]
            params = [values[COLUMNS[c][0]] for c in COLUMNS] + [
                str(file_meta.TransferSyntaxUID), str(path.relative_to(self.root)), path.stat().st_size]
            self._db.execute(f"INSERT OR REPLACE INTO instances ({', '.join(cols)}) "
                             f"VALUES ({', '.join('?' for _ in cols)})", params)
            self._db.commit()
        return Record(values, str(file_meta.TransferSyntaxUID), path, path.stat().st_size)

    def _write_file(self, values: dict[str, str], file_meta: FileMetaDataset, raw: bytes) -> Path:
        folder = self.root / "files" / _safe(values["StudyInstanceUID"]) / _safe(values["SeriesInstanceUID"])
        folder.mkdir(parents=True, exist_ok=True)
        final = folder / f"{_safe(values['SOPInstanceUID'])}.dcm"
        fd, tmp = tempfile.mkstemp(dir=folder, suffix=".part")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(b"\x00" * 128 + b"DICM")
                write_file_meta_info(fh, file_meta, enforce_standard=True)  # type: ignore[arg-type]
                fh.write(raw)
            os.replace(tmp, final)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return final

    # --- reading -------------------------------------------------------------------------
    def records(self, where: dict[str, list[str]] | None = None) -> list[Record]:
        """Records whose UID columns equal one of the given values (a cheap SQL pre-filter)."""
        sql, params = "SELECT * FROM instances", []
        clauses = []
        for column, values in (where or {}).items():
            if column not in COLUMNS:
                raise ValueError(column)
            clauses.append(f"{column} IN ({', '.join('?' for _ in values)})")
            params.extend(values)
        if clauses:
            sql += " WHERE " + " AND ".join(clauses)
        sql += " ORDER BY study_uid, CAST(series_number AS INTEGER), CAST(instance_number AS INTEGER)"
        with self._lock:
            cur = self._db.execute(sql, params)
            names = [d[0] for d in cur.description]
            rows = cur.fetchall()
        return [self._record(dict(zip(names, row, strict=True))) for row in rows]

    def _record(self, row: dict) -> Record:
        values = {COLUMNS[c][0]: row[c] or "" for c in COLUMNS}
        return Record(values, row["transfer_syntax"], self.root / row["path"], int(row["size"]))

    def iter_files(self, records: list[Record]) -> Iterator[Path]:
        for rec in records:
            yield rec.path

    def count(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM instances").fetchone()[0])


def _safe(uid: str) -> str:
    """A UID as a file name; anything outside [0-9.] is replaced so a path never escapes the store."""
    return "".join(ch if ch.isdigit() or ch == "." else "_" for ch in uid)[:64] or "_"
