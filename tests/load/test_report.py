"""The load report: self-contained HTML with its charts as PNG data: URIs, and the text summary."""

from __future__ import annotations

import re

from harness.load.report import render_markdown, write_reports
from harness.load.stats import Recorder, summarize
from tests.load.conftest import assert_valid_png, embedded_pngs


def _results(errors: bool) -> dict:
    rec = Recorder()
    for i in range(60):
        rec.add("RAD-107 series", 2000 + i * 0.1, 20 + i, 2_000_000)
    if errors:
        rec.add("RAD-107 series", 2003.5, 4, 0, "HTTP 401", "invalid token")
    figures = summarize(rec, 2000.0, 2006.0)
    return {"scenario": "wado-storm", "sut": "reference:source", "command": ["drimcheck", "load"],
            "started": "2026-01-01T00:00:00Z", "users": 4, "spawn_rate": 4.0, "duration_requested_s": 6,
            "workers": 2, "mode": "distributed", "tool_version": "0", "setup": {"study UID": "1.2.3"}, **figures}


def test_report_is_one_self_contained_page_with_three_valid_charts(tmp_path):
    html_path = write_reports(_results(errors=True), tmp_path)
    html = html_path.read_text(encoding="utf-8")
    pngs = embedded_pngs(html)
    assert len(pngs) == 3
    for png in pngs:
        assert_valid_png(png)
    assert not re.search(r'(src|href)="(https?:|//|[^"#d][^"]*\.(png|css|js))', html)  # nothing fetched
    assert "HTTP 401" in html and "invalid token" in html
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.html", "report.md"]


def test_text_summary_names_rates_percentiles_and_errors_by_kind():
    text = render_markdown(_results(errors=True))
    assert "| 61 | 1 |" in text and "HTTP 401: 1" in text
    assert "No errors." in render_markdown(_results(errors=False))


def test_a_run_where_nothing_completed_still_renders(tmp_path):
    empty = summarize(Recorder(), 10.0, 12.0)
    results = {**_results(errors=False), **empty}
    for png in embedded_pngs(write_reports(results, tmp_path).read_text(encoding="utf-8")):
        assert_valid_png(png)
