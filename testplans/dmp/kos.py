"""Small KOS manifests for the dmp plan, made with pydicom (DICOM PS3.3 A.35.4, ANS DRIM-M_DATA KOS_OK.xml).

Deterministic for given UIDs so a test can compare a retrieved document byte for byte.
"""

from __future__ import annotations

import io
import uuid

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian

KOS_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.88.59"
CT_IMAGE = "1.2.840.10008.5.1.4.1.1.2"


def new_uid() -> str:
    return f"2.25.{uuid.uuid4().int}"


def make_kos(*, patient_ins: str = "248098765432112", study_uid: str | None = None, references: int = 3,
             retrieve_base: str = "https://source.example/wado-rs", accession: str = "ACC0001") -> tuple[bytes, str]:
    """(Part-10 bytes, study uid) of a KOS referencing ``references`` CT instances of one series."""
    study_uid = study_uid or new_uid()
    series_uid = new_uid()
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = KOS_SOP_CLASS
    meta.MediaStorageSOPInstanceUID = new_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = KOS_SOP_CLASS, meta.MediaStorageSOPInstanceUID
    ds.Modality, ds.SeriesNumber, ds.InstanceNumber = "KO", 59, 1
    ds.PatientID, ds.IssuerOfPatientID, ds.PatientName = patient_ins, "ASIP-SANTE-INS-NIR", "TEST^PATIENT"
    ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.AccessionNumber = study_uid, new_uid(), accession
    ds.ValueType, ds.ContinuityOfContent = "CONTAINER", "SEPARATE"
    concept = Dataset()
    concept.CodeValue, concept.CodingSchemeDesignator, concept.CodeMeaning = "113030", "DCM", "Manifest"
    ds.ConceptNameCodeSequence = Sequence([concept])
    sops, content = [], []
    for _ in range(references):
        ref = Dataset()
        ref.ReferencedSOPClassUID, ref.ReferencedSOPInstanceUID = CT_IMAGE, new_uid()
        sops.append(ref)
        item = Dataset()
        item.RelationshipType, item.ValueType = "CONTAINS", "IMAGE"
        item.ReferencedSOPSequence = Sequence([ref])
        content.append(item)
    series = Dataset()
    series.SeriesInstanceUID = series_uid
    series.RetrieveURL = f"{retrieve_base}/studies/{study_uid}/series/{series_uid}"
    series.ReferencedSOPSequence = Sequence(sops)
    study = Dataset()
    study.StudyInstanceUID = study_uid
    study.ReferencedSeriesSequence = Sequence([series])
    ds.CurrentRequestedProcedureEvidenceSequence = Sequence([study])
    ds.ContentSequence = Sequence(content)
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue(), study_uid
