"""KOS manifest of a reported study, exactly as ANS DRIM-M_DATA KOS_OK.xml and PoC ko.dcm.

Input: the report's identity and order (the CDA, ANS CI-SIS CR-IMG) and the instances the PACS answered
at IMAGE level; output: DICOM Part 10 bytes, Explicit VR Little Endian. The Retrieve URL of each
series points at this Source's own WADO-RS base (IHE RAD-107, ANS DRIM-M_DATA Simulateur client wadoRS).

The parts whose output is the same as the fixtures' KOS (request item, evidence, content items,
manifest title, file meta) come from the shared builder :mod:`fixtures.documents.kos`; the header
and patient module are the Source's own (fresh UIDs, the report's INS OID, several used names).
"""

from __future__ import annotations

import io
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence as DicomSequence

from fixtures.documents.kos import (
    KOS_SERIES_NUMBER,
    KOS_SOP_CLASS,
    SopRef,
    add_file_meta,
    content_items,
    evidence_series,
    issuer,
    item,
    manifest_title,
    request_item,
)

INS_ISSUER = "ASIP-SANTE-INS-NIR"  # ANS DRIM-M_DATA KOS_OK.xml
INS_OIDS = ("1.2.250.1.213.1.4.8", "1.2.250.1.213.1.4.9", "1.2.250.1.213.1.4.10", "1.2.250.1.213.1.4.11")


@dataclass(frozen=True)
class ImageRef:
    """One instance of the study as the PACS answered a C-FIND at IMAGE level."""

    series_uid: str
    sop_class_uid: str
    sop_instance_uid: str
    instance_number: int | None = None
    modality: str = ""
    patient_id: str = ""
    accession: str = ""
    study_date: str = ""
    study_time: str = ""


@dataclass
class Identity:
    """Patient traits and order of the report (ANS CI-SIS CR-IMG header)."""

    ins: str
    ins_oid: str
    birth_name: str
    given: str
    birth_date: str
    sex: str
    birthplace: str = ""
    used_names: list[tuple[str, str]] = field(default_factory=list)
    study_uid: str = ""
    accession: str = ""
    accession_issuer: str = ""
    placer: str = ""
    placer_issuer: str = ""


def new_uid() -> str:
    """A fresh UID under the UUID-derived root 2.25 (PS3.5 §B.2)."""
    return f"2.25.{uuid.uuid4().int}"


def _patient(ds: Dataset, who: Identity) -> None:
    """Patient module with the INS (ANS DRIM-M_DATA KOS_OK.xml: PatientID, issuer, qualifiers, OtherPatientIDs)."""
    ds.PatientName = f"{who.birth_name}^{who.given}"
    ds.PatientID, ds.IssuerOfPatientID = who.ins, INS_ISSUER
    ds.IssuerOfPatientIDQualifiersSequence = issuer(who.ins_oid)
    ds.PatientBirthDate, ds.PatientSex = who.birth_date, who.sex
    if who.used_names:
        ds.OtherPatientNames = "\\".join(f"{f}^{g}" for f, g in who.used_names)
    ds.OtherPatientIDsSequence = DicomSequence([item(
        PatientID=who.ins, IssuerOfPatientID=INS_ISSUER, TypeOfPatientID="TEXT",
        IssuerOfPatientIDQualifiersSequence=issuer(who.ins_oid))])
    if who.birthplace:
        ds.PatientComments = who.birthplace


def _series(images: Sequence[ImageRef]) -> list[tuple[str, list[SopRef]]]:
    """Instances grouped by series in the order the PACS answered, each series by InstanceNumber."""
    by_series: dict[str, list[ImageRef]] = {}
    for ref in images:
        by_series.setdefault(ref.series_uid, []).append(ref)
    return [(series_uid, [SopRef(r.sop_class_uid, r.sop_instance_uid, r.instance_number)
                          for r in sorted(refs, key=lambda r: (r.instance_number or 0, r.sop_instance_uid))])
            for series_uid, refs in by_series.items()]


