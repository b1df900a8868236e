"""PACS client helpers (DIMSE SCU): echo, store, find, move, get, each exchange captured as evidence.

Used by plans, fixtures and benches against the embedded PACS, Orthanc or a SUT. Associations use
``maximum_pdu_size = 0`` (unlimited): pynetdicom's 16 KB default throttles transfers (DESIGN).
Every DIMSE exchange is recorded with :func:`harness.capture.record` (protocol ``dimse``).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_dataset
from pynetdicom import AE, build_context, build_role, evt
from pynetdicom.sop_class import (
    StudyRootQueryRetrieveInformationModelFind,
    StudyRootQueryRetrieveInformationModelGet,
    StudyRootQueryRetrieveInformationModelMove,
    Verification,
)

from harness.capture import record

ACTOR = "harness:dicom-client"
_EXPLICIT_IMPLICIT = ["1.2.840.10008.1.2.1", "1.2.840.10008.1.2"]


class DimseError(RuntimeError):
    """The peer refused the association or answered a failure status."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Peer:
    """A DICOM application entity to talk to."""

    host: str
    port: int
    aet: str = "ANY-SCP"
    calling_aet: str = "DRIMCHECK"

    def __str__(self) -> str:
        return f"{self.aet}@{self.host}:{self.port}"

    @classmethod
    def of(cls, pacs: Any, calling_aet: str = "DRIMCHECK") -> Peer:
        """The peer of anything with ``host``, ``port`` and ``aet`` (embedded PACS, Orthanc)."""
        return cls(pacs.host, int(pacs.port), pacs.aet, calling_aet)


@dataclass
class StoreResult:
    """Outcome of a C-STORE batch: statuses per SOP Instance UID, bytes sent, time taken."""

    statuses: dict[str, int] = field(default_factory=dict)
    bytes_sent: int = 0
    elapsed: float = 0.0

    @property
    def failed(self) -> dict[str, int]:
        return {uid: s for uid, s in self.statuses.items() if s not in (0x0000, 0xB000, 0xB006, 0xB007)}


@dataclass
class RetrieveResult:
    """Final C-MOVE/C-GET status, sub-operation counts, and (C-GET) the datasets received."""

    status: int
    completed: int = 0
    failed: int = 0
    warning: int = 0
    datasets: list[Dataset] = field(default_factory=list)


def _ae(calling: str) -> AE:
    ae = AE(ae_title=calling)
    ae.maximum_pdu_size = 0
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 60
    return ae


def _associate(peer: Peer, contexts: list, **kwargs: Any) -> Any:
    ae = _ae(peer.calling_aet)
    assoc = ae.associate(peer.host, peer.port, contexts=contexts, ae_title=peer.aet, max_pdu=0, **kwargs)
    if not assoc.is_established:
        record("dimse", ACTOR, "outbound", "A-ASSOCIATE", peer=str(peer), status="rejected",
               error="association rejected or aborted")
        raise DimseError(f"association with {peer} rejected or aborted")
    return assoc


def _status_of(rsp: Dataset | None) -> int:
    return int(getattr(rsp, "Status", -1)) if rsp is not None else -1


def _encode(ds: Dataset) -> bytes:
    fp = DicomBytesIO()
    fp.is_little_endian, fp.is_implicit_VR = True, False
    write_dataset(fp, ds)
    return fp.getvalue()


def echo(peer: Peer) -> int:
    """C-ECHO (PS3.7 §9.1.5); returns the status (0 = success)."""
    t0 = time.time()
    assoc = _associate(peer, [build_context(Verification)])
    try:
        status = _status_of(assoc.send_c_echo())
    finally:
        assoc.release()
    record("dimse", ACTOR, "outbound", "C-ECHO", peer=str(peer), status=f"0x{status:04X}", started=t0,
           elapsed=time.time() - t0)
    return status


def store(peer: Peer, items: Iterable[Path | str | Dataset]) -> StoreResult:
    """C-STORE files or datasets on one association, one context per SOP class + syntax of the items.

    Files are read twice (headers first to build the contexts, then streamed by pynetdicom) so a
    whole study is never held in memory.
    """
    items = list(items)
    headers = [_header(it) for it in items]
    # one context per (SOP class, syntax): an SCP accepts a single syntax per context (PS3.8 §9.3.2.2),
    # so a context proposing two would leave the items of the other syntax with nowhere to go
    contexts = [build_context(sop, [ts]) for sop, ts in sorted({(sop, ts) for sop, ts, _ in headers})]
    if len(contexts) > 128:
        raise DimseError(f"{len(contexts)} presentation contexts needed, at most 128 per association")
    result = StoreResult()
    t0 = time.time()
    assoc = _associate(peer, contexts)
    try:
        for item, (_, _, uid) in zip(items, headers, strict=True):
            status = _status_of(assoc.send_c_store(item))
            result.statuses[uid] = status
            size = Path(item).stat().st_size if not isinstance(item, Dataset) else 0
            result.bytes_sent += size
            record("dimse", ACTOR, "outbound", f"C-STORE {uid}", peer=str(peer), status=f"0x{status:04X}")
    finally:
        assoc.release()
    result.elapsed = time.time() - t0
    return result


