"""QIDO-RS search over the embedded store (DICOM PS3.18 §10.6), sharing C-FIND matching.

Query parameters name attributes by keyword or by tag (``PatientID=...`` or ``00100020=...``),
``includefield`` adds return keys, ``limit``/``offset`` page (PS3.18 §8.3.4). Answers are
``application/dicom+json`` arrays (PS3.18 Annex F).
"""

from __future__ import annotations

from pydicom.datadict import keyword_for_tag, tag_for_keyword
from pydicom.dataset import Dataset
from pydicom.tag import Tag

from simulators.pacs.query import QueryError, find, prefilter
from simulators.pacs.store import InstanceStore

# Default return attributes per level, PS3.18 §10.6.3.3.1-3 (Tables 10.6.3-3 to -5), within what we index
RETURN_KEYS: dict[str, tuple[str, ...]] = {
    "STUDY": ("StudyDate", "StudyTime", "AccessionNumber", "ModalitiesInStudy", "ReferringPhysicianName",
              "PatientName", "PatientID", "IssuerOfPatientID", "PatientBirthDate", "PatientSex",
              "StudyInstanceUID", "StudyID", "StudyDescription", "NumberOfStudyRelatedSeries",
              "NumberOfStudyRelatedInstances"),
    "SERIES": ("Modality", "SeriesDescription", "SeriesNumber", "SeriesInstanceUID", "SeriesDate",
               "BodyPartExamined", "NumberOfSeriesRelatedInstances"),
    "IMAGE": ("SOPClassUID", "SOPInstanceUID", "InstanceNumber", "Rows", "Columns", "NumberOfFrames"),
}
_CONTROL = {"limit", "offset", "fuzzymatching", "includefield"}
MAX_LIMIT = 10_000


def _keyword(name: str) -> str:
    """``PatientID`` or ``00100020`` -> keyword; ValueError for anything else."""
    if len(name) == 8 and all(c in "0123456789abcdefABCDEF" for c in name):
        kw = keyword_for_tag(Tag(int(name, 16)))
        if kw:
            return kw
    elif tag_for_keyword(name) is not None:
        return name
    raise ValueError(f"unknown attribute {name[:40]!r} in query")


def build_identifier(level: str, params: list[tuple[str, str]], study: str | None = None,
                     series: str | None = None) -> tuple[Dataset, int, int]:
    """Query parameters -> (C-FIND identifier, limit, offset). ValueError on a bad parameter."""
    ds = Dataset()
    ds.QueryRetrieveLevel = level
    for kw in RETURN_KEYS[level]:
        setattr(ds, kw, None if kw in ("Rows", "Columns") else "")
    limit, offset = MAX_LIMIT, 0
    for name, value in params:
        if name == "limit":
            limit = _nonneg(name, value)
        elif name == "offset":
            offset = _nonneg(name, value)
        elif name == "includefield":
            for field in value.split(","):
                if field and field != "all":
                    setattr(ds, _keyword(field), "")
        elif name not in _CONTROL:
            setattr(ds, _keyword(name), value)
    if study:
        ds.StudyInstanceUID = study
    if series:
        ds.SeriesInstanceUID = series
    return ds, min(limit, MAX_LIMIT), offset


def _nonneg(name: str, value: str) -> int:
    if not value.isdigit():
        raise ValueError(f"{name} must be a non-negative integer, got {value[:20]!r}")
    return int(value)


def search(store: InstanceStore, level: str, params: list[tuple[str, str]], base_url: str,
           study: str | None = None, series: str | None = None, aet: str = "") -> list[dict]:
    """Run one QIDO-RS search; each answer carries its RetrieveURL (0008,1190)."""
    identifier, limit, offset = build_identifier(level, params, study, series)
    try:
        answers = find(identifier, store.records(prefilter(identifier, level)), aet)
    except QueryError as exc:
        raise ValueError(str(exc)) from None
    out = []
    for ds in answers[offset: offset + limit]:
        url = f"{base_url}/studies/{ds.StudyInstanceUID}"
        if level in ("SERIES", "IMAGE"):
            url += f"/series/{ds.SeriesInstanceUID}"
        if level == "IMAGE":
            url += f"/instances/{ds.SOPInstanceUID}"
        ds.RetrieveURL = url
        del ds.QueryRetrieveLevel
        out.append(ds.to_json_dict())
    return out
