"""The RIS's fixture messages, consistent with a generated study (IG-hl7v2).

Built on the good content set of ``fixtures.mutations.goodset`` (CR-IMG and ORU^R01 shaped like the
ANS samples) and on ``fixtures.studies`` for the images, so report, HL7 and PACS agree: same
INS, names, accession number, placer order and Study Instance UID.

Public: :func:`exam`, :func:`study_spec`, :func:`oru`, :func:`mdm`, :func:`omi_cancel`, :func:`replacement_cda`,
:func:`revised_cda`, :func:`structure_cda` (a report naming its structure).
"""

from __future__ import annotations

import hashlib
import re
import uuid
from dataclasses import replace
from xml.sax.saxutils import escape as xesc

from fixtures.mutations.goodset import ACC_ISSUER, EXAMS, PLACER_ISSUER, Exam, build_cda, build_hl7
from fixtures.studies import Patient, StudySpec

_counter = iter(range(1, 10**9))
_RUN = uuid.uuid4().hex[:8]  # MSH-10 unique across runs too: a Source remembers the messages it accepted


def _digits(key: str, salt: str, n: int) -> str:
    return str(int(hashlib.sha256(f"{key}:{salt}".encode()).hexdigest(), 16))[:n]


def exam(key: str, *, series: int = 2, instances: int = 3, modality: str = "CT", base: Exam = EXAMS[0]) -> Exam:
    """An exam of ``series`` x ``instances`` images with its own study UID, accession and order numbers."""
    return replace(base, key=key, series=series, instances=instances, modality=modality,
                   accession=_digits(key, "acc", 9), placer=_digits(key, "placer", 10))


def study_spec(ex: Exam, *, transfer_syntax: str = "explicit", rows: int = 64, columns: int = 64) -> StudySpec:
    """The images of ``ex`` for the PACS: same patient, study, accession and order as the report."""
    patient = Patient(ins=ex.ins, birth_name=ex.birth_name, given=ex.given, used_name=ex.used_name,
                      birth_date=ex.birth_date, sex=ex.sex, birthplace=ex.birthplace)
    return StudySpec(modality=ex.modality, instances=ex.series * ex.instances, series=ex.series, rows=rows,
                     columns=columns, transfer_syntax=transfer_syntax, seed=int(_digits(ex.key, "seed", 6)),
                     patient=patient, accession=ex.accession, accession_issuer=ACC_ISSUER,
                     placer_order=ex.placer, placer_issuer=PLACER_ISSUER, study_uid=ex.study_uid)


Author = tuple[str, str, str]  # (national id 8 + RPPS, given name, family name) of a report's author
FIRST_AUTHOR: Author = ("801234567897", "Jacques", "BIDEAULT")  # the good set's (fixtures.mutations.goodset)


def _authored(cda: str, author: Author | None) -> str:
    """The CR-IMG signed by ``author`` instead of the good set's radiologist (CDA R2 author/assignedAuthor)."""
    if author is None:
        return cda
    ident, given, family = author
    old_id, old_given, old_family = FIRST_AUTHOR
    cda = cda.replace(f'<id root="1.2.250.1.71.4.2.1" extension="{old_id}"/>',
                      f'<id root="1.2.250.1.71.4.2.1" extension="{ident}"/>', 1)
    return cda.replace(f"<assignedPerson><name><given>{old_given}</given><family>{old_family}</family>",
                       f"<assignedPerson><name><given>{given}</given><family>{family}</family>", 1)


Structure = tuple[str, str]  # (FINESS, name) of a care structure
STRUCTURE_AUTHORITY = "1.2.250.1.71.4.2.2"  # national structure identifiers (ANS CI-SIS)


