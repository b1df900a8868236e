"""Study Root query matching, sans-IO: an identifier and index records in, answer datasets out.

Matching rules of DICOM PS3.4 C.2.2.2: single value, universal (empty), wildcard (``*``, ``?``),
range (dates and times ``a-b``, ``-b``, ``a-``), and UID list (``\\``-separated). Person names
match case-insensitively (PS3.4 C.2.2.2.1 lets the SCP choose). Shared by C-FIND and QIDO-RS.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable

from pydicom.dataset import Dataset

from simulators.pacs.store import COLUMNS, Record

LEVELS = ("STUDY", "SERIES", "IMAGE")  # Study Root, PS3.4 C.6.2
MODELS: dict[str, tuple[str, ...]] = {
    "study": LEVELS,  # Study Root Query/Retrieve Information Model, PS3.4 C.6.2
    "patient": ("PATIENT", *LEVELS),  # Patient Root Query/Retrieve Information Model, PS3.4 C.6.1
}
PATIENT_KEYS = {"PatientID", "IssuerOfPatientID", "PatientName", "PatientBirthDate", "PatientSex"}

# keyword -> VR, for the attributes we match on (PS3.6)
VR: dict[str, str] = {
    "PatientID": "LO", "IssuerOfPatientID": "LO", "PatientName": "PN", "PatientBirthDate": "DA",
    "PatientSex": "CS", "StudyInstanceUID": "UI", "StudyDate": "DA", "StudyTime": "TM",
    "AccessionNumber": "SH", "StudyID": "SH", "StudyDescription": "LO", "ReferringPhysicianName": "PN",
    "SeriesInstanceUID": "UI", "Modality": "CS", "SeriesNumber": "IS", "SeriesDescription": "LO",
    "SeriesDate": "DA", "BodyPartExamined": "CS", "StationName": "SH", "SOPInstanceUID": "UI",
    "SOPClassUID": "UI", "InstanceNumber": "IS", "Rows": "US", "Columns": "US", "NumberOfFrames": "IS",
    "ModalitiesInStudy": "CS",
}
UNIQUE_KEY = {"PATIENT": "PatientID", "STUDY": "StudyInstanceUID", "SERIES": "SeriesInstanceUID",
              "IMAGE": "SOPInstanceUID"}
_LEVEL_OF = {kw: level for kw, level in COLUMNS.values()}
_RANGE_VRS = {"DA", "TM", "DT"}
_COUNTS = {
    "NumberOfPatientRelatedStudies": "PATIENT", "NumberOfPatientRelatedSeries": "PATIENT",
    "NumberOfPatientRelatedInstances": "PATIENT",
    "NumberOfStudyRelatedSeries": "STUDY", "NumberOfStudyRelatedInstances": "STUDY",
    "NumberOfSeriesRelatedInstances": "SERIES", "ModalitiesInStudy": "STUDY",
}


class QueryError(Exception):
    """An identifier we cannot answer; ``status`` is the C-FIND failure status (PS3.4 C.4.1.1.4)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def match_value(vr: str, query: str, stored: str) -> bool:
    """True when ``stored`` matches the query value ``query`` (PS3.4 C.2.2.2)."""
    if query in ("", "*"):
        return True
    if vr == "UI":
        return stored in query.split("\\")
    if vr in _RANGE_VRS and "-" in query:
        low, _, high = query.partition("-")
        key = stored[: max(len(low), len(high))] if vr == "TM" else stored
        return (not low or key >= low) and (not high or key <= high)
    if "\\" in query and vr not in ("PN",):
        return any(match_value(vr, q, stored) for q in query.split("\\"))
    if vr == "PN":
        query, stored = query.upper(), stored.upper()
    if "*" in query or "?" in query:
        pattern = fnmatch.translate(query.replace("[", "[[]"))
        return re.match(pattern, stored, flags=re.DOTALL) is not None
    if vr in _RANGE_VRS:
        return stored.startswith(query) if vr == "TM" else stored == query
    return stored == query


def query_level(identifier: Dataset, model: str = "study") -> str:
    levels = MODELS[model]
    level = str(identifier.get("QueryRetrieveLevel", "")).strip().upper()
    if level not in levels:
        raise QueryError(0xA900, f"invalid QueryRetrieveLevel {level!r}: expected one of {levels}")
    return level


def level_of(keyword: str, model: str = "study") -> str | None:
    """Level where ``keyword`` lives in ``model`` (patient attributes move up in Patient Root)."""
    if model == "patient" and keyword in PATIENT_KEYS:
        return "PATIENT"
    return _LEVEL_OF.get(keyword)