def build_kos(who: Identity, images: Sequence[ImageRef], *, retrieve_base: str | None, institution: str,
              now: datetime | None = None, sop_instance_uid: str | None = None) -> tuple[str, bytes]:
    """(SOP Instance UID, Part 10 bytes) of the manifest; ``retrieve_base=None`` leaves out the Retrieve URLs."""
    now = now or datetime.now()
    first = images[0]
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.SOPClassUID, ds.SOPInstanceUID = KOS_SOP_CLASS, sop_instance_uid or new_uid()
    ds.StudyDate, ds.StudyTime = first.study_date, first.study_time
    ds.ContentDate, ds.ContentTime = now.strftime("%Y%m%d"), now.strftime("%H%M%S")
    ds.AccessionNumber, ds.Modality, ds.Manufacturer = "", "KO", "DRIMcheck reference Source"
    ds.InstitutionName = institution
    ds.ReferringPhysicianName = ""
    ds.ReferencedPerformedProcedureStepSequence = DicomSequence()
    _patient(ds, who)
    ds.StudyInstanceUID, ds.SeriesInstanceUID = who.study_uid, new_uid()
    ds.StudyID, ds.SeriesNumber, ds.InstanceNumber = "", KOS_SERIES_NUMBER, 1
    ds.ValueType, ds.ContinuityOfContent = "CONTAINER", "SEPARATE"
    ds.ConceptNameCodeSequence = manifest_title()
    ds.ReferencedRequestSequence = DicomSequence([request_item(
        accession=who.accession, accession_issuer=who.accession_issuer, study_uid=who.study_uid,
        placer=who.placer, placer_issuer=who.placer_issuer)])
    series = _series(images)
    ds.CurrentRequestedProcedureEvidenceSequence = DicomSequence([item(
        ReferencedSeriesSequence=evidence_series(who.study_uid, series, retrieve_base),
        StudyInstanceUID=who.study_uid)])
    ds.ContentSequence = DicomSequence(content_items([ref for _uid, refs in series for ref in refs]))
    add_file_meta(ds)
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return str(ds.SOPInstanceUID), buf.getvalue()


def referenced(kos: Dataset) -> dict[str, list[str]]:
    """series UID -> SOP Instance UIDs the manifest references (its evidence sequence)."""
    out: dict[str, list[str]] = {}
    for study in kos.get("CurrentRequestedProcedureEvidenceSequence", []):
        for series in study.get("ReferencedSeriesSequence", []):
            out.setdefault(str(series.SeriesInstanceUID), []).extend(
                str(s.ReferencedSOPInstanceUID) for s in series.get("ReferencedSOPSequence", []))
    return out


# -- what the named faults build instead (report.FAULTY) ---------------------------------------------
def _rebuilt(data: bytes, change) -> bytes:
    ds = dcmread(io.BytesIO(data))
    change(ds)
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def kos_missing_last_instance(who: Identity, images: Sequence[ImageRef], **kwargs) -> tuple[str, bytes]:
    """:func:`build_kos` that leaves out the last instance the C-FIND answered (an off-by-one in reading
    the pending responses), when the study has more than one."""
    return build_kos(who, list(images)[:-1] if len(images) > 1 else images, **kwargs)


def kos_without_content_date(who: Identity, images: Sequence[ImageRef], **kwargs) -> tuple[str, bytes]:
    """:func:`build_kos` without Content Date / Content Time (type 1, PS3.3 C.17.2 SR Document General)."""
    uid, data = build_kos(who, images, **kwargs)

    def drop(ds: Dataset) -> None:
        del ds.ContentDate, ds.ContentTime

    return uid, _rebuilt(data, drop)


def kos_without_order_issuer(who: Identity, images: Sequence[ImageRef], **kwargs) -> tuple[str, bytes]:
    """:func:`build_kos` whose Referenced Request has the placer order number but not its issuer
    (Order Placer Identifier Sequence, (0040,0026))."""
    uid, data = build_kos(who, images, **kwargs)

    def drop(ds: Dataset) -> None:
        for request in ds.ReferencedRequestSequence:
            if "OrderPlacerIdentifierSequence" in request:
                del request.OrderPlacerIdentifierSequence

    return uid, _rebuilt(data, drop)
