"""Stored queries of the registry (ITI TF-2a §3.18.4.1.2.3.7), as SQL over the index tables.

Each query function takes the storage, a parsed :class:`QueryRequest` and the :class:`QueryRules`
it reads its parameters by, and returns the rows to send back; :class:`QueryError` carries the
ITI TF-3 Table 4.2.4.1-2 code for a bad request. Multi-valued parameters are ORs; repeating the
Slot (event codes, confidentiality codes) is an AND.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from harness.xds.query import QueryError, QueryRequest
from simulators.dmp import ebxml as E
from simulators.dmp.storage import Row, Storage

_STATUSES = (E.APPROVED, E.DEPRECATED, E.DMP_DELETED)


@dataclass(frozen=True)
class QueryRules:
    """How the stored queries read their parameters. The defaults follow ITI TF-2a §3.18.4.1.2.3;
    a named fault (faults.py) changes one field, as a registry with that bug would (STYLE.md §4)."""

    ignored: frozenset[str] = frozenset()  # parameters checked for syntax but not applied as a filter
    status_required: bool = True  # $XDSDocumentEntryStatus is required in FindDocuments (§3.18.4.1.2.3.7.1)
    patient_syntax: bool = True  # a patient id parameter must be a CX (§3.18.4.1.2.3.8: XDSRegistryError)
    ored_slots: frozenset[str] = frozenset()  # parameters whose repeated Slots are ORed, not ANDed (§3.18.4.1.2.3.5)
    time_to: str = "<"  # a ...To bound is exclusive (§3.18.4.1.2.3.6)
    wildcards: bool = True  # % and _ in $...AuthorPerson (§3.18.4.1.2.3.7.1: LIKE)


class Where:
    """An SQL WHERE clause grown one condition at a time; ``filter`` adds the condition a query
    parameter makes, unless the rules ignore that parameter."""

    def __init__(self, first: str, *params: object, rules: QueryRules | None = None) -> None:
        self.parts, self.params = [first], list(params)
        self.rules = rules or QueryRules()

    def add(self, sql: str, *params: object) -> None:
        self.parts.append(sql)
        self.params.extend(params)

    def filter(self, name: str, sql: str, *params: object) -> None:
        if name not in self.rules.ignored:
            self.add(sql, *params)

    def in_(self, column: str, values: list, name: str = "") -> None:
        self.filter(name, f"{column} IN ({', '.join('?' * len(values))})", *values)

    @property
    def sql(self) -> str:
        return " AND ".join(self.parts)


def _single(req: QueryRequest, name: str, required: bool = False) -> str | int | None:
    slots = req.params.get(name)
    if slots is None:
        if required:
            raise QueryError("XDSStoredQueryParamNumber", f"required parameter {name} is missing", name)
        return None
    if len(slots) != 1 or len(slots[0]) != 1:
        raise QueryError("XDSStoredQueryParamNumber", f"parameter {name} takes a single value", name)
    return slots[0][0]


def _list(req: QueryRequest, name: str, required: bool = False) -> list[str] | None:
    slots = req.params.get(name)
    if slots is None:
        if required:
            raise QueryError("XDSStoredQueryParamNumber", f"required parameter {name} is missing", name)
        return None
    values = [v for s in slots for v in s]
    if not all(isinstance(v, str) for v in values):
        raise QueryError("XDSRegistryError", f"parameter {name} takes quoted strings", name)
    return [str(v) for v in values]


def _patient(where: Where, req: QueryRequest, name: str) -> None:
    """The patient parameter, required, a CX (ITI TF-2a §3.18.4.1.2.3.8), as ``patient_id = ?``."""
    value = _single(req, name, required=True)
    if where.rules.patient_syntax and (not isinstance(value, str) or "^^^" not in value or "&" not in value):
        raise QueryError("XDSRegistryError", f"{name} {value!r} is not a CX patient id (id^^^&oid&ISO)", name)
    where.filter(name, "patient_id = ?", str(value))


def _status(where: Where, req: QueryRequest, name: str, required: bool = True) -> None:
    values = _list(req, name, required)
    if values is None:
        return
    bad = [v for v in values if not v.startswith("urn:")]
    if bad:
        raise QueryError("XDSRegistryError", f"{name}: {bad[0]!r} is not a status URN", name)
    where.in_("status", values, name)


def _codes(where: Where, req: QueryRequest, name: str, column: str) -> None:
    values = _list(req, name)
    if values is None:
        return
    exact = [v for v in values if "^^" in v]
    bare = [v for v in values if "^^" not in v]
    if any(not v.split("^^")[0] for v in values):
        raise QueryError("XDSRegistryError", f"{name}: empty code", name)
    ors = []
    params: list[object] = []
    if exact:
        ors.append(f"{column} IN ({', '.join('?' * len(exact))})")
        params += exact
    for code in bare:
        ors.append(f"{column} LIKE ?")
        params.append(code + "^^%")
    where.filter(name, "(" + " OR ".join(ors) + ")", *params)


def _multi_codes(where: Where, req: QueryRequest, name: str, kind: str) -> None:
    """One EXISTS per Slot: values inside a slot are ORed, slots are ANDed (ITI TF-2a §3.18.4.1.2.3.5)."""
    slots = [[str(v) for v in slot] for slot in req.params.get(name, [])]
    if any(not slot for slot in slots):
        raise QueryError("XDSRegistryError", f"{name}: empty list", name)
    if name in where.rules.ored_slots and slots:
        slots = [[v for slot in slots for v in slot]]
    for values in slots:
        where.filter(name, f"EXISTS (SELECT 1 FROM multi m WHERE m.obj_id = objects.id AND m.kind = ? AND "
                     f"m.value IN ({', '.join('?' * len(values))}))", kind, *values)


def _time(where: Where, req: QueryRequest, name: str, column: str) -> None:
    """A ...From (inclusive) or ...To (exclusive) bound (ITI TF-2a §3.18.4.1.2.3.6)."""
    value = _single(req, name)
    if value is None:
        return
    text = str(value)
    if not text.isdigit() or len(text) < 4 or len(text) > 14:
        raise QueryError("XDSRegistryError", f"{name} {text!r} is not a DTM (YYYY[MM[DD[hh[mm[ss]]]]])", name)
    op = ">=" if name.endswith("From") else where.rules.time_to
    where.filter(name, f"{column} {op} ?", E.pad_time(text))


def _authors(where: Where, req: QueryRequest, name: str) -> None:
    values = _list(req, name)
    if values is None:
        return
    op = "LIKE" if where.rules.wildcards else "="
    ors = " OR ".join(f"m.value {op} ?" for _ in values)
    where.filter(name, f"EXISTS (SELECT 1 FROM multi m WHERE m.obj_id = objects.id AND m.kind = 'author' AND "
                 f"({ors}))", *values)


def find_documents(storage: Storage, req: QueryRequest, rules: QueryRules) -> list[Row]:
    """FindDocuments (ITI TF-2a §3.18.4.1.2.3.7.1)."""
    where = Where("kind = 'doc'", rules=rules)
    _patient(where, req, "$XDSDocumentEntryPatientId")
    _status(where, req, "$XDSDocumentEntryStatus", required=rules.status_required)
    _doc_filters(where, req)
    return storage.rows(where.sql, where.params)


def _doc_filters(where: Where, req: QueryRequest) -> None:
    for name, column in (("ClassCode", "class_code"), ("TypeCode", "type_code"),
                         ("PracticeSettingCode", "practice_code"), ("FormatCode", "format_code"),
                         ("HealthcareFacilityTypeCode", "facility_code")):
        _codes(where, req, "$XDSDocumentEntry" + name, column)
    _multi_codes(where, req, "$XDSDocumentEntryEventCodeList", "event")
    _multi_codes(where, req, "$XDSDocumentEntryConfidentialityCode", "conf")
    for name, column in (("CreationTime", "creation_time"), ("ServiceStartTime", "service_start"),
                         ("ServiceStopTime", "service_stop")):
        _time(where, req, f"$XDSDocumentEntry{name}From", column)
        _time(where, req, f"$XDSDocumentEntry{name}To", column)
    _authors(where, req, "$XDSDocumentEntryAuthorPerson")
    types = _list(req, "$XDSDocumentEntryType")
    if types is not None and E.DOC_OBJECT_TYPE not in types:
        where.add("1 = 0")  # only stable entries are registered here (no On-Demand Documents)


def find_by_reference_id(storage: Storage, req: QueryRequest, rules: QueryRules) -> list[Row]:
    """FindDocumentsByReferenceId (ITI TF-2a §3.18.4.1.2.3.7.14): any of the given referenceIds."""
    where = Where("kind = 'doc'", rules=rules)
    _patient(where, req, "$XDSDocumentEntryPatientId")
    _status(where, req, "$XDSDocumentEntryStatus")
    name = "$XDSDocumentEntryReferenceIdList"
    refs = _list(req, name, required=True) or []
    if not refs:
        raise QueryError("XDSStoredQueryParamNumber", f"{name} is empty")
    where.filter(name, "EXISTS (SELECT 1 FROM multi m WHERE m.obj_id = objects.id AND m.kind = 'refid' AND "
                 f"m.value IN ({', '.join('?' * len(refs))}))", *refs)
    _doc_filters(where, req)
    return storage.rows(where.sql, where.params)


def _uuid_or_unique(req: QueryRequest, uuid_name: str, unique_name: str) -> tuple[str, list[str]]:
    uuids, uniques = _list(req, uuid_name), _list(req, unique_name)
    if (uuids is None) == (uniques is None):
        raise QueryError("XDSStoredQueryParamNumber", f"give exactly one of {uuid_name} and {unique_name}")
    return ("id", uuids) if uuids is not None else ("unique_id", uniques or [])


def get_documents(storage: Storage, req: QueryRequest, rules: QueryRules) -> list[Row]:
    """GetDocuments (ITI TF-2a §3.18.4.1.2.3.7.5): by entryUUID or uniqueId, any status."""
    column, values = _uuid_or_unique(req, "$XDSDocumentEntryEntryUUID", "$XDSDocumentEntryUniqueId")
    if not values:
        return []
    where = Where("kind = 'doc'")
    where.in_(column, values)
    return storage.rows(where.sql, where.params)


def find_submission_sets(storage: Storage, req: QueryRequest, rules: QueryRules) -> list[Row]:
    """FindSubmissionSets (ITI TF-2a §3.18.4.1.2.3.7.2)."""
    where = Where("kind = 'ss'", rules=rules)
    _patient(where, req, "$XDSSubmissionSetPatientId")
    _status(where, req, "$XDSSubmissionSetStatus")
    sources = _list(req, "$XDSSubmissionSetSourceId")
    if sources is not None:
        where.in_("source_id", sources, "$XDSSubmissionSetSourceId")
    _time(where, req, "$XDSSubmissionSetSubmissionTimeFrom", "submission_time")
    _time(where, req, "$XDSSubmissionSetSubmissionTimeTo", "submission_time")
    _authors(where, req, "$XDSSubmissionSetAuthorPerson")
    _codes(where, req, "$XDSSubmissionSetContentType", "content_type")
    return storage.rows(where.sql, where.params)


def _associations_of(storage: Storage, ids: list[str], types: list[str] | None = None) -> list[Row]:
    if not ids:
        return []
    marks = ", ".join("?" * len(ids))
    where = Where(f"kind = 'assoc' AND (source IN ({marks}) OR target IN ({marks}))", *ids, *ids)
    if types is not None:
        where.in_("assoc_type", types)
    return storage.rows(where.sql, where.params)


def get_submission_set_and_contents(storage: Storage, req: QueryRequest, rules: QueryRules) -> list[Row]:
    """GetSubmissionSetAndContents (ITI TF-2a §3.18.4.1.2.3.7.8)."""
    column, values = _uuid_or_unique(req, "$XDSSubmissionSetEntryUUID", "$XDSSubmissionSetUniqueId")
    where = Where("kind = 'ss'")
    where.in_(column, values[:1])
    sets = storage.rows(where.sql, where.params)
    if not sets:
        return []
    members = [r for r in _associations_of(storage, [sets[0].id], [E.HAS_MEMBER]) if r.kind == "assoc"]
    member_rows = storage.rows_by_ids(_targets(members))
    doc_where = Where("kind = 'doc'", rules=rules)
    doc_where.in_("id", [r.id for r in member_rows if r.kind == "doc"] or [""])
    _codes(doc_where, req, "$XDSDocumentEntryFormatCode", "format_code")
    _multi_codes(doc_where, req, "$XDSDocumentEntryConfidentialityCode", "conf")
    docs = storage.rows(doc_where.sql, doc_where.params)
    others = [r for r in member_rows if r.kind != "doc"]
    kept = {r.id for r in docs + others} | {sets[0].id}
    assocs = [a for a in members if _target_of(a) in kept]
    return sets + docs + others + assocs


def _target_of(row: Row) -> str:
    from lxml import etree

    return etree.fromstring(row.xml).get("targetObject", "")


def _targets(rows: list[Row]) -> list[str]:
    return [_target_of(r) for r in rows]


def get_associations(storage: Storage, req: QueryRequest, rules: QueryRules) -> list[Row]:
    """GetAssociations (ITI TF-2a §3.18.4.1.2.3.7.6): every association whose source or target is $uuid."""
    return _associations_of(storage, _list(req, "$uuid", required=True) or [])


def get_documents_and_associations(storage: Storage, req: QueryRequest, rules: QueryRules) -> list[Row]:
    """GetDocumentsAndAssociations (ITI TF-2a §3.18.4.1.2.3.7.7)."""
    docs = get_documents(storage, req, rules)
    return docs + _associations_of(storage, [d.id for d in docs])


def get_submission_sets(storage: Storage, req: QueryRequest, rules: QueryRules) -> list[Row]:
    """GetSubmissionSets (ITI TF-2a §3.18.4.1.2.3.7.9): the sets holding the $uuid objects."""
    ids = _list(req, "$uuid", required=True) or []
    if not ids:
        return []
    where = Where("kind = 'assoc' AND assoc_type = ?", E.HAS_MEMBER)
    where.in_("target", ids)
    assocs = storage.rows(where.sql, where.params)
    sources = storage.query(f"SELECT source FROM objects WHERE id IN ({', '.join('?' * len(assocs))})",
                            [a.id for a in assocs]) if assocs else []
    sets = [r for r in storage.rows_by_ids(s[0] for s in sources) if r.kind == "ss"]
    set_ids = {s.id for s in sets}
    assocs = [a for a, s in zip(assocs, sources, strict=False) if s[0] in set_ids]
    return sets + assocs


def get_related_documents(storage: Storage, req: QueryRequest, rules: QueryRules) -> list[Row]:
    """GetRelatedDocuments (ITI TF-2a §3.18.4.1.2.3.7.13): RPLC, signs... around one entry."""
    column, values = _uuid_or_unique(req, "$XDSDocumentEntryEntryUUID", "$XDSDocumentEntryUniqueId")
    types = _list(req, "$AssociationTypes", required=True)
    where = Where("kind = 'doc'")
    where.in_(column, values[:1])
    docs = storage.rows(where.sql, where.params)
    if not docs:
        return []
    assocs = _associations_of(storage, [docs[0].id], types)
    if not assocs:
        return []
    ends = storage.query(f"SELECT source, target FROM objects WHERE id IN ({', '.join('?' * len(assocs))})",
                         [a.id for a in assocs])
    others = {x for pair in ends for x in pair} - {docs[0].id}
    related = [r for r in storage.rows_by_ids(others) if r.kind == "doc"]
    return docs + related + assocs


def get_all(storage: Storage, req: QueryRequest, rules: QueryRules) -> list[Row]:
    """GetAll (ITI TF-2a §3.18.4.1.2.3.7.11): a patient's entries, sets, folders and associations."""
    out: list[Row] = []
    for kind, name in (("doc", "$XDSDocumentEntryStatus"), ("ss", "$XDSSubmissionSetStatus"),
                       ("folder", "$XDSFolderStatus")):
        where = Where("kind = ?", kind, rules=rules)
        _patient(where, req, "$patientId")
        _status(where, req, name)
        if kind == "doc":
            _multi_codes(where, req, "$XDSDocumentEntryConfidentialityCode", "conf")
            _codes(where, req, "$XDSDocumentEntryFormatCode", "format_code")
        out += storage.rows(where.sql, where.params)
    ids = {r.id for r in out}
    assocs = [a for a in _associations_of(storage, list(ids)) if _ends_in(a, ids)]
    return out + assocs


