"""What a load run measured, kept in one-second buckets that merge across processes.

Each Locust process (local runner, or each worker of a distributed run) records every request into a
:class:`Recorder`; a worker drains it into plain dicts that travel to the master with Locust's reports, and
the master merges them. Latencies are kept as histograms of rounded milliseconds (two significant digits,
as Locust's own ``StatsEntry`` does), so percentiles of any bucket or of the whole run are computed after
merging, never averaged. No networking and no Locust import here: the module is plain Python, tested alone.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

PERCENTILES = (0.50, 0.95, 0.99)


def round_ms(ms: float) -> int:
    """``ms`` rounded to two significant digits above 100 ms (Locust ``StatsEntry._log_response_time``), so a
    histogram stays small for any run length."""
    value = round(ms)
    if value < 100:
        return value
    digits = 10 ** (len(str(value)) - 2)
    return int(round(value / digits) * digits)


def percentile(hist: Counter[int] | dict[int, int], fraction: float) -> float | None:
    """The smallest latency with at least ``fraction`` of the requests at or below it; None when empty."""
    total = sum(hist.values())
    if total == 0:
        return None
    wanted = math.ceil(total * fraction)
    seen = 0
    for value in sorted(hist):
        seen += hist[value]
        if seen >= wanted:
            return float(value)
    return float(max(hist))


@dataclass
class Bucket:
    """Requests that ended within one second (Unix time ``second``)."""

    requests: int = 0
    failures: int = 0
    bytes: int = 0
    latency: Counter[int] = field(default_factory=Counter)
    streamed: int = 0  # body bytes read during this second, as they arrived (long retrievals span seconds)

    def add(self, ms: float, nbytes: int, failed: bool) -> None:
        self.requests += 1
        self.failures += int(failed)
        self.bytes += nbytes
        self.latency[round_ms(ms)] += 1

    def merge(self, other: Bucket) -> None:
        self.requests += other.requests
        self.failures += other.failures
        self.bytes += other.bytes
        self.latency.update(other.latency)
        self.streamed += other.streamed

    def to_dict(self) -> dict[str, Any]:
        return {"requests": self.requests, "failures": self.failures, "bytes": self.bytes,
                "latency": {str(k): v for k, v in sorted(self.latency.items())}, "streamed": self.streamed}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Bucket:
        return cls(int(data["requests"]), int(data["failures"]), int(data["bytes"]),
                   Counter({int(k): int(v) for k, v in data["latency"].items()}), int(data.get("streamed", 0)))


@dataclass
class Recorder:
    """Every request of a run: per second, per transaction name, and failures by kind (with one example each)."""

    seconds: dict[int, Bucket] = field(default_factory=dict)
    names: dict[str, Bucket] = field(default_factory=dict)
    errors: Counter[str] = field(default_factory=Counter)
    examples: dict[str, str] = field(default_factory=dict)

    def add(self, name: str, ended: float, ms: float, nbytes: int, error: str | None = None,
            detail: str = "") -> None:
        """One request named ``name`` that ended at Unix time ``ended`` after ``ms`` milliseconds, having read
        ``nbytes`` of body; ``error`` is its kind of failure (``HTTP 401``, ``protocol: ...``) or None."""
        failed = error is not None
        self.seconds.setdefault(int(ended), Bucket()).add(ms, nbytes, failed)
        self.names.setdefault(name, Bucket()).add(ms, nbytes, failed)
        if failed:
            self.errors[error] += 1
            self.examples.setdefault(error, detail[:300])

    def add_progress(self, at: float, nbytes: int) -> None:
        """``nbytes`` of a body read at Unix time ``at``, before its request ended: the timeline's MB/s then
        follows the bytes as they flow instead of crediting a long retrieval to the second it ended."""
        self.seconds.setdefault(int(at), Bucket()).streamed += nbytes

    def merge(self, other: Recorder) -> None:
        for second, bucket in other.seconds.items():
            self.seconds.setdefault(second, Bucket()).merge(bucket)
        for name, bucket in other.names.items():
            self.names.setdefault(name, Bucket()).merge(bucket)
        self.errors.update(other.errors)
        for kind, text in other.examples.items():
            self.examples.setdefault(kind, text)

    def drain(self) -> dict[str, Any]:
        """Everything recorded since the last drain, as plain data (a worker's report), then start afresh."""
        data = self.to_dict()
        self.seconds, self.names, self.errors, self.examples = {}, {}, Counter(), {}
        return data

    def to_dict(self) -> dict[str, Any]:
        return {"seconds": {str(s): b.to_dict() for s, b in sorted(self.seconds.items())},
                "names": {n: b.to_dict() for n, b in sorted(self.names.items())},
                "errors": dict(self.errors), "examples": dict(self.examples)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Recorder:
        return cls({int(s): Bucket.from_dict(b) for s, b in data.get("seconds", {}).items()},
                   {n: Bucket.from_dict(b) for n, b in data.get("names", {}).items()},
                   Counter({k: int(v) for k, v in data.get("errors", {}).items()}),
                   dict(data.get("examples", {})))


def _figures(bucket: Bucket, seconds: float) -> dict[str, Any]:
    span = max(seconds, 1e-9)
    pcts = {f"p{round(p * 100)}_ms": percentile(bucket.latency, p) for p in PERCENTILES}
    return {"requests": bucket.requests, "failures": bucket.failures, "bytes": bucket.bytes,
            "requests_per_s": round(bucket.requests / span, 3), "mb_per_s": round(bucket.bytes / span / 1e6, 3),
            **pcts}


def summarize(rec: Recorder, started: float, ended: float) -> dict[str, Any]:
    """Totals, rates over the run's wall-clock span, percentiles, errors by kind, per transaction and per
    second (each second from start to end, empty ones included, so a stall shows as a gap in the chart)."""
    span = max(ended - started, 1e-9)
    total = Bucket()
    for bucket in rec.names.values():
        total.merge(bucket)
    first, last = int(started), math.ceil(ended)
    seen = sorted(rec.seconds)
    if seen:
        first, last = min(first, seen[0]), max(last, seen[-1] + 1)
    streaming = any(b.streamed for b in rec.seconds.values())
    timeline = []
    for second in range(first, last):
        bucket = rec.seconds.get(second, Bucket())
        figures = _figures(bucket, 1.0)
        if streaming:  # bytes of the second are those read in it
            figures.update(bytes=bucket.streamed, mb_per_s=round(bucket.streamed / 1e6, 3))
        timeline.append({"t": second - int(started), **figures})
    return {
        "duration_s": round(span, 3),
        "total": _figures(total, span),
        "errors": [{"kind": kind, "count": n, "example": rec.examples.get(kind, "")}
                   for kind, n in rec.errors.most_common()],
        "transactions": {name: _figures(b, span) for name, b in sorted(rec.names.items())},
        "latency_histogram": {str(k): v for k, v in sorted(total.latency.items())},
        "timeline": timeline,
    }
