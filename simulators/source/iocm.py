"""The Source's DICOM Storage SCP for IOCM rejection notes (IHE RAD TF-1 IOCM, RAD TF-3 RAD-66 Rejection Note Stored).

An Image Manager that changes a study (an instance rejected for quality or patient safety reasons, a wrong
worklist entry, an expired retention) sends a Key Object Selection Document whose title is the rejection
reason (DICOM PS3.16 CID 7011) and whose Current Requested Procedure Evidence Sequence lists the rejected
instances. The Source DRIMbox must then publish an updated KOS without them (ANS DRIM-M_DATA
``Référencement DRIMBox/Jeux de données/IOCM``) and stop serving them.

Statuses (PS3.4 B.2.3): 0x0000 taken into account; 0xA900 a KOS without the attributes a rejection note needs
(PS3.3 C.17.6 Key Object Document, PS3.3 C.17.2 SR Document General: evidence); 0xC001 not a rejection note
(another KOS title: the Source has no use of it); 0xC002 unreadable; 0xA700 the update could not be made
(the PACS or the store failed): the sender may send the note again, which is then taken up where it stopped.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from pydicom.dataset import Dataset
from pynetdicom import AE, evt
from pynetdicom.sop_class import KeyObjectSelectionDocumentStorage, Verification

from simulators.source.report import Rejection, RejectionOutcome

log = logging.getLogger(__name__)

KOS_CLASS = "1.2.840.10008.5.1.4.1.1.88.59"
# DICOM PS3.16 CID 7011 "Rejected for Quality Reasons" and its siblings, scheme DCM (IHE RAD TF-3 RAD-66)
REJECTION_TITLES = {
    "113001": "Rejected for Quality Reasons",
    "113037": "Rejected for Patient Safety Reasons",
    "113038": "Incorrect Modality Worklist Entry",
    "113039": "Data Retention Policy Expired",
}
STATUS = {"success": 0x0000, "refused": 0xA700, "mismatch": 0xA900, "not_rejection": 0xC001, "unreadable": 0xC002}


class NotARejection(ValueError):
    """A KOS whose title is not a rejection reason: nothing to do with it."""


def parse_rejection(ds: Dataset) -> Rejection:
    """The rejection a KOS states, or :class:`NotARejection` / :class:`ValueError` (a required part missing)."""
    if str(ds.get("SOPClassUID", "")) != KOS_CLASS:
        raise ValueError(f"SOP Class {ds.get('SOPClassUID', '(none)')} is not Key Object Selection Document")
    title = (ds.get("ConceptNameCodeSequence") or [None])[0]
    if title is None:
        raise ValueError("no Concept Name Code Sequence (0040,A043): the document has no title")
    code, scheme = str(title.get("CodeValue", "")), str(title.get("CodingSchemeDesignator", ""))
    if scheme != "DCM" or code not in REJECTION_TITLES:
        raise NotARejection(f"title ({code}, {scheme}, {title.get('CodeMeaning', '')!s}) is not a rejection reason "
                            f"of CID 7011")
    instances = []
    for study in ds.get("CurrentRequestedProcedureEvidenceSequence", []):
        for series in study.get("ReferencedSeriesSequence", []):
            for sop in series.get("ReferencedSOPSequence", []):
                uids = (str(study.get("StudyInstanceUID", "")), str(series.get("SeriesInstanceUID", "")),
                        str(sop.get("ReferencedSOPInstanceUID", "")))
                if not all(uids):
                    raise ValueError("an evidence item lacks its study, series or instance UID")
                instances.append(uids)
    if not instances:
        raise ValueError("Current Requested Procedure Evidence Sequence (0040,A375) lists no instance")
    return Rejection(str(ds.get("SOPInstanceUID", "")), REJECTION_TITLES[code], tuple(instances))


class RejectionListener:
    """A Storage SCP (``ae_title`` on ``host:port``, 0 = a free port) handing each rejection note to
    ``on_rejection``; ``address`` is ``AET@host:port`` once started."""

    def __init__(self, on_rejection: Callable[[Rejection], RejectionOutcome], *, ae_title: str = "DRIMBOX-SRC",
                 host: str = "127.0.0.1", port: int = 0) -> None:
        self._on_rejection = on_rejection
        ae = AE(ae_title=ae_title)
        ae.add_supported_context(KeyObjectSelectionDocumentStorage)
        ae.add_supported_context(Verification)
        self._server = ae.start_server((host, port), block=False, evt_handlers=[(evt.EVT_C_STORE, self._store)])
        self.host, self.port = self._server.server_address[:2]
        self.ae_title = ae_title
        self.address = f"{ae_title}@{self.host}:{self.port}"

    def _store(self, event: Any) -> Dataset | int:
        status = Dataset()
        try:
            ds = event.dataset
            ds.file_meta = event.file_meta
        except Exception as exc:  # undecodable data set
            status.Status, status.ErrorComment = STATUS["unreadable"], f"data set unreadable: {exc}"[:64]
            return status
        try:
            rejection = parse_rejection(ds)
        except NotARejection as exc:
            status.Status, status.ErrorComment = STATUS["not_rejection"], str(exc)[:64]
            log.info("KOS %s refused: %s", ds.get("SOPInstanceUID", "?"), exc)
            return status
        except ValueError as exc:
            status.Status, status.ErrorComment = STATUS["mismatch"], str(exc)[:64]
            log.info("KOS %s refused: %s", ds.get("SOPInstanceUID", "?"), exc)
            return status
        try:
            outcome = self._on_rejection(rejection)
        except Exception as exc:  # the sender may send it again: the update is then made
            log.exception("rejection note %s not taken into account", rejection.note_uid)
            status.Status, status.ErrorComment = STATUS["refused"], f"update failed: {exc}"[:64]
            return status
        log.info("rejection note %s (%s): %d instance(s) newly rejected; %s", rejection.note_uid,
                 rejection.reason, outcome.fresh, "; ".join(outcome.actions) or "nothing else to do")
        return STATUS["success"]

    def stop(self) -> None:
        self._server.shutdown()
