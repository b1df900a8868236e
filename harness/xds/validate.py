"""XDS.b metadata validator: SOAP/WS-Addressing/MTOM, XSD, IHE XDS.b rules, then CI-SIS/DMP rules.

Public: :func:`validate_message`, :func:`validate_submission`, :func:`validate_and_parse`,
:data:`PROFILES`, :data:`REGISTRY_ERROR_CODES`.

Profiles: ``xds`` (IHE only) and ``dmp`` (IHE + CI-SIS/DMP, ANS DRIM-M_DATA Validateur XDS/XDS.xml). Every finding's
rule is a requirement id of ``testplans/catalog/xds.yaml`` (actor ``content``), where each rule cites its source. This
module holds the transport and IHE rules; the CI-SIS/DMP rules are in dmp_rules.py, ITI-18 request rules in
query_rules.py, response rules in response_rules.py. Value sets are data: ``schemas/codes/dmp-xds.yaml``.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable

from lxml import etree

from harness.findings import Finding, error, warning
from harness.soap.actions import ITI42_ACTION
from harness.soap.envelope import FAULT_ACTION, Envelope, SoapFault, parse_envelope
from harness.soap.mtom import XOP_NS, SoapMessage, decode_message, parse_content_type
from harness.xds.digest import sha1_hex
from harness.xds.dmp_rules import dmp_rules
from harness.xds.ebrim import MetadataError, parse_pnr
from harness.xds.model import (
    ASSOCIATION_TYPES,
    DOC_CLASSIFICATION_SCHEMES,
    DOC_ENTRY_ON_DEMAND,
    DOC_ENTRY_STABLE,
    DOC_IDENTIFIER_SCHEMES,
    FOLDER_IDENTIFIER_SCHEMES,
    LCM_NS,
    RIM_NS,
    SS_IDENTIFIER_SCHEMES,
    STATUS,
    XDSB_NS,
    Classification,
    DocumentEntry,
    Folder,
    Submission,
)
from harness.xds.query_rules import query_rules
from harness.xds.response_rules import RESPONSE_TAGS, response_rules
from harness.xds.rules_common import CX, is_oid, is_unique_id
from harness.xds.rules_common import loc as _loc
from harness.xds.schema import payload_of, schema_errors

PROFILES = ("xds", "dmp")
R = f"{{{RIM_NS}}}"
_PNR = f"{{{XDSB_NS}}}ProvideAndRegisterDocumentSetRequest"
_SOR = f"{{{LCM_NS}}}SubmitObjectsRequest"
_XOP_INCLUDE = f"{{{XOP_NS}}}Include"
_ADHOC = "{urn:oasis:names:tc:ebxml-regrep:xsd:query:3.0}AdhocQueryRequest"
_RETRIEVE = f"{{{XDSB_NS}}}RetrieveDocumentSetRequest"

_DTM = re.compile(r"^\d{4}((0[1-9]|1[0-2])((0[1-9]|[12]\d|3[01])(([01]\d|2[0-3])([0-5]\d([0-5]\d)?)?)?)?)?$")
_HEX40 = re.compile(r"^[0-9A-Fa-f]{40}$")
_UUID_URN = re.compile(r"^urn:uuid:[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_LANG = re.compile(r"^[A-Za-z]{2,8}(-[A-Za-z0-9]{1,8})*$")  # RFC 5646 shape (ITI TF-3 §4.2.3.2 languageCode)
_PID_FIELD = re.compile(r"^PID-\d{1,2}\|.*$")  # ITI TF-3 §4.2.3.2 sourcePatientInfo
_MIME = re.compile(r"^[A-Za-z0-9!#$&^_.+-]+/[A-Za-z0-9!#$&^_.+-]+$")

# Required DocumentEntry attributes for an ITI-41 Document Source (ITI TF-3 §4.3.1 Table 4.3.1-3, "R")
DOC_REQUIRED = ("classCode", "typeCode", "formatCode", "healthcareFacilityTypeCode", "practiceSettingCode",
                "languageCode", "creationTime", "mimeType", "patientId", "sourcePatientId", "uniqueId")
SS_REQUIRED = ("uniqueId", "sourceId", "patientId", "submissionTime", "contentTypeCode")

# Rule -> the RegistryResponse error code a registry/repository answers (ITI TF-3 Table 4.2.4.1-2);
# any other error rule of the metadata maps to XDSRegistryMetadataError; XDS-SOAP/MTOM/WSA are SOAP faults.
REGISTRY_ERROR_CODES: dict[str, str] = {
    "XDS-PID-002": "XDSPatientIdDoesNotMatch",
    "XDS-PNR-002": "XDSMissingDocument",
    "XDS-PNR-003": "XDSMissingDocumentMetadata",
    "XDS-HASH-002": "XDSNonIdenticalHash",
    "XDS-SIZE-002": "XDSNonIdenticalSize",
    "XDS-ID-002": "XDSDuplicateUniqueIdInRegistry",
}
SOAP_FAULT_RULES = frozenset({"XDS-SOAP-001", "XDS-SOAP-002", "XDS-MTOM-001", "XDS-WSA-001", "XDS-WSA-002"})


def registry_error_code(rule: str) -> str:
    """The ebRS error code for a finding's rule (XDSRegistryMetadataError unless more specific)."""
    return REGISTRY_ERROR_CODES.get(rule, "XDSRegistryMetadataError")