def find(identifier: Dataset, records: Iterable[Record], retrieve_aet: str = "",
         model: str = "study") -> list[Dataset]:
    """Answers to a C-FIND (or QIDO-RS) identifier, one dataset per matching entity."""
    levels = MODELS[model]
    level = query_level(identifier, model)
    depth = levels.index(level)
    records = list(records)
    keys = [e.keyword for e in identifier if e.keyword and e.keyword != "QueryRetrieveLevel"]
    criteria = {kw: _as_query(identifier, kw) for kw in keys
                if level_of(kw, model) in levels[: depth + 1]}
    groups: dict[str, list[Record]] = {}
    for rec in records:
        if all(match_value(VR.get(kw, "LO"), q, rec[kw]) for kw, q in criteria.items()):
            groups.setdefault(rec[UNIQUE_KEY[level]], []).append(rec)
    all_records = records if _needs_counts(keys) else []
    return [_answer(levels[: depth + 1], keys, group, all_records, retrieve_aet, identifier, model)
            for group in groups.values()]


def _as_query(identifier: Dataset, keyword: str) -> str:
    value = identifier.get(keyword)
    if value is None:
        return ""
    if isinstance(value, list | tuple) or type(value).__name__ == "MultiValue":
        return "\\".join(str(v) for v in value)
    return str(value)


def _needs_counts(keys: list[str]) -> bool:
    return any(k in _COUNTS for k in keys)


def _answer(path: tuple[str, ...], keys: list[str], group: list[Record], all_records: list[Record],
            retrieve_aet: str, identifier: Dataset, model: str) -> Dataset:
    """One answer at level ``path[-1]``, with the unique keys of every level above (PS3.4 C.4.1.2.1)."""
    first = group[0]
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.QueryRetrieveLevel = path[-1]
    for kw in keys:
        if level_of(kw, model) in path:
            setattr(ds, kw, _typed(kw, first[kw]))
        elif kw in _COUNTS:
            setattr(ds, kw, _count(kw, first, all_records))
        elif kw not in ("SpecificCharacterSet", "RetrieveAETitle"):
            ds[identifier[kw].tag] = identifier[kw]  # unsupported key: returned as asked (empty)
    for level in path:
        setattr(ds, UNIQUE_KEY[level], first[UNIQUE_KEY[level]])
    if retrieve_aet:
        ds.RetrieveAETitle = retrieve_aet
    return ds


def _typed(keyword: str, value: str) -> object:
    if VR.get(keyword) in ("US",):
        return int(value) if value else None
    if VR.get(keyword) in ("IS",) and value == "":
        return None
    if "\\" in value and VR.get(keyword) in ("CS",):
        return value.split("\\")
    return value


def _count(keyword: str, first: Record, records: list[Record]) -> object:
    if keyword.startswith("NumberOfPatientRelated"):
        mine = [r for r in records if r["PatientID"] == first["PatientID"]]
        column = {"Studies": "StudyInstanceUID", "Series": "SeriesInstanceUID",
                  "Instances": "SOPInstanceUID"}[keyword.removeprefix("NumberOfPatientRelated")]
        return len({r[column] for r in mine})
    if keyword == "NumberOfSeriesRelatedInstances":
        return sum(1 for r in records if r["SeriesInstanceUID"] == first["SeriesInstanceUID"])
    in_study = [r for r in records if r["StudyInstanceUID"] == first["StudyInstanceUID"]]
    if keyword == "NumberOfStudyRelatedInstances":
        return len(in_study)
    if keyword == "NumberOfStudyRelatedSeries":
        return len({r["SeriesInstanceUID"] for r in in_study})
    return sorted({r["Modality"] for r in in_study if r["Modality"]})


def prefilter(identifier: Dataset, level: str = "IMAGE", model: str = "study") -> dict[str, list[str]]:
    """Unique keys given as single values or lists narrow the SQL read (column -> values)."""
    levels = MODELS[model]
    out: dict[str, list[str]] = {}
    columns = {kw: col for col, (kw, _) in COLUMNS.items()}
    for kw in [UNIQUE_KEY[lv] for lv in levels[: levels.index(level) + 1]]:
        value = _as_query(identifier, kw)
        if value and "*" not in value and "?" not in value:
            out[columns[kw]] = value.split("\\") if kw != "PatientID" else [value]
    return out