def _ends_in(row: Row, ids: set[str]) -> bool:
    from lxml import etree

    elem = etree.fromstring(row.xml)
    return elem.get("sourceObject") in ids and elem.get("targetObject") in ids


def find_folders(storage: Storage, req: QueryRequest, rules: QueryRules) -> list[Row]:
    """FindFolders (ITI TF-2a §3.18.4.1.2.3.7.3): patient and status."""
    where = Where("kind = 'folder'", rules=rules)
    _patient(where, req, "$XDSFolderPatientId")
    _status(where, req, "$XDSFolderStatus")
    return storage.rows(where.sql, where.params)


QueryFn = Callable[[Storage, QueryRequest, QueryRules], list[Row]]

QUERIES: dict[str, QueryFn] = {
    "FindDocuments": find_documents,
    "FindDocumentsByReferenceId": find_by_reference_id,
    "FindSubmissionSets": find_submission_sets,
    "FindFolders": find_folders,
    "GetAll": get_all,
    "GetDocuments": get_documents,
    "GetAssociations": get_associations,
    "GetDocumentsAndAssociations": get_documents_and_associations,
    "GetSubmissionSets": get_submission_sets,
    "GetSubmissionSetAndContents": get_submission_set_and_contents,
    "GetRelatedDocuments": get_related_documents,
}


def run_query(storage: Storage, req: QueryRequest, rules: QueryRules | None = None,
              queries: Mapping[str, QueryFn] = QUERIES) -> list[Row]:
    """Run ``req`` with the query function ``queries`` names for it (faults swap one)."""
    fn = queries.get(req.name or "")
    if fn is None:
        raise QueryError("XDSUnknownStoredQuery", f"stored query {req.query_id} is not supported here",
                         req.query_id)
    return fn(storage, req, rules or QueryRules())
