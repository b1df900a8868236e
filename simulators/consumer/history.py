"""Exam history of a patient from the DMP: ITI-18 stored queries with a VIHF (ANS PoC, ANS DRIM-M_DATA
Validateur XDS/XDS.xml).

FindDocuments (typeCode ``IMG-KOS``, status Approved) for the patient, or
FindDocumentsByReferenceId when the contextual call names a Study Instance UID or an accession
number (IHE ITI TF-2a §3.18.4.1.2.3.7.1 and .14). Deprecated (replaced) and deleted entries are
never shown, even when a registry returns them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

from lxml import etree

from harness.xds.builder import KOS_TYPE, MODALITY_SCHEME, REGION_SCHEME
from harness.xds.clients import XdsClient
from harness.xds.ebrim import parse_registry_object_list
from harness.xds.model import DocumentEntry
from simulators.consumer.context import ContextualCall

RIM_NS = "urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0"
APPROVED = "urn:oasis:names:tc:ebxml-regrep:StatusType:Approved"  # ITI TF-3 §4.2.3.2.2
DEPRECATED = "urn:oasis:names:tc:ebxml-regrep:StatusType:Deprecated"
KOS_TYPE_CODE = f"{KOS_TYPE.node}^^{KOS_TYPE.coding_scheme}"  # 'IMG-KOS^^1.2.250.1.213.1.1.4.12'
KOS_MIME = "application/dicom"
STUDY_UID_TYPE = "urn:ihe:iti:xds:2016:studyInstanceUID"  # ITI TF-3 Table 4.2.3.1.7-2
ACCESSION_TYPE = "urn:ihe:iti:xds:2013:accession"


class HistoryError(RuntimeError):
    """The DMP could not be queried (transport, SOAP fault, registry error)."""


@dataclass
class Exam:
    """One KOS entry of the DMP as the professional sees it."""

    entry_uuid: str
    unique_id: str
    repository_unique_id: str
    status: str
    date: str = ""
    modalities: list[str] = field(default_factory=list)
    regions: list[str] = field(default_factory=list)
    description: str = ""
    source: str = ""
    study_uid: str = ""
    accession: str = ""
    home_community_id: str = ""

    @property
    def display_date(self) -> str:
        d = self.date
        return f"{d[6:8]}/{d[4:6]}/{d[0:4]}" if len(d) >= 8 else d


@dataclass
class History:
    exams: list[Exam]
    total: int  # KOS entries the DMP returned (before the display limit)
    query: str  # stored query name used

    @property
    def cut(self) -> int:
        return self.total - len(self.exams)


def exam_date(entry: DocumentEntry) -> str:
    """The exam's date: serviceStartTime (the acquisition, ANS DRIM-M_DATA Validateur XDS/XDS.xml), else creationTime;
    YYYYMMDD."""
    return (entry.serviceStartTime or entry.creationTime or "")[:8]


@dataclass(frozen=True)
class HistoryOptions:
    """How the history is asked for and read; the defaults are the correct behaviour (a named fault
    changes one field, ``simulators.consumer.faults``)."""

    with_type: bool = True  # FindDocuments selects typeCode IMG-KOS
    statuses: tuple[str, ...] = (APPROVED,)
    hide_deprecated: bool = True
    date_of: Callable[[DocumentEntry], str] = exam_date


def query_params(call: ContextualCall, *, with_type: bool = True, statuses: tuple[str, ...] = (APPROVED,)
                 ) -> tuple[str, dict]:
    """(stored query name, parameters) for the contextual call."""
    params: dict = {"$XDSDocumentEntryPatientId": call.dmp_patient_id, "$XDSDocumentEntryStatus": list(statuses)}
    refs = []
    if call.study_uid:
        refs.append(f"{call.study_uid}^^^^{STUDY_UID_TYPE}")
    if call.accession:
        refs.append(f"{call.accession}^^^^{ACCESSION_TYPE}")
    if refs:
        params["$XDSDocumentEntryReferenceIdList"] = refs
        return "FindDocumentsByReferenceId", params
    if with_type:
        params["$XDSDocumentEntryTypeCode"] = [KOS_TYPE_CODE]
    return "FindDocuments", params


def _institution(entry: DocumentEntry) -> str:
    for author in entry.authors:
        for xon in author.institutions:
            if xon.split("^", 1)[0]:
                return xon.split("^", 1)[0]
    return ""


def _reference(entry: DocumentEntry, kind: str) -> str:
    for ref in entry.referenceIdList:
        if ref.endswith("^" + kind):
            return ref.split("^", 1)[0]
    return ""


def to_exam(entry: DocumentEntry, date_of: Callable[[DocumentEntry], str] = exam_date) -> Exam:
    return Exam(
        entry_uuid=entry.id, unique_id=entry.uniqueId or "", repository_unique_id=entry.repositoryUniqueId or "",
        status=entry.availabilityStatus or "", date=date_of(entry),
        modalities=list(dict.fromkeys(c.node for c in entry.eventCodes if c.coding_scheme == MODALITY_SCHEME)),
        regions=list(dict.fromkeys(c.display or c.node for c in entry.eventCodes if c.coding_scheme == REGION_SCHEME)),
        description=entry.comments or entry.title or "", source=_institution(entry),
        study_uid=_reference(entry, STUDY_UID_TYPE), accession=_reference(entry, ACCESSION_TYPE),
        home_community_id=entry.homeCommunityId or "")


def is_kos(entry: DocumentEntry) -> bool:
    return entry.mimeType == KOS_MIME and (entry.typeCode is None or entry.typeCode.node == KOS_TYPE.node)


def exams_from_response(body: etree._Element, *, hide_deprecated: bool = True, limit: int = 500,
                        date_of: Callable[[DocumentEntry], str] = exam_date) -> History:
    """Exams of an AdhocQueryResponse body, newest first, at most ``limit``."""
    olist = body.find(f".//{{{RIM_NS}}}RegistryObjectList")
    docs = parse_registry_object_list(olist)[0] if olist is not None else []
    kept = [d for d in docs if is_kos(d) and (not hide_deprecated or d.availabilityStatus in (None, APPROVED))]
    exams = sorted((to_exam(d, date_of) for d in kept), key=lambda e: e.date, reverse=True)
    return History(exams[:limit], len(exams), "")


def find_exams(client: XdsClient, call: ContextualCall, options: HistoryOptions = HistoryOptions(), *,
               limit: int = 500) -> History:
    """Run the ITI-18 query of ``call`` and return what the professional may see."""
    name, params = query_params(call, with_type=options.with_type, statuses=options.statuses)
    history = _run(client, call, name, params, options, limit)
    if name == "FindDocumentsByReferenceId" and not history.exams:
        # the reference's assigning authority (CXi.4) is not in the contextual call: a registry that
        # matches whole values finds nothing; fall back to the patient's KOS filtered here
        params = query_params(replace(call, study_uid="", accession=""), with_type=options.with_type,
                              statuses=options.statuses)[1]
        history = _run(client, call, "FindDocuments", params, options, limit)
        history.exams = [e for e in history.exams if _matches(e, call)]
        history.total = len(history.exams)
    return history


def _matches(exam: Exam, call: ContextualCall) -> bool:
    return (not call.study_uid or exam.study_uid == call.study_uid) and \
        (not call.accession or exam.accession == call.accession)


def _run(client: XdsClient, call: ContextualCall, name: str, params: dict, options: HistoryOptions,
         limit: int) -> History:
    try:
        result = client.query(name, params, patient=call.dmp_patient_id)
    except OSError as exc:
        raise HistoryError(f"DMP unreachable: {exc}") from None
    if result.decode_error or result.fault is not None or result.envelope is None or result.envelope.body is None:
        reason = result.decode_error or (result.fault and str(result.fault)) or f"HTTP {result.http_status}"
        raise HistoryError(f"DMP query failed: {reason}")
    if result.errors and not result.success:
        raise HistoryError("DMP query failed: " + "; ".join(f"{e.code} {e.context}" for e in result.errors))
    try:
        history = exams_from_response(result.envelope.body, hide_deprecated=options.hide_deprecated, limit=limit,
                                      date_of=options.date_of)
    except Exception as exc:  # a registry answer we cannot read is the DMP's problem, shown as such
        raise HistoryError(f"DMP answer unreadable: {type(exc).__name__}: {str(exc)[:200]}") from None
    history.query = name
    return history
