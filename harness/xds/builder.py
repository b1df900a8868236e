"""Build ITI-41 / RAD-68 Provide and Register requests, ready to POST.

Public: :func:`build_pnr_request`, :func:`build_pnr_message`, :func:`kos_submission`,
:func:`fill_hash_size`, :func:`signature_document`, the DMP code constants (ANS DRIM-M_DATA Validateur XDS/XDS.xml).

``kos_submission`` builds a DMP-style KOS submission like the ANS sample
``drim-m-data/Echantillons validateurs/Validateur XDS/XDS.xml``: the KOS DocumentEntry, the
"Signature01" signature document (IHE DSG) and its ``signs`` association. The signature
document's ``ds:Manifest`` (Id ``IHEManifest``) lists every document of the submission with its
SHA-1 digest, as IHE DSG (ITI TF-3 §5.5) and the DMP expect, and is signed (XAdES, RSA-SHA256,
:mod:`harness.xds.dsig`) with the key and certificate given as ``signer`` — a Source DRIMbox's
IGC-Santé ORG SIGN pair — or, by default, with a throwaway pair the test bed makes once per process
(:func:`throwaway_signer`): real signatures that verify, from a certificate no DMP trusts.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime

from lxml import etree

from harness.soap.actions import ITI41_ACTION
from harness.soap.envelope import build_envelope
from harness.soap.mtom import encode_mtom, xop_include
from harness.xds.ebrim import submission_to_ebrim
from harness.xds.model import (
    ASSOCIATION_TYPES,
    DOC_CLASSIFICATION_SCHEMES,
    SS_CLASSIFICATION_SCHEMES,
    XDSB_NS,
    Association,
    Author,
    Classification,
    DocumentEntry,
    Submission,
    SubmissionSet,
)

DS_NS = "http://www.w3.org/2000/09/xmldsig#"

# CI-SIS / DMP values seen in the ANS sample (ANS DRIM-M_DATA Validateur XDS/XDS.xml)
KOS_CLASS = Classification(DOC_CLASSIFICATION_SCHEMES["classCode"], "31", "1.2.250.1.213.1.1.4.1",
                           "Imagerie médicale")
KOS_TYPE = Classification(DOC_CLASSIFICATION_SCHEMES["typeCode"], "IMG-KOS", "1.2.250.1.213.1.1.4.12",
                          "Reference d'objets d'un examen d'imagerie")
KOS_FORMAT = Classification(DOC_CLASSIFICATION_SCHEMES["formatCode"], "1.2.840.10008.5.1.4.1.1.88.59",
                            "1.2.840.10008.2.6.1", "Document de Références d'objets d'imagerie selon profil "
                            "IHE RAD XDS-I")
KOS_TITLE = "Reference d'Objets d'un Examen d'Imagerie"
CONF_NORMAL = Classification(DOC_CLASSIFICATION_SCHEMES["confidentialityCode"], "N", "2.16.840.1.113883.5.25",
                             "Normal")
SIG_CLASS = Classification(DOC_CLASSIFICATION_SCHEMES["classCode"], "urn:oid:1.3.6.1.4.1.19376.1.2.1.1.1",
                           "URN", "Digital Signature")
SIG_TYPE = Classification(DOC_CLASSIFICATION_SCHEMES["typeCode"], "E1762", "ASTM", "Full Document")
SIG_FORMAT = Classification(DOC_CLASSIFICATION_SCHEMES["formatCode"], "http://www.w3.org/2000/09/xmldsig#",
                            "URN", "Default Signature Style")
SIG_EVENT = Classification(DOC_CLASSIFICATION_SCHEMES["eventCodeList"], "1.2.840.10065.1.12.1.14",
                           "1.2.840.10065.1.12", "Source")
MODALITY_SCHEME = "1.2.250.1.213.1.1.5.618"  # JDV_ModaliteAcquisition_CISIS
REGION_SCHEME = "1.2.250.1.213.1.1.5.695"  # JDV_RegionAnatomique_CISIS
STRUCTURE_AUTHORITY = "1.2.250.1.71.4.2.2"  # national structure identifiers, IDNST (ANS CI-SIS)
DEFAULT_AUTHOR = Author(person="899700367909^DOC0036790^KIT^^^^^^&1.2.250.1.71.4.2.1&ISO^D^^^IDNPS",
                        institutions=[f"BCOM^^^^^&{STRUCTURE_AUTHORITY}&ISO^IDNST^^^499700367909006"])
_HL7_ESCAPES = (("\\", "\\E\\"), ("|", "\\F\\"), ("^", "\\S\\"), ("&", "\\T\\"), ("~", "\\R\\"))  # HL7 v2.5 §2.7


def structure_institution(name: str, structure_id: str) -> str:
    """authorInstitution XON of a structure: name, assigning authority 1.2.250.1.71.4.2.2, type IDNST and the
    national structure identifier (Struct_IdNat, e.g. "1" + FINESS) in XON-10, as ANS DRIM-M_DATA Validateur
    XDS/XDS.xml writes ``BCOM^^^^^&1.2.250.1.71.4.2.2&ISO^IDNST^^^499700367909006``; the name is HL7-escaped."""
    for char, escaped in _HL7_ESCAPES:
        name = name.replace(char, escaped)
    return f"{name}^^^^^&{STRUCTURE_AUTHORITY}&ISO^IDNST^^^{structure_id}"


def fill_hash_size(sub: Submission) -> Submission:
    """Set hash (SHA-1, 40 hex) and size of every entry whose bytes are known (ITI TF-3 §4.2.3.2 hash, size)."""
    for doc in sub.documents:
        data = sub.document_bytes.get(doc.id)
        if data is not None:
            doc.hash = hashlib.sha1(data).hexdigest()
            doc.size = str(len(data))
    return sub


def build_pnr_request(sub: Submission, *, mtom_cids: Mapping[str, str] | None = None) -> etree._Element:
    """xdsb:ProvideAndRegisterDocumentSetRequest (ITI TF-2b §3.41.4.1.2).

    Documents are inline base64 unless ``mtom_cids`` maps their entry id to a Content-ID, in
    which case the xdsb:Document holds an ``xop:Include`` instead.
    """
    req = etree.Element(f"{{{XDSB_NS}}}ProvideAndRegisterDocumentSetRequest", nsmap={"xdsb": XDSB_NS})
    req.append(submission_to_ebrim(sub))
    for entry_id, data in sub.document_bytes.items():
        doc = etree.SubElement(req, f"{{{XDSB_NS}}}Document", id=entry_id)
        if mtom_cids and entry_id in mtom_cids:
            doc.append(xop_include(mtom_cids[entry_id]))
        else:
            doc.text = base64.b64encode(data).decode("ascii")
    return req


def build_pnr_message(sub: Submission, *, mtom: bool = True, message_id: str | None = None,
                      header_extra: Iterable[etree._Element] = (), to: str | None = None,
                      action: str = ITI41_ACTION) -> tuple[str, bytes]:
    """(Content-Type, body) of an ITI-41/RAD-68 request: MTOM/XOP by default, else inline base64."""
    cids = {entry_id: f"{i}.{uuid.uuid4().hex}@drimcheck" for i, entry_id in enumerate(sub.document_bytes, 1)}
    req = build_pnr_request(sub, mtom_cids=cids if mtom else None)
    env = build_envelope(req, action=action, message_id=message_id, to=to, header_extra=list(header_extra))
    if not mtom:
        return f'application/soap+xml; charset=UTF-8; action="{action}"', env
    attachments = {cids[k]: v for k, v in sub.document_bytes.items()}
    return encode_mtom(env, attachments, action=action)


def _now() -> str:
    return datetime.now(UTC).strftime("%Y%m%d%H%M%S")


def _oid_uid() -> str:
    """A fresh OID-form unique id under the UUID-derived arc 2.25 (ISO/IEC 9834-8)."""
    return f"2.25.{uuid.uuid4().int}"


Signer = tuple[bytes, bytes]  # (private key PEM, certificate PEM)


@functools.cache
def throwaway_signer() -> Signer:
    """The process's throwaway signing pair (made on first use, never written anywhere)."""
    from harness.vihf import throwaway_pki

    pki = throwaway_pki("DRIMcheck test bed signature")
    return pki.key_pem, pki.cert_pem


