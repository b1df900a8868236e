"""DIMSE side of the embedded PACS: C-ECHO, C-STORE, Patient and Study Root C-FIND / C-MOVE / C-GET.

One handler per DIMSE service (STYLE §4), each a short function over the :class:`InstanceStore`.
Failure statuses (DICOM PS3.4 B.2.3, C.4.1.1.4, C.4.2.1.5, C.4.3.1.4; PS3.7 C.4.2.1.4):
0xC210 dataset cannot be decoded, 0x0110 study already stored for another patient,
0xA900 identifier does not match the SOP class (invalid level), 0xA801 move destination unknown.
"""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from pydicom import dcmread
from pydicom.dataset import Dataset
from pynetdicom import AE, AllStoragePresentationContexts, build_context, evt
from pynetdicom.sop_class import (
    PatientRootQueryRetrieveInformationModelFind,
    PatientRootQueryRetrieveInformationModelGet,
    PatientRootQueryRetrieveInformationModelMove,
    StudyRootQueryRetrieveInformationModelFind,
    StudyRootQueryRetrieveInformationModelGet,
    StudyRootQueryRetrieveInformationModelMove,
    Verification,
)

from harness.capture import record
from simulators.pacs.query import QueryError, find, prefilter, query_level
from simulators.pacs.store import InstanceStore, Record, StoreError

log = logging.getLogger("drimcheck.pacs")

ACTOR = "pacs-simulator"

# DIMSE statuses answered by this SCP, with the spec section that defines each
STATUS = {
    "success": 0x0000,  # PS3.7 C.4.1.1.4
    "pending": 0xFF00,  # PS3.4 C.4.1.1.4
    "processing_failure": 0x0110,  # PS3.7 C.4.2.1.4 (patient conflict)
    "cannot_understand": 0xC210,  # PS3.4 B.2.3 Cxxx (dataset does not decode / lacks UIDs)
    "identifier_mismatch": 0xA900,  # PS3.4 C.4.1.1.4 (invalid QueryRetrieveLevel)
    "move_destination_unknown": 0xA801,  # PS3.4 C.4.2.1.5
}


# Query/Retrieve SOP class -> information model (PS3.4 C.6.1 Patient Root, C.6.2 Study Root)
MODEL_OF: dict[str, str] = {
    PatientRootQueryRetrieveInformationModelFind: "patient",
    PatientRootQueryRetrieveInformationModelMove: "patient",
    PatientRootQueryRetrieveInformationModelGet: "patient",
    StudyRootQueryRetrieveInformationModelFind: "study",
    StudyRootQueryRetrieveInformationModelMove: "study",
    StudyRootQueryRetrieveInformationModelGet: "study",
}


def _model(event: Any) -> str:
    return MODEL_OF.get(str(event.context.abstract_syntax), "study")


@dataclass
class DimseConfig:
    aet: str = "DRIMPACS"
    host: str = "127.0.0.1"
    port: int = 0
    known_aes: dict[str, tuple[str, int]] = field(default_factory=dict)  # C-MOVE destinations
    # the pace of a C-MOVE's sub-operations (the performance plan's DB.SO.102 faults, ``FAULTY``): seconds
    # waited before the first C-STORE, and bytes per second the instances are sent at (0: as fast as it can)
    move_delay: float = 0.0
    move_rate: float = 0.0


# named faults of the PACS behind the reference Source (declared with their requirements in
# simulators.source.faults): the DimseConfig fields each one changes
FAULTY: dict[str, dict[str, float]] = {
    "pacs-late-move": {"move_delay": 3.0},
    "pacs-throttled-move": {"move_rate": 500_000.0},
}


