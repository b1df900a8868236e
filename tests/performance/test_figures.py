"""The performance plan's verdict logic with controlled inputs: statistics, thresholds (default or the profile's),
and the rule that a figure the harness limits is inconclusive, never a failure of the SUT."""

from __future__ import annotations

import pytest

from testplans.performance.figures import (
    DEFAULTS,
    Ceiling,
    OptionsError,
    check_options,
    judge,
    stats,
    thresholds,
)

NO_LIMIT = Ceiling(value=None, client_cpu=0.1)


def test_stats_min_median_p95_spread():
    st = stats([30.0, 10.0, 20.0, 40.0])
    assert (st.n, st.min, st.median, st.p95, st.max) == (4, 10.0, 25.0, 40.0, 40.0)
    assert st.spread == 30.0 and st.relative_spread == pytest.approx(1.2)
    assert stats(range(1, 101)).p95 == 95  # nearest rank
    assert stats([]) is None


def test_defaults_apply_and_say_so():
    t = thresholds({})["PERF-SRC-WADO-LATENCY"]
    assert (t.value, t.unit, t.kind) == (1000.0, "ms", "max")
    assert "default" in t.origin and "ANS publishes no figure" in t.origin
    assert set(thresholds(None)) == set(DEFAULTS)


def test_profile_threshold_overrides_the_default_and_says_so():
    t = thresholds({"thresholds": {"PERF-SRC-WADO-THROUGHPUT": 50}})["PERF-SRC-WADO-THROUGHPUT"]
    assert t.value == 50.0 and "options.performance.thresholds.PERF-SRC-WADO-THROUGHPUT" in t.origin
    assert judge(t, 40.0, NO_LIMIT, "study").outcome == "failed"  # 40 MB/s passes the default, not this one
    assert judge(thresholds({})["PERF-SRC-WADO-THROUGHPUT"], 40.0, NO_LIMIT, "study").outcome == "passed"


@pytest.mark.parametrize("given", [{"PERF-SRC-NOPE-LATENCY": 5}, {"PERF-SRC-WADO-LATENCY": 0},
                                   {"PERF-SRC-WADO-LATENCY": -1}, {"PERF-SRC-WADO-LATENCY": "fast"},
                                   {"PERF-SRC-WADO-LATENCY": True}])
def test_unusable_threshold_is_refused(given):
    with pytest.raises(OptionsError, match=r"options\.performance\.thresholds"):
        thresholds({"thresholds": given})


def test_latency_and_rate_directions():
    latency, rate = thresholds({})["PERF-SRC-VIEW-LATENCY"], thresholds({})["PERF-SRC-VIEW-THROUGHPUT"]
    assert judge(latency, 999.0, NO_LIMIT, "x").outcome == "passed"
    assert judge(latency, 1000.0, NO_LIMIT, "x").outcome == "passed"
    assert judge(latency, 2050.0, NO_LIMIT, "x").outcome == "failed"
    assert judge(rate, 25.0, NO_LIMIT, "x").outcome == "passed"
    assert judge(rate, 13.0, NO_LIMIT, "x").outcome == "failed"


def test_saturated_client_makes_a_shortfall_inconclusive():
    rate = thresholds({})["PERF-SRC-WADO-THROUGHPUT"]
    j = judge(rate, 4.0, Ceiling(value=500.0, client_cpu=0.97), "study")
    assert j.outcome == "inconclusive" and "97%" in j.message and "saturated" in j.message


def test_ceiling_below_the_threshold_makes_a_shortfall_inconclusive():
    rate = thresholds({"thresholds": {"PERF-SRC-WADO-THROUGHPUT": 800}})["PERF-SRC-WADO-THROUGHPUT"]
    j = judge(rate, 300.0, Ceiling(value=600.0, client_cpu=0.2), "study")
    assert j.outcome == "inconclusive" and "harness ceiling 600 MB/s" in j.message
    latency = thresholds({"thresholds": {"PERF-SRC-WADO-LATENCY": 1}})["PERF-SRC-WADO-LATENCY"]
    assert judge(latency, 40.0, Ceiling(value=2.0, client_cpu=0.1), "x").outcome == "inconclusive"


def test_a_pass_stands_whatever_held_the_harness_back():
    """The SUT did at least the threshold: a saturated client only means it might have done more."""
    rate = thresholds({})["PERF-SRC-WADO-THROUGHPUT"]
    assert judge(rate, 50.0, Ceiling(value=5.0, client_cpu=0.99), "study").outcome == "passed"


def test_failure_needs_room_in_the_harness_and_shows_the_ceiling():
    rate = thresholds({})["PERF-SRC-WADO-THROUGHPUT"]
    j = judge(rate, 2.0, Ceiling(value=450.0, client_cpu=0.05), "study-level retrieve")
    assert j.outcome == "failed"
    assert "2.00 MB/s" in j.message and "at least 10.0 MB/s" in j.message and "harness ceiling 450 MB/s" in j.message


def test_nothing_measured_is_inconclusive():
    assert judge(thresholds({})["PERF-SRC-PACS-LATENCY"], None, NO_LIMIT, "C-MOVE").outcome == "inconclusive"


@pytest.mark.parametrize(("options", "field"), [
    ({"study": "huge"}, "study"), ({"repeat": 0}, "repeat"), ({"repeat": "3"}, "repeat"),
    ({"move_destination": {"port": 70000}}, "move_destination"), ({"colour": "red"}, "colour"),
    ({"move_destination": {"ae_title": "A" * 17}}, "move_destination")])
def test_unusable_options_are_refused_naming_the_field(options, field):
    with pytest.raises(OptionsError, match=rf"options\.performance\.{field}"):
        check_options(options)


def test_usable_options_pass():
    check_options({"study": "small", "repeat": 5, "move_destination": {"ae_title": "STORESCP", "port": 11112},
                   "thresholds": {"PERF-CON-EXPORT-THROUGHPUT": 2.5}})
