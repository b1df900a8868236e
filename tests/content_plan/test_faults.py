"""Fault proof of the content plan: on ``reference:content?fault=F`` the plan fails exactly F.breaks.

Each run is a real pytest session of ``testplans/content`` (as ``drimcheck run`` starts it), with
its raw results file; the runs go in parallel, one per core, and each parametrized test reads its own.
The reference itself (no fault) must fail nothing.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from fixtures.reference_content import FAULTS

REPO = Path(__file__).resolve().parents[2]
CASES = [None, *sorted(FAULTS)]


def run_plan(fault: str | None, out: Path) -> dict:
    spec = "reference:content" + (f"?fault={fault}" if fault else "")
    results = out / f"{fault or 'reference'}.json"
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly",
                           str(REPO / "testplans" / "content"), "--sut", spec, "--drimcheck-results", str(results)],
                          capture_output=True, text=True, cwd=str(REPO), timeout=300, check=False)
    assert results.exists(), proc.stdout[-2000:] + proc.stderr[-2000:]
    return json.loads(results.read_text())


def failed_requirements(results: dict) -> set[str]:
    return {rid for t in results["tests"] if t["outcome"] in ("failed", "error") for rid in t["requirements"]}


@pytest.fixture(scope="module")
def plan_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str | None, dict]:
    out = tmp_path_factory.mktemp("content-faults")
    with ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2)) as pool:
        return dict(zip(CASES, pool.map(lambda f: run_plan(f, out), CASES), strict=True))


def test_reference_fails_nothing(plan_runs):
    results = plan_runs[None]
    assert failed_requirements(results) == set()
    assert sum(t["outcome"] == "passed" for t in results["tests"]) > 50


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_fault_fails_exactly_its_requirements(plan_runs, fault):
    assert failed_requirements(plan_runs[fault]) == set(FAULTS[fault].breaks)
