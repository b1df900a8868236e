"""Performance of a Source DRIMbox on the performance study: WADO-RS latency and throughput, viewing a series,
and the PACS behind it (DB.SO.102). Each verdict names its threshold (default or the profile's), the figure
with its spread and the harness's ceiling on the same bytes (``figures.judge``)."""

from __future__ import annotations

from typing import Any

import pytest

from harness.checks import inconclusive
from testplans.performance.book import settle


def _settle(rid: str, source_figures: Any, perf_thresholds: dict[str, Any], book: Any, how: str, *args: Any) -> None:
    refused = source_figures.refused()
    if refused and how != "pacs":
        inconclusive(f"retrieves not answered 200, so there is no figure to judge: {refused} (the source_drimbox "
                     "plan's SRC-WADO-* requirements say why)")
    judgement, basis = getattr(source_figures, how)(perf_thresholds[rid], *args)
    settle(book, judgement, basis)


@pytest.mark.requirement("PERF-SRC-WADO-LATENCY")
def test_wado_latency(source_figures: Any, perf_thresholds: dict[str, Any], book: Any) -> None:
    _settle("PERF-SRC-WADO-LATENCY", source_figures, perf_thresholds, book, "wado_latency")


@pytest.mark.requirement("PERF-SRC-WADO-THROUGHPUT")
def test_wado_throughput(source_figures: Any, perf_thresholds: dict[str, Any], book: Any) -> None:
    _settle("PERF-SRC-WADO-THROUGHPUT", source_figures, perf_thresholds, book, "wado_throughput")


@pytest.mark.requirement("PERF-SRC-VIEW-LATENCY")
def test_view_latency(source_figures: Any, perf_thresholds: dict[str, Any], book: Any) -> None:
    _settle("PERF-SRC-VIEW-LATENCY", source_figures, perf_thresholds, book, "view_latency")


@pytest.mark.requirement("PERF-SRC-VIEW-THROUGHPUT")
def test_view_throughput(source_figures: Any, perf_thresholds: dict[str, Any], book: Any) -> None:
    _settle("PERF-SRC-VIEW-THROUGHPUT", source_figures, perf_thresholds, book, "view_throughput")


@pytest.mark.requirement("PERF-SRC-PACS-LATENCY")
def test_pacs_first_image(source_figures: Any, perf_thresholds: dict[str, Any], book: Any) -> None:
    _check_moves(source_figures)
    _settle("PERF-SRC-PACS-LATENCY", source_figures, perf_thresholds, book, "pacs", "first_ms")


@pytest.mark.requirement("PERF-SRC-PACS-THROUGHPUT")
def test_pacs_throughput(source_figures: Any, perf_thresholds: dict[str, Any], book: Any) -> None:
    _check_moves(source_figures)
    _settle("PERF-SRC-PACS-THROUGHPUT", source_figures, perf_thresholds, book, "pacs", "mb_per_s")


def _check_moves(source_figures: Any) -> None:
    """A C-MOVE that did not bring the whole study measured something else: inconclusive, with what it got."""
    for sample in [source_figures.move.cold, *source_figures.move.warm]:
        if sample.status != 0 or sample.images != source_figures.images:
            inconclusive(f"the C-MOVE ended with status 0x{sample.status & 0xFFFF:04X} after {sample.images} of "
                         f"{source_figures.images} images (is the harness's Storage SCP a known move destination "
                         "of the PACS? options.performance.move_destination)")
