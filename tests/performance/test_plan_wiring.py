"""How the performance plan fits the harness: a campaign's scope, faults whose breaks belong to another plan,
the plan's registration, and the ANS-shaped study it measures by default (checked without writing it)."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.catalog import load_catalog
from harness.faults import Fault, faults_of
from harness.pytest_plugin import PLAN_ACTORS
from harness.runner import HarnessError, available_plans, resolve_plans
from harness.sut import load_profile
from reports.results import build_results, in_plans


def test_performance_requirements_are_in_scope_only_when_the_plan_ran(tmp_path):
    catalog = load_catalog()
    suts = [{"actor": "source_drimbox", "name": "reference:source"}]
    conformance = build_results(campaign_id="c", raws=[], suts=suts, plans=["source_drimbox"], catalog=catalog,
                                evidence=tmp_path, command=[])
    ids = {r["id"] for r in conformance["requirements"]}
    assert "SRC-KOS-URL" in ids and not any(i.startswith("PERF-") for i in ids)
    performance = build_results(campaign_id="c", raws=[], suts=suts, plans=["performance"], catalog=catalog,
                                evidence=tmp_path, command=[])
    ids = {r["id"] for r in performance["requirements"]}
    assert "PERF-SRC-WADO-LATENCY" in ids and "SRC-KOS-URL" not in ids
    assert not any(i.startswith("PERF-CON-") for i in ids)  # another actor's, and none of its tests ran
    assert performance["summary"]["shall_not_passed"] == {}  # no conformance SHALL counted as not run
    assert in_plans("source.yaml", []) and not in_plans("performance.yaml", ["source_drimbox"])


def test_a_fault_of_another_plan_breaks_nothing_in_its_actors_plan():
    slow = faults_of("source_drimbox")["slow-first-byte"]
    assert slow.plan == "performance"
    assert slow.breaks_in("performance", "source_drimbox") == ("PERF-SRC-WADO-LATENCY", "PERF-SRC-VIEW-LATENCY")
    assert slow.breaks_in("source_drimbox", "source_drimbox") == ()
    plain = Fault("x", "d", ("SRC-KOS-URL",))
    assert plain.breaks_in("source_drimbox", "source_drimbox") == ("SRC-KOS-URL",)
    assert plain.breaks_in("performance", "source_drimbox") == ()


@pytest.mark.parametrize(("actor", "names"), [("source_drimbox", {"slow-first-byte", "throttled", "pacs-late-move",
                                                                 "pacs-throttled-move"}),
                                             ("consumer_drimbox", {"slow-import", "late-first-retrieve",
                                                                   "slow-retrieve", "slow-export"})])
def test_every_performance_fault_breaks_performance_requirements_of_its_actor(actor, names):
    catalog = load_catalog()
    mine = {n: f for n, f in faults_of(actor).items() if f.plan == "performance"}
    assert set(mine) == names
    for fault in mine.values():
        assert all(catalog[r].file == "performance.yaml" and catalog[r].actor == actor for r in fault.breaks)
        assert fault.breaks_in(actor, actor) == ()  # nothing of its actor's own plan


def test_slow_import_breaks_the_import_throughput_only():
    slow = faults_of("consumer_drimbox")["slow-import"]
    assert slow.breaks_in("performance", "consumer_drimbox") == ("PERF-CON-IMPORT-THROUGHPUT",)


def test_plan_is_registered_for_both_drimboxes_and_left_out_of_all():
    assert PLAN_ACTORS["performance"] is None and "performance" in available_plans()
    for spec in ("reference:source", "reference:consumer"):
        runs = resolve_plans(["performance"], [load_profile(spec)])
        assert [r.plan for r in runs] == ["performance"]
    everything = resolve_plans(["all"], [load_profile("reference:source")])
    assert "performance" not in [r.plan for r in everything]
    with pytest.raises(HarnessError, match="unknown plan"):
        resolve_plans(["perf"], [load_profile("reference:source")])


def test_default_study_is_the_ans_shaped_one():
    """1300 CT images, JPEG-LS lossless, 512x512, about 150 kB each (ANS DRIM-M_DATA informatif/Performances/
    Readme.md: 1300 images, ~200 MB); only the specification is checked, nothing is written."""
    from simulators.ris import messages as M
    from testplans.performance.source import STUDIES

    series, images = STUDIES["ans"]
    spec = M.study_spec(M.exam("perf-ans", series=series, instances=images), transfer_syntax="jpeg-ls",
                        rows=512, columns=512)
    assert spec.instances == 1300 and spec.modality == "CT"
    assert str(spec.ts_uid) == "1.2.840.10008.1.2.4.80"
    assert sum(STUDIES["small"]) < 20


@pytest.mark.parametrize(("module", "actor"), [("test_source.py", "source_drimbox"),
                                               ("test_consumer.py", "consumer_drimbox")])
def test_plan_tests_name_their_requirements(module, actor):
    plan = Path(__file__).resolve().parents[2] / "testplans" / "performance"
    text = (plan / module).read_text()
    catalog = load_catalog()
    ids = [r.id for r in catalog if r.file == "performance.yaml" and r.actor == actor]
    assert ids and all(not catalog[rid].not_tested_reason for rid in ids)  # every one measured
    for rid in ids:
        assert f'requirement("{rid}")' in text


def test_a_consumer_profile_keeps_the_consumer_tests_only(tmp_path):
    """The plan's collection for a Consumer: its four tests, the Source's deselected; nothing refused."""
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[2]
    proc = subprocess.run([sys.executable, "-m", "pytest", "testplans/performance", "--collect-only", "-q",
                           "-o", "addopts=", "-p", "harness.pytest_plugin", "-p", "no:cacheprovider",
                           "--sut", "reference:consumer"], capture_output=True, text=True, cwd=str(root),
                          timeout=120, check=False)
    collected = [line for line in proc.stdout.splitlines() if "::" in line]
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert collected and all(line.startswith("testplans/performance/test_consumer.py::") for line in collected)
    assert len(collected) == 4


def test_thresholds_from_the_environment_are_checked_as_a_profile_s():
    """DRIMCHECK_PERFORMANCE_THRESHOLDS (for reference:SPEC, which has no options): each item ID=NUMBER, the id one
    of the plan's, the value positive; the finding names the environment as the threshold's origin."""
    from testplans.performance.figures import OptionsError, env_thresholds, thresholds

    given = env_thresholds("PERF-SRC-WADO-LATENCY=500, PERF-CON-VIEW-THROUGHPUT=2.5")
    assert given == {"PERF-SRC-WADO-LATENCY": 500.0, "PERF-CON-VIEW-THROUGHPUT": 2.5}
    judged = thresholds({"thresholds": given}, "environment DRIMCHECK_PERFORMANCE_THRESHOLDS")
    assert judged["PERF-SRC-WADO-LATENCY"].value == 500.0
    assert judged["PERF-SRC-WADO-LATENCY"].origin == "environment DRIMCHECK_PERFORMANCE_THRESHOLDS"
    assert judged["PERF-SRC-WADO-THROUGHPUT"].origin.startswith("default of")
    for bad, said in (("PERF-SRC-WADO-LATENCY=fast", "is not ID=NUMBER"), ("PERF-NOPE=1", "unknown requirement"),
                      ("PERF-SRC-WADO-LATENCY=-1", "not a positive number")):
        with pytest.raises(OptionsError, match=said):
            env_thresholds(bad)