class DimseServer:
    """A pynetdicom AE serving the store; ``handlers`` can be swapped before :meth:`start` (faults)."""

    def __init__(self, store: InstanceStore, config: DimseConfig) -> None:
        self.store = store
        self.config = config
        self.ae = _make_ae(config.aet)
        self._server: Any = None
        self.handlers: dict[Any, Any] = {
            evt.EVT_C_ECHO: self.on_echo,
            evt.EVT_C_STORE: self.on_store,
            evt.EVT_C_FIND: self.on_find,
            evt.EVT_C_MOVE: self.on_move,
            evt.EVT_C_GET: self.on_get,
        }

    @property
    def port(self) -> int:
        return int(self._server.server_address[1]) if self._server else self.config.port

    def start(self) -> DimseServer:
        self._server = self.ae.start_server((self.config.host, self.config.port), block=False,
                                            evt_handlers=list(self.handlers.items()))
        self._server.contexts = _Contexts(self._server.contexts)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server = None

    # --- handlers ------------------------------------------------------------------------
    def on_echo(self, event: Any) -> int:
        _record(event, "C-ECHO", 0)
        return 0x0000

    def on_store(self, event: Any) -> Dataset | int:
        """PS3.4 B.2: write the file, index it; refuse what would corrupt the store."""
        started = time.time()
        try:
            ds = event.dataset
            ds.file_meta = event.file_meta
            rec = self.store.add(ds, event.file_meta, event.request.DataSet.getvalue())
        except StoreError as exc:
            return _store_failure(event, exc.status, str(exc), started)
        except Exception as exc:  # any decode error: the peer sent a dataset we cannot read
            return _store_failure(event, STATUS["cannot_understand"], f"cannot decode dataset: {exc}", started)
        _record(event, f"C-STORE {rec['Modality']} {rec['SOPInstanceUID']}", 0, started=started, body=_dump(ds))
        return 0x0000

    def on_find(self, event: Any) -> Iterator[tuple[int, Dataset | None]]:
        started = time.time()
        try:
            identifier = event.identifier
            model = _model(event)
            level = query_level(identifier, model)
            answers = find(identifier, self.store.records(prefilter(identifier, level, model)), self.config.aet,
                           model)
        except QueryError as exc:
            yield _failure(event, "C-FIND", exc.status, str(exc), started)
            return
        except Exception as exc:
            yield _failure(event, "C-FIND", STATUS["cannot_understand"], f"bad identifier: {exc}", started)
            return
        _record(event, f"C-FIND {level} -> {len(answers)} match(es)", 0, started=started,
                body=_identifier_bytes(event))
        for answer in answers:
            if event.is_cancelled:
                yield 0xFE00, None
                return
            yield STATUS["pending"], answer

    def on_move(self, event: Any) -> Iterator[Any]:
        """PS3.4 C.4.2: only to AEs of ``known_aes``; else 0xA801 and a log line."""
        started = time.time()
        dest = _text(event.move_destination)
        if dest not in self.config.known_aes:
            log.warning("C-MOVE refused: unknown move destination %r (known: %s)", dest,
                        sorted(self.config.known_aes))
            _record(event, f"C-MOVE to {dest}", STATUS["move_destination_unknown"], started=started,
                    error=f"unknown move destination {dest!r}")
            yield None, None
            return
        host, port = self.config.known_aes[dest]
        try:
            records = self._retrieve_records(event)
        except QueryError as exc:
            yield host, port
            yield from _retrieve_failure(event, "C-MOVE", exc, started)
            return
        sub_assoc: list[Any] = []  # the C-STORE sub-association, known once the destination accepts
        handlers = [(evt.EVT_ESTABLISHED, lambda e: sub_assoc.append(e.assoc))]
        yield host, port, {"contexts": _contexts_for(records), "max_pdu": 0, "evt_handlers": handlers}
        yield len(records)
        _record(event, f"C-MOVE {len(records)} instance(s) to {dest}", 0, started=started)
        if self.config.move_delay:
            time.sleep(self.config.move_delay)
        yield from self._send(event, records, lambda: sub_assoc[0] if sub_assoc else event.assoc,
                              rate=self.config.move_rate)

    def on_get(self, event: Any) -> Iterator[Any]:
        """PS3.4 C.4.3: C-STORE sub-operations on the requestor's own association."""
        started = time.time()
        try:
            records = self._retrieve_records(event)
        except QueryError as exc:
            yield from _retrieve_failure(event, "C-GET", exc, started)
            return
        yield len(records)
        _record(event, f"C-GET {len(records)} instance(s)", 0, started=started)
        yield from self._send(event, records)

    def _retrieve_records(self, event: Any) -> list[Record]:
        try:
            identifier = event.identifier
        except Exception as exc:
            raise QueryError(STATUS["cannot_understand"], f"bad identifier: {exc}") from None
        model = _model(event)
        level = query_level(identifier, model)
        keys = prefilter(identifier, level, model)
        if not keys:
            raise QueryError(STATUS["identifier_mismatch"], f"no unique key given at level {level}")
        return self.store.records(keys)

    def _send(self, event: Any, records: list[Record], store_assoc: Any = None,
              rate: float = 0.0) -> Iterator[tuple[int, Dataset | None]]:
        """C-STORE sub-operations; ``store_assoc()`` gives the association they go over (C-MOVE); ``rate``
        (bytes per second) holds them to that pace."""
        start, sent = time.perf_counter(), 0
        for rec in records:
            if rate:
                ahead = sent / rate - (time.perf_counter() - start)
                if ahead > 0:
                    time.sleep(ahead)
                sent += rec.size
            if event.is_cancelled:
                yield 0xFE00, None
                return
            try:
                assoc = store_assoc() if store_assoc else event.assoc
                yield STATUS["pending"], _for_peer(dcmread(rec.path), assoc)
            except Exception as exc:  # a file vanished or is unreadable: count it as failed
                log.error("cannot read %s: %s", rec.path, exc)
                failed = Dataset()
                failed.FailedSOPInstanceUIDList = [rec["SOPInstanceUID"]]
                yield 0xA702, failed
                return


