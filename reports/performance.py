"""The performance section of report.html: the figures the performance plan wrote to ``evidence/performance.json``
(each verdict with its threshold and where it came from, the figure's min / median / p95 and spread, the harness's
ceiling on the same bytes), the per-level WADO-RS table, and a chart drawn with the load report's matplotlib set-up
(``harness.load.report``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

FILE = "performance.json"


def load(evidence: Path) -> dict[str, Any] | None:
    """The plan's record, or None when the campaign ran no performance plan (or it wrote nothing readable)."""
    path = evidence / FILE
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def section(evidence: Path) -> dict[str, Any] | None:
    """What the template shows: ``verdicts``, ``wado`` rows (level and syntax, cold and warm), ``chart``."""
    data = load(evidence)
    if data is None:
        return None
    rows = []
    source = (data.get("figures") or {}).get("source") or {}
    for key, series in (source.get("wado") or {}).items():
        warm = series.get("warm") or {}
        rows.append({"key": key, "cold": series.get("cold") or {}, **{m: warm.get(m) for m in warm}})
    if source.get("ceiling"):
        rows.append({"key": "harness ceiling (same bytes, trivial server)", "cold": source["ceiling"]["cold"],
                     **(source["ceiling"].get("warm") or {})})
    chart = None
    try:
        chart = _chart(data.get("verdicts") or [])
    except Exception:  # matplotlib missing or a figure it cannot draw: the tables say the same
        chart = None
    consumer = (data.get("figures") or {}).get("consumer") or {}
    return {"verdicts": data.get("verdicts") or [], "wado": rows, "chart": chart,
            "study": source.get("study") or consumer.get("study"),
            "images": source.get("images") or consumer.get("images"), "move": source.get("move"),
            "move_ceiling": source.get("move_ceiling"), "consumer": _consumer(consumer)}


def _consumer(figures: dict[str, Any]) -> dict[str, Any] | None:
    """The Consumer's workflow run by run (the first one cold) and the harness's ceiling beside it."""
    runs = figures.get("run_samples") or []
    if not runs and not figures.get("unavailable"):
        return None
    ceiling = (figures.get("ceiling") or {}).get("warm") or {}
    return {"runs": [{"name": "cold" if i == 0 else f"warm {i}", **r} for i, r in enumerate(runs)],
            "ceiling": {m: (ceiling.get(m) or {}).get("median") for m in
                        ("first_image_ms", "view_mb_per_s", "store_mb_per_s", "store_images_per_s")},
            "unavailable": figures.get("unavailable") or ""}


def _chart(verdicts: list[dict[str, Any]]) -> str | None:
    """One bar per requirement: the figure as a share of its threshold (1 = the threshold; above is better for a
    rate, below for a latency, so latencies are drawn as threshold / figure), the harness's ceiling as a tick."""
    from harness.load.report import BLUE, GREY, RED, _figure, _png, data_uri

    shown = [v for v in verdicts if v.get("measured") and v.get("threshold")]
    if not shown:
        return None
    fig, ax = _figure(9.0, 0.5 + 0.45 * len(shown))

    def score(value: float | None, v: dict[str, Any]) -> float | None:
        if not value:
            return None
        return value / v["threshold"] if v["kind"] == "min" else v["threshold"] / value

    names = [v["requirement"] for v in shown]
    scores = [score(v["measured"], v) for v in shown]
    ax.barh(names, scores, color=[BLUE if v["outcome"] == "passed" else RED for v in shown])
    for i, v in enumerate(shown):
        ceiling = score(v.get("ceiling"), v)
        if ceiling:
            ax.plot([ceiling], [i], marker="|", markersize=14, color=GREY)
    ax.axvline(1.0, color=RED, linewidth=1)
    ax.set_xscale("log")
    ax.set_xlabel("figure / threshold (log; >1 meets it; grey tick: the harness's own ceiling)")
    ax.invert_yaxis()
    return data_uri(_png(fig))
