"""Clients of the DMP transactions (ITI-41/RAD-68, ITI-18, ITI-43, ITI-57) for plans and actors.

Every exchange is captured (``harness.capture.capturing_session``). Results keep the raw HTTP
response and the decoded envelope so a plan can assert on WS-Addressing as well as on content.

Public: :class:`XdsClient` (``provide_and_register``, ``query``, ``retrieve``, ``update_status``,
``update_metadata``, ``post``), :class:`SoapResult`, :class:`RetrievedDocument`,
:func:`build_retrieve_request`, :func:`build_status_update`, :func:`build_metadata_update`.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from lxml import etree

from harness.capture import capturing_session
from harness.soap import (
    ITI18_ACTION,
    ITI43_ACTION,
    ITI57_ACTION,
    Envelope,
    SoapFault,
    SoapMessage,
    build_envelope,
    decode_message,
    encode_mtom,
    parse_fault,
)
from harness.xds.builder import build_pnr_message
from harness.xds.model import Submission
from harness.xds.query import (
    QueryResponse,
    RegistryError,
    build_query,
    parse_query_response,
    parse_registry_response,
)

XDSB_NS = "urn:ihe:iti:xds-b:2007"
RIM_NS = "urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0"
LCM_NS = "urn:oasis:names:tc:ebxml-regrep:xsd:lcm:3.0"
_X, _R = f"{{{XDSB_NS}}}", f"{{{RIM_NS}}}"
UPDATE_STATUS = "urn:ihe:iti:2010:AssociationType:UpdateAvailabilityStatus"  # ITI TF-3 §4.2.2.3
HAS_MEMBER = "urn:oasis:names:tc:ebxml-regrep:AssociationType:HasMember"
SS_NODE = "urn:uuid:a54d6aa5-d40d-43f9-88c5-b4633d873bdd"
SS_PATIENT = "urn:uuid:6b5aea1a-874d-4603-a4bc-96a0a7b38446"
SS_UNIQUE = "urn:uuid:96fdda7c-d067-4183-912e-bf5ee74998a8"
SS_SOURCE = "urn:uuid:554ac39e-e3fe-47fe-b233-965d2a147832"
SS_AUTHOR = "urn:uuid:a7058bb9-b4e4-4307-ba5b-e3f0ab85e12d"
SS_CONTENT_TYPE = "urn:uuid:aa543740-bdda-424e-8c96-df4873be8500"


@dataclass
class RetrievedDocument:
    repository_unique_id: str
    document_unique_id: str
    mime_type: str | None
    data: bytes


@dataclass
class SoapResult:
    """One SOAP exchange: HTTP status, decoded message (None if undecodable), fault, RegistryResponse."""

    http_status: int
    content_type: str
    raw: bytes
    message: SoapMessage | None = None
    fault: SoapFault | None = None
    decode_error: str | None = None
    status: str = ""
    errors: list[RegistryError] = field(default_factory=list)
    query: QueryResponse | None = None
    documents: list[RetrievedDocument] = field(default_factory=list)

    @property
    def envelope(self) -> Envelope | None:
        return None if self.message is None else self.message.envelope

    @property
    def error_codes(self) -> list[str]:
        return [e.code for e in self.errors]

    @property
    def success(self) -> bool:
        return self.status.endswith(":Success")


VihfProvider = Callable[[str | None], etree._Element | None]


class XdsClient:
    """ITI-41/18/43/57 client of one registry + repository."""

    def __init__(self, registry_url: str, repository_url: str, *, actor: str = "harness:xds-client",
                 vihf: VihfProvider | None = None, timeout: float = 60.0, session: Any = None) -> None:
        self.registry_url, self.repository_url = registry_url, repository_url
        self.vihf, self.timeout = vihf, timeout
        self.session = session or capturing_session(actor, protocol="soap")

    def security_headers(self, patient: str | None) -> list[etree._Element]:
        if self.vihf is None:
            return []
        header = self.vihf(patient)
        return [] if header is None else [header]

    def post(self, url: str, content_type: str, body: bytes) -> SoapResult:
        """POST a SOAP message as is and decode the answer (faults included)."""
        resp = self.session.post(url, data=body, headers={"Content-Type": content_type}, timeout=self.timeout)
        result = SoapResult(resp.status_code, resp.headers.get("Content-Type", ""), resp.content)
        try:
            result.message = decode_message(result.content_type, resp.content)
        except SoapFault as exc:
            result.decode_error = str(exc)
            return result
        env = result.message.envelope
        result.fault = parse_fault(env)
        if result.fault is None and env.body is not None:
            result.status, result.errors = parse_registry_response(env.body)
        return result

    # ------------------------------------------------------------------ ITI-41 / RAD-68
    def provide_and_register(self, sub: Submission, *, mtom: bool = True) -> SoapResult:
        patient = sub.submission_set.patientId if sub.submission_set else None
        ctype, body = build_pnr_message(sub, mtom=mtom, to=self.repository_url,
                                        header_extra=self.security_headers(patient))
        return self.post(self.repository_url, ctype, body)

    # ------------------------------------------------------------------ ITI-18
    def query(self, query: str, params: Mapping[str, Any], *, return_type: str = "LeafClass",
              patient: str | None = None) -> SoapResult:
        req = build_query(query, params, return_type)
        patient = patient or _patient_param(params)
        env = build_envelope(req, action=ITI18_ACTION, to=self.registry_url,
                             header_extra=self.security_headers(patient))
        result = self.post(self.registry_url, f'application/soap+xml; charset=UTF-8; action="{ITI18_ACTION}"',
                           env)
        if result.message is not None and result.fault is None and result.envelope.body is not None:
            result.query = parse_query_response(result.envelope.body)
            result.status, result.errors = result.query.status, result.query.errors
        return result

    # ------------------------------------------------------------------ ITI-43
    def retrieve(self, documents: Iterable[tuple[str, str]], *, patient: str | None = None) -> SoapResult:
        req = build_retrieve_request(documents)
        env = build_envelope(req, action=ITI43_ACTION, to=self.repository_url,
                             header_extra=self.security_headers(patient))
        ctype, body = encode_mtom(env, {}, action=ITI43_ACTION)
        result = self.post(self.repository_url, ctype, body)
        if result.message is not None and result.fault is None and result.envelope.body is not None:
            for dr in result.envelope.body.findall(f"{_X}DocumentResponse"):
                doc = dr.find(f"{_X}Document")
                result.documents.append(RetrievedDocument(
                    (dr.findtext(f"{_X}RepositoryUniqueId") or "").strip(),
                    (dr.findtext(f"{_X}DocumentUniqueId") or "").strip(), dr.findtext(f"{_X}mimeType"),
                    result.message.document_bytes(doc) if doc is not None else b""))
        return result

    # ------------------------------------------------------------------ ITI-57
    def update_metadata(self, patient_id: str, entry: etree._Element, mutate: Callable[[etree._Element], None],
                        *, previous_version: str = "1", source_id: str = "1.2.250.1.999.1.1") -> SoapResult:
        """Send a new version of ``entry`` (an ExtrinsicObject as a query returned it) after ``mutate``."""
        req = build_metadata_update(patient_id, entry, mutate, previous_version=previous_version,
                                    source_id=source_id)
        env = build_envelope(req, action=ITI57_ACTION, to=self.registry_url,
                             header_extra=self.security_headers(patient_id))
        return self.post(self.registry_url, f'application/soap+xml; charset=UTF-8; action="{ITI57_ACTION}"', env)

    def update_status(self, patient_id: str, entry_uuid: str, original: str, new: str, *,
                      source_id: str = "1.2.250.1.999.1.1") -> SoapResult:
        req = build_status_update(patient_id, entry_uuid, original, new, source_id=source_id)
        env = build_envelope(req, action=ITI57_ACTION, to=self.registry_url,
                             header_extra=self.security_headers(patient_id))
        return self.post(self.registry_url, f'application/soap+xml; charset=UTF-8; action="{ITI57_ACTION}"', env)


def _patient_param(params: Mapping[str, Any]) -> str | None:
    for name in ("$XDSDocumentEntryPatientId", "$XDSSubmissionSetPatientId", "$patientId"):
        if isinstance(params.get(name), str):
            return params[name]
    return None


def build_retrieve_request(documents: Iterable[tuple[str, str]]) -> etree._Element:
    """xdsb:RetrieveDocumentSetRequest (ITI TF-2b §3.43.4.1.2) for (repositoryUniqueId, uniqueId) pairs."""
    req = etree.Element(f"{_X}RetrieveDocumentSetRequest", nsmap={"xdsb": XDSB_NS})
    for repo, uid in documents:
        dreq = etree.SubElement(req, f"{_X}DocumentRequest")
        etree.SubElement(dreq, f"{_X}RepositoryUniqueId").text = repo
        etree.SubElement(dreq, f"{_X}DocumentUniqueId").text = uid
    return req


def _slot(parent: etree._Element, name: str, *values: str) -> None:
    vl = etree.SubElement(etree.SubElement(parent, f"{_R}Slot", name=name), f"{_R}ValueList")
    for v in values:
        etree.SubElement(vl, f"{_R}Value").text = v


def build_metadata_update(patient_id: str, entry: etree._Element, mutate: Callable[[etree._Element], None], *,
                          previous_version: str = "1", source_id: str = "1.2.250.1.999.1.1") -> etree._Element:
    """ITI-57 lcm:SubmitObjectsRequest with a new version of a DocumentEntry (ITI TF-3 §4.1.10):
    same lid (the logical id), a new symbolic id, HasMember with PreviousVersion."""
    sor = _update_skeleton(patient_id, source_id)
    olist = sor.find(f"{_R}RegistryObjectList")
    new = etree.fromstring(etree.tostring(entry))
    old_id = new.get("id", "")
    new.set("lid", entry.get("lid") or old_id)
    new.set("id", "DocumentEntry01")
    new.attrib.pop("status", None)
    for i, child in enumerate(new.iter(f"{_R}Classification", f"{_R}ExternalIdentifier")):
        child.set("id", f"upd-{i}")
        for attr in ("classifiedObject", "registryObject"):
            if child.get(attr) == old_id:
                child.set(attr, "DocumentEntry01")
    mutate(new)
    olist.insert(0, new)
    member = etree.SubElement(olist, f"{_R}Association", id="assoc-member", associationType=HAS_MEMBER,
                              sourceObject="SubmissionSet01", targetObject="DocumentEntry01")
    _slot(member, "SubmissionSetStatus", "Original")
    _slot(member, "PreviousVersion", previous_version)
    return sor


def _update_skeleton(patient_id: str, source_id: str,
                     author_person: str = "899700367909^DOC0036790^KIT^^^^^^&1.2.250.1.71.4.2.1&ISO^D^^^IDNPS"
                     ) -> etree._Element:
    """The SubmissionSet every ITI-57 request carries (ITI TF-2b §3.57.4.1.2)."""
    sor = etree.Element(f"{{{LCM_NS}}}SubmitObjectsRequest", nsmap={"lcm": LCM_NS, "rim": RIM_NS})
    olist = etree.SubElement(sor, f"{_R}RegistryObjectList")
    ss = etree.SubElement(olist, f"{_R}RegistryPackage", id="SubmissionSet01",
                          objectType="urn:oasis:names:tc:ebxml-regrep:ObjectType:RegistryObject:RegistryPackage")
    _slot(ss, "submissionTime", datetime.now(UTC).strftime("%Y%m%d%H%M%S"))
    author = etree.SubElement(ss, f"{_R}Classification", id="cl-author", classificationScheme=SS_AUTHOR,
                              classifiedObject="SubmissionSet01", nodeRepresentation="")
    _slot(author, "authorPerson", author_person)
    ctype = etree.SubElement(ss, f"{_R}Classification", id="cl-ctype", classificationScheme=SS_CONTENT_TYPE,
                             classifiedObject="SubmissionSet01", nodeRepresentation="04")
    _slot(ctype, "codingScheme", "1.2.250.1.213.2.2")
    name = etree.SubElement(ctype, f"{_R}Name")  # a code's display name is required (ITI TF-3 §4.2.3.1.7)
    etree.SubElement(name, f"{_R}LocalizedString", value="Hospitalisation de jour")
    for ident, scheme, value in (("ei-pid", SS_PATIENT, patient_id),
                                 ("ei-uid", SS_UNIQUE, f"2.25.{uuid.uuid4().int}"), ("ei-src", SS_SOURCE, source_id)):
        etree.SubElement(ss, f"{_R}ExternalIdentifier", id=ident, identificationScheme=scheme,
                         registryObject="SubmissionSet01", value=value)
    etree.SubElement(olist, f"{_R}Classification", id="cl-node", classifiedObject="SubmissionSet01",
                     classificationNode=SS_NODE)
    return sor


def build_status_update(patient_id: str, entry_uuid: str, original: str, new: str, *,
                        source_id: str = "1.2.250.1.999.1.1") -> etree._Element:
    """ITI-57 lcm:SubmitObjectsRequest changing one entry's status (ITI TF-3 §4.2.2.3, §4.1.10)."""
    sor = _update_skeleton(patient_id, source_id)
    upd = etree.SubElement(sor.find(f"{_R}RegistryObjectList"), f"{_R}Association", id="assoc-update",
                           associationType=UPDATE_STATUS, sourceObject="SubmissionSet01", targetObject=entry_uuid)
    _slot(upd, "OriginalStatus", original)
    _slot(upd, "NewStatus", new)
    return sor