def _text(value: str | bytes) -> str:
    return (value.decode("ascii", "replace") if isinstance(value, bytes) else value).strip()


def _retrieve_failure(event: Any, service: str, exc: QueryError, started: float) -> Iterator[Any]:
    """A retrieve whose identifier we refuse: one sub-operation announced, answered as failed."""
    log.warning("%s refused (0x%04X): %s", service, exc.status, exc)
    _record(event, service, exc.status, started=started, error=str(exc))
    yield 1
    failed = Dataset()
    failed.FailedSOPInstanceUIDList = ""
    yield _status(exc.status, str(exc)), failed


def _status(status: int, message: str) -> Dataset:
    rsp = Dataset()
    rsp.Status = status
    rsp.ErrorComment = message[:64]
    return rsp


# Transfer syntaxes accepted for storage (PS3.5 §10, Annex A): the common lossless and lossy ones.
# Fewer than pynetdicom's 45 keeps association negotiation fast (it is per context x syntax).
STORAGE_TRANSFER_SYNTAXES = [
    "1.2.840.10008.1.2",  # Implicit VR Little Endian
    "1.2.840.10008.1.2.1",  # Explicit VR Little Endian
    "1.2.840.10008.1.2.1.99",  # Deflated Explicit VR Little Endian
    "1.2.840.10008.1.2.4.50",  # JPEG Baseline
    "1.2.840.10008.1.2.4.51",  # JPEG Extended
    "1.2.840.10008.1.2.4.57",  # JPEG Lossless
    "1.2.840.10008.1.2.4.70",  # JPEG Lossless SV1
    "1.2.840.10008.1.2.4.80",  # JPEG-LS Lossless
    "1.2.840.10008.1.2.4.81",  # JPEG-LS Near-Lossless
    "1.2.840.10008.1.2.4.90",  # JPEG 2000 Lossless
    "1.2.840.10008.1.2.4.91",  # JPEG 2000
    "1.2.840.10008.1.2.5",  # RLE Lossless
]
_QR_TRANSFER_SYNTAXES = ["1.2.840.10008.1.2.1", "1.2.840.10008.1.2"]


class _Contexts(list):
    """The server's presentation contexts, which pynetdicom deep-copies for every association it accepts
    (each then records its own negotiation). UIDs are immutable strings: the copy shares them instead of
    re-creating and re-validating ~2,200 of them, 18 ms of CPU per association down to 2 ms."""

    def __deepcopy__(self, memo: dict[int, Any]) -> list[Any]:
        atoms = {id(uid): uid for cx in self for uid in (cx.abstract_syntax, *cx.transfer_syntax)}
        return copy.deepcopy(list(self), {**memo, **atoms})


