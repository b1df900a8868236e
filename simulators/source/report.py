"""Report trigger: HL7 v2 from the RIS -> CR-IMG -> study lookup -> consistency -> KOS -> publication.

IG-hl7v2 and the ANS PoC flow: ORU^R01 with OBX-11 ``F`` (new) / ``C`` (replace) / ``D`` (delete),
MDM^T02 / T10 / T04, OMI^O23 ``ORC|CA`` (exam cancelled). The answer is an HL7 v2.5 ACK: ``AA``
once the KOS is built, stored and queued for the DMP; ``AE`` when the content is refused (HL7
envelope not conforming to IG-hl7v2, CDA invalid, study not in the PACS, accession or patient
differing between report and images); ``AR`` when the message cannot be processed (unparseable,
unsupported type). Nothing is published unless the answer is ``AA``.

The choices a named fault swaps (``simulators.source.faults``) are the fields of :class:`ReportBehaviour`,
each read in one place; ``FAULTY`` says which fault swaps which (STYLE §4).

The whole message is validated on receipt: the envelope by :func:`harness.validators.hl7v2.validate_hl7`
(its errors refuse the message, one ERR segment each naming the field and the rule; its warnings are
logged and returned as ERR segments of severity W with the ``AA``), the CR-IMG by ``validate_cda``.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from lxml import etree
from pydicom.dataset import Dataset

from harness.findings import Finding, Severity
from harness.hl7 import AckError, build_ack
from harness.validators.cda import NS, imaging_events, parse_cda, validate_cda
from harness.validators.hl7v2 import Hl7Error, Message, decode_document, document_obx, parse_hl7, validate_hl7
from harness.xmlsafe import UnsafeXmlError
from simulators.source.kos import (
    INS_OIDS,
    Identity,
    ImageRef,
    build_kos,
    kos_missing_last_instance,
    kos_without_content_date,
    kos_without_order_issuer,
)
from simulators.source.publish import (
    CONF_FROM_FLAG,
    FINESS_PREFIX,
    FINESS_RE,
    Alteration,
    Identities,
    KosMetadata,
    NoCertificate,
    Outbox,
    Professional,
    Security,
    delete_message,
    deprecated_format_code,
    language_code_fr,
    patient_without_type_code,
    pnr_submission,
    restamped_after_signing,
    without_modality_event,
    without_study_reference,
)
from simulators.source.store import CURRENT, DELETED, SourceStore, StoredKos

log = logging.getLogger(__name__)
SUPPORTED = {("ORU", "R01"), ("MDM", "T02"), ("MDM", "T10"), ("MDM", "T04"), ("OMI", "O23")}
MDM_STATUS = {"T02": "F", "T10": "C", "T04": "D"}  # when OBX-11 does not say (IG-hl7v2)


@dataclass
class Outcome:
    """How the Source answered one message (MSA-1, ERR-3, text, ERR segments) and what it did."""

    code: str
    error_code: str = ""
    text: str = ""
    kos_uid: str | None = None
    actions: list[str] = field(default_factory=list)
    errors: list[AckError] = field(default_factory=list)


class Rejected(Exception):
    def __init__(self, code: str, error_code: str, text: str, errors: list[AckError] | None = None) -> None:
        super().__init__(text)
        self.code, self.error_code, self.text, self.errors = code, error_code, text, errors or []


Finder = Callable[[str], list[ImageRef]]  # study UID -> instances (C-FIND IMAGE level)


@dataclass
class ReportProcessor:
    store: SourceStore
    outbox: Outbox
    find_images: Finder
    retrieve_base: Callable[[], str]
    dmp_registry: str
    dmp_repository: str
    institution: str
    source_id: str
    fault: str | None = None
    security: Security = field(default=lambda patient, professional=None: [])
    signer: tuple[bytes, bytes] | None = None  # Signature01 key + certificate (SourceConfig.signer)
    identities: Identities = field(default_factory=Identities)  # structures, certificates, identity mode
    behaviour: ReportBehaviour = field(init=False)
    # one change of the Source's records at a time: HL7 messages (MLLP) and rejection notes (DICOM) arrive on
    # their own threads, and an image-change update reads the KOS a report may be replacing
    lock: threading.RLock = field(init=False, default_factory=threading.RLock)

    def __post_init__(self) -> None:
        self.behaviour = report_behaviour_for(self.fault)

    def acknowledge(self, raw: bytes) -> bytes:
        """The ACK for one raw message. A message already accepted (same MSH-3^MSH-4 sender and MSH-10
        control id: the RIS resends when it missed the ACK, HL7 v2.5 §2.9.2 original mode) gets the same
        ACK again and is not processed twice; a refused one is processed again (the PACS may be back)."""
        key = message_key(raw)
        if key is not None:
            previous = self.store.answered(*key)
            if previous is not None:
                log.info("HL7 message %s of %s already accepted: same ACK, nothing done again", key[1], key[0])
                return previous
        outcome = self.handle(raw)
        ack = self.behaviour.ack(raw, outcome.code, outcome.text, outcome.error_code, errors=outcome.errors)
        if key is not None and outcome.code == "AA":
            self.store.remember_answer(*key, ack)
        return ack

    def handle(self, raw: bytes) -> Outcome:
        try:
            with self.lock:
                return self._handle(raw)
        except Rejected as exc:
            log.warning("HL7 message refused (%s %s): %s", exc.code, exc.error_code, exc.text)
            return Outcome(exc.code, exc.error_code, exc.text, errors=exc.errors)

    def _handle(self, raw: bytes) -> Outcome:
        try:
            msg = parse_hl7(raw)
        except Hl7Error as exc:
            if not self.behaviour.refuse_unparseable:
                log.info("HL7 message unreadable (%s): acknowledged as received, dropped", exc)
                return Outcome("AA", actions=["unreadable message dropped"])
            raise Rejected("AR", "100", str(exc)) from None
        kind = msg.type
        if kind not in self.behaviour.supported:
            raise Rejected("AR", "200", f"unsupported message type {'^'.join(kind)}")
        warnings = self._check_envelope(raw) if self.behaviour.check_envelope else []
        outcome = self._cancel(msg) if kind == ("OMI", "O23") else self._report(msg, raw)
        if warnings:
            log.info("HL7 message %s accepted with warnings: %s", _control_id(msg), _summary(warnings))
            outcome.errors += [ack_error(f) for f in warnings]
        return outcome

    def _check_envelope(self, raw: bytes) -> list[Finding]:
        """IG-hl7v2 envelope (MSH-21 profile, PID INS, OBX-11, DMP flags, ...): errors refuse the message
        (AE: "le message contient des erreurs de syntaxe", IG-hl7v2 ACK); the warnings are returned.
        The CR-IMG is validated on its own afterwards (``_valid_cda``), so not twice here."""
        findings = validate_hl7(raw, cda=False)
        errors = [f for f in findings if f.severity is Severity.ERROR]
        if errors:
            acks = [ack_error(f) for f in errors[:MAX_ERR]]
            raise Rejected("AE", acks[0].code, "HL7 message does not conform to IG-hl7v2: " + _summary(errors), acks)
        return [f for f in findings if f.severity is Severity.WARNING]

    def _report(self, msg: Message, raw: bytes) -> Outcome:
        """ORU^R01 / MDM: the CR-IMG of OBX-5, then delete (``D``) or publish (``F`` / ``C``)."""
        kind = msg.type
        obx = document_obx(msg)
        status = obx.get(11) if obx is not None else ""
        if kind[0] == "MDM" and status not in ("F", "C", "D"):
            status = MDM_STATUS[kind[1]]
        if obx is None:
            raise Rejected("AR", "101", "no OBX of type ED carrying the CR-IMG (OBX-5)")
        if status not in ("F", "C", "D"):
            raise Rejected("AR", "103", f"OBX-11 result status {status!r} is not F, C or D")
        try:
            cda = decode_document(msg, obx)
        except ValueError as exc:
            raise Rejected("AR", "102", str(exc)) from None
        root = self._valid_cda(cda, f"OBX^{obx.index}^5")
        who = identity(root)
        professional = report_professional(root)  # FAQ 8801: a report's change is sent in its author's name
        professional = self._for_structure(professional, report_structure(root, msg, f"OBX^{obx.index}^5"))
        if status == "D":
            return self._delete(who.study_uid, "report deleted (OBX-11 D)", at_dmp=self.behaviour.delete_at_dmp,
                                professional=professional)
        return self._publish(msg, root, who, status, raw, professional)

    def _valid_cda(self, cda: bytes, location: str) -> etree._Element:
        """The CR-IMG parsed, or AE with one ERR per validation error, located at its OBX-5 (``location``)."""
        errors = self.behaviour.cda_errors(cda)
        if errors:
            raise Rejected("AE", "207", "CR-IMG invalid: " + _summary(errors),
                           [ack_error(f, code="207", location=location) for f in errors[:MAX_ERR]])
        try:
            return parse_cda(cda)
        except (UnsafeXmlError, etree.XMLSyntaxError) as exc:
            raise Rejected("AE", "207", f"CR-IMG unreadable: {exc}") from None

    def _publish(self, msg: Message, root: etree._Element, who: Identity, status: str, raw: bytes | None,
                 professional: Professional | None) -> Outcome:
        """Build, store and queue the KOS of the study; it replaces the study's current KOS, if any.

        One manifest per study at the DMP: a correction (OBX-11 ``C``) and a second final report
        (``F`` again, e.g. re-validated after an addendum or new images) both publish a new KOS with an
        ``RPLC`` association to the current entry, which the registry then deprecates (IHE ITI
        TF-3 §4.2.2.2; PoC ``DmpAPI.updateKOS`` keeps one KOS per study and sends an RPLC update).
        """
        structure = self._certified(professional)
        try:
            images = self.find_images(who.study_uid)
        except Exception as exc:  # PACS down: the RIS will resend; nothing half-done
            raise Rejected("AE", "207", f"study lookup in the PACS failed: {exc}") from None
        rejected = self.store.rejected(who.study_uid)  # IOCM: a rejected instance is never listed again
        images = [i for i in images if i.sop_instance_uid not in rejected]
        if not images:
            if self.behaviour.refuse_absent_study:
                raise Rejected("AE", "204", f"study {who.study_uid} not found in the PACS")
            log.info("study %s not in the PACS: nothing to publish", who.study_uid)
            return Outcome("AA", actions=["study not in the PACS: nothing published"])
        self.behaviour.consistency(who, images)
        base = self.retrieve_base() if self.behaviour.retrieve_urls else None
        kos_uid, kos = self.behaviour.build_kos(self.behaviour.kos_identity(msg, who), images, retrieve_base=base,
                                                institution=self.institution)
        # an image-change update (raw None) always replaces; a report replaces on the OBX-11 values the behaviour says
        replacing = raw is None or status in self.behaviour.replaces_on
        previous = self.store.kos_of_study(who.study_uid, CURRENT) if replacing else []
        meta = metadata(root, who, images, dmp_flags(msg))
        if previous and raw is not None and self.behaviour.report_change_vihf == "previous":
            professional = Professional.loads(self.store.professional(previous[-1].sop_uid))
            structure = self._certified(professional)
        entry_uuid, doc_uid, sub = pnr_submission(
            kos, meta, source_id=self.source_id, replaces=previous[-1].entry_uuid if previous else None,
            alter=self.behaviour.alter_submission, signer=self.identities.signature_signer(structure, self.signer),
            institution=self.identities.institution(structure, professional.structure_name if professional else ""))
        first = self.store.report_of(who.study_uid)
        self.store.add_kos_with_report(
            StoredKos(kos_uid, who.study_uid, meta.patient_cx, doc_uid, entry_uuid, CURRENT, kos),
            replaces=previous[-1].sop_uid if previous else None, professional=Professional.dumps(professional),
            message=raw, first_professional=first[2] if first else Professional.dumps(professional))
        self.outbox.publish_pnr(self.dmp_repository, sub, who.study_uid,
                                lambda patient: self.security(patient, professional))
        why = f"OBX-11 {status}" if raw is not None else "image change (IOCM)"
        action = f"replaced {previous[-1].sop_uid} ({why})" if previous else "published"
        log.info("study %s: KOS %s %s", who.study_uid, kos_uid, action)
        return Outcome("AA", kos_uid=kos_uid, actions=[f"KOS {kos_uid} {action}"])

    def _delete(self, study_uid: str, why: str, at_dmp: bool = True,
                professional: Professional | None = None) -> Outcome:
        """The study's current KOS marked deleted here (WADO-RS answers 410) and, ``at_dmp``, at the DMP by
        ITI-57 (ANS PoC). ``professional``: the deleting report's author (a report change, FAQ 8801); None for
        an exam change (OMI^O23, IOCM), sent in the name of the previous submission (FAQ 8801)."""
        current = self.store.kos_of_study(study_uid, CURRENT)
        if not current:
            raise Rejected("AE", "204", f"no published KOS for study {study_uid}: nothing to delete")
        names = {kos.sop_uid: professional if professional is not None else self._image_change_professional(kos)
                 for kos in current}
        if at_dmp:
            for who in names.values():
                self._certified(who)  # before anything changes: a deletion the Source cannot sign is refused
        for kos in current:
            self.store.set_status(kos.sop_uid, DELETED)
            if at_dmp:
                who = names[kos.sop_uid]
                ctype, body = delete_message(kos.patient_cx, kos.entry_uuid, self.source_id, self.dmp_registry,
                                             lambda patient, who=who: self.security(patient, who))
                self.outbox.put("delete", self.dmp_registry, ctype, body, study_uid)
        return Outcome("AA", actions=[f"KOS {k.sop_uid} deleted: {why}" for k in current])

    def _cancel(self, msg: Message) -> Outcome:
        """OMI^O23: ORC-1 CA (cancel request), OC or DC cancels the exam named by IPC-3; a new order (NW) or a
        status change (SC) is acknowledged with nothing to do, since a KOS is published on the report
        (HL7 v2.5 §4.5.1 and Table 0119; IG-hl7v2 OMI^O23; ANS DRIM-M_DATA informatif/HL7v2 OMI^O23 Sample)."""
        orc, ipc = msg.first("ORC"), msg.first("IPC")
        control = orc.get(1) if orc is not None else ""
        if control in ("NW", "SC"):
            return Outcome("AA", actions=[f"order {control} noted: nothing to publish before its report"])
        if control not in ("CA", "OC", "DC"):
            raise Rejected("AR", "201", f"OMI^O23 ORC-1 {control or '(empty)'} is not handled: NW, SC, CA, OC or DC")
        if ipc is None or not ipc.get(3):
            raise Rejected("AR", "101", "IPC-3 (Study Instance UID) is required")
        if not self.behaviour.honour_cancel:
            log.info("exam %s cancelled (OMI^O23): noted, its KOS left in place", ipc.get(3))
            return Outcome("AA", actions=[f"cancellation of {ipc.get(3)} noted"])
        return self._delete(ipc.get(3), "exam cancelled (OMI^O23)")


    def _for_structure(self, professional: Professional | None, named: NamedStructure | None
                       ) -> Professional | None:
        """``professional`` acting for the report's structure (ANS industriels FAQ, dispositif DRIMbox: the CDA
        legalAuthenticator's representedOrganization, PRT-8 as fallback, else the configured default); AE when
        the report names a structure by something other than a FINESS. Unchanged with no identity configured."""
        if not self.identities.configured:
            return professional
        if named is not None and not named.finess:
            raise Rejected("AE", "103", f"the report's structure ({named.where}: {named.identifier}) is not "
                           "identified by a FINESS (Struct_IdNat 1 + FINESS, or PRT-8 of type FINEG / FINEJ): "
                           "nothing published", [AckError("103", "E", named.location, "SRC-STRUCTURE",
                                                          f"{named.where}: not a FINESS ({named.identifier})")])
        finess = named.finess if named is not None else self.identities.default
        return replace(professional or Professional(""), structure=finess,
                       structure_name=named.name if named is not None else "")

    def _certified(self, professional: Professional | None) -> str:
        """The structure a submission in ``professional``'s name is made for, once sure the Source can sign for
        it; AE (nothing stored, nothing sent) when it holds no certificate for it."""
        structure = professional.structure if professional is not None else ""
        if not self.identities.configured:
            return structure
        try:
            self.identities.signer(structure)
        except NoCertificate as exc:
            raise Rejected("AE", "103", f"{exc}: nothing published, never signed with another structure's "
                           "certificate", [AckError("103", "E", "", "SRC-STRUCTURE", str(exc)[:300])]) from None
        return structure

    def _image_change_professional(self, kos: StoredKos) -> Professional | None:
        """Whose name an image-change update or deletion of ``kos`` is sent in: the previous submission's
        (FAQ 8801); the named fault takes the study's first report's author instead."""
        if self.behaviour.image_change_vihf == "first-report":
            first = self.store.report_of(kos.study_uid)
            return Professional.loads(first[2]) if first else None
        return Professional.loads(self.store.professional(kos.sop_uid))

    def reject(self, note: Rejection) -> RejectionOutcome:
        """An IOCM rejection note (IHE RAD TF-3 RAD-66 Rejection Note Stored; DICOM PS3.16 CID 7011): its instances
        are never listed or served again, and each study whose current KOS references one of them gets an updated KOS
        (RAD-68 with RPLC) without them, or, when none of its instances is left, its KOS deleted (ITI-57);
        both in the name of the previous submission (FAQ 8801)."""
        with self.lock:
            if not self.behaviour.honour_iocm:
                log.info("rejection note %s received: noted, nothing done", note.note_uid)
                return RejectionOutcome(note.note_uid, 0, [])
            fresh = self.store.reject([(sop, study, series, note.reason, note.note_uid)
                                       for study, series, sop in note.instances])
            actions = []
            for study in sorted({study for study, _series, _sop in note.instances}):
                actions.append(self._after_image_change(study))
            return RejectionOutcome(note.note_uid, fresh, actions)

    def _after_image_change(self, study_uid: str) -> str:
        current = self.store.kos_of_study(study_uid, CURRENT)
        if not current:
            return f"study {study_uid}: no KOS published, rejections kept for a later report"
        kept = self.store.report_of(study_uid)
        rejected = self.store.rejected(study_uid)
        listed = set(kos_references_of(current[-1].data))
        if not listed & rejected:
            return f"study {study_uid}: its KOS references none of the rejected instances"
        if kept is None:
            return f"study {study_uid}: KOS {current[-1].sop_uid} has no report kept: not updated"
        msg = parse_hl7(kept[1])
        obx = document_obx(msg)
        root = parse_cda(decode_document(msg, obx))
        who = identity(root)
        professional = self._image_change_professional(current[-1])
        try:
            outcome = self._publish(msg, root, who, "C", None, professional)
        except Rejected as exc:
            if exc.error_code != "204":
                raise
            # every instance of the study is rejected: the manifest goes
            return "; ".join(self._delete(study_uid, "every instance rejected (IOCM)").actions)
        return "; ".join(outcome.actions)


@dataclass(frozen=True)
class Rejection:
    """What a rejection note says: its SOP Instance UID, its title (the reason) and the rejected
    (study, series, instance) UIDs of its Current Requested Procedure Evidence Sequence."""

    note_uid: str
    reason: str
    instances: tuple[tuple[str, str, str], ...]


@dataclass(frozen=True)
class RejectionOutcome:
    note_uid: str
    fresh: int  # instances not rejected before
    actions: list[str]


def kos_references_of(data: bytes) -> list[str]:
    """SOP Instance UIDs a KOS references (its evidence sequence)."""
    import io

    from pydicom import dcmread

    ds = dcmread(io.BytesIO(data), stop_before_pixels=True)
    return [str(i.ReferencedSOPInstanceUID) for st in ds.get("CurrentRequestedProcedureEvidenceSequence", [])
            for se in st.get("ReferencedSeriesSequence", []) for i in se.get("ReferencedSOPSequence", [])]


def report_professional(root: etree._Element) -> Professional | None:
    """The professional a report's publication is made for: the CR-IMG's legal authenticator, else its first
    author (CDA R2 legalAuthenticator/assignedEntity, author/assignedAuthor; ANS CI-SIS CR-IMG): id@extension
    (national id, 8 + RPPS) and the person's name."""
    for path in ("cda:legalAuthenticator/cda:assignedEntity", "cda:author/cda:assignedAuthor"):
        role = root.find(path, NS)
        if role is None:
            continue
        ident = role.find("cda:id", NS)
        if ident is None or not ident.get("extension"):
            continue
        person = role.find("cda:assignedPerson/cda:name", NS)
        name = " ".join(t for t in (person.findtext("cda:given", "", NS).strip(),
                                    person.findtext("cda:family", "", NS).strip()) if t) if person is not None else ""
        return Professional(ident.get("extension") or "", name)
    return None


