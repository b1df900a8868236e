"""KOS manifest of a reported study, exactly as FACTS §2 (ANS KOS_OK.xml, PoC ko.dcm).

Input: the report's identity and order (the CDA, FACTS §4) and the instances the PACS answered
at IMAGE level; output: DICOM Part 10 bytes, Explicit VR Little Endian. The Retrieve URL of each
series points at this Source's own WADO-RS base (IHE RAD-107, FACTS §5).
"""

from __future__ import annotations

import io
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence as DicomSequence
from pydicom.uid import ExplicitVRLittleEndian

KOS_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.88.59"  # DICOM PS3.4 B.5
INS_ISSUER = "ASIP-SANTE-INS-NIR"  # FACTS §2
INS_OIDS = ("1.2.250.1.213.1.4.8", "1.2.250.1.213.1.4.9", "1.2.250.1.213.1.4.10", "1.2.250.1.213.1.4.11")
MANIFEST_TITLE = ("113030", "DCM", "Manifest")  # PS3.16 CID 7010, FACTS §2
KOS_SERIES_NUMBER = 59  # FACTS §2


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
    """Patient traits and order of the report (CR-IMG header, FACTS §4)."""

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


def _item(**values: object) -> Dataset:
    ds = Dataset()
    for key, value in values.items():
        setattr(ds, key, value)
    return ds


def _issuer(oid: str) -> DicomSequence:
    return DicomSequence([_item(UniversalEntityID=oid, UniversalEntityIDType="ISO")])


def _patient(ds: Dataset, who: Identity) -> None:
    """Patient module with the INS (FACTS §2: PatientID, issuer, qualifiers, OtherPatientIDs)."""
    ds.PatientName = f"{who.birth_name}^{who.given}"
    ds.PatientID, ds.IssuerOfPatientID = who.ins, INS_ISSUER
    ds.IssuerOfPatientIDQualifiersSequence = _issuer(who.ins_oid)
    ds.PatientBirthDate, ds.PatientSex = who.birth_date, who.sex
    if who.used_names:
        ds.OtherPatientNames = "\\".join(f"{f}^{g}" for f, g in who.used_names)
    ds.OtherPatientIDsSequence = DicomSequence([_item(
        PatientID=who.ins, IssuerOfPatientID=INS_ISSUER, TypeOfPatientID="TEXT",
        IssuerOfPatientIDQualifiersSequence=_issuer(who.ins_oid))])
    if who.birthplace:
        ds.PatientComments = who.birthplace


def _request(who: Identity) -> DicomSequence:
    """ReferencedRequestSequence: accession + issuer, study, placer order + issuer (FACTS §2)."""
    return DicomSequence([_item(
        AccessionNumber=who.accession, IssuerOfAccessionNumberSequence=_issuer(who.accession_issuer),
        StudyInstanceUID=who.study_uid, ReferencedStudySequence=DicomSequence(), RequestedProcedureDescription="",
        RequestedProcedureCodeSequence=DicomSequence(), PlacerOrderNumberImagingServiceRequest=who.placer,
        OrderPlacerIdentifierSequence=_issuer(who.placer_issuer), RequestedProcedureID="",
        FillerOrderNumberImagingServiceRequest="")])


def _evidence(who: Identity, images: Sequence[ImageRef], retrieve_base: str | None) -> tuple[Dataset, list]:
    """CurrentRequestedProcedureEvidenceSequence item (one study) and the IMAGE content items."""
    by_series: dict[str, list[ImageRef]] = {}
    for ref in images:
        by_series.setdefault(ref.series_uid, []).append(ref)
    series_items, content = [], []
    for series_uid, refs in by_series.items():
        refs = sorted(refs, key=lambda r: (r.instance_number or 0, r.sop_instance_uid))
        sops = []
        for r in refs:
            sop = _item(ReferencedSOPClassUID=r.sop_class_uid, ReferencedSOPInstanceUID=r.sop_instance_uid)
            if r.instance_number is not None:
                sop.InstanceNumber = r.instance_number
            sops.append(sop)
            content.append(_item(RelationshipType="CONTAINS", ValueType="IMAGE", ReferencedSOPSequence=DicomSequence(
                [_item(ReferencedSOPClassUID=r.sop_class_uid, ReferencedSOPInstanceUID=r.sop_instance_uid)])))
        item = _item(ReferencedSOPSequence=DicomSequence(sops), SeriesInstanceUID=series_uid)
        if retrieve_base is not None:
            item.RetrieveURL = f"{retrieve_base}/studies/{who.study_uid}/series/{series_uid}"
        series_items.append(item)
    study = _item(ReferencedSeriesSequence=DicomSequence(series_items), StudyInstanceUID=who.study_uid)
    return study, content


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
    ds.ConceptNameCodeSequence = DicomSequence([_item(CodeValue=MANIFEST_TITLE[0], CodingSchemeDesignator=
                                                      MANIFEST_TITLE[1], CodeMeaning=MANIFEST_TITLE[2])])
    ds.ReferencedRequestSequence = _request(who)
    study, content = _evidence(who, images, retrieve_base)
    ds.CurrentRequestedProcedureEvidenceSequence = DicomSequence([study])
    ds.ContentSequence = DicomSequence(content)
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID = KOS_SOP_CLASS, ds.SOPInstanceUID
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta = meta
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
