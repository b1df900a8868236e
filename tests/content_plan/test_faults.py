"""Fault proof of the content plan: on ``reference:content?fault=F`` the plan fails exactly F.breaks.

Every fault goes through the plan's own verdict logic (``testplans/content/verdicts.py``, which its tests
call) in this process; ``tests/test_proofs.py`` runs one fault per rule family through ``drimcheck run``,
which ties that logic to the plan as a campaign runs it.
"""

from __future__ import annotations

import pytest

from fixtures.reference_content import FAULTS
from harness.sut import load_profile
from testplans.content.verdicts import failed_requirements, run_content


def spec(fault: str | None) -> str:
    return "reference:content" + (f"?fault={fault}" if fault else "")


def test_reference_fails_nothing(tmp_path):
    assert failed_requirements(run_content(load_profile(spec(None)), tmp_path)) == set()


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_fault_fails_exactly_its_requirements(fault, tmp_path):
    run = run_content(load_profile(spec(fault)), tmp_path)
    assert failed_requirements(run) == set(FAULTS[fault].breaks)