STRUCTURE_AUTHORITY = "1.2.250.1.71.4.2.2"  # national structure identifiers, IDNST (ANS CI-SIS)
FINESS_TYPES = ("FINEG", "FINEJ")  # XON-7 of a bare FINESS (ANS DRIM-M_DATA HL7v2/Examen C/CR_C-ORU.hl7 PRT-8)
_UNESCAPE = (("\\F\\", "|"), ("\\S\\", "^"), ("\\T\\", "&"), ("\\R\\", "~"), ("\\E\\", "\\"))  # HL7 v2.5 §2.7


@dataclass(frozen=True)
class NamedStructure:
    """The structure a report names: its FINESS ("" when the identifier is not one), its name, the identifier as
    written, where (for the reader and the ACK's ERR-2)."""

    finess: str
    name: str
    identifier: str
    where: str
    location: str


def _finess_of_id_nat(value: str) -> str:
    return value[len(FINESS_PREFIX):] if value.startswith(FINESS_PREFIX) and FINESS_RE.fullmatch(
        value[len(FINESS_PREFIX):]) else ""


def report_structure(root: etree._Element, msg: Message, cda_location: str = "") -> NamedStructure | None:
    """The structure a report is published for (ANS industriels FAQ, dispositif DRIMbox): the CR-IMG's
    legalAuthenticator/assignedEntity/representedOrganization/id (root 1.2.250.1.71.4.2.2, extension
    Struct_IdNat "1" + FINESS, as CI-SIS IMG_CR_IMG_2024.01.xml writes 1750803447), else PRT-8 of the PRT with
    participation SB (IG-hl7v2 mapping: PRT-8.10, type FINEG / FINEJ as ANS DRIM-M_DATA CR_C-ORU.hl7 writes it,
    or IDNST); None when neither names one."""
    org = root.find("cda:legalAuthenticator/cda:assignedEntity/cda:representedOrganization", NS)
    ident = org.find("cda:id", NS) if org is not None else None
    if ident is not None and ident.get("extension"):
        ext, oid = ident.get("extension") or "", ident.get("root") or ""
        return NamedStructure(_finess_of_id_nat(ext) if oid == STRUCTURE_AUTHORITY else "",
                              (org.findtext("cda:name", "", NS) or "").strip(), f"{ext} (root {oid})",
                              "CR-IMG legalAuthenticator/assignedEntity/representedOrganization/id", cda_location)
    for prt in msg.all("PRT"):
        xon = msg.comps(prt.get(8))
        if msg.comps(prt.get(4))[0] != "SB" or len(xon) < 10 or not xon[9]:
            continue
        kind, value = xon[6], xon[9]
        authority = xon[5].split(msg.subcomponent)
        oid = authority[1] if len(authority) > 1 else ""
        finess = value if kind in FINESS_TYPES and FINESS_RE.fullmatch(value) else \
            _finess_of_id_nat(value) if kind == "IDNST" or (oid == STRUCTURE_AUTHORITY and kind not in FINESS_TYPES) \
            else ""
        name = xon[0]
        for escaped, char in _UNESCAPE:
            name = name.replace(escaped, char)
        return NamedStructure(finess, name.strip(), f"{value} (type {kind or 'none'})", "PRT-8 (PRT-4 SB)",
                              f"PRT^{prt.index}^8")
    return None


