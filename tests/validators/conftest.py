"""Shared fixtures of the validator tests: the corpus folder (skip when absent) and the good set."""

from __future__ import annotations

from pathlib import Path

import pytest

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus"


def corpus_file(rel: str) -> Path:
    path = CORPUS / rel
    if not path.exists():
        pytest.skip(f"corpus file missing: {path}")
    return path


@pytest.fixture(name="corpus_file")
def corpus_file_fixture():
    """corpus_file(rel) -> Path under ../shared/corpus, or skip naming the missing path."""
    return corpus_file


@pytest.fixture(scope="session")
def good() -> dict[str, bytes]:
    """This package's own good set (stable values the unit tests assert on); the shared fixture set that
    ``reference:content`` uses is checked by test_mutations.py and test_fixture_set.py."""
    from fixtures.mutations.goodset import own_good_set

    return own_good_set()
