"""Retrieval from the PACS by DIMSE C-GET (PS3.4 C.4.3), the alternative to its WADO-RS.

The C-GET runs in a thread; each instance the PACS sends on the association (C-STORE sub-operations)
is handed to the HTTP response through a small bounded queue, so the PACS is slowed down to the
client's pace and a study is never held in memory. One presentation context per (SOP class,
transfer syntax) pair lets the PACS send each instance in its stored syntax (no conversion).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator

from pydicom.dataset import Dataset
from pynetdicom import AE, build_context, build_role, evt
from pynetdicom.sop_class import StudyRootQueryRetrieveInformationModelGet

from simulators.source.rad107 import StreamedPart, file_meta

SYNTAXES = ("1.2.840.10008.1.2.1", "1.2.840.10008.1.2", "1.2.840.10008.1.2.4.80", "1.2.840.10008.1.2.4.81",
            "1.2.840.10008.1.2.4.90", "1.2.840.10008.1.2.4.91", "1.2.840.10008.1.2.5", "1.2.840.10008.1.2.4.50",
            "1.2.840.10008.1.2.4.70")  # PS3.5 A.2-A.4: those a Source may find in a PACS
_END = object()


class PacsDimse:
    """C-GET client of the PACS; ``series(...)`` yields the instances as :class:`StreamedPart`."""

    def __init__(self, host: str, port: int, aet: str, calling_aet: str, timeout: float = 60.0) -> None:
        self.host, self.port, self.aet, self.calling_aet, self.timeout = host, port, aet, calling_aet, timeout

    def series(self, study: str, series: str, sop_classes: Iterable[str],
               instance: str | None = None) -> Iterator[StreamedPart]:
        classes = sorted(set(sop_classes))
        if len(classes) * len(SYNTAXES) > 127:
            raise ValueError(f"too many SOP classes for one association: {len(classes)}")
        items: queue.Queue = queue.Queue(maxsize=4)
        failure: list[BaseException] = []

        def on_store(event) -> int:
            items.put(bytes(event.encoded_dataset(include_meta=True)))
            return 0x0000

        def run() -> None:
            try:
                self._get(study, series, instance, classes, on_store)
            except BaseException as exc:  # reported to the reader
                failure.append(exc)
            finally:
                items.put(_END)

        thread = threading.Thread(target=run, name="source-cget", daemon=True)
        thread.start()
        while True:
            data = items.get(timeout=self.timeout)
            if data is _END:
                break
            meta = file_meta(data)
            if meta is None:
                raise ValueError("the PACS sent an instance without a readable file meta")
            yield StreamedPart(meta[0], meta[1], data, iter(()))
        thread.join(timeout=self.timeout)
        if failure:
            raise LookupError(f"C-GET failed: {failure[0]}")

    def _get(self, study: str, series: str, instance: str | None, classes: list[str], on_store) -> None:
        ae = AE(ae_title=self.calling_aet)
        ae.maximum_pdu_size = 0
        ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = self.timeout
        contexts = [build_context(StudyRootQueryRetrieveInformationModelGet)]
        contexts += [build_context(sop, ts) for sop in classes for ts in SYNTAXES]
        assoc = ae.associate(self.host, self.port, contexts=contexts, ae_title=self.aet, max_pdu=0,
                             ext_neg=[build_role(s, scp_role=True) for s in classes],
                             evt_handlers=[(evt.EVT_C_STORE, on_store)])
        if not assoc.is_established:
            raise ConnectionError(f"association with {self.aet}@{self.host}:{self.port} refused")
        identifier = Dataset()
        identifier.QueryRetrieveLevel = "IMAGE" if instance else "SERIES"
        identifier.StudyInstanceUID, identifier.SeriesInstanceUID = study, series
        if instance:
            identifier.SOPInstanceUID = instance
        try:
            final = None
            for status, _ds in assoc.send_c_get(identifier, StudyRootQueryRetrieveInformationModelGet):
                if status is not None and "Status" in status:
                    final = int(status.Status)
            if final not in (0x0000, 0xB000):
                raise LookupError(f"C-GET ended with status {final if final is None else hex(final)}")
        finally:
            assoc.release()
