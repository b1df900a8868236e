"""Named faults of the DMP simulator: each changes one field of :class:`Handlers` (a step swapped for
one that misbehaves in one way, or a check switched off, STYLE.md §4) as a real buggy registry would,
and breaks exactly the requirement ids it names (the fault proof checks it).

The table at the end pairs each :class:`Fault` with its change; ``handlers_for(name)`` applies it.
"""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import replace
from typing import Any

from lxml import etree

from harness.faults import Fault
from harness.soap import SoapFault, SoapMessage, decode_message
from harness.soap.envelope import SOAP12_CONTENT_TYPE
from harness.xds.query import QueryRequest
from simulators.dmp import ebxml as E
from simulators.dmp.queries import QUERIES, QueryFn, QueryRules, get_associations
from simulators.dmp.registry import Handlers, Parsed, Registry, _xml
from simulators.dmp.storage import Batch, Row, Storage, StoredObject


# ---------------------------------------------------------------- ITI-41 / RAD-68
def _sha256_40(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:40]


def _store_survivors(registry: Registry, parsed: Parsed, docs: dict[str, bytes], errors: list) -> None:
    """Commit each document entry that no error names, one by one (what atomicity forbids)."""
    named = {e.location for e in errors} | {e.context for e in errors}
    repo = registry.config.repository_unique_id
    for x in parsed.extrinsics:
        ind = E.index_extrinsic(x)
        if x.get("id") in docs and ind.unique_id not in named and x.get("id") not in named:
            data = docs[x.get("id")]
            E.set_slot(x, "repositoryUniqueId", [repo])
            batch = Batch(objects=[StoredObject(E.index_extrinsic(x), E.APPROVED, _xml(x))],
                          documents=[(repo, ind.unique_id or "", x.get("mimeType"), data)])
            try:
                registry.storage.commit(batch)
            except Exception:
                pass


def _inline_only(msg: SoapMessage, document: etree._Element) -> bytes:
    """xdsb:Document read as inline base64 text only: a document sent as an XOP part comes out empty."""
    return base64.b64decode("".join("".join(document.itertext()).split()))


def _not_signs(association_type: str) -> bool:
    return association_type != E.SIGNS


# ---------------------------------------------------------------- ITI-18
def _first_value_only(query: QueryFn, name: str) -> QueryFn:
    """``query`` reading only the first value of the list parameter ``name``."""
    def run(storage: Storage, req: QueryRequest, rules: QueryRules) -> list[Row]:
        slots = req.params.get(name)
        if slots and slots[0]:
            req = replace(req, params={**req.params, name: [slots[0][:1]]})
        return query(storage, req, rules)
    return run


def _without_associations(query: QueryFn) -> QueryFn:
    """``query`` leaving the associations out of its answer."""
    def run(storage: Storage, req: QueryRequest, rules: QueryRules) -> list[Row]:
        return [r for r in query(storage, req, rules) if r.kind != "assoc"]
    return run


def _associations_from(storage: Storage, req: QueryRequest, rules: QueryRules) -> list[Row]:
    """GetAssociations matching $uuid on sourceObject only (ITI TF-2a §3.18.4.1.2.3.7.6 says source or target)."""
    ids = set(req.any_of("$uuid") or [])
    return [r for r in get_associations(storage, req, rules) if etree.fromstring(r.xml).get("sourceObject") in ids]


def _swapped(name: str, query: QueryFn) -> dict[str, QueryFn]:
    return {**QUERIES, name: query}


# ---------------------------------------------------------------- ITI-57
def _not_deleted(new_status: str) -> bool:
    return new_status != E.DMP_DELETED


# ---------------------------------------------------------------- transport
_DOCTYPE = re.compile(rb"<!DOCTYPE[^\[>]*(?:\[.*?\])?\s*>", re.S)
_BOUNDARY = re.compile(r'boundary="?[^";]*"?', re.I)


def _any_media_type(content_type: str, body: bytes, max_bytes: int) -> SoapMessage:
    """decode_message reading any body that is not multipart/related as application/soap+xml."""
    if content_type.split(";")[0].strip().lower() != "multipart/related":
        content_type = SOAP12_CONTENT_TYPE
    return decode_message(content_type, body, max_bytes=max_bytes)


def _boundary_from_body(content_type: str, body: bytes, max_bytes: int) -> SoapMessage:
    """decode_message taking the MIME boundary from the body's first delimiter line, not the Content-Type."""
    first = body.lstrip(b"\r\n").split(b"\r\n", 1)[0]
    if first.startswith(b"--") and len(first) > 2:
        content_type = _BOUNDARY.sub(f'boundary="{first[2:].decode("ascii", "replace")}"', content_type)
    return decode_message(content_type, body, max_bytes=max_bytes)