MAX_ERR = 20  # ERR segments per ACK: enough to fix a message, bounded for a pathological one
_LOCATION = re.compile(r"([A-Z][A-Z0-9]{2})(?:\[(\d+)\])?(?:-(\d+))?")  # validator locations: OBX[2]-11, MSH-21
# validator rule -> HL7 Table 0357 code (ERR-3) when a value was found; nothing found is 101 "required field missing"
_TABLE_0357 = {"HL7-ENC-001": "102", "HL7-MSH-001": "200", "HL7-MSH-002": "103", "HL7-PID-001": "101",
               "HL7-OBX-001": "103", "HL7-OBX-002": "102", "HL7-FLAG-001": "103", "HL7-RPLC-001": "101",
               "HL7-IPC-001": "101", "HL7-PRT-001": "101"}
_NOTHING = (None, "", "[]", "()", "None")


def ack_error(f: Finding, code: str | None = None, location: str | None = None) -> AckError:
    """A validator finding as an ERR segment: ERR-2 from its HL7 location, ERR-3 from HL7 Table 0357
    (101 required field missing when nothing was found, else by rule, default 103 table value not found),
    ERR-4 from its severity, ERR-5 its rule (HL7 v2.5 §2.15.5)."""
    if code is None:
        code = "101" if f.found in _NOTHING else _TABLE_0357.get(f.rule, "103")
    if location is None:
        m = _LOCATION.match(f.location)
        location = f"{m[1]}^{m[2] or 1}^{m[3] or ''}".rstrip("^") if m else ""
    expected = f" (expected {f.expected})" if f.expected not in (None, "") else ""
    return AckError(code, "W" if f.severity is Severity.WARNING else "E", location, f.rule,
                    f"{f.location}: {f.message}{expected}, found {f.found!r}"[:300])