# ============================================================================ message level

def validate_message(content_type: str, body: bytes, profile: str = "dmp",
                     expected_action: str | None = None) -> list[Finding]:
    """Validate an HTTP body (MTOM or plain SOAP 1.2) carrying an XDS.b request or response."""
    return validate_and_parse(content_type, body, profile, expected_action)[2]


def validate_and_parse(content_type: str, body: bytes, profile: str = "dmp", expected_action: str | None = None
                       ) -> tuple[SoapMessage | None, Submission | None, list[Finding]]:
    """Like :func:`validate_message`, also returning the decoded message and the parsed submission
    (None when they could not be obtained), so a simulator decodes and parses a request once."""
    _check_profile(profile)
    findings: list[Finding] = []
    try:
        msg = decode_message(content_type, body)
    except SoapFault as fault:
        msg = _stored_root_part(content_type, body, fault)
        if msg is None:
            return None, None, [error(_fault_rule(content_type, fault), "HTTP body", fault.reason)]
        findings.append(error("XDS-MTOM-001", "/Envelope/Body", fault.reason + ": document contents are missing"))
    findings += check_addressing(msg.envelope, expected_action)
    if msg.envelope.body is None:
        return msg, None, [*findings, error("XDS-SOAP-001", "/Envelope/Body", "soap:Body is empty")]
    sub, more = _validate_root(msg.envelope.body, profile, msg.attachments, None, msg.envelope.action)
    return msg, sub, findings + more


def _stored_root_part(content_type: str, body: bytes, fault: SoapFault) -> SoapMessage | None:
    """A plain-SOAP body holding xop:Include (an MTOM root part stored without its package, as the
    ANS samples are): decoded anyway so its metadata can still be checked."""
    if "not an XOP package" not in fault.reason:
        return None
    env = parse_envelope(body)
    return SoapMessage(env, body, {}, False, content_type)


def _check_profile(profile: str) -> None:
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; expected one of {PROFILES}")


def _fault_rule(content_type: str, fault: SoapFault) -> str:
    """Which requirement a decoding fault breaks: content type, MIME/XOP package, or envelope."""
    try:
        media, params = parse_content_type(content_type or "")
    except SoapFault:
        return "XDS-SOAP-002"
    if media not in ("application/soap+xml", "multipart/related") or (
            media == "multipart/related" and params.get("type", "").lower() != "application/xop+xml"):
        return "XDS-SOAP-002"
    if media == "multipart/related" and not any(w in fault.reason for w in ("XML", "envelope", "soap:")):
        return "XDS-MTOM-001"
    return "XDS-SOAP-001"