def structure_cda(ex: Exam, structure: Structure, author: Author | None = None) -> bytes:
    """The CR-IMG with a legalAuthenticator (the author, or ``author``) whose representedOrganization is
    ``structure``: id root 1.2.250.1.71.4.2.2, extension Struct_IdNat "1" + FINESS, as ANS CI-SIS
    IMG_CR_IMG_2024.01.xml writes it (HL7 CDA R2 legalAuthenticator, after custodian); the structure a Source
    publishes the report for (ANS industriels FAQ, dispositif DRIMbox)."""
    cda = _authored(build_cda(ex).decode(), author)
    ident, given, family = author or FIRST_AUTHOR
    finess, name = structure
    block = (f'  <legalAuthenticator>\n    <time value="20240105120000+0100"/>\n    <signatureCode code="S"/>\n'
             f'    <assignedEntity>\n      <id root="1.2.250.1.71.4.2.1" extension="{xesc(ident)}"/>\n'
             f'      <assignedPerson><name><given>{xesc(given)}</given><family>{xesc(family)}</family></name>'
             f'</assignedPerson>\n      <representedOrganization>\n'
             f'        <id root="{STRUCTURE_AUTHORITY}" extension="1{xesc(finess)}"/>\n'
             f'        <name>{xesc(name)}</name>\n      </representedOrganization>\n    </assignedEntity>\n'
             f'  </legalAuthenticator>\n')
    return cda.replace("  </custodian>\n", "  </custodian>\n" + block, 1).encode()


def _with_organization(message: bytes, structure: Structure) -> bytes:
    """PRT-8 (the participation's organisation) of the PRT with participation SB set to ``structure`` as ANS
    DRIM-M_DATA HL7v2/Examen C/CR_C-ORU.hl7 writes it: ``name^^^^^ASIP-SANTE-ST&1.2.250.1.71.4.2.2&ISO^FINEG^^^
    FINESS`` (IG-hl7v2 mapping: PRT-8.10 names the structure of the VIHF and the authorInstitution)."""
    finess, name = structure
    segs = message.decode("utf-8").split("\r")
    for i, seg in enumerate(segs):
        fields = seg.split("|")
        if fields[0] == "PRT" and len(fields) > 4 and fields[4].split("^")[0] == "SB":
            fields += [""] * (9 - len(fields))
            fields[8] = f"{name}^^^^^ASIP-SANTE-ST&{STRUCTURE_AUTHORITY}&ISO^FINEG^^^{finess}"
            segs[i] = "|".join(fields)
    return "\r".join(segs).encode("utf-8")


def replacement_cda(ex: Exam, version: int = 2, author: Author | None = None) -> bytes:
    """A CR-IMG that replaces the first one: new id, same setId, ``relatedDocument typeCode="RPLC"``
    (TestContenuCDA Entete_IMG-CR-IMG.sch); ``author``: another radiologist signs it."""
    cda = _authored(build_cda(ex).decode(), author)
    old_id = ex.uid("cda")
    cda = cda.replace(f'<id root="{old_id}"/>', f'<id root="{ex.uid("cda", version)}"/>', 1)
    cda = cda.replace('<versionNumber value="1"/>', f'<versionNumber value="{version}"/>', 1)
    related = (f'  <relatedDocument typeCode="RPLC"><parentDocument><id root="{old_id}"/>'
               f'<setId root="{ex.uid("cda-set")}"/><versionNumber value="{version - 1}"/>'
               f'</parentDocument></relatedDocument>\n')
    return cda.replace("  </documentationOf>\n", "  </documentationOf>\n" + related, 1).encode()


def revised_cda(ex: Exam, version: int = 2) -> bytes:
    """The same report validated again as a new final version: new id, same setId, no relatedDocument.

    What a RIS sends with OBX-11 ``F`` when the radiologist re-validates a report already sent (an
    addendum, images added): the Source must then replace the KOS it published (SRC-RPLC-FINAL).
    """
    cda = build_cda(ex).decode()
    cda = cda.replace(f'<id root="{ex.uid("cda")}"/>', f'<id root="{ex.uid("cda", version)}"/>', 1)
    return cda.replace('<versionNumber value="1"/>', f'<versionNumber value="{version}"/>', 1).encode()