def _summary(findings: list[Finding]) -> str:
    more = f" (+{len(findings) - 5} more)" if len(findings) > 5 else ""
    return "; ".join(f"[{f.rule}] {f.location}: {f.message}" for f in findings[:5]) + more


def message_key(raw: bytes) -> tuple[str, str] | None:
    """(MSH-3^MSH-4, MSH-10) of a message, None without an MSH or a control id."""
    header = re.split(rb"\r|\n", raw.lstrip(b"\x0b\r\n"), maxsplit=1)[0]  # the MSH segment only
    try:
        msh = parse_hl7(header).first("MSH")
    except Hl7Error:
        return None
    if msh is None or not msh.get(10):
        return None
    return f"{msh.get(3)}^{msh.get(4)}", msh.get(10)


def _control_id(msg: Message) -> str:
    msh = msg.first("MSH")
    return msh.get(10) if msh is not None else ""


def _attr(elem: etree._Element | None, name: str) -> str:
    return "" if elem is None else (elem.get(name) or "")


def identity(root: etree._Element) -> Identity:
    """Patient (INS, birth names, used names), study and order of a CR-IMG (ANS CI-SIS CR-IMG)."""
    role = root.find("cda:recordTarget/cda:patientRole", NS)
    ins_id = next((i for i in role.findall("cda:id", NS) if i.get("root") in INS_OIDS), None) if role is not None \
        else None
    patient = role.find("cda:patient", NS) if role is not None else None
    name = patient.find("cda:name", NS) if patient is not None else None

    def part(tag: str, qualifier: str) -> str:
        found = [e for e in (name.findall(f"cda:{tag}", NS) if name is not None else [])
                 if qualifier in (e.get("qualifier") or "").split()]
        return (found[0].text or "").strip() if found else ""

    order = root.find("cda:inFulfillmentOf/cda:order", NS)
    acc = order.find("ps3-20:accessionNumber", NS) if order is not None else None
    placer = order.find("cda:id", NS) if order is not None else None
    events = imaging_events(root)
    study = next((i.get("root") for e in events for i in e.findall("cda:id", NS) if i.get("root")), "")
    if ins_id is None or not study:
        raise Rejected("AE", "101", "CR-IMG without an INS patient id or a serviceEvent study UID")
    used = [(part("family", "CL"), part("given", "CL"))] if part("family", "CL") else []
    return Identity(
        ins=ins_id.get("extension") or "", ins_oid=ins_id.get("root") or "", birth_name=part("family", "BR"),
        given=part("given", "BR"), used_names=used,
        birth_date=_attr(patient.find("cda:birthTime", NS) if patient is not None else None, "value")[:8],
        sex=_attr(patient.find("cda:administrativeGenderCode", NS) if patient is not None else None, "code"),
        birthplace=(patient.findtext("cda:birthplace/cda:place/cda:addr/cda:county", "", NS)
                    if patient is not None else "").strip(),
        study_uid=study, accession=_attr(acc, "extension"), accession_issuer=_attr(acc, "root"),
        placer=_attr(placer, "extension"), placer_issuer=_attr(placer, "root"))


