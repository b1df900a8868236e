"""Publication to the DMP: RAD-68 Provide and Register (RPLC when replacing), ITI-57 delete, durable outbox.

RAD-68 uses the ITI-41 transaction over SOAP 1.2/MTOM with the XDS metadata of ANS DRIM-M_DATA Validateur XDS/XDS.xml; a
replacement carries an ``RPLC`` association to the previous entry (ITI TF-3 §4.2.2.2); a deletion is
an ITI-57 status update to ``urn:asip:ci-sis:2010:StatusType:Deleted`` (ANS PoC).
Every message goes through the SQLite outbox: a transport failure or a 5xx is retried with
exponential back-off, in order, across restarts; a registry error answer is final and logged.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from harness.soap import ITI57_ACTION, build_envelope
from harness.xds import build_pnr_message, kos_submission
from harness.xds.builder import MODALITY_SCHEME, fill_hash_size, structure_institution
from harness.xds.clients import XdsClient, build_status_update
from harness.xds.model import ASSOCIATION_TYPES, Association, DocumentEntry, Submission
from simulators.source.store import SourceStore

log = logging.getLogger(__name__)
ACTOR = "source-drimbox"
APPROVED = "urn:oasis:names:tc:ebxml-regrep:StatusType:Approved"
DELETED = "urn:asip:ci-sis:2010:StatusType:Deleted"  # ANS PoC
DEPRECATED_KOS_FORMAT = "urn:ihe:rad:1.2.840.10008.5.1.4.1.1.88.59"  # deprecated 2017-10-13 (ANS TRE_A09)
STUDY_REFERENCE = "urn:ihe:iti:xds:2016:studyInstanceUID"  # referenceIdList type (ITI TF-3 §4.2.3.2.28)
CONF_FROM_FLAG = {"MASQUE_PS": "MASQUE_PS", "INVISIBLE_PATIENT": "INVISIBLE_PATIENT",
                  "INVISIBLE_REP_LEGAUX": "INVISIBLE_REPRESENTANTS_LEGAUX"}  # IG-hl7v2, ANS DRIM-M_DATA XDS.xml


@dataclass
class KosMetadata:
    """What the XDS DocumentEntry of a KOS is derived from (CDA + study, ANS DRIM-M_DATA Validateur XDS/XDS.xml)."""

    patient_cx: str
    study_uid: str
    accession: str
    accession_issuer: str
    placer: str
    placer_issuer: str
    modalities: Sequence[str]
    regions: Sequence[tuple[str, str]]
    masks: Sequence[str]
    service_start: str | None
    service_stop: str | None
    practice_setting: tuple[str, str, str] | None = None
    facility_type: tuple[str, str, str] | None = None


Alteration = Callable[[Submission, DocumentEntry], None]  # a change to a built submission and its KOS entry


def pnr_submission(kos: bytes, meta: KosMetadata, *, source_id: str, replaces: str | None = None,
                   alter: Alteration | None = None, signer: tuple[bytes, bytes] | None = None,
                   institution: str | None = None) -> tuple[str, str, Submission]:
    """(entryUUID, document uniqueId, submission) of one KOS; ``replaces`` = entryUUID it replaces;
    ``signer`` (key PEM, certificate PEM) signs Signature01; ``institution`` (an XON) is the authorInstitution
    (:meth:`Identities.institution`; None: the ANS sample's); ``alter`` (a named fault's) changes the
    submission once built."""
    extra = {}
    if meta.practice_setting:
        extra["practice_setting"] = meta.practice_setting
    if meta.facility_type:
        extra["facility_type"] = meta.facility_type
    sub = kos_submission(kos, patient_id=meta.patient_cx, study_uid=meta.study_uid, accession=meta.accession,
                         accession_issuer=meta.accession_issuer, order_id=meta.placer or None,
                         order_issuer=meta.placer_issuer, modalities=list(meta.modalities) or ["OT"],
                         regions=list(meta.regions), extra_confidentiality=list(meta.masks), source_id=source_id,
                         service_start=meta.service_start, service_stop=meta.service_stop, signer=signer,
                         institution=institution, **extra)
    entry_uuid = f"urn:uuid:{uuid.uuid4()}"
    _rename(sub, "DocumentKOS", entry_uuid)
    doc = next(d for d in sub.documents if d.id == entry_uuid)
    if alter is not None:
        alter(sub, doc)
    if replaces:
        sub.associations.append(Association("assoc-rplc", ASSOCIATION_TYPES["RPLC"], entry_uuid, replaces))
    return entry_uuid, doc.uniqueId or "", sub


# -- what the named faults do to a built submission (report.FAULTY) ----------------------------------
def deprecated_format_code(sub: Submission, doc: DocumentEntry) -> None:
    """formatCode in the urn:ihe:rad form deprecated since 2017-10-13 (ANS TRE_A09)."""
    doc.formatCode = replace(doc.formatCode, node=DEPRECATED_KOS_FORMAT)


def language_code_fr(sub: Submission, doc: DocumentEntry) -> None:
    """languageCode ``fr`` (the ISO 639-1 language alone) instead of ``fr-FR``."""
    doc.languageCode = "fr"


def without_modality_event(sub: Submission, doc: DocumentEntry) -> None:
    """eventCodeList without the modality (only the anatomic regions are left)."""
    doc.eventCodes = [c for c in doc.eventCodes if c.coding_scheme != MODALITY_SCHEME]


def without_study_reference(sub: Submission, doc: DocumentEntry) -> None:
    """referenceIdList without the Study Instance UID (accession and order are left)."""
    doc.referenceIdList = [v for v in doc.referenceIdList if not v.endswith("^" + STUDY_REFERENCE)]


def patient_without_type_code(sub: Submission, doc: DocumentEntry) -> None:
    """Every patientId of the submission without the identifier type code (``^NH``)."""
    for obj in (*sub.documents, sub.submission_set):
        if obj is not None and obj.patientId and obj.patientId.endswith("^NH"):
            obj.patientId = obj.patientId[:-3]


def restamped_after_signing(sub: Submission, doc: DocumentEntry) -> None:
    """The KOS is stamped again (Content Time) after Signature01 digested it: hash and size follow the new
    bytes, the signature's manifest still gives the SHA-1 of the old ones."""
    import io

    from pydicom import dcmread

    ds = dcmread(io.BytesIO(sub.document_bytes[doc.id]))
    ds.ContentTime = f"{(int(str(ds.get('ContentTime', '0'))[:6] or 0) + 1) % 240000:06d}"
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    sub.document_bytes[doc.id] = buf.getvalue()
    fill_hash_size(sub)


