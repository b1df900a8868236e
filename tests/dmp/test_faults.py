"""Fault proof of the DMP simulator: the dmp plan passes on the reference, and with each named
fault it fails exactly the requirements the fault names (DESIGN.md, "the reference implementation
and its faults"). The plan runs in subprocesses, all faults at once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from simulators.dmp import FAULTS

REPO = Path(__file__).resolve().parents[2]


def run_plan(spec: str, out: Path) -> tuple[set[str], list[str], str]:
    """(failed requirement ids, failed test ids, output) of ``pytest testplans/dmp --sut spec``."""
    results = out / "results.json"
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "testplans/dmp",
                           "--sut", spec, f"--drimcheck-results={results}", "-o", "addopts=-p harness.pytest_plugin"],
                          capture_output=True, text=True, cwd=REPO, env=dict(os.environ), timeout=600, check=False)
    if not results.exists():
        return set(), [], proc.stdout + proc.stderr
    tests = json.loads(results.read_text())["tests"]
    failed = [t for t in tests if t["outcome"] in ("failed", "error")]
    details = [f"{t['nodeid']}: {t['failure'] or (t['message'] or '')[-800:]}" for t in failed]
    return {r for t in failed for r in t["requirements"]}, details, proc.stdout[-3000:]


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str | None, tuple[set[str], list[str], str]]:
    specs = {None: "reference:dmp", **{f: f"reference:dmp?fault={f}" for f in FAULTS}}
    with ThreadPoolExecutor(max_workers=min(4, len(specs))) as pool:
        futures = {k: pool.submit(run_plan, spec, tmp_path_factory.mktemp(str(k))) for k, spec in specs.items()}
        return {k: f.result() for k, f in futures.items()}


def test_plan_passes_on_the_reference(runs):
    failed, tests, output = runs[None]
    assert failed == set() and tests == [], output


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_fault_fails_exactly_its_requirements(runs, fault):
    failed, tests, output = runs[fault]
    assert failed == set(FAULTS[fault].breaks), f"failed tests: {tests}\n{output}"


def test_at_least_three_faults():
    assert len(FAULTS) >= 3