def check_consistency(who: Identity, images: list[ImageRef]) -> None:
    """ANS PoC rule: reject when accession number or patient id differ between CDA and images."""
    patients = {i.patient_id for i in images}
    accessions = {i.accession for i in images}
    if patients != {who.ins}:
        raise Rejected("AE", "207", f"patient id differs: report INS {who.ins}, images {sorted(patients)}")
    if accessions != {who.accession}:
        raise Rejected("AE", "207", f"accession number differs: report {who.accession}, images {sorted(accessions)}")


def dmp_flags(msg: Message) -> dict[str, str]:
    """OBX flags Y/N (IG-hl7v2: MASQUE_PS, INVISIBLE_PATIENT, ...)."""
    flags = {}
    for obx in msg.all("OBX"):
        code = msg.comps(obx.get(3))[0]
        if obx.get(2) == "CE":
            flags[code] = msg.comps(obx.get(5))[0]
    return flags


def local_patient_id(msg: Message) -> str:
    """The RIS's own id (PID-3 repetition of type PI): what a KOS must NOT carry instead of the INS."""
    pid = msg.first("PID")
    for rep in msg.reps(pid.get(3) if pid is not None else ""):
        comps = msg.comps(rep)
        if len(comps) > 4 and comps[4] == "PI":
            return comps[0]
    return ""


