"""The load figures: rounding, percentiles, buckets merged across processes, the summary's timeline."""

from __future__ import annotations

from collections import Counter

import pytest

from harness.load.stats import Recorder, percentile, round_ms, summarize

ROUNDING = [(0.4, 0), (7.6, 8), (99.4, 99), (123, 120), (999, 1000), (1049, 1000), (12_345, 12_000)]


@pytest.mark.parametrize(("ms", "rounded"), ROUNDING)
def test_latency_is_kept_to_two_significant_digits_above_100_ms(ms, rounded):
    assert round_ms(ms) == rounded


PERCENTILES = [
    ({}, 0.5, None),
    ({10: 1}, 0.99, 10.0),
    ({10: 50, 20: 45, 90: 5}, 0.50, 10.0),
    ({10: 50, 20: 45, 90: 5}, 0.95, 20.0),
    ({10: 50, 20: 45, 90: 5}, 0.99, 90.0),
]


@pytest.mark.parametrize(("hist", "fraction", "expected"), PERCENTILES)
def test_percentile_is_the_smallest_latency_covering_the_fraction(hist, fraction, expected):
    assert percentile(Counter(hist), fraction) == expected


def _recorder(start: float, n: int, ms: float, nbytes: int, error: str | None = None) -> Recorder:
    rec = Recorder()
    for i in range(n):
        rec.add("RAD-107 series", start + i * 0.25, ms, nbytes, error, "detail" if error else "")
    return rec


def test_workers_figures_merge_through_plain_data_without_loss():
    master = Recorder()
    one, two = _recorder(1000.0, 8, 10, 100), _recorder(1000.5, 4, 200, 0, "HTTP 401")
    for worker in (one, two):
        master.merge(Recorder.from_dict(worker.drain()))
    assert one.drain() == Recorder().to_dict()  # drained: a later report carries only what came after
    assert master.names["RAD-107 series"].requests == 12
    assert master.errors == Counter({"HTTP 401": 4})
    assert (master.seconds[1000].requests, master.seconds[1000].failures, master.seconds[1001].failures) == (6, 2, 2)


def test_summary_counts_rates_and_keeps_empty_seconds_in_the_timeline():
    rec = _recorder(1000.0, 4, 10, 1_000_000)  # every request in the first second, then nothing
    rec.add("RAD-107 series", 1003.2, 500, 0, "HTTP 503", "Service Unavailable")
    out = summarize(rec, started=1000.0, ended=1004.0)
    assert out["total"]["requests"] == 5 and out["total"]["failures"] == 1
    assert out["total"]["requests_per_s"] == 1.25 and out["total"]["mb_per_s"] == 1.0
    assert [p["requests"] for p in out["timeline"]] == [4, 0, 0, 1]
    assert out["timeline"][1]["p50_ms"] is None
    assert out["errors"] == [{"kind": "HTTP 503", "count": 1, "example": "Service Unavailable"}]
    assert out["total"]["p50_ms"] == 10.0 and out["total"]["p99_ms"] == 500.0


def test_bytes_of_a_long_retrieval_are_charted_in_the_seconds_they_flowed():
    rec = Recorder()
    for second in range(3):
        rec.add_progress(1000.2 + second, 10_000_000)
    rec.add("RAD-107 series", 1002.9, 2900, 30_000_000)
    merged = Recorder.from_dict(rec.to_dict())
    out = summarize(merged, 1000.0, 1003.0)
    assert [p["mb_per_s"] for p in out["timeline"]] == [10.0, 10.0, 10.0]
    assert [p["requests"] for p in out["timeline"]] == [0, 0, 1]
    assert out["total"]["bytes"] == 30_000_000
