"""Fixtures for the XDS tests."""

from __future__ import annotations

import pytest
from xds_testdata import good_submission


@pytest.fixture
def good():
    return good_submission()
