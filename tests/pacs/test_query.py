"""Matching rules of PS3.4 C.2.2.2, table-driven (sans-IO: no network)."""

from __future__ import annotations

import pytest
from pydicom.dataset import Dataset

from simulators.pacs.query import QueryError, find, match_value, prefilter, query_level
from simulators.pacs.store import Record

CASES = [
    # vr, query, stored, matches
    ("LO", "", "anything", True),  # universal
    ("LO", "*", "anything", True),
    ("LO", "ABC", "ABC", True),  # single value
    ("LO", "ABC", "ABD", False),
    ("LO", "AB*", "ABCDEF", True),  # wildcard
    ("LO", "A?C", "ABC", True),
    ("LO", "A?C", "ABBC", False),
    ("LO", "[x]*", "[x]yz", True),  # brackets are literal, not a character class
    ("PN", "dup*", "DUPONT^Hélène", True),  # PN case-insensitive
    ("PN", "*hélène", "DUPONT^Hélène", True),
    ("UI", "1.2.3\\1.2.4", "1.2.4", True),  # UID list
    ("UI", "1.2.3\\1.2.4", "1.2.5", False),
    ("UI", "1.2.3", "1.2.33", False),
    ("DA", "20250101-20251231", "20250314", True),  # range
    ("DA", "20250101-20251231", "20240314", False),
    ("DA", "-20250314", "20250314", True),
    ("DA", "20250315-", "20250314", False),
    ("DA", "20250314", "20250314", True),
    ("TM", "1000-1100", "101500", True),
    ("TM", "1016-1100", "101500", False),
    ("CS", "CT\\MR", "MR", True),  # value list on a non-UID key
]


@pytest.mark.parametrize(("vr", "query", "stored", "expected"), CASES)
def test_match_value(vr: str, query: str, stored: str, expected: bool) -> None:
    assert match_value(vr, query, stored) is expected


def _rec(**values: str) -> Record:
    from pathlib import Path

    return Record(values, "1.2.840.10008.1.2.1", Path("/nonexistent"), 0)


RECORDS = [
    _rec(StudyInstanceUID="1.1", SeriesInstanceUID="1.1.1", SOPInstanceUID="1.1.1.1", PatientID="P1",
         PatientName="DUPONT^Hélène", Modality="CT", StudyDate="20250314"),
    _rec(StudyInstanceUID="1.1", SeriesInstanceUID="1.1.2", SOPInstanceUID="1.1.2.1", PatientID="P1",
         PatientName="DUPONT^Hélène", Modality="SR", StudyDate="20250314"),
    _rec(StudyInstanceUID="1.2", SeriesInstanceUID="1.2.1", SOPInstanceUID="1.2.1.1", PatientID="P2",
         PatientName="MARTIN^Paul", Modality="MR", StudyDate="20240101"),
]


def _identifier(level: str, **keys: object) -> Dataset:
    ds = Dataset()
    ds.QueryRetrieveLevel = level
    for k, v in keys.items():
        setattr(ds, k, v)
    return ds


def test_study_level_groups_instances_and_counts() -> None:
    answers = find(_identifier("STUDY", StudyInstanceUID="", PatientName="dup*", ModalitiesInStudy="",
                               NumberOfStudyRelatedInstances="", NumberOfStudyRelatedSeries=""), RECORDS, "AET")
    assert len(answers) == 1
    ds = answers[0]
    assert ds.StudyInstanceUID == "1.1"
    assert list(ds.ModalitiesInStudy) == ["CT", "SR"]
    assert int(ds.NumberOfStudyRelatedInstances) == 2
    assert int(ds.NumberOfStudyRelatedSeries) == 2
    assert ds.RetrieveAETitle == "AET"


def test_series_level_with_date_range_and_modality_list() -> None:
    answers = find(_identifier("SERIES", StudyDate="2025-", Modality="CT\\MR", SeriesInstanceUID=""), RECORDS)
    assert [a.SeriesInstanceUID for a in answers] == ["1.1.1"]


def test_image_level_returns_hierarchy_uids() -> None:
    answers = find(_identifier("IMAGE", SOPInstanceUID="1.2.1.1"), RECORDS)
    assert [(a.StudyInstanceUID, a.SeriesInstanceUID) for a in answers] == [("1.2", "1.2.1")]


def test_key_below_the_level_is_not_used_for_matching() -> None:
    """An IMAGE-level key in a STUDY-level query does not filter (PS3.4 C.4.1.2.1)."""
    assert len(find(_identifier("STUDY", SOPInstanceUID="9.9"), RECORDS)) == 2


@pytest.mark.parametrize("level", ["", "PATIENT", "FRAME", "study "])
def test_invalid_level_is_a900(level: str) -> None:
    if level == "study ":  # case and padding are tolerated
        assert query_level(_identifier(level)) == "STUDY"
        return
    with pytest.raises(QueryError) as info:
        query_level(_identifier(level))
    assert info.value.status == 0xA900


def test_prefilter_uses_only_uids_at_or_above_level() -> None:
    ident = _identifier("SERIES", StudyInstanceUID="1.1\\1.2", SOPInstanceUID="1.1.1.1")
    assert prefilter(ident, "SERIES") == {"study_uid": ["1.1", "1.2"]}
    assert prefilter(_identifier("STUDY", StudyInstanceUID="1.*"), "STUDY") == {}


def test_patient_root_patient_level_with_counts() -> None:
    answers = find(_identifier("PATIENT", PatientID="", PatientName="", NumberOfPatientRelatedStudies="",
                               NumberOfPatientRelatedInstances=""), RECORDS, model="patient")
    by_id = {a.PatientID: a for a in answers}
    assert set(by_id) == {"P1", "P2"}
    assert int(by_id["P1"].NumberOfPatientRelatedStudies) == 1
    assert int(by_id["P1"].NumberOfPatientRelatedInstances) == 2
    assert "StudyInstanceUID" not in by_id["P1"]


def test_patient_root_study_level_carries_patient_id() -> None:
    answers = find(_identifier("STUDY", PatientID="P2", StudyInstanceUID=""), RECORDS, model="patient")
    assert [(a.PatientID, a.StudyInstanceUID) for a in answers] == [("P2", "1.2")]
    assert prefilter(_identifier("STUDY", PatientID="P2"), "STUDY", "patient") == {"patient_id": ["P2"]}


def test_patient_level_is_invalid_in_study_root() -> None:
    with pytest.raises(QueryError):
        query_level(_identifier("PATIENT"), "study")
    assert query_level(_identifier("PATIENT"), "patient") == "PATIENT"
