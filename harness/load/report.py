"""The load run's reports: ``report.html`` (self-contained, charts as data: URIs) and ``report.md``.

Charts are drawn by matplotlib with its Agg backend (no display needed): the latency distribution with its
p50/p95/p99, throughput over time (requests/s and MB/s per one-second bucket, failures beside), and latency
percentiles over time. The page follows the campaign report's look (``reports/templates/report.html.j2``).
"""

from __future__ import annotations

import base64
import io
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape

TEMPLATES = Path(__file__).resolve().parent / "templates"
BLUE, GREEN, RED, GREY, AMBER = "#14325c", "#1f8a4c", "#c0392b", "#7f8c8d", "#b9770e"


def _figure(width: float = 9.0, height: float = 3.4) -> tuple[Any, Any]:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(width, height), dpi=100)
    from matplotlib.ticker import MaxNLocator

    ax.grid(True, color="#e3e6ea", linewidth=0.8)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    return fig, ax


def _png(fig: Any) -> bytes:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


def latency_chart(results: dict[str, Any]) -> bytes:
    """Histogram of every request's latency (rounded as recorded), the percentiles marked."""
    hist = {int(k): v for k, v in results["latency_histogram"].items()}
    fig, ax = _figure()
    if hist:
        values = sorted(hist)
        width = max(1.0, (values[-1] - values[0]) / 80) if len(values) > 1 else 1.0
        ax.bar(values, [hist[v] for v in values], width=width, color=BLUE, alpha=0.85, label="requests")
        for key, color in (("p50_ms", GREEN), ("p95_ms", AMBER), ("p99_ms", RED)):
            value = results["total"].get(key)
            if value is not None:
                ax.axvline(value, color=color, linestyle="--", linewidth=1.4, label=f"{key[:3]} {value:g} ms")
        ax.legend(loc="upper right", frameon=False)
    else:
        ax.text(0.5, 0.5, "no request completed", ha="center", va="center", transform=ax.transAxes)
    ax.set_xlabel("latency (ms, request sent to last byte read)")
    ax.set_ylabel("requests")
    ax.set_title("Latency distribution", loc="left", fontsize=11)
    return _png(fig)


def throughput_chart(results: dict[str, Any]) -> bytes:
    """Requests/s and failures/s per second on the left axis, MB/s on the right."""
    timeline = results["timeline"]
    t = [p["t"] for p in timeline]
    fig, ax = _figure()
    ax.plot(t, [p["requests"] for p in timeline], color=BLUE, linewidth=1.6, label="requests/s")
    ax.plot(t, [p["failures"] for p in timeline], color=RED, linewidth=1.2, label="failures/s")
    ax.set_xlabel("seconds since start")
    ax.set_ylabel("requests/s")
    ax.set_ylim(bottom=0)
    lines, labels = ax.get_legend_handles_labels()
    if any(p["bytes"] for p in timeline):
        right = ax.twinx()
        right.plot(t, [p["bytes"] / 1e6 for p in timeline], color=GREEN, linewidth=1.4, linestyle="-.",
                   label="MB/s")
        right.set_ylabel("MB/s")
        right.set_ylim(bottom=0)
        right.spines["top"].set_visible(False)
        more = right.get_legend_handles_labels()
        lines, labels = lines + more[0], labels + more[1]
    ax.legend(lines, labels, loc="upper left", frameon=False, ncol=3)
    ax.set_title("Throughput over time (1 s buckets)", loc="left", fontsize=11)
    return _png(fig)


def latency_timeline_chart(results: dict[str, Any]) -> bytes:
    """p50/p95/p99 of the requests that ended in each second."""
    timeline = results["timeline"]
    fig, ax = _figure()
    for key, color in (("p50_ms", GREEN), ("p95_ms", AMBER), ("p99_ms", RED)):
        points = [(p["t"], p[key]) for p in timeline if p[key] is not None]
        if points:
            ax.plot([x for x, _ in points], [y for _, y in points], color=color, linewidth=1.4, marker=".",
                    label=key[:3])
    ax.set_xlabel("seconds since start")
    ax.set_ylabel("latency (ms)")
    ax.set_ylim(bottom=0)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="upper left", frameon=False, ncol=3)
    ax.set_title("Latency over time (1 s buckets)", loc="left", fontsize=11)
    return _png(fig)


def charts(results: dict[str, Any]) -> dict[str, bytes]:
    """The report's charts as PNG bytes, by name."""
    return {"latency": latency_chart(results), "throughput": throughput_chart(results),
            "latency_over_time": latency_timeline_chart(results)}


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _fmt(value: Any, unit: str = "") -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        value = f"{value:,.0f}" if value.is_integer() else f"{value:,.1f}" if value >= 10 else f"{value:,.3g}"
    return f"{value}{unit}"


def render_markdown(results: dict[str, Any]) -> str:
    """The text summary printed at the end of a run and written as report.md."""
    tot = results["total"]
    lines = [f"# Load run: {results['scenario']} on {results['sut']}", "",
             f"{results['users']} users (spawn rate {results['spawn_rate']:g}/s), {results['duration_s']:.1f} s, "
             f"{results['mode']}" + (f" with {results['workers']} worker(s)" if results["workers"] else ""), "",
             "| requests | failures | requests/s | MB/s | p50 ms | p95 ms | p99 ms |",
             "|---:|---:|---:|---:|---:|---:|---:|",
             f"| {tot['requests']} | {tot['failures']} | {_fmt(tot['requests_per_s'])} | {_fmt(tot['mb_per_s'])} | "
             f"{_fmt(tot['p50_ms'])} | {_fmt(tot['p95_ms'])} | {_fmt(tot['p99_ms'])} |", ""]
    if len(results["transactions"]) > 1:
        lines += ["| transaction | requests | failures | requests/s | p50 ms | p95 ms | p99 ms |",
                  "|---|---:|---:|---:|---:|---:|---:|"]
        for name, t in results["transactions"].items():
            lines.append(f"| {name} | {t['requests']} | {t['failures']} | {_fmt(t['requests_per_s'])} | "
                         f"{_fmt(t['p50_ms'])} | {_fmt(t['p95_ms'])} | {_fmt(t['p99_ms'])} |")
        lines.append("")
    if results["errors"]:
        lines += ["Errors by kind:", ""]
        lines += [f"- {e['kind']}: {e['count']}" + (f" (e.g. {e['example'][:120]})" if e["example"] else "")
                  for e in results["errors"]]
    else:
        lines.append("No errors.")
    return "\n".join(lines) + "\n"


def render_html(results: dict[str, Any], pngs: dict[str, bytes] | None = None) -> str:
    env = Environment(loader=FileSystemLoader(str(TEMPLATES)), autoescape=select_autoescape(["html", "j2"]))
    pngs = pngs if pngs is not None else charts(results)
    return env.get_template("load.html.j2").render(
        r=results, t=results["total"], charts={k: data_uri(v) for k, v in pngs.items()}, fmt=_fmt)


def write_reports(results: dict[str, Any], out: Path) -> Path:
    """Write report.html and report.md into ``out`` (each to a temporary name, then renamed); report.html."""
    import os

    out.mkdir(parents=True, exist_ok=True)
    for name, text in (("report.html", render_html(results)), ("report.md", render_markdown(results))):
        tmp = out / (name + ".partial")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, out / name)
    return out / "report.html"
