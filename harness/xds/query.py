"""ITI-18 Registry Stored Query and the ebRS RegistryResponse, both sides, sans-IO.

Public functions:
- ``build_query(query, params, return_type="LeafClass") -> Element`` (query:AdhocQueryRequest)
- ``parse_query(elem) -> QueryRequest`` (server side; raises :class:`QueryError`)
- ``build_query_response(objects, errors=(), return_type="LeafClass") -> Element``
- ``parse_query_response(elem) -> QueryResponse``
- ``build_registry_response(errors=(), partial=False) -> Element``; ``parse_registry_response(elem)``
- ``encode_value(v)`` / ``decode_values(text)``: the stored-query parameter value syntax
- ``entry_summary(elem) -> dict``: id, uniqueId, status, patientId, hash, size, repositoryUniqueId

Sources: IHE ITI TF-2a §3.18.4.1.2 (stored query ids and parameters, value syntax),
ebRS 3.0 §6 (AdhocQueryRequest/Response), ITI TF-3 §4.2.4 (RegistryError, error codes).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from lxml import etree

RIM_NS = "urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0"
RS_NS = "urn:oasis:names:tc:ebxml-regrep:xsd:rs:3.0"
QUERY_NS = "urn:oasis:names:tc:ebxml-regrep:xsd:query:3.0"
_RIM, _RS, _Q = f"{{{RIM_NS}}}", f"{{{RS_NS}}}", f"{{{QUERY_NS}}}"

# ebRS 3.0 §2.1.6 / ITI TF-3 §4.2.4.1: response status
SUCCESS = "urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Success"
FAILURE = "urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Failure"
PARTIAL_SUCCESS = "urn:ihe:iti:2007:ResponseStatusType:PartialSuccess"
SEVERITY_ERROR = "urn:oasis:names:tc:ebxml-regrep:ErrorSeverityType:Error"
SEVERITY_WARNING = "urn:oasis:names:tc:ebxml-regrep:ErrorSeverityType:Warning"

# ITI TF-2a §3.18.4.1.2.3.7 (and CP for FindDocumentsByReferenceId, ITI TF-2a §3.18.4.1.2.3.7.14)
STORED_QUERIES: dict[str, str] = {
    "FindDocuments": "urn:uuid:14d4debf-8f97-4251-9a74-a90016b0af0d",
    "FindDocumentsByReferenceId": "urn:uuid:12941a89-e02e-4be5-967c-ce4bfc8fe492",
    "FindSubmissionSets": "urn:uuid:f26abbcb-ac74-4422-8a30-edb644bbc1a9",
    "FindFolders": "urn:uuid:958f3006-baad-4929-a4de-ff1114824431",
    "GetAll": "urn:uuid:10b545ea-725c-446d-9b95-8aeb444eddf3",
    "GetDocuments": "urn:uuid:5c4f972b-d56b-40ac-a5fc-c8ca9b40b9d4",
    "GetFolders": "urn:uuid:5737b14c-8a1a-4539-b659-e03a34a5e1e4",
    "GetAssociations": "urn:uuid:a7ae438b-4bc2-4642-93e9-be891f7bb155",
    "GetDocumentsAndAssociations": "urn:uuid:bab9529a-4a10-40b3-a01f-f68a615d247a",
    "GetSubmissionSets": "urn:uuid:51224314-5390-4169-9b91-b1980040715a",
    "GetSubmissionSetAndContents": "urn:uuid:e8e3cb2c-e39c-46b9-99e4-c12f57260b83",
    "GetFolderAndContents": "urn:uuid:b909a503-523d-4517-8acf-8e5834dfc4c7",
    "GetFoldersForDocument": "urn:uuid:10cae35a-c7f9-4cf5-b61e-fc3278ffb578",
    "GetRelatedDocuments": "urn:uuid:d90e5407-b356-4d91-a89f-873917b4b0e6",
}
QUERY_NAMES = {v: k for k, v in STORED_QUERIES.items()}
RETURN_TYPES = ("LeafClass", "ObjectRef")


class QueryError(ValueError):
    """A stored query that cannot run; ``code`` is the ITI TF-3 Table 4.2.4.1-2 error code."""

    def __init__(self, code: str, message: str, location: str = "") -> None:
        self.code, self.message, self.location = code, message, location
        super().__init__(f"{code}: {message}")


@dataclass(frozen=True)
class RegistryError:
    code: str
    context: str
    location: str = ""
    severity: str = SEVERITY_ERROR


@dataclass
class QueryRequest:
    """``params`` maps a parameter name to one list of values per Slot occurrence (AND of ORs)."""

    query_id: str
    return_type: str = "LeafClass"
    params: dict[str, list[list[str | int]]] = field(default_factory=dict)

    @property
    def name(self) -> str | None:
        return QUERY_NAMES.get(self.query_id)

    def one(self, name: str) -> str | int | None:
        """A single-valued parameter (first value of the only slot), or None when absent."""
        slots = self.params.get(name)
        return slots[0][0] if slots and slots[0] else None

    def any_of(self, name: str) -> list[str | int] | None:
        slots = self.params.get(name)
        return None if slots is None else [v for slot in slots for v in slot]


@dataclass
class QueryResponse:
    status: str
    errors: list[RegistryError]
    objects: list[etree._Element]  # LeafClass: ExtrinsicObject / RegistryPackage / Association...
    refs: list[str]  # ObjectRef ids

    @property
    def ids(self) -> list[str]:
        return self.refs or [o.get("id", "") for o in self.objects]

    def of_kind(self, local_name: str) -> list[etree._Element]:
        return [o for o in self.objects if etree.QName(o).localname == local_name]


# --------------------------------------------------------------------------- value syntax

def encode_value(value: str | int | Iterable[str | int]) -> str:
    """``'x'`` for a string, ``123`` for a number, ``('a','b')`` for a list (ITI TF-2a §3.18.4.1.2.3.5)."""
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    return "(" + ",".join(encode_value(v) for v in value) + ")"


_ITEM = re.compile(r"\s*(?:'((?:[^']|'')*)'|(-?\d+))\s*")


def decode_values(text: str) -> list[str | int]:
    """Parse one Value: ``'x'``, ``123`` or ``('a', 'b', 3)``; ValueError when malformed."""
    text = text.strip()
    inner = text[1:-1] if text.startswith("(") and text.endswith(")") else text
    if not inner.strip():
        raise ValueError(f"empty value {text!r}")
    out: list[str | int] = []
    pos = 0
    while pos < len(inner):
        m = _ITEM.match(inner, pos)
        if not m:
            raise ValueError(f"value {text!r} is neither a quoted string, a number nor a list of them")
        out.append(m.group(1).replace("''", "'") if m.group(1) is not None else int(m.group(2)))
        pos = m.end()
        if pos < len(inner):
            if inner[pos] != ",":
                raise ValueError(f"value {text!r}: expected ',' at offset {pos}")
            pos += 1
            if pos >= len(inner):
                raise ValueError(f"value {text!r}: trailing ','")
    if not text.startswith("(") and len(out) != 1:
        raise ValueError(f"value {text!r}: a list must be written in parentheses")
    return out


# --------------------------------------------------------------------------- requests

ParamValue = str | int | Iterable[str | int] | tuple[str, ...]


def build_query(query: str, params: Mapping[str, ParamValue | list], return_type: str = "LeafClass"
                ) -> etree._Element:
    """An AdhocQueryRequest. ``query`` is a name of STORED_QUERIES or a urn:uuid.

    A parameter value that is a list of lists is sent as several Slots (AND of ORs, used by
    $XDSDocumentEntryEventCodeList and ConfidentialityCode).
    """
    query_id = STORED_QUERIES.get(query, query)
    req = etree.Element(_Q + "AdhocQueryRequest", nsmap={"query": QUERY_NS, "rim": RIM_NS})
    etree.SubElement(req, _Q + "ResponseOption", returnComposedObjects="true", returnType=return_type)
    adhoc = etree.SubElement(req, _RIM + "AdhocQuery", id=query_id)
    for name, value in params.items():
        slots = value if isinstance(value, list) and value and isinstance(value[0], list | tuple) else [value]
        for slot_value in slots:
            slot = etree.SubElement(adhoc, _RIM + "Slot", name=name)
            etree.SubElement(etree.SubElement(slot, _RIM + "ValueList"), _RIM + "Value").text = \
                encode_value(slot_value)
    return req


def parse_query(elem: etree._Element) -> QueryRequest:
    """Read an AdhocQueryRequest (server side); QueryError for an unknown query or bad values."""
    if elem.tag != _Q + "AdhocQueryRequest":
        raise QueryError("XDSRegistryError", f"body is {elem.tag}, not query:AdhocQueryRequest")
    option = elem.find(_Q + "ResponseOption")
    return_type = option.get("returnType", "ObjectRef") if option is not None else "ObjectRef"
    if return_type not in RETURN_TYPES:
        raise QueryError("XDSRegistryError", f"returnType {return_type!r} is not LeafClass or ObjectRef")
    adhoc = elem.find(_RIM + "AdhocQuery")
    if adhoc is None or not adhoc.get("id"):
        raise QueryError("XDSRegistryError", "AdhocQuery with an id is required")
    query_id = adhoc.get("id", "")
    if query_id not in QUERY_NAMES:
        raise QueryError("XDSUnknownStoredQuery", f"stored query {query_id} is not supported", query_id)
    params: dict[str, list[list[str | int]]] = {}
    for slot in adhoc.findall(_RIM + "Slot"):
        name = slot.get("name", "")
        values: list[str | int] = []
        for v in slot.findall(f"{_RIM}ValueList/{_RIM}Value"):
            try:
                values += decode_values(v.text or "")
            except ValueError as exc:
                raise QueryError("XDSRegistryError", f"parameter {name}: {exc}", name) from None
        params.setdefault(name, []).append(values)
    return QueryRequest(query_id, return_type, params)


# --------------------------------------------------------------------------- responses

def _error_list(parent: etree._Element, errors: Iterable[RegistryError]) -> None:
    errors = list(errors)
    if not errors:
        return
    highest = SEVERITY_ERROR if any(e.severity == SEVERITY_ERROR for e in errors) else SEVERITY_WARNING
    elist = etree.SubElement(parent, _RS + "RegistryErrorList", highestSeverity=highest)
    for e in errors:
        attrs = {"errorCode": e.code, "codeContext": e.context, "severity": e.severity}
        if e.location:
            attrs["location"] = e.location
        etree.SubElement(elist, _RS + "RegistryError", **attrs)


def response_status(errors: Iterable[RegistryError], partial: bool = False) -> str:
    if not any(e.severity == SEVERITY_ERROR for e in errors):
        return SUCCESS
    return PARTIAL_SUCCESS if partial else FAILURE


def build_registry_response(errors: Iterable[RegistryError] = (), partial: bool = False) -> etree._Element:
    """rs:RegistryResponse (ITI TF-3 §4.2.4.1): Success, Failure, or PartialSuccess."""
    errors = list(errors)
    resp = etree.Element(_RS + "RegistryResponse", nsmap={"rs": RS_NS},
                         status=response_status(errors, partial))
    _error_list(resp, errors)
    return resp


def build_query_response(objects: Iterable[etree._Element], errors: Iterable[RegistryError] = (),
                         return_type: str = "LeafClass") -> etree._Element:
    """query:AdhocQueryResponse with LeafClass objects or ObjectRefs (ebRS 3.0 §6.3)."""
    errors = list(errors)
    resp = etree.Element(_Q + "AdhocQueryResponse", nsmap={"query": QUERY_NS, "rim": RIM_NS, "rs": RS_NS},
                         status=response_status(errors))
    _error_list(resp, errors)
    olist = etree.SubElement(resp, _RIM + "RegistryObjectList")
    for obj in objects:
        if return_type == "ObjectRef":
            etree.SubElement(olist, _RIM + "ObjectRef", id=obj.get("id", ""))
        else:
            olist.append(obj)
    return resp


def _parse_errors(elem: etree._Element) -> list[RegistryError]:
    return [RegistryError(e.get("errorCode", ""), e.get("codeContext", ""), e.get("location", ""),
                          e.get("severity", SEVERITY_ERROR))
            for e in elem.iter(_RS + "RegistryError")]


def parse_registry_response(elem: etree._Element) -> tuple[str, list[RegistryError]]:
    """(status, errors) of an rs:RegistryResponse (or of any element holding one)."""
    if elem.tag != _RS + "RegistryResponse":
        found = elem.find(f".//{_RS}RegistryResponse")
        elem = found if found is not None else elem
    return elem.get("status", ""), _parse_errors(elem)


def parse_query_response(elem: etree._Element) -> QueryResponse:
    olist = elem.find(_RIM + "RegistryObjectList")
    children = [] if olist is None else [c for c in olist if isinstance(c.tag, str)]
    refs = [c.get("id", "") for c in children if c.tag == _RIM + "ObjectRef"]
    objects = [c for c in children if c.tag != _RIM + "ObjectRef"]
    return QueryResponse(elem.get("status", ""), _parse_errors(elem), objects, refs)


# ITI TF-3 Table 4.2.5-1: the two external identifiers a client needs to follow a DocumentEntry
_DOC_UNIQUE = "urn:uuid:2e82c1f6-a085-4c72-9da3-8640a32e42ab"
_DOC_PATIENT = "urn:uuid:58a6f841-87b3-4a3e-92fd-a8ffeff98427"
_SS_UNIQUE = "urn:uuid:96fdda7c-d067-4183-912e-bf5ee74998a8"
_SS_PATIENT = "urn:uuid:6b5aea1a-874d-4603-a4bc-96a0a7b38446"


def entry_summary(elem: etree._Element) -> dict[str, str | None]:
    """The identifiers and status of a returned ExtrinsicObject / RegistryPackage / Association."""
    def ext(scheme: str) -> str | None:
        found = elem.find(f"{_RIM}ExternalIdentifier[@identificationScheme='{scheme}']")
        return None if found is None else found.get("value")

    def slot(name: str) -> str | None:
        return elem.findtext(f"{_RIM}Slot[@name='{name}']/{_RIM}ValueList/{_RIM}Value")

    return {"id": elem.get("id"), "lid": elem.get("lid"), "status": elem.get("status"),
            "uniqueId": ext(_DOC_UNIQUE) or ext(_SS_UNIQUE), "patientId": ext(_DOC_PATIENT) or ext(_SS_PATIENT),
            "hash": slot("hash"), "size": slot("size"), "repositoryUniqueId": slot("repositoryUniqueId"),
            "mimeType": elem.get("mimeType"), "associationType": elem.get("associationType"),
            "sourceObject": elem.get("sourceObject"), "targetObject": elem.get("targetObject")}