def check_addressing(env: Envelope, expected_action: str | None = None) -> list[Finding]:
    """WS-Addressing headers (IHE ITI TF-2x Appendix V; WS-Addressing 1.0 Core §3.4): Action always,
    MessageID in requests, RelatesTo in responses (an Action ending in ``Response``, or a fault)."""
    out: list[Finding] = []
    if not env.action:
        out.append(error("XDS-WSA-001", "/Envelope/Header/wsa:Action", "wsa:Action header missing",
                         expected_action or "an Action URI", None))
    elif expected_action and env.action != expected_action:
        out.append(error("XDS-WSA-001", "/Envelope/Header/wsa:Action", "wsa:Action is not the transaction's",
                         expected_action, env.action))
    is_reply = bool(env.action) and (env.action.endswith("Response") or env.action == FAULT_ACTION)
    if not env.message_id and not is_reply:  # a request expects a reply: it needs an id to relate to
        out.append(error("XDS-WSA-002", "/Envelope/Header/wsa:MessageID", "wsa:MessageID header missing"))
    if is_reply and not env.relates_to:
        out.append(error("XDS-WSA-003", "/Envelope/Header/wsa:RelatesTo", "a response without wsa:RelatesTo"))
    return out


# ============================================================================ submission level

def validate_submission(sub_or_root: Submission | etree._Element, profile: str = "dmp", *,
                        attachments: dict[str, bytes] | None = None,
                        check_documents: bool | None = None, action: str | None = None) -> list[Finding]:
    """Validate a submission: a Submission, or an element (envelope, PnR request or SubmitObjectsRequest).

    For an element: XSD (schemas/xsd), object links, then the metadata rules. ``check_documents``
    (default: true for a PnR request, false for a bare SubmitObjectsRequest or a Submission without
    bytes) checks that each DocumentEntry has its document and that hash/size match it. ``action``
    names the transaction when known (the ITI-42 Register rules apply to its SubmitObjectsRequest).
    """
    _check_profile(profile)
    if isinstance(sub_or_root, Submission):
        sub = sub_or_root
        check_documents = bool(sub.document_bytes) if check_documents is None else check_documents
        return _rules(sub, set(sub.document_bytes) if check_documents else None, profile)
    return _validate_root(sub_or_root, profile, attachments, check_documents, action)[1]


def _validate_root(elem: etree._Element, profile: str, attachments: dict[str, bytes] | None,
                   check_documents: bool | None, action: str | None = None
                   ) -> tuple[Submission | None, list[Finding]]:
    root = payload_of(elem)
    if root is None:
        return None, [error("XDS-SOAP-001", "/Envelope/Body", "soap:Body is empty")]
    if root.tag == _ADHOC:
        return None, _xsd_findings(root) + query_rules(root)
    if root.tag in RESPONSE_TAGS:
        return None, _xsd_findings(root) + response_rules(root)
    if root.tag == _RETRIEVE:
        return None, _xsd_findings(root) + _retrieve_rules(root)
    if root.tag not in (_PNR, _SOR):
        return None, _xsd_findings(root)  # anything else: schema only
    findings = _xsd_findings(root) + _link_findings(root)
    try:
        sub = parse_pnr(root, attachments)
    except MetadataError as exc:
        return None, [*findings, error("XDS-PNR-001", etree.QName(root).localname, str(exc))]
    doc_ids = {d.get("id", "") for d in root.iterchildren(f"{{{XDSB_NS}}}Document")}
    check_documents = (root.tag == _PNR) if check_documents is None else check_documents
    if root.tag == _SOR and action == ITI42_ACTION:
        findings += _register_rules(sub)
    return sub, findings + _rules(sub, doc_ids if check_documents else None, profile)