def signature_document(entries: Sequence[tuple[str, bytes]], signature_id: str = "Signature01",
                       signer: Signer | None = None, unsigned: bool = False) -> bytes:
    """An IHE DSG XML-DSig whose ds:Manifest ``IHEManifest`` digests each document, signed by ``signer``
    (default :func:`throwaway_signer`); ``unsigned=True`` leaves the placeholder with an empty SignatureValue."""
    ds = f"{{{DS_NS}}}"
    sig = etree.Element(ds + "Signature", Id=signature_id, nsmap={"ds": DS_NS})
    si = etree.SubElement(sig, ds + "SignedInfo")
    etree.SubElement(si, ds + "CanonicalizationMethod", Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#")
    etree.SubElement(si, ds + "SignatureMethod", Algorithm="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256")
    ref = etree.SubElement(si, ds + "Reference", URI="#IHEManifest", Type="http://www.w3.org/2000/09/xmldsig#Manifest")
    etree.SubElement(ref, ds + "DigestMethod", Algorithm="http://www.w3.org/2001/04/xmlenc#sha256")
    etree.SubElement(ref, ds + "DigestValue")
    etree.SubElement(sig, ds + "SignatureValue")
    props = etree.SubElement(etree.SubElement(sig, ds + "Object"), ds + "SignatureProperties")
    etree.SubElement(props, ds + "SignatureProperty", Id="purposeOfSignature",
                     Target=f"#{signature_id}").text = "1.2.840.10065.1.12.1.14"  # "Source" (DSG)
    manifest = etree.SubElement(etree.SubElement(sig, ds + "Object"), ds + "Manifest", Id="IHEManifest")
    for unique_id, data in entries:
        r = etree.SubElement(manifest, ds + "Reference", URI=f"urn:oid:{unique_id}")
        etree.SubElement(r, ds + "DigestMethod", Algorithm="http://www.w3.org/2000/09/xmldsig#sha1")
        etree.SubElement(r, ds + "DigestValue").text = base64.b64encode(hashlib.sha1(data).digest()).decode()
    placeholder = etree.tostring(sig, xml_declaration=True, encoding="UTF-8")
    if unsigned:
        return placeholder
    from harness.xds.dsig import sign

    key_pem, cert_pem = signer or throwaway_signer()
    return sign(placeholder, key_pem, cert_pem)


def kos_submission(kos: bytes, *, patient_id: str, study_uid: str, accession: str | None = None,
                   accession_issuer: str = "1.2.250.1.999.1.1.1", order_id: str | None = None,
                   order_issuer: str = "1.2.250.1.999.1.1.2", modalities: Sequence[str] = ("CT",),
                   regions: Sequence[tuple[str, str]] = (), extra_confidentiality: Sequence[str] = (),
                   author: Author = DEFAULT_AUTHOR, source_id: str = "1.2.250.1.999.1.1",
                   document_unique_id: str | None = None, submission_unique_id: str | None = None,
                   service_start: str | None = None, service_stop: str | None = None,
                   creation_time: str | None = None, practice_setting: tuple[str, str, str] = (
                       "AMBULATOIRE", "1.2.250.1.213.1.1.4.9", "Ambulatoire"),
                   facility_type: tuple[str, str, str] = ("SA07", "1.2.250.1.71.4.2.4", "Cabinet individuel"),
                   source_patient_info: Sequence[str] = (), signature: bool = True,
                   legal_authenticator: str | None = None, signer: Signer | None = None,
                   institution: str | None = None) -> Submission:
    """A DMP-style RAD-68 submission of one KOS (ANS DRIM-M_DATA Validateur XDS/XDS.xml), with the Signature01 document.

    ``patient_id`` is the INS in CX form ``<INS>^^^&1.2.250.1.213.1.4.10&ISO^NH``; ``regions``
    are (SNOMED code, display) pairs; ``extra_confidentiality`` takes ``MASQUE_PS``,
    ``INVISIBLE_PATIENT``, ``INVISIBLE_REPRESENTANTS_LEGAUX``; ``signer`` signs Signature01
    (default: the test bed's throwaway pair); ``institution`` (an XON, :func:`structure_institution`) replaces
    the author's authorInstitution on the submission set and the entries.
    """
    now = creation_time or _now()
    if institution is not None:
        author = replace(author, institutions=[institution])
    kos_entry = DocumentEntry(
        id="DocumentKOS", uniqueId=document_unique_id or _oid_uid(), patientId=patient_id,
        sourcePatientId=patient_id.rsplit("^", 1)[0] + "^PI", mimeType="application/dicom",
        classCode=replace(KOS_CLASS), typeCode=replace(KOS_TYPE), formatCode=replace(KOS_FORMAT),
        confidentialityCodes=[replace(CONF_NORMAL)] + [_mask(c) for c in extra_confidentiality],
        eventCodes=[Classification(DOC_CLASSIFICATION_SCHEMES["eventCodeList"], m, MODALITY_SCHEME, m)
                    for m in modalities]
        + [Classification(DOC_CLASSIFICATION_SCHEMES["eventCodeList"], code, REGION_SCHEME, display)
           for code, display in regions],
        practiceSettingCode=_code("practiceSettingCode", practice_setting),
        healthcareFacilityTypeCode=_code("healthcareFacilityTypeCode", facility_type),
        languageCode="fr-FR", creationTime=now, serviceStartTime=service_start or now,
        serviceStopTime=service_stop or service_start or now, title=KOS_TITLE, authors=[replace(author)],
        referenceIdList=_reference_ids(study_uid, accession, accession_issuer, order_id, order_issuer),
        legalAuthenticator=legal_authenticator, sourcePatientInfo=list(source_patient_info))
    ss = SubmissionSet(id="SubmissionSet01", uniqueId=submission_unique_id or _oid_uid(), sourceId=source_id,
                       patientId=patient_id, submissionTime=now, authors=[replace(author)],
                       contentTypeCode=Classification(SS_CLASSIFICATION_SCHEMES["contentTypeCode"], "04",
                                                      "1.2.250.1.213.2.2", "Hospitalisation de jour"),
                       title="Publication KOS")
    sub = Submission(submission_set=ss, documents=[kos_entry], document_bytes={"DocumentKOS": kos})
    sub.associations.append(_has_member("assoc-kos", ss.id, kos_entry.id))
    if signature:
        _add_signature(sub, kos_entry, now, signer)
    return fill_hash_size(sub)


def _code(attr: str, value: tuple[str, str, str]) -> Classification:
    return Classification(DOC_CLASSIFICATION_SCHEMES[attr], value[0], value[1], value[2])


def _mask(code: str) -> Classification:
    return Classification(DOC_CLASSIFICATION_SCHEMES["confidentialityCode"], code, "1.2.250.1.213.1.1.4.13", code)


def _reference_ids(study_uid: str, accession: str | None, acc_issuer: str, order: str | None,
                   order_issuer: str) -> list[str]:
    """referenceIdList values in CXi form (ITI TF-3 §4.2.3.2 referenceIdList,
    ANS DRIM-M_DATA Validateur XDS/XDS.xml)."""
    ids = []
    if accession:
        ids.append(f"{accession}^^^&{acc_issuer}&ISO^urn:ihe:iti:xds:2013:accession")
    ids.append(f"{study_uid}^^^&{acc_issuer}&ISO^urn:ihe:iti:xds:2016:studyInstanceUID")
    if order:
        ids.append(f"{order}^^^&{order_issuer}&ISO^urn:ihe:iti:xds:2013:order")
    return ids


def _has_member(assoc_id: str, source: str, target: str) -> Association:
    return Association(assoc_id, ASSOCIATION_TYPES["HasMember"], source, target,
                       {"SubmissionSetStatus": ["Original"]})


def _add_signature(sub: Submission, kos: DocumentEntry, now: str, signer: Signer | None) -> None:
    content = signature_document([(kos.uniqueId or "", sub.document_bytes[kos.id])], signer=signer)
    sig = DocumentEntry(
        id="Signature01", uniqueId=_oid_uid(), patientId=kos.patientId, sourcePatientId=kos.patientId,
        mimeType="text/xml", classCode=replace(SIG_CLASS), typeCode=replace(SIG_TYPE),
        formatCode=replace(SIG_FORMAT), confidentialityCodes=[replace(CONF_NORMAL)], eventCodes=[replace(SIG_EVENT)],
        practiceSettingCode=replace(kos.practiceSettingCode) if kos.practiceSettingCode else None,
        healthcareFacilityTypeCode=replace(kos.healthcareFacilityTypeCode) if kos.healthcareFacilityTypeCode
        else None, languageCode="art", creationTime=now, serviceStartTime=now, serviceStopTime=now,
        title="Source", authors=[replace(a) for a in kos.authors])
    sub.documents.append(sig)
    sub.document_bytes[sig.id] = content
    sub.associations.append(_has_member("assoc-sig", sub.submission_set.id, sig.id))
    sub.associations.append(Association("assoc-signs", ASSOCIATION_TYPES["signs"], sig.id, sub.submission_set.id,
                                        {"SubmissionSetStatus": ["Original"]}))
