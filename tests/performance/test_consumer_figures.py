"""The Consumer side's verdicts with controlled inputs: which figure each requirement judges (warm median), which
ceiling stands beside it, a harness-limited shortfall inconclusive, an incomplete import or a missing export said
with its reason. No timed assertion: every figure here is given."""

from __future__ import annotations

from dataclasses import replace

import pytest

from testplans.performance.consumer import CeilingRun, ConsumerFigures, ConsumerRun
from testplans.performance.figures import Series, thresholds

IMAGES, SIZE = 12, 12_000_000


def run(import_s: float = 1.0, *, cpu: float = 0.3, first_ms: float = 400.0, view_s: float = 0.5,
        export_s: float | None = 1.0, stored: int = IMAGES, note: str = "") -> ConsumerRun:
    return ConsumerRun(list_ms=100.0, exam_ms=50.0, first_image_ms=first_ms, requests=2, view_bytes=SIZE,
                       view_s=view_s, stored=stored, stored_bytes=SIZE, import_s=import_s, cpu_share=cpu,
                       statuses={"1.2.3": "imported"}, export_bytes=None if export_s is None else SIZE,
                       export_s=export_s, export_cpu=cpu, export_note=note)


CEILING = CeilingRun(first_image_ms=2.0, view_mb_per_s=400.0, store_mb_per_s=40.0, store_images_per_s=40.0)


def figures(*runs: ConsumerRun, ceiling: CeilingRun = CEILING) -> ConsumerFigures:
    return ConsumerFigures("small", IMAGES, SIZE, Series(runs[0], list(runs[1:])), Series(ceiling, [ceiling]))


def test_rates_are_bytes_over_the_time_the_peers_saw():
    r = run(import_s=2.0, view_s=0.5, export_s=4.0)
    assert r.import_mb_per_s == pytest.approx(6.0) and r.import_images_per_s == pytest.approx(6.0)
    assert r.view_mb_per_s == pytest.approx(24.0) and r.export_mb_per_s == pytest.approx(3.0)
    assert run(import_s=None).import_mb_per_s is None and run(export_s=None).export_mb_per_s is None


def test_each_requirement_judges_the_warm_median_against_its_default():
    f = figures(run(import_s=10.0), run(import_s=1.0), run(import_s=2.0), run(import_s=3.0))
    judgement, basis = f.import_throughput(thresholds({})["PERF-CON-IMPORT-THROUGHPUT"])
    assert judgement.outcome == "passed" and judgement.measured == pytest.approx(6.0)  # 12 / 2 s, not the cold 1.2
    assert basis["ceiling"] == 40.0 and basis["stats"]["n"] == 3
    assert "cold 1.2" in judgement.message and "(6 images/s)" in judgement.message
    latency, basis = f.view_latency(thresholds({})["PERF-CON-VIEW-LATENCY"])
    assert latency.outcome == "passed" and "observed at the harness's Source" in basis["measurement"]
    assert "driver cannot tell when an image is shown" in latency.message and "exam list 100 ms" in latency.message


def test_a_slow_import_with_room_in_the_harness_fails_showing_its_ceiling():
    f = figures(run(import_s=6.0), run(import_s=6.0))
    judgement, _ = f.import_throughput(thresholds({})["PERF-CON-IMPORT-THROUGHPUT"])
    assert judgement.outcome == "failed"
    assert "2.00 MB/s" in judgement.message and "harness ceiling 40.0 MB/s" in judgement.message
    assert "peers' process CPU 30%" in judgement.message


def test_a_shortfall_is_inconclusive_when_the_peers_process_was_saturated():
    f = figures(run(import_s=6.0), run(import_s=6.0, cpu=0.95))
    judgement, _ = f.import_throughput(thresholds({})["PERF-CON-IMPORT-THROUGHPUT"])
    assert judgement.outcome == "inconclusive" and "peers' process was saturated (95% CPU)" in judgement.message


def test_a_shortfall_is_inconclusive_when_the_local_pacs_stores_slower_than_the_threshold():
    slow_pacs = replace(CEILING, store_mb_per_s=3.0)
    f = figures(run(import_s=6.0), run(import_s=6.0), ceiling=slow_pacs)
    judgement, _ = f.import_throughput(thresholds({})["PERF-CON-IMPORT-THROUGHPUT"])
    assert judgement.outcome == "inconclusive" and "does not reach the threshold" in judgement.message
    view, _ = f.view_throughput(thresholds({})["PERF-CON-VIEW-THROUGHPUT"])
    assert view.outcome == "passed"  # the Source side of the harness had room: 24 MB/s against 5


def test_profile_thresholds_apply_to_the_consumer_figures():
    f = figures(run(first_ms=400.0), run(first_ms=400.0))
    judgement, _ = f.view_latency(thresholds({"thresholds": {"PERF-CON-VIEW-LATENCY": 300}})["PERF-CON-VIEW-LATENCY"])
    assert judgement.outcome == "failed" and "options.performance.thresholds.PERF-CON-VIEW-LATENCY" in judgement.message


def test_an_incomplete_import_and_a_missing_export_say_why():
    f = figures(run(), run(stored=IMAGES - 1))
    assert "run 2: the local PACS holds 11 of the study's 12 instances" in f.incomplete()
    assert figures(run(), run()).incomplete() == ""
    g = figures(run(export_s=None, note="the driver cannot export: no XDM"), run(export_s=None, note="x"))
    assert g.export_missing() == "the driver cannot export: no XDM"
    judgement, _ = g.export_throughput(thresholds({})["PERF-CON-EXPORT-THROUGHPUT"])
    assert judgement.outcome == "inconclusive" and "nothing was measured" in judgement.message


def test_figures_are_written_for_the_report():
    data = figures(run(), run()).to_dict()
    assert data["images"] == IMAGES and len(data["run_samples"]) == 2
    assert data["runs"]["warm"]["import_mb_per_s"]["median"] == pytest.approx(12.0)
    assert data["ceiling"]["warm"]["store_mb_per_s"]["median"] == 40.0
    unavailable = ConsumerFigures("small", IMAGES, SIZE, None, None, "the driver cannot perform a step: x")
    assert unavailable.to_dict()["runs"] is None and unavailable.incomplete() == ""
