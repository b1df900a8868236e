"""Fixture exams of the consumer_drimbox plan: a small study, its DMP-style KOS, its DMP submission.

The KOS follows ANS DRIM-M_DATA ``KOS_OK.xml``: INS as PatientID with its issuer and qualifiers, the
birth-name^given name, birth date, sex, INSEE birthplace in PatientComments, ReferencedRequestSequence
with accession + issuer, one evidence study with a Retrieve URL per series, one CONTAINS IMAGE item
per referenced instance. Small studies (64x64, a few instances) keep the plan fast.
"""

from __future__ import annotations

import io
import itertools
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian

from fixtures.studies import TEST_NIR_OID, InstanceRef, Patient, StudySpec, write_study

KOS_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.88.59"  # PS3.4 B.5, Key Object Selection Document
INS_ISSUER = "ASIP-SANTE-INS-NIR"
ACC_ISSUER = "1.2.250.1.999.1.1.7"
_counter = itertools.count(1)


def new_uid() -> str:
    return f"2.25.{uuid.uuid4().int}"


def nir(serial: int, sex: str = "2") -> str:
    """A test NIR (13 characters + key, 97 - n mod 97): born 1948-09 in Paris (75056)."""
    body = f"{sex}4809" + "75056" + f"{serial % 1000:03d}"
    key = 97 - int(body) % 97
    return f"{body}{key:02d}"


def new_patient(family: str = "DUPONT", given: str = "Hélène") -> Patient:
    return Patient(ins=nir(next(_counter) + 100), birth_name=family, given=given, birth_date="19480915",
                   sex="F", birthplace="75056")


def patient_cx(patient: Patient) -> str:
    return f"{patient.ins}^^^&{TEST_NIR_OID}&ISO^NH"


def contextual_form(patient: Patient, **optional: str) -> dict[str, str]:
    """The professional's software form (ANS PoC TestServer-AppelContextuel) for ``patient``."""
    d = patient.birth_date
    form = {"Patient.identifier.value": patient.ins, "Patient.identifier.system": f"urn:oid:{TEST_NIR_OID}",
            "Patient.name.family": patient.birth_name, "Patient.name.given": patient.given,
            "Patient.gender": {"F": "female", "M": "male"}.get(patient.sex, "other"),
            "Patient.birthDate": f"{d[0:4]}-{d[4:6]}-{d[6:8]}", "Address.district": patient.birthplace,
            "InformationEtConsentement": "true", "PatientID": f"LOC{patient.ins[-6:]}",
            "PatientIDIssuer": "CABINET&1.2.250.1.999.1.1.9&ISO"}
    form.update(optional)
    return form


@dataclass
class FixtureExam:
    """One exam as published: study on disk, KOS bytes, the DMP ids to find it."""

    patient: Patient
    study_uid: str
    accession: str
    kos: bytes
    kos_uid: str
    series: dict[str, list[InstanceRef]]  # series uid -> instances (in order)
    retrieve_base: str
    unique_id: str = ""
    entry_uuid: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def series_uids(self) -> list[str]:
        return list(self.series)

    def retrieve_url(self, series_uid: str) -> str:
        return f"{self.retrieve_base}/studies/{self.study_uid}/series/{series_uid}"


def write_fixture_study(folder: Path, patient: Patient, *, series: int = 2, instances: int = 4,
                        seed: int | None = None) -> list[InstanceRef]:
    seed = seed if seed is not None else next(_counter) + 1000
    spec = StudySpec(modality="CT", instances=instances, series=series, rows=32, columns=32, seed=seed,
                     patient=patient, accession=f"ACC{seed:06d}", accession_issuer=ACC_ISSUER)
    return write_study(spec, folder / f"study-{seed}")


def _code(value: str, scheme: str, meaning: str) -> Dataset:
    c = Dataset()
    c.CodeValue, c.CodingSchemeDesignator, c.CodeMeaning = value, scheme, meaning
    return c


