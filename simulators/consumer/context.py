"""The contextual call: the form POST that opens the Consumer from the professional's software.

ANS PoC ``TestServer-AppelContextuel`` and ANS FAQ: ``Patient.identifier.value``/``.system`` (INS and its OID),
``Patient.name.family``/``.given``, ``Patient.gender``, ``Patient.birthDate``, ``Address.district``
(INSEE birthplace code), ``InformationEtConsentement``, ``PatientID``, ``PatientIDIssuer`` (PID-3
CX-4), and optionally ``Situation``, ``StudyInstanceUID``, ``Modality``, ``AccessionNumber``,
``StudyDate``, ``AnatomicRegion``. Sans-IO: a mapping in, a :class:`ContextualCall` or the list of
:class:`ParamError` out, each naming the parameter so the 400 page can say which one is wrong.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from harness.validators.common import INS_OIDS, is_uid, nir_key_ok

MANDATORY = ("Patient.identifier.value", "Patient.identifier.system", "Patient.name.family",
             "Patient.name.given", "Patient.gender", "Patient.birthDate", "Address.district",
             "InformationEtConsentement", "PatientID", "PatientIDIssuer")
OPTIONAL = ("Situation", "StudyInstanceUID", "Modality", "AccessionNumber", "StudyDate", "AnatomicRegion")
MAX_LENGTH = 256

# FHIR administrative-gender (as sent by the PoC) and the HL7 v2 / DICOM letters -> INS sex
GENDERS = {"male": "M", "female": "F", "other": "O", "unknown": "U", "M": "M", "F": "F", "O": "O", "U": "U"}
CONSENT = {"true": True, "1": True, "oui": True, "yes": True, "false": False, "0": False, "non": False, "no": False}
_DATE = re.compile(r"^(\d{4})-?(\d{2})-?(\d{2})$")
_INSEE = re.compile(r"^[0-9][0-9AB][0-9]{3}$")  # INSEE commune code (Corsica 2A/2B)
_MODALITY = re.compile(r"^[A-Z]{2,4}$")  # DICOM PS3.3 C.7.3.1.1.1 defined terms
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


@dataclass(frozen=True)
class ParamError:
    param: str
    reason: str


@dataclass(frozen=True)
class ContextualCall:
    """A validated contextual call; dates in DICOM form (YYYYMMDD), sex as M/F/O/U."""

    ins: str
    ins_oid: str
    family: str
    given: str
    sex: str
    birth_date: str
    birthplace: str
    consent: bool
    patient_id: str
    patient_id_issuer: str
    situation: str = ""
    study_uid: str = ""
    modality: str = ""
    accession: str = ""
    study_date: str = ""
    anatomic_region: str = ""

    @property
    def dmp_patient_id(self) -> str:
        """The patient id of the DMP queries: ``INS^^^&OID&ISO^NH`` (ANS DRIM-M_DATA Validateur XDS/XDS.xml)."""
        return f"{self.ins}^^^&{self.ins_oid}&ISO^NH"


# the INS traits displayed by default, in order (Référentiel INS, INS/va1.36, ANS FAQ): key -> label
TRAIT_LABELS = {"birth-name": "Nom de naissance", "first-given-name": "Premier prénom",
                "birth-date": "Date de naissance", "sex": "Sexe", "birthplace": "Lieu de naissance (code INSEE)"}
INS_TRAITS = tuple(TRAIT_LABELS)


def trait_values(call: ContextualCall) -> dict[str, str]:
    """The INS traits of ``call`` as the professional reads them (birth date DD/MM/YYYY)."""
    d = call.birth_date
    return {"birth-name": call.family, "first-given-name": call.given, "birth-date": f"{d[6:8]}/{d[4:6]}/{d[0:4]}",
            "sex": call.sex, "birthplace": call.birthplace}


def _date(value: str) -> str | None:
    m = _DATE.match(value)
    if not m:
        return None
    year, month, day = (int(g) for g in m.groups())
    if not (1 <= month <= 12 and 1 <= day <= 31 and year >= 1850):
        return None
    return "".join(m.groups())


def _check_ins(value: str, system: str, errors: list[ParamError]) -> str:
    oid = system.removeprefix("urn:oid:")
    if oid not in INS_OIDS:
        errors.append(ParamError("Patient.identifier.system", f"not an INS OID ({', '.join(INS_OIDS)})"))
    nia = oid in ("1.2.250.1.213.1.4.9", "1.2.250.1.213.1.4.11")
    if not (re.fullmatch(r"[0-9]{15}", value) if nia else nir_key_ok(value)):
        errors.append(ParamError("Patient.identifier.value", "not a 15-character INS with a valid key"))
    return oid


def parse_contextual_call(form: Mapping[str, str], *, mandatory: tuple[str, ...] = MANDATORY
                          ) -> ContextualCall | list[ParamError]:
    """Validate the form; return the call, or every problem found (never raises on odd input).

    ``mandatory``: the parameters that must be there (ANS PoC, ANS FAQ); the others may be empty.
    """
    errors: list[ParamError] = []
    values: dict[str, str] = {}
    for name in MANDATORY + OPTIONAL:
        raw = form.get(name)
        value = "" if raw is None else str(raw).strip()
        if len(value) > MAX_LENGTH or _CONTROL.search(value):
            errors.append(ParamError(name, f"longer than {MAX_LENGTH} characters or holds control characters"))
            value = ""
        elif name in mandatory and not value:
            errors.append(ParamError(name, "missing (mandatory parameter)"))
        values[name] = value
    if errors:
        return errors
    oid = _check_ins(values["Patient.identifier.value"], values["Patient.identifier.system"], errors)
    sex = GENDERS.get(values["Patient.gender"])
    if sex is None:
        errors.append(ParamError("Patient.gender", "expected male, female, other or unknown"))
    birth = _date(values["Patient.birthDate"])
    if birth is None:
        errors.append(ParamError("Patient.birthDate", "expected a date YYYY-MM-DD"))
    if not _INSEE.match(values["Address.district"]):
        errors.append(ParamError("Address.district", "expected the 5-character INSEE birthplace code"))
    consent = CONSENT.get(values["InformationEtConsentement"].lower())
    if consent is None:
        errors.append(ParamError("InformationEtConsentement", "expected true or false"))
    elif not consent:
        errors.append(ParamError("InformationEtConsentement", "the patient has not been informed: no access"))
    errors += _check_optional(values)
    if errors:
        return errors
    return ContextualCall(
        ins=values["Patient.identifier.value"], ins_oid=oid, family=values["Patient.name.family"],
        given=values["Patient.name.given"], sex=sex or "U", birth_date=birth or "",
        birthplace=values["Address.district"], consent=True, patient_id=values["PatientID"],
        patient_id_issuer=values["PatientIDIssuer"], situation=values["Situation"],
        study_uid=values["StudyInstanceUID"], modality=values["Modality"].upper(),
        accession=values["AccessionNumber"], study_date=_date(values["StudyDate"]) or "",
        anatomic_region=values["AnatomicRegion"])


def _check_optional(values: dict[str, str]) -> list[ParamError]:
    errors = []
    if values["StudyInstanceUID"] and not is_uid(values["StudyInstanceUID"]):
        errors.append(ParamError("StudyInstanceUID", "not a DICOM UID (digits and dots, 64 characters at most)"))
    if values["Modality"] and not _MODALITY.match(values["Modality"].upper()):
        errors.append(ParamError("Modality", "not a DICOM modality code (CT, MR, ...)"))
    if values["StudyDate"] and _date(values["StudyDate"]) is None:
        errors.append(ParamError("StudyDate", "expected a date YYYY-MM-DD"))
    if values["AccessionNumber"] and len(values["AccessionNumber"]) > 16:
        errors.append(ParamError("AccessionNumber", "longer than 16 characters (DICOM SH)"))
    return errors