def _register_rules(sub: Submission) -> list[Finding]:
    """ITI-42 Register (a bare SubmitObjectsRequest): the repository has added hash, size and
    repositoryUniqueId to each stable DocumentEntry (ITI TF-3 §4.3.1; ITI TF-2b §3.42.4.1.3)."""
    return [error("XDS-REG-001", _loc("ExtrinsicObject", doc.id), f"DocumentEntry.{attr} missing in a "
                  "Register Document Set-b request", attr, None)
            for doc in sub.documents if doc.objectType == DOC_ENTRY_STABLE
            for attr in ("hash", "size", "repositoryUniqueId") if getattr(doc, attr) in (None, "")]


def _rules(sub: Submission, doc_ids: set[str] | None, profile: str) -> list[Finding]:
    findings = ihe_rules(sub, doc_ids)
    if profile == "dmp":
        findings += dmp_rules(sub)
    return findings


def _retrieve_rules(root: etree._Element) -> list[Finding]:
    """ITI-43 request: RepositoryUniqueId is an OID, DocumentUniqueId OID[^ext] (ITI TF-2b §3.43.4.1.2)."""
    out = []
    for i, req in enumerate(root.iterchildren(f"{{{XDSB_NS}}}DocumentRequest"), start=1):
        repo = (req.findtext(f"{{{XDSB_NS}}}RepositoryUniqueId") or "").strip()
        doc = (req.findtext(f"{{{XDSB_NS}}}DocumentUniqueId") or "").strip()
        if not is_oid(repo):
            out.append(error("XDS-RET-001", f"DocumentRequest[{i}]/RepositoryUniqueId", "not an OID",
                             "OID of at most 64 characters", repo))
        if not is_unique_id(doc):
            out.append(error("XDS-RET-001", f"DocumentRequest[{i}]/DocumentUniqueId", "not OID[^extension]",
                             "OID (≤ 64) [^ext (≤ 16)]", doc))
    return out


def _xsd_findings(root: etree._Element) -> list[Finding]:
    """XSD validation of the XOP-reconstituted payload (XOP 1.0 §4): xop:Include parts count as base64."""
    removed = []
    for inc in list(root.iter(_XOP_INCLUDE)):
        parent = inc.getparent()
        removed.append((parent, parent.index(inc), inc))
        parent.remove(inc)
    try:
        errors = schema_errors(root)
    finally:
        for parent, index, inc in reversed(removed):
            parent.insert(index, inc)
    return [error("XDS-XSD-001", f"line {line}", message, origin="xsd") for line, message in errors]


def _link_findings(root: etree._Element) -> list[Finding]:
    """Nested Classification/ExternalIdentifier point back to their parent (ebRIM 3.0 §4.3, §2.11)."""
    out = []
    rol = root.find(f"{_SOR}/{R}RegistryObjectList") if root.tag == _PNR else root.find(f"{R}RegistryObjectList")
    if rol is None:
        return out
    ids = {e.get("id") for e in rol}
    for obj in rol:
        for child, attr in [(c, "classifiedObject") for c in obj.iterchildren(R + "Classification")] + [
                (c, "registryObject") for c in obj.iterchildren(R + "ExternalIdentifier")]:
            if child.get(attr) not in (None, obj.get("id")):
                out.append(error("XDS-LINK-001", _loc(etree.QName(obj).localname, obj.get("id", ""),
                                 f"{etree.QName(child).localname}[@id='{child.get('id')}']/@{attr}"),
                                 f"{attr} does not name the enclosing object", obj.get("id"), child.get(attr)))
    for cl in rol.iterchildren(R + "Classification"):
        if cl.get("classifiedObject") not in ids:
            out.append(error("XDS-LINK-001", _loc("Classification", cl.get("id", ""), "@classifiedObject"),
                             "classifiedObject names no object of the submission", None, cl.get("classifiedObject")))
    return out


# ============================================================================ IHE XDS.b rules

