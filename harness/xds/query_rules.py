"""ITI-18 Registry Stored Query request rules (used by validate.py for AdhocQueryRequest payloads).

Public: :func:`query_rules`. Rules XDS-SQ-* of testplans/catalog/xds.yaml; sources IHE ITI TF-2a
§3.18.4.1.2.3 (stored query ids, parameters, value syntax) and ITI TF-3 Table 4.2.4.1-2 (error codes).
Parsing is :func:`harness.xds.query.parse_query` (the registry simulator's own reader), so a message
this validator accepts is one the simulator can run.
"""

from __future__ import annotations

import re

from lxml import etree

from harness.findings import Finding, error
from harness.xds.model import STATUS
from harness.xds.query import QueryError, QueryRequest, parse_query

# required parameters per stored query (ITI TF-2a §3.18.4.1.2.3.7.x); a tuple means "one of"
REQUIRED_PARAMS: dict[str, tuple[str | tuple[str, ...], ...]] = {
    "FindDocuments": ("$XDSDocumentEntryPatientId", "$XDSDocumentEntryStatus"),
    "FindDocumentsByReferenceId": ("$XDSDocumentEntryPatientId", "$XDSDocumentEntryStatus",
                                   "$XDSDocumentEntryReferenceIdList"),
    "FindSubmissionSets": ("$XDSSubmissionSetPatientId", "$XDSSubmissionSetStatus"),
    "FindFolders": ("$XDSFolderPatientId", "$XDSFolderStatus"),
    "GetAll": ("$patientId", "$XDSDocumentEntryStatus", "$XDSSubmissionSetStatus", "$XDSFolderStatus"),
    "GetDocuments": (("$XDSDocumentEntryEntryUUID", "$XDSDocumentEntryUniqueId"),),
    "GetFolders": (("$XDSFolderEntryUUID", "$XDSFolderUniqueId"),),
    "GetAssociations": ("$uuid",),
    "GetDocumentsAndAssociations": (("$XDSDocumentEntryEntryUUID", "$XDSDocumentEntryUniqueId"),),
    "GetSubmissionSets": ("$uuid",),
    "GetSubmissionSetAndContents": (("$XDSSubmissionSetEntryUUID", "$XDSSubmissionSetUniqueId"),),
    "GetFolderAndContents": (("$XDSFolderEntryUUID", "$XDSFolderUniqueId"),),
    "GetFoldersForDocument": (("$XDSDocumentEntryEntryUUID", "$XDSDocumentEntryUniqueId"),),
    "GetRelatedDocuments": (("$XDSDocumentEntryEntryUUID", "$XDSDocumentEntryUniqueId"), "$AssociationTypes"),
}
_CX = re.compile(r"^[^\^&]+\^\^\^&[0-9.]+&ISO(\^[^\^]*)?$")
_CODE = re.compile(r"^[^\^]+\^\^[^\^]+$")  # code^^scheme (ITI TF-2a §3.18.4.1.2.3.4)


def query_rules(root: etree._Element) -> list[Finding]:
    """Findings for an AdhocQueryRequest (the XSD already ran)."""
    try:
        query = parse_query(root)
    except QueryError as exc:
        rule = "XDS-SQ-001" if exc.code == "XDSUnknownStoredQuery" else "XDS-SQ-002"
        return [error(rule, f"AdhocQuery/Slot[@name='{exc.location}']" if exc.location else "AdhocQuery",
                      exc.message)]
    return _required(query) + _contents(query)


def _required(query: QueryRequest) -> list[Finding]:
    out = []
    for need in REQUIRED_PARAMS.get(query.name or "", ()):
        names = need if isinstance(need, tuple) else (need,)
        if not any(n in query.params for n in names):
            out.append(error("XDS-SQ-003", "AdhocQuery", f"{query.name} requires {' or '.join(names)} "
                             "(XDSStoredQueryParamNumber)", " or ".join(names), None))
    return out


def _contents(query: QueryRequest) -> list[Finding]:
    out = []
    for name, slots in query.params.items():
        for value in (v for slot in slots for v in slot):
            problem = _value_problem(name, value)
            if problem:
                out.append(error("XDS-SQ-004", f"AdhocQuery/Slot[@name='{name}']", problem[0], problem[1], value))
    return out


def _value_problem(name: str, value: str | int) -> tuple[str, str] | None:
    text = str(value)
    if name.endswith("PatientId") or name == "$patientId":
        return None if _CX.match(text) else ("patient id is not id^^^&OID&ISO", "id^^^&OID&ISO")
    if name.endswith("Status"):
        return None if text in STATUS.values() else ("status is not a StatusType URN", STATUS["Approved"])
    if name.endswith(("Code", "CodeList")) and not name.endswith("ReferenceIdList"):
        return None if _CODE.match(text) else ("code value is not code^^scheme", "code^^scheme")
    return None
