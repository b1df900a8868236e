"""Fixtures of the content plan: the files under test, validated once per session.

With ``sut.reference`` (``reference:content[?fault=NAME]``) the good set of ``fixtures.reference_content``
is written to a temporary folder (with the fault's mutation applied). Otherwise the SUT profile lists
its files (``files:``) and may give ``options`` (see ``verdicts.run_content``).
"""

from __future__ import annotations

from typing import Any

import pytest

from testplans.content.verdicts import ContentRun, run_content


@pytest.fixture(scope="session")
def content(sut: Any, tmp_path_factory: pytest.TempPathFactory) -> ContentRun:
    return run_content(sut, tmp_path_factory.mktemp("content"))