def ihe_rules(sub: Submission, doc_ids: set[str] | None) -> list[Finding]:
    """IHE XDS.b metadata rules (ITI TF-3 §4.2, ITI TF-2b §3.41)."""
    out = _submission_set_rules(sub)
    for doc in sub.documents:
        out += _document_rules(doc)
    for folder in sub.folders:
        out += _folder_rules(folder)
    out += _identity_rules(sub)
    out += _association_rules(sub)
    if doc_ids is not None:
        out += _document_content_rules(sub, doc_ids)
    return out


def _submission_set_rules(sub: Submission) -> list[Finding]:
    ss = sub.submission_set
    if ss is None:
        return [error("XDS-SS-001", "RegistryObjectList", "no SubmissionSet (RegistryPackage classified as "
                      "XDSSubmissionSet) in the submission")]
    where = "RegistryPackage"
    out = [error("XDS-SS-002", _loc(where, ss.id), f"SubmissionSet.{attr} missing")
           for attr in SS_REQUIRED if getattr(ss, attr) in (None, "")]
    if not ss.has_node_classification:
        out.append(error("XDS-SS-003", _loc(where, ss.id, "Classification"),
                         "RegistryPackage not classified as XDSSubmissionSet", "urn:uuid:a54d6aa5-...", None))
    out += _code_rules(where, ss.id, "contentTypeCode", [ss.contentTypeCode] if ss.contentTypeCode else [])
    out += _extra_rules(where, ss.id, ss.extra_classifications, ss.extra_identifiers)
    if ss.submissionTime and not _DTM.match(ss.submissionTime):
        out.append(error("XDS-TIME-001", _loc(where, ss.id, "Slot[@name='submissionTime']"),
                         "not an HL7 DTM timestamp", "YYYY[MM[DD[hh[mm[ss]]]]]", ss.submissionTime))
    for attr in ("uniqueId", "sourceId"):
        value = getattr(ss, attr)
        if value and not is_oid(value):
            out.append(error("XDS-ID-001", _loc(where, ss.id, f"ExternalIdentifier[{attr}]"),
                             f"SubmissionSet.{attr} is not an OID", "OID of at most 64 characters", value))
    return out


def _document_rules(doc: DocumentEntry) -> list[Finding]:
    where = "ExtrinsicObject"
    out = [error("XDS-DOC-001", _loc(where, doc.id), f"DocumentEntry.{attr} missing")
           for attr in DOC_REQUIRED if getattr(doc, attr) in (None, "")]
    if not doc.confidentialityCodes:
        out.append(error("XDS-DOC-001", _loc(where, doc.id), "DocumentEntry.confidentialityCode missing"))
    if doc.objectType not in (DOC_ENTRY_STABLE, DOC_ENTRY_ON_DEMAND):
        out.append(error("XDS-DOC-002", _loc(where, doc.id, "@objectType"), "objectType is not the "
                         "Stable or On-Demand DocumentEntry type", DOC_ENTRY_STABLE, doc.objectType))
    if doc.mimeType and not _MIME.match(doc.mimeType):
        out.append(error("XDS-DOC-003", _loc(where, doc.id, "@mimeType"), "mimeType is not type/subtype",
                         "type/subtype", doc.mimeType))
    if doc.languageCode and not _LANG.match(doc.languageCode):
        out.append(error("XDS-DOC-004", _loc(where, doc.id, "Slot[@name='languageCode']"),
                         "languageCode is not an RFC 5646 language tag", "e.g. fr-FR", doc.languageCode))
    for value in doc.sourcePatientInfo:
        if not _PID_FIELD.match(value):
            out.append(error("XDS-DOC-005", _loc(where, doc.id, "Slot[@name='sourcePatientInfo']"),
                             "sourcePatientInfo value is not PID-n|value", "PID-5|FAMILY^Given", value))
    for attr in ("creationTime", "serviceStartTime", "serviceStopTime"):
        value = getattr(doc, attr)
        if value and not _DTM.match(value):
            out.append(error("XDS-TIME-001", _loc(where, doc.id, f"Slot[@name='{attr}']"),
                             "not an HL7 DTM timestamp", "YYYY[MM[DD[hh[mm[ss]]]]]", value))
    if doc.uniqueId and not is_unique_id(doc.uniqueId):
        out.append(error("XDS-ID-001", _loc(where, doc.id, "ExternalIdentifier[uniqueId]"),
                         "DocumentEntry.uniqueId is not OID[^extension]", "OID (≤ 64) [^ext (≤ 16)]", doc.uniqueId))
    out += _hash_size_format(doc)
    for attr in ("classCode", "typeCode", "formatCode", "healthcareFacilityTypeCode", "practiceSettingCode"):
        code = getattr(doc, attr)
        out += _code_rules(where, doc.id, attr, [code] if code else [])
    out += _code_rules(where, doc.id, "confidentialityCode", doc.confidentialityCodes)
    out += _code_rules(where, doc.id, "eventCodeList", doc.eventCodes)
    out += _extra_rules(where, doc.id, doc.extra_classifications, doc.extra_identifiers)
    return out


