"""Project tests: shared paths, the session's environment, the corpus guard and the leak guard."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from harness.leaks import leaks_since, snapshot

REPO = Path(__file__).resolve().parent.parent
CORPUS = REPO.parent / "shared" / "corpus"
FIXTURE_CACHE = "DRIMCHECK_FIXTURE_CACHE"  # fixtures.studies.CACHE_ENV
_OWN_CACHE = pytest.StashKey[str]()


def pytest_configure(config: pytest.Config) -> None:
    """The environment every process of the session inherits (xdist workers, ``drimcheck serve`` and
    ``drimcheck run`` of the black-box proofs, their plan processes):
    - one folder where generated fixture studies are shared (equal specs give equal bytes), removed at the end;
    - OpenBLAS on one thread: numpy, which pydicom imports, otherwise starts a thread per core that spins
      ~0.1 s of CPU in each process, and no test computes with BLAS."""
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    if not hasattr(config, "workerinput") and not os.environ.get(FIXTURE_CACHE):
        folder = tempfile.mkdtemp(prefix="drimcheck-fixtures-")
        os.environ[FIXTURE_CACHE] = folder
        config.stash[_OWN_CACHE] = folder


def pytest_unconfigure(config: pytest.Config) -> None:
    folder = config.stash.get(_OWN_CACHE, None)
    if folder:
        shutil.rmtree(folder, ignore_errors=True)
        os.environ.pop(FIXTURE_CACHE, None)


@pytest.fixture(scope="session")
def corpus() -> Path:
    """The third-party corpus beside the checkout; tests that need it skip when it is absent."""
    if not CORPUS.is_dir():
        pytest.skip(f"third-party corpus missing: {CORPUS}")
    return CORPUS


# --- leak guard --------------------------------------------------------------------------------
# Fixtures of wider scope are set up before this function-scoped guard and torn down after it,
# so what they start is not counted; only what the test itself (and its function fixtures) left.


@pytest.fixture(autouse=True)
def leak_guard():
    """Fail a test that leaks a thread, a listening socket or a child process."""
    before = snapshot()
    yield
    leaked = leaks_since(before)
    if leaked:
        pytest.fail(f"test left behind: {', '.join(sorted(leaked))}", pytrace=False)