def _make_ae(aet: str) -> AE:
    ae = AE(ae_title=aet)
    ae.maximum_pdu_size = 0  # unlimited: the 16 KB default throttles (DESIGN, measured)
    ae.network_timeout = 30
    ae.acse_timeout = 30
    ae.dimse_timeout = 60
    ae.add_supported_context(Verification)
    for cx in AllStoragePresentationContexts:
        # scp_role/scu_role: accept a C-GET requestor's role selection (PS3.7 D.3.3.4)
        ae.add_supported_context(cx.abstract_syntax, STORAGE_TRANSFER_SYNTAXES, scp_role=True, scu_role=False)
    for sop in MODEL_OF:
        ae.add_supported_context(sop, _QR_TRANSFER_SYNTAXES)
    return ae


def _for_peer(ds: Dataset, assoc: Any) -> Dataset:
    """Decompress when the peer accepted the SOP class only uncompressed (C-GET/C-MOVE sub-operations).

    ``assoc`` is the association the C-STORE goes over: the requestor's for C-GET, the
    sub-association to the destination for C-MOVE (its contexts include Explicit VR Little Endian).
    """
    ts = ds.file_meta.TransferSyntaxUID
    if not ts.is_compressed:
        return ds
    accepted = {(cx.abstract_syntax, cx.transfer_syntax[0]) for cx in assoc.accepted_contexts}
    if (ds.SOPClassUID, ts) in accepted or not any(sop == ds.SOPClassUID for sop, _ in accepted):
        return ds
    ds.decompress(generate_instance_uid=False)  # sets Explicit VR Little Endian and updates the pixel module
    return ds


def _contexts_for(records: list[Record]) -> list[Any]:
    """C-MOVE sub-association contexts: each stored (SOP class, syntax) alone, plus Explicit VR LE.

    One syntax per context lets the destination accept or refuse each separately; when it refuses
    a compressed one, :func:`_for_peer` decompresses to Explicit VR Little Endian.
    """
    explicit = "1.2.840.10008.1.2.1"
    pairs = sorted({(rec["SOPClassUID"], rec.transfer_syntax) for rec in records}
                   | {(rec["SOPClassUID"], explicit) for rec in records})
    return [build_context(sop, [ts]) for sop, ts in pairs][:128]


def _store_failure(event: Any, status: int, message: str, started: float) -> Dataset:
    log.warning("C-STORE refused (0x%04X): %s", status, message)
    _record(event, "C-STORE", status, started=started, error=message)
    return _status(status, message)


def _failure(event: Any, service: str, status: int, message: str, started: float) -> tuple[Dataset, None]:
    log.warning("%s refused (0x%04X): %s", service, status, message)
    _record(event, service, status, started=started, error=message)
    return _status(status, message), None


def _identifier_bytes(event: Any) -> bytes:
    """The identifier as a readable dump (the evidence a person reads), or its raw bytes if it cannot be decoded."""
    try:
        return _dump(event.identifier)
    except Exception:
        try:
            return event.request.Identifier.getvalue()
        except Exception:
            return b""


def _dump(ds: Dataset) -> bytes:
    """A dataset as a text dump for the evidence, pixel data summarised (PS3.5 §7: tag, VR, value)."""
    lines = [f"{e.tag} {e.VR} {e.keyword or e.name}: "
             + (f"<{len(e.value)} bytes>" if e.tag == 0x7FE00010 and e.value is not None else str(e.value)[:200])
             for e in ds]
    return "\n".join(lines).encode("utf-8", "replace")


def _record(event: Any, summary: str, status: int, *, started: float | None = None, error: str | None = None,
            body: bytes | None = None) -> None:
    peer = ""
    try:
        req = event.assoc.requestor
        peer = f"{req.ae_title}@{req.address}:{req.port}"
    except Exception:
        pass
    record("dimse", ACTOR, "inbound", summary, peer=peer, request_body=body, status=f"0x{status:04X}",
           started=started, elapsed=None if started is None else time.time() - started, error=error)