def _rename(sub: Submission, old: str, new: str) -> None:
    """Give the KOS entry a UUID id, kept by the registry: later RPLC / ITI-57 name it (ITI TF-3 §4.2.3.1.5)."""
    for doc in sub.documents:
        if doc.id == old:
            doc.id = new
    sub.document_bytes[new] = sub.document_bytes.pop(old)
    for a in sub.associations:
        a.source = new if a.source == old else a.source
        a.target = new if a.target == old else a.target


@dataclass(frozen=True)
class Professional:
    """Whose name a submission is made in: the VIHF's subject (NameID, subject-id) and the structure they act for
    (its certificate signs the VIHF, its FINESS goes where the identity mode says). A report's publication is made
    in its author's name, for its structure; an update after an image change in the previous submission's, for the
    previous submission's structure (FAQ 8801)."""

    id: str  # national id of the professional (8 + RPPS), as the CR-IMG's author id@extension gives it
    name: str = ""
    structure: str = ""  # FINESS of the report's structure ("": the Source's single identity, no structure named)
    structure_name: str = ""  # as the report names it (CDA representedOrganization/name, PRT-8.1)

    @staticmethod
    def dumps(who: Professional | None) -> str:
        if who is None:
            return json.dumps(None)
        data = {"id": who.id, "name": who.name}
        if who.structure:
            data |= {"structure": who.structure, "structure_name": who.structure_name}
        return json.dumps(data)

    @staticmethod
    def loads(text: str | None) -> Professional | None:
        data = json.loads(text) if text else None
        return Professional(data["id"], data.get("name", ""), data.get("structure", ""),
                            data.get("structure_name", "")) if data else None


# -- the DMP identity of a submission: which structure, which certificate, which FINESS where ------------------
IDENTITY_MODES = ("EG", "EJ", "EJ-EG")  # ANS industriels FAQ, dispositif DRIMbox (EJ discouraged)
FINESS_PREFIX = "1"  # Struct_IdNat = "1" + FINESS (ANS CI-SIS; ansforge IG-FHIR-PDSM4DMP-EEDS StructIdNat)
FINESS_RE = re.compile(r"(?:[0-9]{2}|2[AB])[0-9]{7}")  # 9 characters: department (2A/2B in Corsica) + number
Pair = tuple[bytes, bytes]  # (private key PEM, certificate PEM)