def _set_msh(message: bytes, *, type_: str | None = None, control_id: str | None = None) -> bytes:
    segs = message.decode("utf-8").split("\r")
    fields = segs[0].split("|")
    if type_:
        fields[8] = type_
    fields[9] = control_id or f"MSG{_RUN}{next(_counter):06d}"  # 17 characters (MSH-10 is ST 20, HL7 v2.5)
    segs[0] = "|".join(fields)
    return "\r".join(segs).encode("utf-8")


ORDER_CONTROL = {"F": "NW", "C": "RO", "D": "CA"}  # IG-hl7v2 "Le segment ORC": ORC-1 agrees with OBX-11


def _set_status(message: bytes, status: str) -> bytes:
    """OBX-11 of the CR-IMG OBX, and ORC-1 to match (the GESTIONNAIRE rejects them disagreeing, IG-hl7v2)."""
    segs = message.decode("utf-8").split("\r")
    for i, seg in enumerate(segs):
        if seg.startswith("OBX|") and seg.split("|")[2] == "ED":
            segs[i] = re.sub(r"\|[FCD]$", f"|{status}", seg)
        elif seg.startswith("ORC|"):
            fields = seg.split("|")
            fields[1] = ORDER_CONTROL[status]
            segs[i] = "|".join(fields)
    return "\r".join(segs).encode("utf-8")


def oru(ex: Exam, status: str = "F", *, cda: bytes | None = None, control_id: str | None = None,
        organization: Structure | None = None) -> bytes:
    """ORU^R01 carrying the CR-IMG in OBX-5, OBX-11 = F (new), C (replace) or D (delete); ``organization``: the
    PRT (Send by) names that structure in PRT-8."""
    if cda is None:
        cda = replacement_cda(ex) if status == "C" else build_cda(ex)
    message = _set_status(build_hl7(ex, cda), status)
    if organization is not None:
        message = _with_organization(message, organization)
    return _set_msh(message, control_id=control_id)


def mdm(ex: Exam, event: str = "T02", *, cda: bytes | None = None) -> bytes:
    """MDM^T02 (new), T10 (replace), T04 (status change): the same content as the ORU, TXA added."""
    status = {"T02": "F", "T10": "C", "T04": "D"}[event]
    msg = oru(ex, status, cda=cda)
    segs = msg.decode("utf-8").split("\r")
    txa = f"TXA|1|CR^Compte rendu|TX|||||||||{ex.uid('cda')}||||||{'AU' if status != 'D' else 'DE'}"
    segs.insert(3, txa)
    return _set_msh("\r".join(segs).encode("utf-8"), type_=f"MDM^{event}^MDM_{event}")


def omi_cancel(ex: Exam, station_aet: str = "CT_SALLE1") -> bytes:
    """OMI^O23 ``ORC|CA`` with IPC-1 accession, IPC-3 Study Instance UID, IPC-9 station AET (IG-hl7v2)."""
    segs = [
        "MSH|^~\\&|RIS|CENTRE|DRIMBOX|CENTRE|20240105130000||OMI^O23^OMI_O23|X|P|2.5|||||FRA|UNICODE UTF-8",
        f"PID|||{ex.ins}^^^ASIP-SANTE-INS-NIR&1.2.250.1.213.1.4.10&ISO^INS||{ex.birth_name}^{ex.given}^^^^^L"
        f"||{ex.birth_date}|{ex.sex}",
        f"ORC|CA|{ex.placer}|{ex.accession}",
        f"OBR|1|{ex.placer}|{ex.accession}|24727-0^Examen d'imagerie^LN",
        f"IPC|{ex.accession}|RP1|{ex.study_uid}|SPS1|{ex.modality}||||{station_aet}",
    ]
    return _set_msh(("\r".join(segs) + "\r").encode("utf-8"))
