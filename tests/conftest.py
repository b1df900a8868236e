"""Project tests: shared paths, the corpus guard and the leak guard."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.leaks import leaks_since, snapshot

REPO = Path(__file__).resolve().parent.parent
CORPUS = REPO.parent / "shared" / "corpus"


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