class NoCertificate(LookupError):
    """The Source holds no ORG AUTH CLI certificate for the structure a submission is made for."""


def id_nat(finess: str) -> str:
    """The national structure identifier of a FINESS (Struct_IdNat: prefix 1, ANS CI-SIS)."""
    return FINESS_PREFIX + finess


@dataclass(frozen=True)
class Identities:
    """The Source's DMP identities (ANS industriels FAQ, dispositif DRIMbox).

    - *DMP authentication certificate*: the VIHF of a submission is signed with the ORG AUTH CLI certificate of the
      report's structure (CDA legalAuthenticator/assignedEntity/representedOrganization, PRT-8 as fallback): a
      structure with no certificate here is refused, never signed for with another structure's certificate.
    - *DMP identity modes*: which FINESS goes in the submission set (authorInstitution) and the VIHF
      (Identifiant_Structure): EG, the report's structure (its geographic establishment); EJ, the legal entity;
      EJ-EG [?], read here as the legal entity in the VIHF and the establishment in the submission set (no public
      text says which goes where: a configuration, not a rule).

    Nothing configured (no FINESS, no structure): one identity for every report, the ANS sample's structure
    (Identifiant_Structure 499700367909006) signed with the VIHF pair, as before structures existed.
    """

    mode: str = "EG"
    finess_eg: str = ""  # the default structure: a report naming none is published for it
    finess_ej: str = ""  # the legal entity of the structures
    structures: Mapping[str, Pair] = field(default_factory=dict)  # FINESS -> its ORG AUTH CLI (key, certificate)
    default_pair: Pair | None = None  # --vihf-key/--vihf-cert: the default structure's, or the single identity's
    name: str = ""  # XON-1 when the report gives no name for the FINESS written (the Source's institution)
    separate_signature: bool = False  # an ORG SIGN pair signs Signature01 (else the structure's certificate does)
    behaviour: PublishBehaviour | None = None  # a named fault's swap (signer, mode)

    def __post_init__(self) -> None:
        problems = [] if self.mode in IDENTITY_MODES else [f"identity mode {self.mode!r} is not one of "
                                                            f"{', '.join(IDENTITY_MODES)}"]
        for what, value in (("EG FINESS", self.finess_eg), ("EJ FINESS", self.finess_ej),
                            *(("structure FINESS", k) for k in self.structures)):
            if value and not FINESS_RE.fullmatch(value):
                problems.append(f"{what} {value!r} is not a FINESS (9 characters: 2 digits or 2A/2B, then 7 digits)")
        if self.mode in ("EJ", "EJ-EG") and not self.finess_ej:
            problems.append(f"identity mode {self.mode} writes the legal entity's FINESS: give the EJ FINESS")
        problems += [p for finess, pair in sorted(self.structures.items()) if (p := _pair_problem(finess, pair))]
        if problems:
            raise ValueError("; ".join(problems))

    @property
    def configured(self) -> bool:
        return bool(self.finess_eg or self.finess_ej or self.structures)

    @property
    def default(self) -> str:
        """FINESS of the structure a report naming none is published for ("" when none is configured)."""
        return self.finess_eg or self.finess_ej

    def _pairs(self) -> Mapping[str, Pair]:
        if self.default and self.default not in self.structures and self.default_pair:
            return {**self.structures, self.default: self.default_pair}
        return self.structures

    def signer(self, structure: str) -> Pair | None:
        """The (key, certificate) that signs the VIHF of a submission for ``structure``; NoCertificate when the
        Source holds none for it (the submission must not be made)."""
        if not self.configured:
            return self.default_pair
        if self.behaviour is not None and self.behaviour.structure_signer == "default":
            structure = self.default  # the named fault: whatever the report's structure
        pair = self._pairs().get(structure)
        if pair is None:
            held = ", ".join(sorted(self._pairs())) or "none"
            raise NoCertificate(f"no ORG AUTH CLI certificate for structure FINESS {structure or '(none named)'} "
                                f"(certificates held for: {held})")
        return pair

    def signature_signer(self, structure: str, fallback: Pair | None) -> Pair | None:
        """Who signs Signature01: the ORG SIGN pair when one is configured, else the structure's certificate."""
        if not self.configured or self.separate_signature:
            return fallback
        return self.signer(structure)

    def finess_written(self, structure: str) -> tuple[str, str]:
        """(FINESS of the VIHF's Identifiant_Structure, FINESS of the authorInstitution) for ``structure``."""
        mode = self.behaviour.identity_mode if self.behaviour and self.behaviour.identity_mode else self.mode
        if mode == "EJ" and self.finess_ej:
            return self.finess_ej, self.finess_ej
        if mode == "EJ-EG":  # [?] the legal entity authenticates, the establishment authors
            return self.finess_ej, structure
        return structure, structure

    def structure_id(self, structure: str) -> str | None:
        """The VIHF's Identifiant_Structure (Struct_IdNat, IG-hl7v2 mapping); None: the single identity's."""
        return id_nat(self.finess_written(structure)[0]) if self.configured and structure else None

    def institution(self, structure: str, name: str = "") -> str | None:
        """The authorInstitution XON (ANS DRIM-M_DATA Validateur XDS/XDS.xml form, XON-10 = Struct_IdNat);
        None: the single identity's (the ANS sample's)."""
        if not self.configured or not structure:
            return None
        finess = self.finess_written(structure)[1]
        return structure_institution((name if finess == structure else "") or self.name or "Structure", id_nat(finess))


