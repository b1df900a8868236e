"""Fault proof of the content plan: on ``reference:content?fault=F`` the plan fails exactly F.breaks.

Every fault goes through the plan's own verdict logic (``testplans/content/verdicts.py``, which its tests
call) in this process; the reference and two faults also go through a real pytest session of the plan
with its raw results file, which ties that logic to the plan as ``drimcheck run`` runs it (the lead's
``tests/test_proofs.py`` runs every fault that way).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from fixtures.reference_content import FAULTS
from harness.sut import load_profile
from testplans.content.verdicts import failed_requirements, run_content

REPO = Path(__file__).resolve().parents[2]


def spec(fault: str | None) -> str:
    return "reference:content" + (f"?fault={fault}" if fault else "")


def test_reference_fails_nothing(tmp_path):
    assert failed_requirements(run_content(load_profile(spec(None)), tmp_path)) == set()


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_fault_fails_exactly_its_requirements(fault, tmp_path):
    run = run_content(load_profile(spec(fault)), tmp_path)
    assert failed_requirements(run) == set(FAULTS[fault].breaks)


@pytest.mark.parametrize("fault", [None, "missing-retrieve-url", "hl7-masking-mismatch"])
def test_real_plan_session(fault, tmp_path):
    results = tmp_path / "results.json"
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           str(REPO / "testplans" / "content"), "--sut", spec(fault), "--drimcheck-results",
                           str(results)], capture_output=True, text=True, cwd=str(REPO), timeout=300, check=False)
    assert results.exists(), proc.stdout[-2000:] + proc.stderr[-2000:]
    data = json.loads(results.read_text())
    failed = {rid for t in data["tests"] if t["outcome"] in ("failed", "error") for rid in t["requirements"]}
    assert failed == (set(FAULTS[fault].breaks) if fault else set())
    assert sum(t["outcome"] == "passed" for t in data["tests"]) > 50
