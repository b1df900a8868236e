"""Performance of a Consumer DRIMbox on the performance study, driven through the profile's driver and timed at
the harness's peers: viewing latency and throughput, the import into the local PACS, the XDM export. Each verdict
names its threshold (default or the profile's), the figure with its spread and the harness's ceiling on the same
bytes (``figures.judge``)."""

from __future__ import annotations

from typing import Any

import pytest

from harness.checks import inconclusive, not_run
from testplans.performance.book import settle


def _settle(rid: str, consumer_figures: Any, perf_thresholds: dict[str, Any], book: Any, how: str) -> None:
    if consumer_figures.unavailable:
        not_run(consumer_figures.unavailable)
    judgement, basis = getattr(consumer_figures, how)(perf_thresholds[rid])
    settle(book, judgement, basis)


@pytest.mark.requirement("PERF-CON-VIEW-LATENCY")
def test_view_latency(consumer_figures: Any, perf_thresholds: dict[str, Any], book: Any) -> None:
    _settle("PERF-CON-VIEW-LATENCY", consumer_figures, perf_thresholds, book, "view_latency")


@pytest.mark.requirement("PERF-CON-VIEW-THROUGHPUT")
def test_view_throughput(consumer_figures: Any, perf_thresholds: dict[str, Any], book: Any) -> None:
    _settle("PERF-CON-VIEW-THROUGHPUT", consumer_figures, perf_thresholds, book, "view_throughput")


@pytest.mark.requirement("PERF-CON-IMPORT-THROUGHPUT")
def test_import_throughput(consumer_figures: Any, perf_thresholds: dict[str, Any], book: Any) -> None:
    """A run whose import did not store the whole study timed something else: inconclusive, with what it got."""
    if not consumer_figures.unavailable and (reason := consumer_figures.incomplete()):
        inconclusive(reason)
    _settle("PERF-CON-IMPORT-THROUGHPUT", consumer_figures, perf_thresholds, book, "import_throughput")


@pytest.mark.requirement("PERF-CON-EXPORT-THROUGHPUT")
def test_export_throughput(consumer_figures: Any, perf_thresholds: dict[str, Any], book: Any) -> None:
    if not consumer_figures.unavailable and (reason := consumer_figures.export_missing()):
        not_run(reason)
    _settle("PERF-CON-EXPORT-THROUGHPUT", consumer_figures, perf_thresholds, book, "export_throughput")