def _header(item: Path | str | Dataset) -> tuple[str, str, str]:
    if isinstance(item, Dataset):
        ts = str(item.file_meta.TransferSyntaxUID) if "TransferSyntaxUID" in getattr(item, "file_meta", {}) \
            else _EXPLICIT_IMPLICIT[0]
        return str(item.SOPClassUID), ts, str(item.SOPInstanceUID)
    ds = dcmread(item, stop_before_pixels=True, specific_tags=["SOPClassUID", "SOPInstanceUID"])
    return str(ds.SOPClassUID), str(ds.file_meta.TransferSyntaxUID), str(ds.SOPInstanceUID)


def find(peer: Peer, identifier: Dataset,
         model: str = StudyRootQueryRetrieveInformationModelFind) -> list[Dataset]:
    """C-FIND; returns the pending identifiers. Raises :class:`DimseError` on a failure status."""
    t0 = time.time()
    assoc = _associate(peer, [build_context(model, _EXPLICIT_IMPLICIT)])
    answers: list[Dataset] = []
    final = -1
    try:
        for status, ds in assoc.send_c_find(identifier, model):
            final = _status_of(status)
            if final in (0xFF00, 0xFF01) and ds is not None:
                answers.append(ds)
    finally:
        assoc.release()
    record("dimse", ACTOR, "outbound", f"C-FIND {identifier.get('QueryRetrieveLevel', '')}", peer=str(peer),
           request_body=_encode(identifier), status=f"0x{final:04X}", started=t0, elapsed=time.time() - t0)
    if final != 0x0000:
        raise DimseError(f"C-FIND to {peer} ended with status 0x{final:04X}", final)
    return answers


def move(peer: Peer, identifier: Dataset, destination: str,
         model: str = StudyRootQueryRetrieveInformationModelMove) -> RetrieveResult:
    """C-MOVE to ``destination`` (an AE the peer knows); returns the final status and counts."""
    t0 = time.time()
    assoc = _associate(peer, [build_context(model, _EXPLICIT_IMPLICIT)])
    try:
        result = _final(assoc.send_c_move(identifier, destination, model))
    finally:
        assoc.release()
    record("dimse", ACTOR, "outbound", f"C-MOVE to {destination}", peer=str(peer),
           request_body=_encode(identifier), status=f"0x{result.status:04X}", started=t0,
           elapsed=time.time() - t0)
    return result


def get(peer: Peer, identifier: Dataset, sop_classes: Iterable[str], transfer_syntaxes: Iterable[str] = (),
        model: str = StudyRootQueryRetrieveInformationModelGet) -> RetrieveResult:
    """C-GET: the peer sends the instances back on this association (SCP role for ``sop_classes``)."""
    ts = list(transfer_syntaxes) or ["1.2.840.10008.1.2.1", "1.2.840.10008.1.2", "1.2.840.10008.1.2.4.80",
                                     "1.2.840.10008.1.2.4.90", "1.2.840.10008.1.2.5"]
    sop_classes = list(sop_classes)
    contexts = [build_context(model, _EXPLICIT_IMPLICIT)] + [build_context(s, ts) for s in sop_classes]
    received: list[Dataset] = []

    def _on_store(event: Any) -> int:
        ds = event.dataset
        ds.file_meta = event.file_meta
        received.append(ds)
        return 0x0000

    t0 = time.time()
    assoc = _associate(peer, contexts, ext_neg=[build_role(s, scp_role=True) for s in sop_classes],
                       evt_handlers=[(evt.EVT_C_STORE, _on_store)])
    try:
        result = _final(assoc.send_c_get(identifier, model))
    finally:
        assoc.release()
    result.datasets = received
    record("dimse", ACTOR, "outbound", f"C-GET -> {len(received)} instance(s)", peer=str(peer),
           request_body=_encode(identifier), status=f"0x{result.status:04X}", started=t0,
           elapsed=time.time() - t0)
    return result


def _final(responses: Iterator[tuple[Dataset, Dataset | None]]) -> RetrieveResult:
    last: Dataset | None = None
    for status, _ in responses:
        if status is not None and "Status" in status:
            last = status
    if last is None:
        return RetrieveResult(status=-1)
    return RetrieveResult(status=int(last.Status),
                          completed=int(last.get("NumberOfCompletedSuboperations", 0) or 0),
                          failed=int(last.get("NumberOfFailedSuboperations", 0) or 0),
                          warning=int(last.get("NumberOfWarningSuboperations", 0) or 0))


def find_study_instances(peer: Peer, study_uid: str) -> list[Dataset]:
    """IMAGE-level C-FIND of one study: what a Source DRIMbox reads before building the KOS
    (ANS PoC flow). Each answer has the UIDs, InstanceNumber, PatientID and AccessionNumber."""
    return find(peer, query("IMAGE", StudyInstanceUID=study_uid, SeriesInstanceUID="", SOPInstanceUID="",
                            SOPClassUID="", InstanceNumber="", PatientID="", AccessionNumber=""))


def query(level: str, **keys: object) -> Dataset:
    """A Study Root identifier: ``query("SERIES", StudyInstanceUID=uid, SeriesInstanceUID="")``."""
    ds = Dataset()
    ds.QueryRetrieveLevel = level
    for keyword, value in keys.items():
        setattr(ds, keyword, value)
    return ds
