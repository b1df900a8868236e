"""Import of retrieved series into the professional's local PACS by C-STORE (DICOM PS3.4 Annex B).

All-or-nothing per series: a series goes to the PACS only when every instance was received,
parsed and matched against the KOS references; nothing of an incomplete or malformed series is
sent. Optional identity reconciliation replaces the INS by the local patient id (the INS is kept
in Other Patient IDs) and records the change in ``reconciliation.jsonl``.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pydicom
from pydicom.dataset import Dataset
from pydicom.filereader import read_file_meta_info
from pydicom.sequence import Sequence

from harness.capture import record
from harness.dicom.client import DimseError, Peer
from simulators.consumer.retrieve import SeriesResult

IMPORTABLE = ("complete",)
ACTOR = "consumer:importer"
OK_STATUSES = (0x0000, 0xB000, 0xB006, 0xB007)  # PS3.4 B.2.3: success and warnings
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
                  log_dir: Path | None = None, rewrite: Callable[[Path], Path] | None = None,
                  pace: float | None = None) -> SeriesResult:
    """C-STORE a complete series; sets ``result.status`` to ``imported`` or ``import-failed``.

    The instances are stored as received (DICOM PS3.4 Annex B), but for the reconciliation the
    professional asks for; ``rewrite`` (a named fault) changes each file before it is sent, ``pace``
    (a named fault, bytes per second) delays the series as long as storing it at that rate would take.
    """
    if result.status not in IMPORTABLE or not result.files:
        return result
    files = list(result.files.values())
    if pace:
        time.sleep(sum(p.stat().st_size for p in files) / pace)
    if rewrite is not None:
        files = [rewrite(p) for p in files]
    if local_id:
        files = [reconcile(p, local_id, local_issuer) for p in files]
        _log_reconciliation(log_dir, result, local_id, local_issuer)
    try:
        statuses = store_files(pacs, files)
    except (DimseError, OSError, RuntimeError, ValueError) as exc:
        result.status, result.detail = "import-failed", str(exc)[:200]
        return result
    failed = [uid for uid, status in statuses.items() if status not in OK_STATUSES]
    if failed:
        result.status = "import-failed"
        code = statuses[failed[0]]
        result.detail = (f"{len(failed)} instance(s) not stored, first {failed[0]}: "
                         + ("no answer from the PACS" if code < 0 else f"status 0x{code:04X}"))
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


def store_files(peer: Peer, files: list[Path], reconnects: int = 2) -> dict[str, int]:
    """C-STORE ``files``; SOP Instance UID -> status (PS3.7 §9.1.1), -1 when no answer came.

    Presentation contexts come from each file's meta information (PS3.10 §7.1), read without the
    data set. An instance left without an answer (association aborted, DIMSE timeout) is sent again
    on a new association, at most ``reconnects`` times: storing an instance twice is harmless.
    """
    metas = [read_file_meta_info(p) for p in files]
    pairs: dict[str, set[str]] = {}
    for m in metas:
        pairs.setdefault(str(m.MediaStorageSOPClassUID), set()).add(str(m.TransferSyntaxUID))
    if len(pairs) > 128:
        raise DimseError(f"{len(pairs)} SOP classes in one series: more than 128 presentation contexts")
    statuses: dict[str, int] = {}
    pending = list(zip(files, metas, strict=True))
    while pending:
        assoc = _associate(peer, pairs)
        try:
            while pending:
                path, meta = pending[0]
                status = _send(assoc, path, str(meta.MediaStorageSOPInstanceUID), peer)
                if status == -1 and reconnects > 0:
                    reconnects -= 1
                    break
                statuses[str(meta.MediaStorageSOPInstanceUID)] = status
                pending.pop(0)
                if status not in OK_STATUSES:
                    return statuses  # the series is failed already: do not send more of it
        finally:
            if assoc.is_established:
                assoc.release()
    return statuses


def _associate(peer: Peer, pairs: dict[str, set[str]]) -> Any:
    """One association; TCP_NODELAY, since a C-STORE request is two PDUs (command, data) answered
    after both, so Nagle's algorithm with delayed ACKs adds ~40 ms per instance on loopback."""
    from pynetdicom import AE, build_context

    ae = AE(ae_title=peer.calling_aet)
    ae.maximum_pdu_size = 0
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 60
    contexts = [build_context(sop, sorted(ts)) for sop, ts in sorted(pairs.items())]
    assoc = ae.associate(peer.host, peer.port, contexts=contexts, ae_title=peer.aet, max_pdu=0)
    if not assoc.is_established:
        raise DimseError(f"association with {peer} rejected or aborted")
    sock = getattr(getattr(assoc.dul, "socket", None), "socket", None)
    if sock is not None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return assoc


def _send(assoc: Any, path: Path, uid: str, peer: Peer) -> int:
    t0 = time.time()
    rsp = assoc.send_c_store(path)
    status = int(rsp.Status) if rsp is not None and "Status" in rsp else -1
    record("dimse", ACTOR, "outbound", f"C-STORE {uid}", peer=str(peer),
           status="no answer" if status < 0 else f"0x{status:04X}", started=t0, elapsed=time.time() - t0,
           error=None if status >= 0 else "association aborted or DIMSE timeout")
    return status
