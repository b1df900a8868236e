"""The performance plan's record: every figure measured and every verdict with its threshold and the harness's
ceiling, written as ``performance.json`` in the campaign's evidence folder, where the report reads it (and
evidence.zip's manifest covers it)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from harness import capture
from harness.checks import fail, inconclusive, passed
from testplans.performance.figures import Judgement

FILE = "performance.json"


class Book:
    def __init__(self, sut: str) -> None:
        self.data: dict[str, Any] = {"sut": sut, "figures": {}, "verdicts": []}

    def add_figures(self, side: str, figures: dict[str, Any]) -> None:
        self.data["figures"][side] = figures

    def record(self, judgement: Judgement, basis: dict[str, Any]) -> None:
        t = judgement.threshold
        self.data["verdicts"].append({
            "requirement": judgement.requirement, "outcome": judgement.outcome, "measured": judgement.measured,
            "unit": t.unit, "threshold": t.value, "kind": t.kind, "origin": t.origin, "message": judgement.message,
            **basis})

    def write(self, folder: Path | None = None) -> Path | None:
        folder = folder or capture.recorder().folder
        if folder is None:
            return None
        folder.mkdir(parents=True, exist_ok=True)
        path = Path(folder) / FILE
        tmp = path.with_name(FILE + ".tmp")
        tmp.write_text(json.dumps(self.data, indent=1, default=str), encoding="utf-8")
        os.replace(tmp, path)
        return path


def settle(book: Book, judgement: Judgement, basis: dict[str, Any]) -> None:
    """Record ``judgement`` and end the test with it: a check that held, a failure of the requirement, or
    inconclusive with the figures (never a failure of the SUT for a harness limit)."""
    book.record(judgement, basis)
    t = judgement.threshold
    where = basis.get("measurement", judgement.requirement)
    observed = "-" if judgement.measured is None else f"{judgement.measured:.3g} {t.unit}"
    if judgement.outcome == "passed":
        passed(judgement.requirement, where, t.describe(), observed, judgement.message)
    elif judgement.outcome == "failed":
        fail(judgement.requirement, where, t.describe(), observed, judgement.message)
    else:
        inconclusive(judgement.message)
