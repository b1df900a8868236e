"""DB.SO.102 measured as the ANS SpeedTest does (DRIM-M_DATA ``Scripts/Mesure de performances DRIMBox_PACS/
Readme.md``): a Study Root C-MOVE of the study from the PACS to the harness's Storage SCP, the time to the first
image received, the bytes received and the total time, from which the throughput follows (DICOM PS3.4 C.4.2).
The images' content is not kept, as in the SpeedTest."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

from pydicom.uid import (
    JPEG2000,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGBaseline8Bit,
    JPEGLosslessSV1,
    JPEGLSLossless,
    JPEGLSNearLossless,
    RLELossless,
)
from pynetdicom import AE, StoragePresentationContexts, evt

from harness.dicom.client import Peer, move, query

# every syntax accepted, so the PACS sends what it stores (the SpeedTest warns when it had to convert)
ACCEPTED = [JPEGLSLossless, ExplicitVRLittleEndian, ImplicitVRLittleEndian, JPEGLSNearLossless, JPEG2000Lossless,
            JPEG2000, JPEGLosslessSV1, JPEGBaseline8Bit, RLELossless, DeflatedExplicitVRLittleEndian]


@dataclass
class _Received:
    first: float | None = None
    last: float | None = None
    bytes: int = 0
    images: int = 0
    syntaxes: set[str] = field(default_factory=set)


class StorageScp:
    """The harness's Storage SCP (C-MOVE destination): counts what arrives, keeps nothing."""

    def __init__(self, ae_title: str, port: int, host: str = "127.0.0.1") -> None:
        self.ae_title, self.host = ae_title, host
        self._lock = threading.Lock()
        self._got = _Received()
        ae = AE(ae_title=ae_title)
        ae.maximum_pdu_size = 0  # unlimited: pynetdicom's 16 KB default throttles
        for context in StoragePresentationContexts:
            ae.add_supported_context(context.abstract_syntax, ACCEPTED)
        self._server = ae.start_server((host, port), block=False, evt_handlers=[(evt.EVT_C_STORE, self._on_store)])
        self.port = int(self._server.server_address[1])

    def _on_store(self, event: Any) -> int:
        now = time.perf_counter()
        size = event.request.DataSet.getbuffer().nbytes
        with self._lock:
            got = self._got
            got.first = now if got.first is None else got.first
            got.last, got.bytes, got.images = now, got.bytes + size, got.images + 1
            got.syntaxes.add(str(event.context.transfer_syntax))
        return 0x0000

    def take(self) -> _Received:
        with self._lock:
            got, self._got = self._got, _Received()
        return got

    def stop(self) -> None:
        self._server.shutdown()


@dataclass(frozen=True)
class MoveSample:
    status: int
    first_ms: float | None  # request -> first image received
    total_ms: float  # request -> final C-MOVE response
    bytes: int
    images: int
    completed: int
    failed: int
    syntaxes: tuple[str, ...]

    @property
    def mb_per_s(self) -> float:
        """Bytes over the time from the first image to the final response: the transfer rate, apart from the
        latency (a small study's association set-up would otherwise weigh as much as its images)."""
        return self.bytes / 1e6 / max((self.total_ms - (self.first_ms or 0.0)) / 1000.0, 1e-6)

    @property
    def speedtest_mb_per_s(self) -> float:
        """As the SpeedTest prints it: bytes over the total time of the retrieve, latency included."""
        return self.bytes / 1e6 / max(self.total_ms / 1000.0, 1e-6)

    def to_dict(self) -> dict[str, Any]:
        return {"status": self.status, "first_ms": self.first_ms, "total_ms": self.total_ms, "bytes": self.bytes,
                "images": self.images, "completed": self.completed, "failed": self.failed,
                "syntaxes": list(self.syntaxes), "mb_per_s": self.mb_per_s,
                "speedtest_mbit_per_s": self.speedtest_mb_per_s * 8}


def move_study(pacs: Peer, study_uid: str, scp: StorageScp) -> MoveSample:
    """One C-MOVE of ``study_uid`` from ``pacs`` to ``scp``, timed from the request (association included)."""
    scp.take()
    t0 = time.perf_counter()
    result = move(pacs, query("STUDY", StudyInstanceUID=study_uid), scp.ae_title)
    total = (time.perf_counter() - t0) * 1000
    got = scp.take()
    first = None if got.first is None else (got.first - t0) * 1000
    return MoveSample(result.status, first, total, got.bytes, got.images, result.completed, result.failed,
                      tuple(sorted(got.syntaxes)))


def send_files(scp: StorageScp, files: list[Any], contexts: list[tuple[str, str]]) -> MoveSample:
    """The harness's own ceiling for DB.SO.102: the same files C-STOREd from this process to its Storage SCP
    (what the SCP and the loopback reach without any PACS), timed like :func:`move_study`."""
    scp.take()
    t0 = time.perf_counter()
    status, done = store_files(scp.host, scp.port, scp.ae_title, files, contexts)
    total = (time.perf_counter() - t0) * 1000
    got = scp.take()
    first = None if got.first is None else (got.first - t0) * 1000
    return MoveSample(status, first, total, got.bytes, got.images, done, len(files) - done,
                      tuple(sorted(got.syntaxes)))


def store_files(host: str, port: int, ae_title: str, files: list[Any],
                contexts: list[tuple[str, str]]) -> tuple[int, int]:
    """C-STORE ``files`` on one association (PS3.4 Annex B), the harness's client at its fastest (unlimited
    PDU); ``contexts``: (SOP class, transfer syntax) of the files. Returns (0, instances stored with status
    0x0000), or (-1, 0) when the association was not accepted."""
    from pynetdicom.presentation import build_context

    ae = AE(ae_title="DRIMCHECK")
    ae.maximum_pdu_size = 0
    assoc = ae.associate(host, port, contexts=[build_context(s, [t]) for s, t in contexts], ae_title=ae_title,
                         max_pdu=0)
    status, done = -1, 0
    if assoc.is_established:
        try:
            for path in files:
                rsp = assoc.send_c_store(path)
                done += int(getattr(rsp, "Status", -1) == 0)
            status = 0
        finally:
            assoc.release()
    return status, done
