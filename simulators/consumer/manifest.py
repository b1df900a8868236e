"""The KOS manifest of an exam: ITI-43 retrieve, content validation, Retrieve URLs per series.

IHE ITI TF-2b §3.43 (Retrieve Document Set, MTOM); KOS content per ANS DRIM-M_DATA KOS_OK.xml (validated with
``harness.validators.validate_kos``); each series' Retrieve URL (0008,1190) names the Source
DRIMbox's WADO-RS service. A URL whose host is not on the DRIMbox allowlist is refused before any
request is sent (ANS DRIM-M_DATA Liste blanche TEST: whitelist of DRIMboxes).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from harness.findings import Finding, Severity
from harness.validators.kos import KosReadError, read_kos, validate_kos
from harness.xds.clients import XdsClient
from simulators.consumer.history import Exam


class ManifestError(RuntimeError):
    """The KOS could not be retrieved or read."""


class IdentityMismatch(ManifestError):
    """The KOS names another patient than the contextual call: nothing of it is shown or imported."""


@dataclass
class SeriesRef:
    """One series of the KOS evidence: where to retrieve it and which instances it must hold."""

    study_uid: str
    series_uid: str
    retrieve_url: str
    instances: dict[str, str] = field(default_factory=dict)  # SOP Instance UID -> SOP Class UID
    refused: str = ""  # why no request may be sent (outside the allowlist, no URL)


@dataclass
class Manifest:
    sop_instance_uid: str
    study_uid: str
    series: list[SeriesRef]
    findings: list[Finding]
    raw: bytes = b""
    patient_id: str = ""

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity is Severity.ERROR]


def host_allowed(url: str, allowed_hosts: tuple[str, ...]) -> bool:
    """True when ``url`` is http(s) and its host (or host:port) is on the allowlist."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return False
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return False
    host = parts.hostname.lower()
    names = {host, f"{host}:{port}"} if port else {host}
    return any(a.lower() in names for a in allowed_hosts)


AllowlistCheck = Callable[[str, tuple[str, ...]], bool]
DocumentRequest = Callable[[Exam], tuple[str, str]]


def document_request(exam: Exam) -> tuple[str, str]:
    """(RepositoryUniqueId, DocumentUniqueId) asking for the exam's KOS: the entry's own (ITI TF-2b §3.43.4.1.2)."""
    return exam.repository_unique_id, exam.unique_id


def parse_manifest(data: bytes, allowed_hosts: tuple[str, ...], allowed: AllowlistCheck = host_allowed) -> Manifest:
    """Read and validate a KOS; series whose URL ``allowed`` refuses are marked ``refused``."""
    try:
        ds = read_kos(data)
    except KosReadError as exc:
        raise ManifestError(f"KOS unreadable: {exc}") from None
    findings = validate_kos(ds)
    series: list[SeriesRef] = []
    for study in ds.get("CurrentRequestedProcedureEvidenceSequence") or []:
        for item in study.get("ReferencedSeriesSequence") or []:
            ref = SeriesRef(str(study.get("StudyInstanceUID", "")), str(item.get("SeriesInstanceUID", "")),
                            str(item.get("RetrieveURL", "") or ""))
            for sop in item.get("ReferencedSOPSequence") or []:
                ref.instances[str(sop.get("ReferencedSOPInstanceUID", ""))] = str(sop.get("ReferencedSOPClassUID", ""))
            if not ref.retrieve_url:
                ref.refused = "no Retrieve URL for this series"
            elif not allowed(ref.retrieve_url, allowed_hosts):
                ref.refused = f"host of {ref.retrieve_url} is not on the DRIMbox allowlist: no request sent"
            series.append(ref)
    return Manifest(str(ds.get("SOPInstanceUID", "")), str(ds.get("StudyInstanceUID", "")), series, findings, data,
                    str(ds.get("PatientID", "") or ""))


def fetch_manifest(client: XdsClient, exam: Exam, patient_cx: str, allowed_hosts: tuple[str, ...],
                   expected_ins: str | None = None, allowed: AllowlistCheck = host_allowed,
                   request_of: DocumentRequest = document_request) -> Manifest:
    """ITI-43 for the exam's KOS, then :func:`parse_manifest`; with ``expected_ins``, the KOS must
    name that patient (identity vigilance: the INS of the call is the only key, ANS FAQ INS/va1.36)."""
    try:
        result = client.retrieve([request_of(exam)], patient=patient_cx)
    except OSError as exc:
        raise ManifestError(f"DMP repository unreachable: {exc}") from None
    if result.fault is not None or result.decode_error:
        raise ManifestError(f"ITI-43 failed: {result.decode_error or result.fault}")
    docs = [d for d in result.documents if d.document_unique_id == exam.unique_id]
    if not docs or not docs[0].data:
        codes = ", ".join(result.error_codes) or f"HTTP {result.http_status}"
        raise ManifestError(f"ITI-43 returned no document {exam.unique_id} ({codes})")
    manifest = parse_manifest(docs[0].data, allowed_hosts, allowed)
    if expected_ins is not None and manifest.patient_id != expected_ins:
        raise IdentityMismatch(f"the KOS names patient {manifest.patient_id!r}, the contextual call "
                               f"{expected_ins!r}: refused")
    return manifest