def _folder_rules(folder: Folder) -> list[Finding]:
    """Folder: uniqueId, patientId, title and codeList are required (ITI TF-3 §4.3.1, §4.2.3.4)."""
    where = "RegistryPackage"
    out = [error("XDS-FOL-001", _loc(where, folder.id), f"Folder.{attr} missing")
           for attr in ("uniqueId", "patientId", "title") if getattr(folder, attr) in (None, "")]
    if not folder.codeList:
        out.append(error("XDS-FOL-001", _loc(where, folder.id), "Folder.codeList missing"))
    if folder.uniqueId and not is_oid(folder.uniqueId):
        out.append(error("XDS-ID-001", _loc(where, folder.id, "ExternalIdentifier[uniqueId]"),
                         "Folder.uniqueId is not an OID", "OID of at most 64 characters", folder.uniqueId))
    out += _code_rules(where, folder.id, "codeList", folder.codeList)
    for code in folder.extra_classifications:
        out.append(warning("XDS-CODE-002", _loc(where, folder.id, f"Classification[@id='{code.id}']"),
                           "classification with a scheme XDS.b does not define", None, code.scheme))
    return out


def _hash_size_format(doc: DocumentEntry) -> list[Finding]:
    out = []
    if doc.hash is not None and not _HEX40.match(doc.hash):
        out.append(error("XDS-HASH-001", _loc("ExtrinsicObject", doc.id, "Slot[@name='hash']"),
                         "hash is not a SHA-1 in 40 hexadecimal digits", "40 hex digits", doc.hash))
    if doc.size is not None and not doc.size.isdigit():
        out.append(error("XDS-SIZE-001", _loc("ExtrinsicObject", doc.id, "Slot[@name='size']"),
                         "size is not a non-negative integer", "digits", doc.size))
    return out


def _code_rules(where: str, obj_id: str, attr: str, values: Iterable[Classification]) -> list[Finding]:
    """Coded attributes carry a code, a codingScheme slot and a display name (ITI TF-3 §4.2.3.1.2)."""
    out = []
    for code in values:
        loc = _loc(where, obj_id, f"Classification[@id='{code.id}']")
        if not code.node:
            out.append(error("XDS-CODE-001", loc, f"{attr}: nodeRepresentation (the code) is empty"))
        if not code.coding_scheme:
            out.append(error("XDS-CODE-001", loc, f"{attr}: codingScheme slot missing"))
        if code.display is None:
            out.append(error("XDS-CODE-001", loc, f"{attr}: Name (display name) missing"))
    return out