def _xds_time(value: str) -> str | None:
    """CDA TS (``YYYYMMDDHHMMSS+ZZZZ``) -> XDS DTM in UTC (ITI TF-3 §4.2.3.1.4)."""
    if not value:
        return None
    for fmt in ("%Y%m%d%H%M%S%z", "%Y%m%d%H%M%z", "%Y%m%d%H%M%S", "%Y%m%d"):
        try:
            parsed = datetime.strptime(value, fmt)
        except ValueError:
            continue
        if parsed.tzinfo is not None:
            parsed = parsed.astimezone(UTC)
        return parsed.strftime("%Y%m%d%H%M%S")
    return value[:14]


def metadata(root: etree._Element, who: Identity, images: list[ImageRef], flags: dict[str, str]) -> KosMetadata:
    """XDS metadata of the KOS from the CDA and the study (ANS DRIM-M_DATA Validateur XDS/XDS.xml)."""
    events = imaging_events(root)
    modalities, regions = [], []
    for e in events:
        for t in e.findall("cda:code/cda:translation", NS):
            q = {n.get("code") for n in t.findall("cda:qualifier/cda:name", NS)}
            if "121139" in q and t.get("code"):
                modalities.append(t.get("code"))
            elif "39111-0" in q and t.get("code"):
                regions.append((t.get("code"), t.get("displayName") or t.get("code")))
    if not modalities:
        modalities = sorted({i.modality for i in images if i.modality})
    low = events[0].find("cda:effectiveTime/cda:low", NS) if events else None
    high = events[0].find("cda:effectiveTime/cda:high", NS) if events else None
    masks = [CONF_FROM_FLAG[k] for k, v in flags.items() if k in CONF_FROM_FLAG and v == "Y"]
    return KosMetadata(
        patient_cx=f"{who.ins}^^^&{who.ins_oid}&ISO^NH", study_uid=who.study_uid, accession=who.accession,
        accession_issuer=who.accession_issuer, placer=who.placer, placer_issuer=who.placer_issuer,
        modalities=list(dict.fromkeys(modalities)), regions=regions, masks=masks,
        service_start=_xds_time(_attr(low, "value")), service_stop=_xds_time(_attr(high, "value")))


