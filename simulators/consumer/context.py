"""The contextual call: the form POST that opens the Consumer from the professional's software.

ANS PoC ``TestServer-AppelContextuel`` and ANS FAQ: ``Patient.identifier.value``/``.system`` (INS and its OID),
``Patient.name.family``/``.given``, ``Patient.gender``, ``Patient.birthDate``, ``Address.district``
(INSEE birthplace code), ``InformationEtConsentement``, ``PatientID``, ``PatientIDIssuer`` (PID-3
CX-4), and optionally ``Situation``, ``StudyInstanceUID``, ``Modality``, ``AccessionNumber``,
``StudyDate``, ``AnatomicRegion``. Sans-IO: a mapping in, a :class:`ContextualCall` or the list of
:class:`ParamError` out, each naming the parameter so the 400 page can say which one is wrong.

The traits shown on the professional's setting (INS/va1.36, ANS FAQ spec §4.6.2: the INS and its OID, the
list of given names, the used names) are not all in the ANS list of parameters: the INS and its OID are
(``Patient.identifier.value``/``.system``); the list of birth given names comes as ``Patient.name.given``
repeated, in order (HL7 FHIR R4 HumanName.given 0..*, the first being the first given name, as FR Core's
birth-list-given-name extension orders it); the used family name and used first name come as
``Patient.name.usual.family`` / ``Patient.name.usual.given`` (FHIR NameUse ``usual``), names this project
chose because no public ANS document names them (the ANS PoC's call carries neither, and refuses unknown
parameters). A single ``Patient.name.given`` is kept as sent, never split at spaces.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from harness.validators.common import INS_OIDS, is_uid, nir_key_ok

MANDATORY = ("Patient.identifier.value", "Patient.identifier.system", "Patient.name.family",
             "Patient.name.given", "Patient.gender", "Patient.birthDate", "Address.district",
             "InformationEtConsentement", "PatientID", "PatientIDIssuer")
OPTIONAL = ("Situation", "StudyInstanceUID", "Modality", "AccessionNumber", "StudyDate", "AnatomicRegion",
            "Patient.name.usual.family", "Patient.name.usual.given")
GIVEN = "Patient.name.given"  # repeated: the list of birth given names, in order
MAX_LENGTH = 256
MAX_GIVEN_NAMES = 16

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
    given_names: tuple[str, ...] = ()  # every Patient.name.given, in order (the first is ``given``)
    used_family: str = ""  # nom utilisé (Patient.name.usual.family), "" when not sent
    used_given: str = ""  # prénom utilisé (Patient.name.usual.given), "" when not sent

    @property
    def dmp_patient_id(self) -> str:
        """The patient id of the DMP queries: ``INS^^^&OID&ISO^NH`` (ANS DRIM-M_DATA Validateur XDS/XDS.xml)."""
        return f"{self.ins}^^^&{self.ins_oid}&ISO^NH"


# the traits the Consumer can display, in order (Référentiel INS, INS/va1.36, ANS FAQ spec §4.6.2): key -> label
TRAIT_LABELS = {"birth-name": "Nom de naissance", "first-given-name": "Premier prénom",
                "birth-date": "Date de naissance", "sex": "Sexe", "birthplace": "Lieu de naissance (code INSEE)",
                "ins": "Matricule INS", "ins-oid": "OID de l'INS", "ins-kind": "Nature de l'INS",
                "given-names": "Prénoms de naissance", "used-name": "Nom utilisé", "used-given-name": "Prénom utilisé"}
# shown by default (INS/va1.36)
INS_TRAITS = ("birth-name", "first-given-name", "birth-date", "sex", "birthplace")
# shown besides on the professional's setting (INS/va1.36): the INS with its OID and the OID's meaning
# (INS-NIR / INS-NIA, test or not: ANS CI-SIS Volet Structuration Minimale), the given-name list, the used names
EXTENDED_TRAITS = ("ins", "ins-oid", "ins-kind", "given-names", "used-name", "used-given-name")


def trait_values(call: ContextualCall) -> dict[str, str]:
    """Every trait of ``call`` as the professional reads it (birth date DD/MM/YYYY, given names separated by a
    space as the Référentiel INS writes the list); "" for a used name the call did not carry."""
    d = call.birth_date
    return {"birth-name": call.family, "first-given-name": call.given, "birth-date": f"{d[6:8]}/{d[4:6]}/{d[0:4]}",
            "sex": call.sex, "birthplace": call.birthplace, "ins": call.ins, "ins-oid": call.ins_oid,
            "ins-kind": INS_OIDS.get(call.ins_oid, ""), "given-names": " ".join(call.given_names or (call.given,)),
            "used-name": call.used_family, "used-given-name": call.used_given}


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


def parse_contextual_call(form: Mapping[str, Any], *, mandatory: tuple[str, ...] = MANDATORY
                          ) -> ContextualCall | list[ParamError]:
    """Validate the form; return the call, or every problem found (never raises on odd input).

    ``mandatory``: the parameters that must be there (ANS PoC, ANS FAQ); the others may be empty.
    """
    errors: list[ParamError] = []
    values: dict[str, str] = {}
    for name in MANDATORY + OPTIONAL:
        sent = _all_values(form, name)  # a repeated parameter: its first value (the rest: _given_names)
        value = sent[0].strip() if sent else ""
        if len(value) > MAX_LENGTH or _CONTROL.search(value):
            errors.append(ParamError(name, f"longer than {MAX_LENGTH} characters or holds control characters"))
            value = ""
        elif name in mandatory and not value:
            errors.append(ParamError(name, "missing (mandatory parameter)"))
        values[name] = value
    given_names = _given_names(form, errors)
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
        anatomic_region=values["AnatomicRegion"], given_names=given_names,
        used_family=values["Patient.name.usual.family"], used_given=values["Patient.name.usual.given"])


def _all_values(form: Mapping[str, Any], name: str) -> list[str]:
    """Every value of a repeated parameter: a multi-dict's ``getlist`` (the form Flask parses), a list, or one."""
    getlist = getattr(form, "getlist", None)
    if callable(getlist):
        return [str(v) for v in getlist(name)]
    raw = form.get(name)
    if raw is None:
        return []
    return [str(v) for v in raw] if isinstance(raw, list | tuple) else [str(raw)]


def _given_names(form: Mapping[str, Any], errors: list[ParamError]) -> tuple[str, ...]:
    """The list of given names (``Patient.name.given`` repeated, in order); the first one is checked with the
    mandatory parameters, the others here: none empty, none too long, at most :data:`MAX_GIVEN_NAMES`."""
    names = [v.strip() for v in _all_values(form, GIVEN)]
    if len(names) > MAX_GIVEN_NAMES:
        errors.append(ParamError(GIVEN, f"more than {MAX_GIVEN_NAMES} given names"))
    elif any(not n for n in names[1:]):
        errors.append(ParamError(GIVEN, "an empty given name in the list"))
    elif any(len(n) > MAX_LENGTH or _CONTROL.search(n) for n in names[1:]):
        errors.append(ParamError(GIVEN, f"a given name longer than {MAX_LENGTH} characters or holding control "
                                        "characters"))
    else:
        return tuple(names)
    return ()


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
