"""Figures and verdicts of the performance plan: repeated samples -> min / median / p95 / spread, the threshold
that applies (a default or the profile's), and the rule that never blames the SUT for a harness limit.

ANS names the performance workflows (DRIM-M_DATA ``informatif/Performances/Readme.md``) and DB.SO.102
(``Scripts/Mesure de performances DRIMBox_PACS/Readme.md``) without publishing a figure, so every threshold here
is a documented default (``testplans/catalog/performance.yaml``) that ``options.performance.thresholds`` overrides.
Pure functions: the tests of the project feed them controlled inputs.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

CPU_SATURATED = 0.9  # the client thread busy this share of the wall time: the harness, not the SUT, set the pace

# requirement -> (default threshold, unit, "max": at most / "min": at least)
DEFAULTS: dict[str, tuple[float, str, str]] = {
    "PERF-SRC-WADO-LATENCY": (1000.0, "ms", "max"),
    "PERF-SRC-WADO-THROUGHPUT": (10.0, "MB/s", "min"),
    "PERF-SRC-VIEW-LATENCY": (1000.0, "ms", "max"),
    "PERF-SRC-VIEW-THROUGHPUT": (20.0, "images/s", "min"),
    "PERF-SRC-PACS-LATENCY": (2000.0, "ms", "max"),
    "PERF-SRC-PACS-THROUGHPUT": (10.0, "MB/s", "min"),
    "PERF-CON-VIEW-LATENCY": (10000.0, "ms", "max"),
    "PERF-CON-VIEW-THROUGHPUT": (5.0, "MB/s", "min"),
    "PERF-CON-IMPORT-THROUGHPUT": (5.0, "MB/s", "min"),
    "PERF-CON-EXPORT-THROUGHPUT": (5.0, "MB/s", "min"),
}


@dataclass(frozen=True)
class Stats:
    """Summary of repeated measurements of one figure (nearest-rank p95: with few samples it is the largest)."""

    n: int
    min: float
    median: float
    p95: float
    max: float

    @property
    def spread(self) -> float:
        return self.max - self.min

    @property
    def relative_spread(self) -> float:
        return self.spread / self.median if self.median else 0.0

    def to_dict(self) -> dict[str, float]:
        return {"n": self.n, "min": self.min, "median": self.median, "p95": self.p95, "max": self.max,
                "spread": self.spread, "relative_spread": self.relative_spread}

    def describe(self, unit: str) -> str:
        return (f"median {fmt(self.median)} {unit} (min {fmt(self.min)}, p95 {fmt(self.p95)}, spread "
                f"{fmt(self.spread)} = {self.relative_spread:.0%}, n={self.n})")


def stats(values: Iterable[float]) -> Stats | None:
    """min / median / p95 / max of ``values``; None when there is none."""
    data = sorted(float(v) for v in values)
    if not data:
        return None
    p95 = data[max(0, math.ceil(0.95 * len(data)) - 1)]
    return Stats(len(data), data[0], statistics.median(data), p95, data[-1])


def fmt(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.0f}" if abs(value) >= 100 else f"{value:.2f}" if abs(value) < 10 else f"{value:.1f}"


@dataclass(frozen=True)
class Threshold:
    requirement: str
    value: float
    unit: str
    kind: str  # "max" (a latency: at most) or "min" (a rate: at least)
    origin: str  # where the value comes from, said in the finding

    def met_by(self, value: float) -> bool:
        return value <= self.value if self.kind == "max" else value >= self.value

    def describe(self) -> str:
        return f"{'at most' if self.kind == 'max' else 'at least'} {fmt(self.value)} {self.unit} ({self.origin})"


class OptionsError(ValueError):
    """``options.performance`` holds a value the plan cannot use."""


def thresholds(options: Mapping[str, Any] | None,
               given_by: str = "profile options.performance.thresholds") -> dict[str, Threshold]:
    """Every requirement's threshold: the profile's ``options.performance.thresholds.<id>`` where given (``given_by``
    says where they came from, in each finding), else the default. An unknown id or a value that is not a positive
    number is refused (OptionsError), not ignored."""
    given = dict((options or {}).get("thresholds") or {})
    unknown = sorted(set(given) - set(DEFAULTS))
    if unknown:
        raise OptionsError(f"options.performance.thresholds: unknown requirement {unknown[0]}; known: "
                           f"{', '.join(DEFAULTS)}")
    out = {}
    for rid, (default, unit, kind) in DEFAULTS.items():
        if rid in given:
            value = given[rid]
            if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
                raise OptionsError(f"options.performance.thresholds.{rid}: {value!r} is not a positive number "
                                   f"of {unit}")
            out[rid] = Threshold(rid, float(value), unit, kind, f"{given_by}.{rid}" if given_by.endswith(
                ".thresholds") else given_by)
        else:
            out[rid] = Threshold(rid, default, unit, kind, "default of testplans/catalog/performance.yaml; "
                                 "ANS publishes no figure")
    return out


@dataclass(frozen=True)
class Ceiling:
    """What the harness reaches on its own: its client against a trivial local server sending the same bytes."""

    value: float | None  # in the threshold's unit; None when not measured
    client_cpu: float | None  # share of wall time the harness's side was on a CPU while measuring the SUT
    # whose CPU that is: the client thread that retrieves from a Source; the process of the peers a Consumer
    # retrieves from and stores into (the reference Consumer's threads too when it runs in that process)
    cpu_of: str = "client"

    def describe(self, unit: str) -> str:
        cpu = "" if self.client_cpu is None else f"; {self.cpu_of} CPU {self.client_cpu:.0%} of the SUT measurement"
        return f"harness ceiling {fmt(self.value)} {unit}{cpu}"


@dataclass(frozen=True)
class Judgement:
    outcome: str  # passed | failed | inconclusive
    requirement: str
    measured: float | None
    threshold: Threshold
    message: str


def judge(threshold: Threshold, measured: float | None, ceiling: Ceiling, what: str) -> Judgement:
    """The verdict of one figure. Passed when it meets the threshold (the SUT did at least that, whatever held
    the harness back). Otherwise inconclusive when the harness may be what limited it: its client thread was
    saturated, or its own ceiling on the same bytes does not meet the threshold either; failed only when the
    harness had room to measure a passing SUT."""
    unit = threshold.unit
    if measured is None:
        return Judgement("inconclusive", threshold.requirement, None, threshold, f"{what}: nothing was measured")
    said = f"{what}: {fmt(measured)} {unit}, threshold {threshold.describe()}; {ceiling.describe(unit)}"
    if threshold.met_by(measured):
        return Judgement("passed", threshold.requirement, measured, threshold, said)
    if ceiling.client_cpu is not None and ceiling.client_cpu >= CPU_SATURATED:
        return Judgement("inconclusive", threshold.requirement, measured, threshold,
                         f"{said}: the harness's {ceiling.cpu_of} was saturated ({ceiling.client_cpu:.0%} CPU), so the "
                         f"figure may be the harness's limit, not the SUT's")
    if ceiling.value is not None and not threshold.met_by(ceiling.value):
        return Judgement("inconclusive", threshold.requirement, measured, threshold,
                         f"{said}: the harness itself does not reach the threshold on the same bytes, so it "
                         f"cannot tell whether the SUT would")
    return Judgement("failed", threshold.requirement, measured, threshold, said)


@dataclass
class Series:
    """A cold sample (the first measurement of its kind) and the warm ones after it; a sample is any object
    whose attributes are the metrics (``None``: not measured in that sample)."""

    cold: Any
    warm: list[Any]

    def of(self, metric: str) -> Stats | None:
        return stats(v for v in (getattr(s, metric) for s in self.warm) if v is not None)

    def cpu(self) -> float:
        return max((s.cpu_share for s in self.warm if hasattr(s, "cpu_share")), default=0.0)

    def to_dict(self, metrics: tuple[str, ...]) -> dict[str, Any]:
        return {"cold": self.cold.to_dict(), "warm": {m: (s.to_dict() if (s := self.of(m)) else None)
                                                      for m in metrics}, "samples": len(self.warm)}


def median_of(st: Stats | None) -> float | None:
    return None if st is None else st.median


def cold_value(sample: Any, metric: str) -> str:
    """The cold sample's ``metric`` for a finding (``-`` when it has none)."""
    value = getattr(sample, metric, None)
    return "-" if value is None else f"{value:.3g}"