def image_refs(answers: list[Dataset]) -> list[ImageRef]:
    """C-FIND IMAGE-level identifiers -> ImageRef (PS3.4 C.6.2)."""
    refs = []
    for ds in answers:
        number = ds.get("InstanceNumber")
        refs.append(ImageRef(
            series_uid=str(ds.get("SeriesInstanceUID", "")), sop_class_uid=str(ds.get("SOPClassUID", "")),
            sop_instance_uid=str(ds.get("SOPInstanceUID", "")),
            instance_number=int(number) if number not in (None, "") else None,
            modality=str(ds.get("Modality", "") or ""), patient_id=str(ds.get("PatientID", "") or ""),
            accession=str(ds.get("AccessionNumber", "") or ""), study_date=str(ds.get("StudyDate", "") or ""),
            study_time=str(ds.get("StudyTime", "") or "")))
    return refs


def cda_errors(cda: bytes) -> list[Finding]:
    """The errors of a CR-IMG (CI-SIS XSD and schematrons, ``validate_cda``)."""
    return [f for f in validate_cda(cda) if f.severity is Severity.ERROR]


def check_patient_only(who: Identity, images: list[ImageRef]) -> None:
    """:func:`check_consistency` without the accession number."""
    patients = {i.patient_id for i in images}
    if patients != {who.ins}:
        raise Rejected("AE", "207", f"patient id differs: report INS {who.ins}, images {sorted(patients)}")


