"""Peers for the PACS tests: a small study on disk, the embedded PACS, Orthanc (skipped if absent)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from fixtures.studies import InstanceRef, StudySpec, write_study
from harness.dicom import load_study_into_pacs
from harness.orthanc import require_orthanc, start_orthanc
from simulators.pacs import EmbeddedPacs, start_pacs

SMALL = StudySpec(modality="CT", instances=6, series=2, rows=64, columns=64, transfer_syntax="jpeg-ls", seed=7)


@pytest.fixture(scope="session")
def small_study(tmp_path_factory: pytest.TempPathFactory) -> list[InstanceRef]:
    return write_study(SMALL, tmp_path_factory.mktemp("small-study"))


@pytest.fixture
def embedded(tmp_path: Path) -> Iterator[EmbeddedPacs]:
    with start_pacs(tmp_path / "pacs") as pacs:
        yield pacs


@pytest.fixture
def loaded(embedded: EmbeddedPacs, small_study: list[InstanceRef]) -> EmbeddedPacs:
    load_study_into_pacs([r.path for r in small_study], embedded.host, embedded.port, embedded.aet)
    return embedded


@pytest.fixture(scope="module", params=["embedded", "orthanc"])
def any_pacs(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """The same scenario against the embedded PACS and against Orthanc.

    Module-scoped (Orthanc takes seconds to stop): tests only add the same small study, idempotently.
    """
    tmp_path = tmp_path_factory.mktemp(request.param)
    if request.param == "embedded":
        with start_pacs(tmp_path / "pacs") as pacs:
            yield pacs
    else:
        require_orthanc()
        with start_orthanc(tmp_path / "orthanc") as orthanc:
            yield orthanc
