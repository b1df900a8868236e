"""Fixtures of the DMP simulator tests: a served simulator on SQLite and, when a DSN is given,
on PostgreSQL (env DRIMCHECK_PG_DSN, e.g. postgresql://drimcheck:drimcheck@127.0.0.1:5432/drimcheck)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from simulators.dmp import reference
from simulators.dmp.config import DmpConfig

from .dmp_testing import PG_DSN


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'dmp.sqlite'}"
    if not PG_DSN:
        pytest.skip("PostgreSQL backend: set DRIMCHECK_PG_DSN to run these tests on it")
    return PG_DSN


@pytest.fixture
def dmp_server(db_url: str, tmp_path: Path) -> Iterator[reference.Reference]:
    with reference.start(DmpConfig(db=db_url, workdir=tmp_path, vihf="off")) as ref:
        yield ref


@pytest.fixture
def sqlite_server(tmp_path: Path) -> Iterator[reference.Reference]:
    with reference.start(DmpConfig(workdir=tmp_path, vihf="off", max_body_bytes=2 * 1024 * 1024)) as ref:
        yield ref
