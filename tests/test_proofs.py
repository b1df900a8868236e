"""The two proofs of DESIGN.md, through the real campaign pipeline (`drimcheck run`).

1. Every plan passes on the reference implementation: no false failure.
2. For every named fault, the plan fails exactly the requirements the fault names: no missed
   fault, and no collateral failure that would make a verdict hard to explain.

The content plan has one fault per validator rule (dozens); each of them is proved through the
plan's own verdict logic in ``tests/content_plan/test_faults.py``, and here one fault per rule
family (KOS, XDS, CDA, HL7, cross-document) also goes through the whole pipeline, which ties
that logic to `drimcheck run`. Every fault of the other actors goes through the pipeline.

The reference run is also compared with a golden file (``tests/golden/<actor>.json``): the outcome,
requirements and finding rules of every test, so a test that silently turns not-applicable, loses
a requirement or starts warning shows up as a diff. ``DRIMCHECK_UPDATE_GOLDEN=1`` rewrites them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness.faults import REFERENCE_MODULES, faults_of
from harness.runner import REFERENCE_SPECS, available_plans, reference_actors

REPO = Path(__file__).resolve().parent.parent
GOLDEN = REPO / "tests" / "golden"
OPTIONAL_TOOLS = {"dciodvfy"}  # their findings depend on what the machine has installed
CORPUS = REPO.parent / "shared" / "corpus"  # third-party samples: the golden runs had them
PLAN_OF_ACTOR = {"content": "content", "dmp": "dmp", "source_drimbox": "source_drimbox",
                 "consumer_drimbox": "consumer_drimbox"}


def _built() -> list[str]:
    plans = available_plans()
    return [a for a in reference_actors() if PLAN_OF_ACTOR[a] in plans]


def _family(fault) -> str:
    return fault.breaks[0].split("-")[0] if fault.breaks else ""


def _pipeline_faults(actor: str) -> list[str]:
    """Faults proved here in process: the content plan's. The Source's, the Consumer's and the DMP's are
    proved black-box (tests/blackbox), the products started as their own processes; the clean in-process
    and black-box runs agree through the golden file."""
    faults = faults_of(actor)
    if actor in ("source_drimbox", "consumer_drimbox", "dmp"):
        return []
    if actor != "content":
        return sorted(faults)
    first_of_family: dict[str, str] = {}
    for name in sorted(faults):
        first_of_family.setdefault(_family(faults[name]), name)
    return sorted(first_of_family.values())


def _fault_cases() -> list[tuple[str, str]]:
    return [(actor, name) for actor in _built() for name in _pipeline_faults(actor)]


def campaign(spec: str, out: Path) -> tuple[int, dict]:
    proc = subprocess.run([sys.executable, "-m", "harness.cli", "run", "--sut", spec, "--plan", "all",
                           "--out", str(out), "--quiet"], capture_output=True, text=True, cwd=str(REPO),
                          env=dict(os.environ), timeout=900, check=False)
    results_path = out / "results.json"
    assert results_path.exists(), proc.stdout + proc.stderr
    return proc.returncode, json.loads(results_path.read_text())


def failed_requirements(results: dict) -> set[str]:
    return {r["id"] for r in results["requirements"] if r["verdict"] == "failed"}


def golden_view(results: dict) -> dict:
    """The parts of a reference run that must not drift: no durations, ports, UUIDs or times."""
    tests = {}
    for test in results["tests"]:
        rules = sorted({f"{f['severity']}:{f['rule']}" for f in test.get("findings") or []
                        if f.get("origin") not in OPTIONAL_TOOLS})
        tests[test["nodeid"]] = {"outcome": test["outcome"], "requirements": sorted(test["requirements"]),
                                 "findings": rules}
    verdicts = {r["id"]: r["verdict"] for r in results["requirements"]}
    return {"tests": dict(sorted(tests.items())), "requirements": dict(sorted(verdicts.items()))}


def compare_with_golden(actor: str, view: dict, excused: set[str] | frozenset[str] = frozenset()) -> None:
    """``excused``: tests left out of the comparison, with the requirements they alone verify."""
    path = GOLDEN / f"{actor}.json"
    if os.environ.get("DRIMCHECK_UPDATE_GOLDEN") == "1":
        path.parent.mkdir(exist_ok=True)
        path.write_text(json.dumps(view, indent=1, sort_keys=True) + "\n")
        return
    assert path.exists(), f"no golden file {path}: run with DRIMCHECK_UPDATE_GOLDEN=1 and review the diff"
    golden = json.loads(path.read_text())
    checked = [t for node, t in view["tests"].items() if node not in excused]
    covered = {r for t in checked for r in t["requirements"]}
    skip = {"tests": set(excused),
            "requirements": {r for node in excused for r in view["tests"][node]["requirements"]} - covered}
    drift = [f"{kind} {key}: golden {golden[kind].get(key)!r}, now {view[kind].get(key)!r}"
             for kind in ("tests", "requirements")
             for key in sorted(set(golden[kind]) | set(view[kind]))
             if key not in skip[kind] and golden[kind].get(key) != view[kind].get(key)]
    assert not drift, "reference run differs from " + str(path) + ":\n" + "\n".join(drift)


@pytest.mark.parametrize("actor", _built() or [pytest.param(None, marks=pytest.mark.skip("no reference built"))])
def test_every_plan_passes_on_the_reference(actor, tmp_path):
    code, results = campaign(REFERENCE_SPECS[actor], tmp_path / "out")
    assert failed_requirements(results) == set()
    assert results["summary"]["requirements"]["passed"] > 0
    assert results["summary"]["shall_not_passed"] == {}
    assert code == 0
    errors = [t["nodeid"] for t in results["tests"] if t["outcome"] in ("failed", "error")]
    assert errors == []
    compare_with_golden(actor, golden_view(results), skipped_without_corpus(results))


def skipped_without_corpus(results: dict, corpus: Path | None = None) -> set[str]:
    """Tests that skip because ../shared/corpus is absent (a clone without the third-party samples:
    tests that read them skip, by design). The golden files were recorded with the corpus, so
    those tests are not compared; with the corpus present, nothing is excused."""
    if (corpus or CORPUS).is_dir():
        return set()
    return {t["nodeid"] for t in results["tests"] if t["outcome"] == "skipped"}


@pytest.mark.parametrize(("actor", "fault"), _fault_cases()
                         or [pytest.param(None, None, marks=pytest.mark.skip("no fault defined"))])
def test_each_fault_fails_exactly_its_requirements(actor, fault, tmp_path):
    expected = set(faults_of(actor)[fault].breaks)
    code, results = campaign(f"{REFERENCE_SPECS[actor]}?fault={fault}", tmp_path / "out")
    assert failed_requirements(results) == expected
    levels = {r["id"]: r["level"] for r in results["requirements"]}
    assert code == (1 if any(levels.get(rid) == "SHALL" for rid in expected) else 0)


def test_every_reference_module_is_known():
    assert set(REFERENCE_MODULES) == set(PLAN_OF_ACTOR)


def test_golden_comparison_reports_a_drifted_test(monkeypatch, tmp_path):
    """The golden check can fail: a test that turned not-applicable is named with both outcomes."""
    monkeypatch.setattr(sys.modules[__name__], "GOLDEN", tmp_path)
    monkeypatch.delenv("DRIMCHECK_UPDATE_GOLDEN", raising=False)
    view = {"tests": {"t::a": {"outcome": "passed", "requirements": ["R-1"], "findings": []}},
            "requirements": {"R-1": "passed"}}
    (tmp_path / "x.json").write_text(json.dumps(view))
    compare_with_golden("x", view)
    drifted = json.loads(json.dumps(view))
    drifted["tests"]["t::a"]["outcome"] = "not_applicable"
    with pytest.raises(AssertionError, match=r"t::a: golden .*'passed'.*now .*'not_applicable'"):
        compare_with_golden("x", drifted)


def test_only_a_missing_corpus_excuses_skipped_tests(monkeypatch, tmp_path):
    """Without ../shared/corpus a test that reads it skips and is left out of the golden comparison;
    with the corpus present the same skip is drift."""
    monkeypatch.setattr(sys.modules[__name__], "GOLDEN", tmp_path)
    monkeypatch.delenv("DRIMCHECK_UPDATE_GOLDEN", raising=False)
    golden = {"tests": {"t::a": {"outcome": "passed", "requirements": ["R-1"], "findings": []},
                        "t::b": {"outcome": "passed", "requirements": ["R-1"], "findings": []}},
              "requirements": {"R-1": "passed"}}
    (tmp_path / "x.json").write_text(json.dumps(golden))
    now = json.loads(json.dumps(golden))
    now["tests"]["t::b"]["outcome"] = "skipped"
    results = {"tests": [{"nodeid": node, **t} for node, t in now["tests"].items()]}
    (tmp_path / "corpus").mkdir()
    assert skipped_without_corpus(results, tmp_path / "corpus") == set()
    with pytest.raises(AssertionError, match=r"t::b: golden .*'passed'.*now .*'skipped'"):
        compare_with_golden("x", now, skipped_without_corpus(results, tmp_path / "corpus"))
    excused = skipped_without_corpus(results, tmp_path / "absent")
    assert excused == {"t::b"}
    compare_with_golden("x", now, excused)
    now["requirements"]["R-1"] = "failed"  # still verified by t::a: compared
    with pytest.raises(AssertionError, match=r"requirements R-1"):
        compare_with_golden("x", now, excused)