def _extra_rules(where: str, obj_id: str, classifications: list[Classification], identifiers: list) -> list[Finding]:
    """Classifications/identifiers that were not absorbed: duplicates of single-valued ones, or unknown."""
    out = []
    known = set(DOC_CLASSIFICATION_SCHEMES.values())
    for code in classifications:
        loc = _loc(where, obj_id, f"Classification[@id='{code.id}']")
        if code.scheme in known:
            out.append(error("XDS-CARD-001", loc, "single-valued coded attribute given more than once",
                             "one", code.scheme))
        else:
            out.append(warning("XDS-CODE-002", loc, "classification with a scheme XDS.b does not define",
                               None, code.scheme))
    known_ids = {*DOC_IDENTIFIER_SCHEMES.values(), *SS_IDENTIFIER_SCHEMES.values(), *FOLDER_IDENTIFIER_SCHEMES.values()}
    for ident in identifiers:
        loc = _loc(where, obj_id, f"ExternalIdentifier[@id='{ident.id}']")
        if ident.scheme in known_ids:
            out.append(error("XDS-CARD-001", loc, "identifier given more than once", "one", ident.scheme))
        else:
            out.append(warning("XDS-CODE-002", loc, "identifier with a scheme XDS.b does not define", None,
                               ident.scheme))
    return out


def _identity_rules(sub: Submission) -> list[Finding]:
    """patientId form and consistency (ITI TF-3 §4.2.3.2 patientId; XDSPatientIdDoesNotMatch), uniqueness."""
    out = []
    ss_pid = sub.submission_set.patientId if sub.submission_set else None
    objects = [("RegistryPackage", sub.submission_set.id, ss_pid)] if sub.submission_set else []
    objects += [("ExtrinsicObject", d.id, d.patientId) for d in sub.documents]
    objects += [("RegistryPackage", f.id, f.patientId) for f in sub.folders]
    for kind, obj_id, pid in objects:
        if pid and not CX.match(pid):
            out.append(error("XDS-PID-001", _loc(kind, obj_id, "ExternalIdentifier[patientId]"),
                             "patientId is not in CX form id^^^&OID&ISO", "id^^^&OID&ISO", pid))
        elif pid and ss_pid and pid != ss_pid:
            out.append(error("XDS-PID-002", _loc(kind, obj_id, "ExternalIdentifier[patientId]"),
                             "patientId differs from the SubmissionSet's", ss_pid, pid))
    unique_ids = [d.uniqueId for d in sub.documents if d.uniqueId] + [f.uniqueId for f in sub.folders if f.uniqueId]
    if sub.submission_set and sub.submission_set.uniqueId:
        unique_ids.append(sub.submission_set.uniqueId)
    for value, count in Counter(unique_ids).items():
        if count > 1:
            out.append(error("XDS-ID-002", "RegistryObjectList", "uniqueId used by several objects", "unique", value))
    for value, count in Counter(_all_ids(sub)).items():
        if count > 1:
            out.append(error("XDS-ID-003", "RegistryObjectList", "id used by several objects", "unique", value))
    return out


def _all_ids(sub: Submission) -> list[str]:
    ids = [d.id for d in sub.documents] + [f.id for f in sub.folders] + [a.id for a in sub.associations]
    return ids + ([sub.submission_set.id] if sub.submission_set else [])