def build_kos(refs: list[InstanceRef], patient: Patient, retrieve_base: str, accession: str,
              url_for: dict[str, str] | None = None) -> tuple[bytes, str]:
    """(Part-10 bytes, SOP Instance UID) of a KOS referencing ``refs``; ``url_for`` overrides a series URL."""
    study_uid = refs[0].study_instance_uid
    kos_uid = new_uid()
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID = KOS_SOP_CLASS, kos_uid
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.SOPClassUID, ds.SOPInstanceUID = KOS_SOP_CLASS, kos_uid
    ds.StudyDate, ds.StudyTime, ds.ContentDate, ds.ContentTime = "20250314", "101500", "20250314", "120000"
    ds.AccessionNumber, ds.Modality, ds.Manufacturer = "", "KO", "DRIMcheck"
    ds.InstitutionName = "Centre de radiologie DRIMcheck^^^^^^^^^101235555"
    ds.ReferringPhysicianName = ""
    ds.ReferencedPerformedProcedureStepSequence = Sequence([])
    ds.PatientName, ds.PatientID, ds.IssuerOfPatientID = patient.dicom_name, patient.ins, INS_ISSUER
    qual = Dataset()
    qual.UniversalEntityID, qual.UniversalEntityIDType = TEST_NIR_OID, "ISO"
    ds.IssuerOfPatientIDQualifiersSequence = Sequence([qual])
    other = Dataset()
    other.PatientID, other.IssuerOfPatientID, other.TypeOfPatientID = patient.ins, INS_ISSUER, "TEXT"
    ds.OtherPatientIDsSequence = Sequence([other])
    ds.PatientBirthDate, ds.PatientSex, ds.PatientComments = patient.birth_date, patient.sex, patient.birthplace
    ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.StudyID = study_uid, new_uid(), "1"
    ds.SeriesNumber, ds.InstanceNumber = 59, 1
    ds.ValueType, ds.ContinuityOfContent = "CONTAINER", "SEPARATE"
    ds.ConceptNameCodeSequence = Sequence([_code("113030", "DCM", "Manifest")])
    tmpl = Dataset()
    tmpl.MappingResource, tmpl.TemplateIdentifier = "DCMR", "2010"
    ds.ContentTemplateSequence = Sequence([tmpl])
    req = Dataset()
    req.AccessionNumber, req.StudyInstanceUID = accession, study_uid
    acc_issuer = Dataset()
    acc_issuer.UniversalEntityID, acc_issuer.UniversalEntityIDType = ACC_ISSUER, "ISO"
    req.IssuerOfAccessionNumberSequence = Sequence([acc_issuer])
    req.RequestedProcedureID = accession
    req.PlacerOrderNumberImagingServiceRequest = "CMD" + accession[3:]
    placer = Dataset()
    placer.UniversalEntityID, placer.UniversalEntityIDType = "1.2.250.1.999.1.1.8", "ISO"
    req.OrderPlacerIdentifierSequence = Sequence([placer])
    ds.ReferencedRequestSequence = Sequence([req])
    ds.CurrentRequestedProcedureEvidenceSequence = Sequence([_evidence(refs, retrieve_base, url_for or {})])
    ds.ContentSequence = Sequence([_image_item(r) for r in refs])
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue(), kos_uid


def _evidence(refs: list[InstanceRef], base: str, url_for: dict[str, str]) -> Dataset:
    study = Dataset()
    study.StudyInstanceUID = refs[0].study_instance_uid
    series_items = []
    for series_uid, group in itertools.groupby(refs, key=lambda r: r.series_instance_uid):
        item = Dataset()
        item.SeriesInstanceUID = series_uid
        item.RetrieveURL = url_for.get(series_uid, f"{base}/studies/{study.StudyInstanceUID}/series/{series_uid}")
        sops = []
        for r in group:
            sop = Dataset()
            sop.ReferencedSOPClassUID, sop.ReferencedSOPInstanceUID = r.sop_class_uid, r.sop_instance_uid
            sops.append(sop)
        item.ReferencedSOPSequence = Sequence(sops)
        series_items.append(item)
    study.ReferencedSeriesSequence = Sequence(series_items)
    return study


def _image_item(ref: InstanceRef) -> Dataset:
    item = Dataset()
    item.RelationshipType, item.ValueType = "CONTAINS", "IMAGE"
    sop = Dataset()
    sop.ReferencedSOPClassUID, sop.ReferencedSOPInstanceUID = ref.sop_class_uid, ref.sop_instance_uid
    item.ReferencedSOPSequence = Sequence([sop])
    return item