def ack_own_control_id(message: bytes, code: str, text: str = "", error_code: str = "", **kwargs) -> bytes:
    """:func:`build_ack` with MSA-2 set to the ACK's own MSH-10 instead of the acknowledged message's."""
    ack = build_ack(message, code, text, error_code, **kwargs)
    segments = ack.split(b"\r")
    own = segments[0].split(b"|")[9]
    for i, seg in enumerate(segments):
        fields = seg.split(b"|")
        if fields[0] == b"MSA" and len(fields) > 2:
            segments[i] = b"|".join([*fields[:2], own, *fields[3:]])
    return b"\r".join(segments)


def local_patient_kos(msg: Message, who: Identity) -> Identity:
    """The report's identity with the RIS's local patient id (PID-3 type PI) in place of the INS."""
    return Identity(**{**vars(who), "ins": local_patient_id(msg) or who.ins[::-1]})


@dataclass(frozen=True)
class ReportBehaviour:
    """What the report trigger checks and how it answers; the reference's choices are the defaults,
    a named fault swaps one field (``FAULTY``)."""

    supported: frozenset[tuple[str, str]] = frozenset(SUPPORTED)
    ack: Callable[..., bytes] = build_ack
    refuse_unparseable: bool = True  # AR for a message that is not HL7 (HL7 v2.5 §2.9.2, Table 0008)
    check_envelope: bool = True  # IG-hl7v2 envelope
    cda_errors: Callable[[bytes], list[Finding]] = cda_errors
    consistency: Callable[[Identity, list[ImageRef]], None] = check_consistency
    refuse_absent_study: bool = True
    kos_identity: Callable[[Message, Identity], Identity] = lambda msg, who: who
    retrieve_urls: bool = True
    build_kos: Callable[..., tuple[str, bytes]] = build_kos
    replaces_on: frozenset[str] = frozenset({"F", "C"})  # OBX-11 values whose KOS replaces the current one
    alter_submission: Alteration | None = None  # a change to the RAD-68 submission once built
    delete_at_dmp: bool = True  # OBX-11 D: ITI-57 to the DMP
    honour_cancel: bool = True  # OMI^O23 ORC-1 CA: ITI-57 to the DMP
    honour_iocm: bool = True  # IOCM rejection note: rejected instances gone from the KOS and WADO-RS
    image_change_vihf: str = "previous"  # FAQ 8801: an image change is sent in the previous submission's name
    report_change_vihf: str = "report"  # FAQ 8801: a report change is sent in the new report's author's name


# fault name -> the ReportBehaviour fields it swaps (descriptions in simulators.source.faults)
FAULTY: dict[str, dict[str, object]] = {
    "skips-hl7-validation": {"check_envelope": False},
    "kos-patient-mismatch": {"kos_identity": local_patient_kos},
    "missing-retrieve-url": {"retrieve_urls": False},
    "no-replace-on-correction": {"replaces_on": frozenset({"F"})},
    "no-replace-on-final": {"replaces_on": frozenset({"C"})},
    "wrong-format-code": {"alter_submission": deprecated_format_code},
    "ack-own-control-id": {"ack": ack_own_control_id},
    "acks-unreadable-message": {"refuse_unparseable": False},
    "accepts-invalid-cda": {"cda_errors": lambda cda: []},
    "no-accession-check": {"consistency": check_patient_only},
    "acks-study-not-in-pacs": {"refuse_absent_study": False},
    "mdm-unsupported": {"supported": frozenset(k for k in SUPPORTED if k[0] != "MDM")},
    "delete-not-sent-to-dmp": {"delete_at_dmp": False},
    "ignores-cancel": {"honour_cancel": False},
    "kos-missing-instance": {"build_kos": kos_missing_last_instance},
    "kos-without-content-date": {"build_kos": kos_without_content_date},
    "kos-without-order-issuer": {"build_kos": kos_without_order_issuer},
    "no-modality-event-code": {"alter_submission": without_modality_event},
    "refid-without-study": {"alter_submission": without_study_reference},
    "patient-id-without-type-code": {"alter_submission": patient_without_type_code},
    "kos-changed-after-signing": {"alter_submission": restamped_after_signing},
    "language-code-fr": {"alter_submission": language_code_fr},
    "ignores-iocm": {"honour_iocm": False},
    "vihf-from-report-on-image-change": {"image_change_vihf": "first-report"},
    "vihf-from-previous-on-report-change": {"report_change_vihf": "previous"},
}


def report_behaviour_for(fault: str | None) -> ReportBehaviour:
    """The reference's behaviour with ``fault``'s swap, if it is one of this module's."""
    return replace(ReportBehaviour(), **FAULTY.get(fault or "", {}))