def _pair_problem(finess: str, pair: Pair) -> str:
    """What is wrong with a structure's (key, certificate) PEM pair: unreadable, or a key of another certificate."""
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    from harness.vihf import private_key

    try:
        cert = x509.load_pem_x509_certificate(pair[1])
        key = private_key(pair[0])
    except (ValueError, TypeError) as exc:
        return f"structure {finess}: key or certificate is not PEM ({exc})"
    spki = (Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    if key.public_key().public_bytes(*spki) != cert.public_key().public_bytes(*spki):
        return f"structure {finess}: the key is not the certificate's ({cert.subject.rfc4514_string()})"
    return ""


# (patient CX, professional or None) -> wsse:Security header elements (VIHF); None: the signer's default identity
Security = Callable[..., list]
VIHF_LIFETIME = dt.timedelta(hours=12)  # a queued message may wait for the DMP that long and stay valid


def vihf_security(key_pem: bytes | None, cert_pem: bytes | None,
                  resource: Callable[[str], str] = lambda patient: patient,
                  identities: Identities | None = None) -> Security:
    """VIHF signer (ANS DRIM-M_DATA Validateur XDS, ``harness.vihf``); no header at all without key and
    certificate. ``resource`` gives the VIHF's resource-id from the request's patient (itself, by default);
    the professional, when given, is the VIHF's NameID and subject-id (FAQ 8801), and its structure picks the
    certificate and the Identifiant_Structure (``identities``, ANS industriels FAQ, dispositif DRIMbox)."""
    identities = identities or Identities(default_pair=(key_pem, cert_pem) if key_pem and cert_pem else None)
    if not identities.configured and identities.default_pair is None:
        return lambda patient, professional=None: []
    from harness.vihf import VihfIdentity, build_vihf

    base = VihfIdentity(lps_id="DRIMCHECK-SOURCE", lps_name="DRIMcheck reference Source")

    def security(patient: str, professional: Professional | None = None) -> list:
        identity = base if professional is None or not professional.id else replace(
            base, name_id=professional.id, subject_name=professional.name or professional.id)
        structure = professional.structure if professional is not None else ""
        pair = identities.signer(structure or identities.default)
        if pair is None:
            return []
        structure_id = identities.structure_id(structure or identities.default)
        if structure_id is not None:
            identity = replace(identity, structure_id=structure_id)
        return [build_vihf(identity, patient=resource(patient), key_pem=pair[0], cert_pem=pair[1],
                           lifetime=VIHF_LIFETIME)]

    return security


def delete_message(patient_cx: str, entry_uuid: str, source_id: str, registry: str,
                   security: Security = lambda p: []) -> tuple[str, bytes]:
    """ITI-57 Update Document Set: Approved -> Deleted (ANS PoC)."""
    req = build_status_update(patient_cx, entry_uuid, APPROVED, DELETED, source_id=source_id)
    env = build_envelope(req, action=ITI57_ACTION, to=registry, header_extra=security(patient_cx))
    return f'application/soap+xml; charset=UTF-8; action="{ITI57_ACTION}"', env


def bare_ins(patient: str) -> str:
    """The INS alone, without its assigning authority and type code (what a VIHF resource-id is not)."""
    return patient.split("^", 1)[0]


@dataclass(frozen=True)
class PublishBehaviour:
    """How the Source talks to the DMP; the reference's choices are the defaults, a named fault swaps one
    field (``FAULTY``)."""

    retry: bool = True  # transport failures and 5xx retried with back-off, never lost
    mtom: bool = True  # RAD-68 as SOAP 1.2 + MTOM/XOP (IHE ITI TF-2b §3.41.5.1)
    vihf_patient: Callable[[str], str] = lambda patient: patient  # VIHF resource-id: the request's patientId
    structure_signer: str = "report"  # whose certificate signs: the report's structure (FAQ), or "default"
    identity_mode: str | None = None  # None: the configured mode; a fault writes "EJ" whatever it is


# fault name -> the PublishBehaviour fields it swaps (descriptions in simulators.source.faults)
FAULTY: dict[str, dict[str, object]] = {
    "gives-up-on-dmp-outage": {"retry": False},
    "pnr-without-mtom": {"mtom": False},
    "vihf-bare-ins": {"vihf_patient": bare_ins},
    "signs-with-default-structure": {"structure_signer": "default"},
    "identity-mode-ej": {"identity_mode": "EJ"},
}


def publish_behaviour_for(fault: str | None) -> PublishBehaviour:
    """The reference's behaviour with ``fault``'s swap, if it is one of this module's."""
    return replace(PublishBehaviour(), **FAULTY.get(fault or "", {}))


class Outbox:
    """Sends queued messages in order; retries transport failures with back-off until they get through
    (``retry=False``: the first failure is final). ``mtom=False`` sends RAD-68 as plain SOAP (base64 inline)."""

    def __init__(self, store: SourceStore, *, initial: float, maximum: float, timeout: float,
                 retry: bool = True, mtom: bool = True) -> None:
        self.store, self.initial, self.maximum, self.retry, self.mtom = store, initial, maximum, retry, mtom
        self._client = XdsClient("", "", actor=ACTOR, timeout=timeout)
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._run, name="source-outbox", daemon=True)

    def start(self) -> None:
        self._thread.start()

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)

    def put(self, kind: str, url: str, content_type: str, body: bytes, study_uid: str) -> int:
        item = self.store.enqueue(kind, url, content_type, body, study_uid)
        self._wake.set()
        return item

    def publish_pnr(self, url: str, sub: Submission, study_uid: str, security: Security = lambda p: []) -> int:
        patient = sub.submission_set.patientId if sub.submission_set else ""
        ctype, body = build_pnr_message(sub, mtom=self.mtom, to=url, header_extra=security(patient or ""))
        return self.put("pnr", url, ctype, body, study_uid)

    def _run(self) -> None:
        while not self._stop.is_set():
            item = self.store.head()
            delay = 0.5
            if item is not None:
                wait = item.next_at - time.time()
                if wait <= 0:
                    self._send(item)
                    continue
                delay = min(delay, wait)
            self._wake.wait(delay)
            self._wake.clear()

    def _send(self, item) -> None:
        try:
            result = self._client.post(item.url, item.content_type, item.body)
        except Exception as exc:  # transport failure: keep it, retry later
            self._retry(item, f"{type(exc).__name__}: {exc}")
            return
        if result.http_status >= 500 and result.fault is None:
            self._retry(item, f"HTTP {result.http_status}")
        elif result.success:
            self.store.finish(item.id, "sent")
        else:
            reason = result.decode_error or (result.fault and str(result.fault)) or ", ".join(result.error_codes)
            log.warning("DMP refused outbox item %s (%s): %s", item.id, item.kind, reason)
            self.store.finish(item.id, "rejected", str(reason)[:2000] or f"HTTP {result.http_status}")

    def _retry(self, item, error: str) -> None:
        if not self.retry:
            log.warning("DMP unreachable for outbox item %s: %s; given up", item.id, error)
            self.store.finish(item.id, "failed", error)
            return
        backoff = min(self.maximum, self.initial * (2 ** item.attempts))
        log.info("DMP unreachable for outbox item %s: %s; retry in %.1f s", item.id, error, backoff)
        self.store.postpone(item.id, time.time() + backoff, error)