def _without_doctype(content_type: str, body: bytes, max_bytes: int) -> SoapMessage:
    """decode_message after cutting a DOCTYPE declaration out, instead of refusing the message."""
    return decode_message(content_type, _DOCTYPE.sub(b"", body, count=1), max_bytes=max_bytes)


def _blames_itself(content_type: str, body: bytes, max_bytes: int) -> SoapMessage:
    """decode_message reporting every message it cannot read as its own failure (Receiver, HTTP 500)."""
    try:
        return decode_message(content_type, body, max_bytes=max_bytes)
    except SoapFault as fault:
        raise SoapFault("Receiver", f"could not process the request: {fault.reason}") from None


def _ignoring(parameter: str) -> dict[str, QueryRules]:
    """The change of a fault whose queries check ``parameter`` but do not filter on it."""
    return {"query_rules": QueryRules(ignored=frozenset({parameter}))}


def _reading(**rules: Any) -> dict[str, QueryRules]:
    return {"query_rules": QueryRules(**rules)}


_TABLE: tuple[tuple[Fault, dict[str, Any]], ...] = (
    # --- ITI-41 / RAD-68 Provide and Register
    (Fault("non-atomic-submission", "a rejected submission leaves the documents that passed their own "
           "checks registered and stored", ("DMP-PNR-ATOMIC",)), {"on_reject": _store_survivors}),
    (Fault("xop-parts-not-read", "the repository reads xdsb:Document as inline base64 only: a document sent "
           "as an MTOM/XOP part is taken as empty (and fails its hash)",
           ("DMP-SOAP-001", "DMP-PNR-001", "DMP-PNR-HASH-COMPUTED")), {"document_bytes": _inline_only}),
    (Fault("wrong-hash", "the hash the repository computes for a document sent without one is not its "
           "SHA-1 (SHA-256 cut to 40 hex digits)", ("DMP-PNR-HASH-COMPUTED",)), {"compute_hash": _sha256_40}),
    (Fault("skips-hash-check", "a document whose given hash differs from its content is accepted",
           ("DMP-PNR-ERR-HASH",)), {"verify_hash": False}),
    (Fault("skips-size-check", "a document whose given size differs from its length is accepted",
           ("DMP-PNR-ERR-SIZE",)), {"verify_size": False}),
    (Fault("skips-patient-match", "a DocumentEntry whose patientId is not the SubmissionSet's is accepted",
           ("DMP-PNR-ERR-PATIENT",)), {"match_patients": False}),
    (Fault("accepts-unknown-patient", "a submission for a patient of any assigning authority is accepted "
           "(no patient identity check)", ("DMP-PNR-ERR-UNKNOWN-PATIENT",)), {"check_patient_known": False}),
    (Fault("accepts-duplicate-submission-set", "only DocumentEntry uniqueIds are checked: a SubmissionSet "
           "uniqueId already registered is accepted again", ("DMP-PNR-ERR-DUPLICATE",)),
     {"unique_kinds": frozenset({"doc"})}),
    (Fault("duplicate-for-changed-document", "a registered document uniqueId re-sent with other content is "
           "reported as XDSDuplicateUniqueIdInRegistry, not XDSNonIdenticalHash",
           ("DMP-PNR-ERR-NONIDENTICAL-HASH",)),
     {"renamed_codes": {"XDSNonIdenticalHash": "XDSDuplicateUniqueIdInRegistry"}}),
    (Fault("missing-document-as-metadata-error", "a DocumentEntry without its document is refused with "
           "XDSRegistryMetadataError instead of XDSMissingDocument", ("DMP-PNR-ERR-MISSING-DOC",)),
     {"renamed_codes": {"XDSMissingDocument": "XDSRegistryMetadataError"}}),
    (Fault("ignores-unlisted-document", "a Document that no DocumentEntry describes is silently dropped and "
           "the submission accepted", ("DMP-PNR-ERR-MISSING-METADATA",)), {"refuse_orphan_documents": False}),
    (Fault("generic-metadata-error", "every metadata error of a submission is reported as the generic "
           "XDSRegistryError instead of XDSRegistryMetadataError",
           ("DMP-PNR-ERR-METADATA", "DMP-PNR-ERR-SIGNATURE")),
     {"renamed_codes": {"XDSRegistryMetadataError": "XDSRegistryError"}}),
    (Fault("signature-not-verified", "Signature01 must be there and list the documents, but its "
           "SignatureValue is not verified", ("DMP-PNR-ERR-SIGNATURE",)),
     {"skipped_rules": frozenset({"XDS-DMP-SIG-005"})}),
    (Fault("no-deprecate-on-replace", "an RPLC submission leaves the replaced entry Approved",
           ("DMP-PNR-RPLC",)), {"deprecate_replaced": False}),
    (Fault("drops-signs-association", "the signs association of Signature01 is accepted but not registered "
           "(a registry that keeps only the association types it knows)",
           ("DMP-PNR-SIGNS", "DMP-SQ-ASSOC", "DMP-SQ-GETALL")), {"keep_association": _not_signs}),
    # --- ITI-18 Registry Stored Query
    (Fault("ignores-patient-filter", "FindDocuments and FindDocumentsByReferenceId check "
           "$XDSDocumentEntryPatientId but do not filter on it: every patient's matching entries come back",
           ("DMP-SQ-FD", "DMP-SQ-FD-STATUS", "DMP-SQ-FD-CODES", "DMP-SQ-FD-EVENT", "DMP-SQ-FD-CONF",
            "DMP-SQ-FD-TIME", "DMP-SQ-FD-AUTHOR", "DMP-SQ-OBJECTREF", "DMP-SQ-REFID")),
     _ignoring("$XDSDocumentEntryPatientId")),
    (Fault("ignores-status-filter", "FindDocuments returns entries of every status, whatever "
           "$XDSDocumentEntryStatus asks", ("DMP-SQ-FD-STATUS",)),
     _ignoring("$XDSDocumentEntryStatus")),
    (Fault("ignores-class-code", "FindDocuments ignores $XDSDocumentEntryClassCode", ("DMP-SQ-FD-CODES",)),
     _ignoring("$XDSDocumentEntryClassCode")),
    (Fault("ors-event-code-slots", "repeated $XDSDocumentEntryEventCodeList Slots are ORed instead of ANDed",
           ("DMP-SQ-FD-EVENT",)), _reading(ored_slots=frozenset({"$XDSDocumentEntryEventCodeList"}))),
    (Fault("ignores-confidentiality-filter", "FindDocuments ignores $XDSDocumentEntryConfidentialityCode",
           ("DMP-SQ-FD-CONF",)),
     _ignoring("$XDSDocumentEntryConfidentialityCode")),
    (Fault("inclusive-time-to", "a ...TimeTo bound is inclusive (<=) instead of exclusive", ("DMP-SQ-FD-TIME",)),
     _reading(time_to="<=")),
    (Fault("author-without-wildcards", "$XDSDocumentEntryAuthorPerson is compared as is: % and _ are not "
           "wildcards", ("DMP-SQ-FD-AUTHOR",)), _reading(wildcards=False)),
    (Fault("objectref-as-leafclass", "returnType ObjectRef is answered with full LeafClass objects",
           ("DMP-SQ-OBJECTREF",)), {"honour_return_type": False}),
    (Fault("ignores-reference-id", "FindDocumentsByReferenceId ignores $XDSDocumentEntryReferenceIdList: "
           "every entry of the patient comes back", ("DMP-SQ-REFID",)),
     _ignoring("$XDSDocumentEntryReferenceIdList")),
    (Fault("getdocuments-first-uuid-only", "GetDocuments reads only the first value of "
           "$XDSDocumentEntryEntryUUID", ("DMP-SQ-GETDOCS",)),
     {"queries": _swapped("GetDocuments", _first_value_only(QUERIES["GetDocuments"], "$XDSDocumentEntryEntryUUID"))}),
    (Fault("fss-ignores-patient", "FindSubmissionSets ignores $XDSSubmissionSetPatientId: every patient's "
           "sets come back", ("DMP-SQ-FSS",)),
     _ignoring("$XDSSubmissionSetPatientId")),
    (Fault("sscontents-without-associations", "GetSubmissionSetAndContents leaves out the HasMember "
           "associations", ("DMP-SQ-SSCONTENTS",)),
     {"queries": _swapped("GetSubmissionSetAndContents",
                          _without_associations(QUERIES["GetSubmissionSetAndContents"]))}),
    (Fault("getss-without-associations", "GetSubmissionSets leaves out the HasMember associations",
           ("DMP-SQ-GETSS",)),
     {"queries": _swapped("GetSubmissionSets", _without_associations(QUERIES["GetSubmissionSets"]))}),
    (Fault("associations-by-source-only", "GetAssociations returns the associations whose sourceObject is "
           "$uuid, not those whose targetObject is", ("DMP-SQ-ASSOC",)),
     {"queries": _swapped("GetAssociations", _associations_from)}),
    (Fault("getall-ignores-patient", "GetAll ignores $patientId: every patient's objects come back",
           ("DMP-SQ-GETALL",)), _ignoring("$patientId")),
    (Fault("status-not-required", "FindDocuments without $XDSDocumentEntryStatus answers every status "
           "instead of XDSStoredQueryParamNumber", ("DMP-SQ-ERR-PARAM",)),
     _reading(status_required=False)),
    (Fault("unknown-query-as-registry-error", "an unknown stored query id is reported as XDSRegistryError, "
           "not XDSUnknownStoredQuery", ("DMP-SQ-ERR-UNKNOWN",)),
     {"renamed_codes": {"XDSUnknownStoredQuery": "XDSRegistryError"}}),
    (Fault("accepts-malformed-patient-id", "a patient id parameter that is not a CX is used as is (an empty "
           "answer) instead of XDSRegistryError", ("DMP-SQ-ERR-VALUE",)),
     _reading(patient_syntax=False)),
    # --- ITI-43 Retrieve Document Set
    (Fault("retrieve-alters-bytes", "ITI-43 returns the document with a trailing newline added",
           ("DMP-RET-BYTES",)), {"retrieve_bytes": lambda data: data + b"\n"}),
    (Fault("retrieve-inline-base64", "ITI-43 answers in plain SOAP with the documents inline in base64, "
           "not as MTOM/XOP parts", ("DMP-RET-MULTI",)), {"retrieve_mtom": False}),
    (Fault("all-or-nothing-retrieve", "ITI-43 with one unknown document answers Failure without the known "
           "ones", ("DMP-RET-PARTIAL",)), {"partial_retrieve": False}),
    (Fault("ignores-repository-id", "ITI-43 serves a document whatever RepositoryUniqueId the request names",
           ("DMP-RET-ERR-REPO",)), {"check_repository_id": False}),
    # --- ITI-57 Update Document Set
    (Fault("delete-not-applied", "ITI-57 to the DMP status Deleted answers Success but the entry stays "
           "Approved", ("DMP-UPD-DELETE",)), {"apply_status": _not_deleted}),
    (Fault("ignores-original-status", "ITI-57 applies a status change whatever its OriginalStatus says",
           ("DMP-UPD-ERR",)), {"check_original_status": False}),
    (Fault("update-keeps-previous-approved", "an ITI-57 metadata update registers the new version but "
           "leaves the previous one Approved", ("DMP-UPD-METADATA",)), {"deprecate_previous_version": False}),
    # --- SOAP 1.2 / WS-Addressing / MTOM
    (Fault("no-relates-to", "responses carry no wsa:RelatesTo", ("DMP-SOAP-003",)), {"relates_to": False}),
    (Fault("plain-response-to-mtom", "a response without attachments is plain SOAP even to an MTOM request",
           ("DMP-SOAP-004",)), {"mirror_mtom": False}),
    (Fault("receiver-fault-on-bad-message", "a message that cannot be read gets a Receiver fault (HTTP 500), "
           "as if the server had failed, instead of a Sender fault",
           ("DMP-SOAP-005", "DMP-SOAP-007", "DMP-SOAP-008", "DMP-SEC-001")), {"decode": _blames_itself}),
    (Fault("dispatches-on-body", "the transaction is chosen by the body element: a missing or wrong "
           "wsa:Action is not refused", ("DMP-SOAP-006",)), {"dispatch_on_action": False}),
    (Fault("ignores-content-type", "any body that is not multipart/related is read as application/soap+xml, "
           "whatever its Content-Type", ("DMP-SOAP-007",)), {"decode": _any_media_type}),
    (Fault("boundary-from-body", "the MIME boundary is read from the body's first line, not from the "
           "Content-Type", ("DMP-SOAP-008",)), {"decode": _boundary_from_body}),
    (Fault("tolerates-doctype", "a DOCTYPE declaration is cut out of the message instead of refusing it",
           ("DMP-SEC-001",)), {"decode": _without_doctype}),
    # --- VIHF
    (Fault("vihf-optional", "a request without wsse:Security is served; a VIHF that is there is checked",
           ("DMP-VIHF-001",)), {"vihf_required": False}),
    (Fault("vihf-signature-not-verified", "the VIHF assertion's presence, attributes, time and patient are "
           "checked, its XML signature and signer are not", ("DMP-VIHF-002",)), {"vihf_signature": False}),
)

FAULTS: dict[str, Fault] = {fault.name: fault for fault, _ in _TABLE}
_CHANGES: dict[str, dict[str, Any]] = {fault.name: changes for fault, changes in _TABLE}


def handlers_for(fault: str | None) -> Handlers:
    """The handlers of the reference DMP with ``fault`` switched on (None: the correct ones)."""
    base = Handlers()
    if fault is None:
        return base
    if fault not in FAULTS:
        raise KeyError(f"unknown DMP fault {fault!r}; known: {', '.join(sorted(FAULTS))}")
    return replace(base, **_CHANGES[fault])