def _association_rules(sub: Submission) -> list[Finding]:
    """Associations (ITI TF-3 §4.2.2): known type, ends exist, not to self, HasMember per document."""
    out = []
    ids = sub.object_ids()
    known = set(ASSOCIATION_TYPES.values())
    ss_id = sub.submission_set.id if sub.submission_set else None
    for a in sub.associations:
        loc = _loc("Association", a.id)
        if a.type not in known:
            out.append(error("XDS-ASSOC-003", loc + "/@associationType", "unknown associationType",
                             "an ITI TF-3 §4.2.2 type", a.type))
        if a.source == a.target or a.id in (a.source, a.target):
            out.append(error("XDS-ASSOC-002", loc, "association from an object to itself", None, a.target))
        for end, value in (("sourceObject", a.source), ("targetObject", a.target)):
            if value not in ids and not _UUID_URN.match(value):
                out.append(error("XDS-ASSOC-002", f"{loc}/@{end}", "names no object of the submission and is "
                                 "not a urn:uuid of a registry object", None, value))
        if a.type == ASSOCIATION_TYPES["UpdateAvailabilityStatus"]:
            out += _status_update_rules(a)
        if a.type == ASSOCIATION_TYPES["HasMember"] and a.source == ss_id and sub.document(a.target):
            status = a.slots.get("SubmissionSetStatus", [])
            if status not in (["Original"], ["Reference"]):
                out.append(error("XDS-ASSOC-004", f"{loc}/Slot[@name='SubmissionSetStatus']",
                                 "HasMember SubmissionSet→DocumentEntry needs SubmissionSetStatus",
                                 "Original or Reference", status or None))
    members = {a.target for a in sub.associations if a.type == ASSOCIATION_TYPES["HasMember"] and a.source == ss_id}
    objects = [("ExtrinsicObject", d.id) for d in sub.documents] + [("RegistryPackage", f.id) for f in sub.folders]
    for kind, obj_id in objects if ss_id else []:  # no SubmissionSet is XDS-SS-001 already
        if obj_id not in members:
            out.append(error("XDS-ASSOC-001", _loc(kind, obj_id), "no HasMember association "
                             "from the SubmissionSet to this DocumentEntry or Folder"))
    return out


def _status_update_rules(a) -> list[Finding]:
    """ITI-57 UpdateAvailabilityStatus: OriginalStatus and NewStatus slots, each one status URN
    (ITI TF-2b §3.57.4.1.3.3.1); the CI-SIS Deleted status is accepted (ANS PoC delete)."""
    out = []
    for slot in ("OriginalStatus", "NewStatus"):
        values = a.slots.get(slot, [])
        if len(values) != 1 or values[0] not in STATUS.values():
            out.append(error("XDS-UPD-001", _loc("Association", a.id, f"Slot[@name='{slot}']"),
                             f"{slot} must hold one availabilityStatus URN", STATUS["Approved"], values or None))
    return out


def _document_content_rules(sub: Submission, doc_ids: set[str]) -> list[Finding]:
    """Each DocumentEntry has its document and vice versa; hash/size match (ITI TF-2b §3.41.4.1.3)."""
    out = []
    entry_ids = {d.id for d in sub.documents}
    for doc in sub.documents:
        if doc.id not in doc_ids:
            out.append(error("XDS-PNR-002", _loc("ExtrinsicObject", doc.id), "no xdsb:Document for this "
                             "DocumentEntry (XDSMissingDocument)"))
            continue
        data = sub.document_bytes.get(doc.id)
        if data is None:
            continue
        if doc.hash and _HEX40.match(doc.hash) and doc.hash.lower() != sha1_hex(data):
            out.append(error("XDS-HASH-002", _loc("ExtrinsicObject", doc.id, "Slot[@name='hash']"),
                             "hash differs from the SHA-1 of the document (XDSNonIdenticalHash)",
                             sha1_hex(data), doc.hash))
        if doc.size and doc.size.isdigit() and int(doc.size) != len(data):
            out.append(error("XDS-SIZE-002", _loc("ExtrinsicObject", doc.id, "Slot[@name='size']"),
                             "size differs from the document's length (XDSNonIdenticalSize)", len(data), doc.size))
    for doc_id in sorted(doc_ids - entry_ids):
        out.append(error("XDS-PNR-003", f"Document[@id='{doc_id}']", "xdsb:Document without a DocumentEntry "
                         "(XDSMissingDocumentMetadata)"))
    return out


def status_is_known(status: str | None) -> bool:
    """For simulators: is ``status`` one of the availabilityStatus URNs (ITI TF-3 §4.2.3.2, CI-SIS)?"""
    return status in STATUS.values()