STUDY_NAMES = ("ans", "small")


THRESHOLDS_ENV = "DRIMCHECK_PERFORMANCE_THRESHOLDS"  # thresholds of a profile that sets none (reference:source)


def env_thresholds(text: str) -> dict[str, float]:
    """``ID=VALUE[,ID=VALUE...]`` of :data:`THRESHOLDS_ENV` -> {id: value}; OptionsError naming a bad item (the ids
    and values are then checked as a profile's are, by :func:`thresholds`)."""
    out: dict[str, float] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        rid, _, value = item.partition("=")
        try:
            out[rid.strip()] = float(value)
        except ValueError:
            raise OptionsError(f"{THRESHOLDS_ENV}: {item!r} is not ID=NUMBER") from None
    thresholds({"thresholds": out}, f"environment {THRESHOLDS_ENV}")
    return out


def check_options(options: Mapping[str, Any] | None) -> None:
    """Refuse (OptionsError) an ``options.performance`` the plan cannot use, naming the field; the profile schema
    says the same for a file profile, this covers every way a profile is given."""
    options = options or {}
    unknown = sorted(set(options) - {"study", "repeat", "thresholds", "move_destination"})
    if unknown:
        raise OptionsError(f"options.performance.{unknown[0]}: unknown field; known: study, repeat, thresholds, "
                           "move_destination")
    if options.get("study", "ans") not in STUDY_NAMES:
        raise OptionsError(f"options.performance.study: {options['study']!r} is not one of {', '.join(STUDY_NAMES)}")
    repeat = options.get("repeat", 3)
    if isinstance(repeat, bool) or not isinstance(repeat, int) or not 1 <= repeat <= 100:
        raise OptionsError(f"options.performance.repeat: {repeat!r} is not a whole number from 1 to 100")
    destination = options.get("move_destination") or {}
    port = destination.get("port", 9999) if isinstance(destination, dict) else None
    if not isinstance(destination, dict) or isinstance(port, bool) or not isinstance(port, int) \
            or not 1 <= port <= 65535 or not 1 <= len(str(destination.get("ae_title", "STORESCP"))) <= 16:
        raise OptionsError("options.performance.move_destination: give {ae_title: up to 16 characters, port: "
                           "1..65535}")
    thresholds(options)
