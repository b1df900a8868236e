"""Import of retrieved series into the professional's local PACS by C-STORE (DICOM PS3.4 Annex B).

All-or-nothing per series: a series goes to the PACS only when every instance was received,
parsed and matched against the KOS references; nothing of an incomplete or malformed series is
sent. Optional identity reconciliation replaces the INS by the local patient id (the INS is kept
in Other Patient IDs) and records the change in ``reconciliation.jsonl``.
"""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from pathlib import Path

import pydicom
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from harness.dicom.client import DimseError, Peer, store
from simulators.consumer.retrieve import SeriesResult

IMPORTABLE = ("complete",)
_log_lock = threading.Lock()


def parse_peer(spec: str, calling_aet: str) -> Peer:
    """``AET@host:port`` -> Peer; ValueError with the expected form otherwise."""
    aet, at, address = spec.partition("@")
    host, colon, port = address.rpartition(":")
    if not at or not colon or not port.isdigit() or not aet:
        raise ValueError(f"local PACS {spec!r}: expected AET@host:port")
    return Peer(host, int(port), aet, calling_aet)


def reconcile(path: Path, local_id: str, issuer: str) -> Path:
    """Rewrite ``path`` with PatientID = ``local_id``; the INS moves to OtherPatientIDsSequence."""
    ds = pydicom.dcmread(path)
    ins, ins_issuer = str(ds.get("PatientID", "")), str(ds.get("IssuerOfPatientID", ""))
    other = Dataset()
    other.PatientID, other.IssuerOfPatientID, other.TypeOfPatientID = ins, ins_issuer, "TEXT"
    kept = [o for o in ds.get("OtherPatientIDsSequence", []) if str(o.get("PatientID", "")) != ins]
    ds.OtherPatientIDsSequence = Sequence([other, *kept])
    ds.PatientID, ds.IssuerOfPatientID = local_id, issuer
    if "IssuerOfPatientIDQualifiersSequence" in ds:
        del ds.IssuerOfPatientIDQualifiersSequence
    out = path.with_suffix(".local.dcm")
    ds.save_as(out, enforce_file_format=True)
    return out


def import_series(result: SeriesResult, pacs: Peer, *, local_id: str = "", local_issuer: str = "",
                  log_dir: Path | None = None) -> SeriesResult:
    """C-STORE a complete series; sets ``result.status`` to ``imported`` or ``import-failed``."""
    if result.status not in IMPORTABLE or not result.files:
        return result
    files = list(result.files.values())
    if local_id:
        files = [reconcile(p, local_id, local_issuer) for p in files]
        _log_reconciliation(log_dir, result, local_id, local_issuer)
    try:
        outcome = store(pacs, files)
    except (DimseError, OSError, RuntimeError) as exc:
        result.status, result.detail = "import-failed", str(exc)[:200]
        return result
    if outcome.failed:
        result.status = "import-failed"
        result.detail = f"{len(outcome.failed)} instance(s) refused by the PACS"
        return result
    result.status, result.imported = "imported", len(files)
    result.detail = f"{len(files)} instance(s)"
    return result


def _log_reconciliation(log_dir: Path | None, result: SeriesResult, local_id: str, issuer: str) -> None:
    if log_dir is None:
        return
    entry = {"date": datetime.now(UTC).isoformat(), "series": result.series_uid, "instances": len(result.files),
             "local_patient_id": local_id, "local_issuer": issuer}
    with _log_lock, open(Path(log_dir) / "reconciliation.jsonl", "a", encoding="utf-8") as fh:
        fh.write(json.dumps(entry) + "\n")
