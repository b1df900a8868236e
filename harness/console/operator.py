"""The operator's steps of a campaign in the console: a Consumer campaign with ``driver: operator`` prompts a
person for each screen step and question (:mod:`harness.operator`). The console names the campaign's channel
folder to ``drimcheck run`` (:func:`channel_of`), shows the pending prompt with the patient's traits, the exam
and the traffic the step caused so far (the exchanges captured since the prompt was written), and takes the
person's answer, which :class:`harness.operator.OperatorChannel` checks and refuses once the step timed out.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from harness.console.evidence import exchanges_since
from harness.console.jobs import campaign_dir
from harness.operator import OperatorChannel

TRAFFIC_ROWS = 200  # exchanges of one step shown at most (the newest)
TRAFFIC_READ = 16 * 1024 * 1024  # bytes of the capture file one look reads at most


def channel_of(data: Path, campaign_id: int) -> OperatorChannel:
    """The campaign's prompts and answers, kept in its folder beside ``out/``."""
    return OperatorChannel(campaign_dir(data, campaign_id) / "operator")


def traffic(out: Path, prompt: dict[str, Any] | None) -> tuple[list[dict[str, Any]], int | None]:
    """The exchanges captured since ``prompt`` was written (the newest :data:`TRAFFIC_ROWS`), and where the
    capture file was read to; ([], None) when the prompt's process records to no campaign folder."""
    offset = None if prompt is None else prompt.get("exchanges_offset")
    if not isinstance(offset, int) or offset < 0:
        return [], None
    rows, end = exchanges_since(out, offset, TRAFFIC_READ)
    return rows[-TRAFFIC_ROWS:], end


def view(data: Path, campaign_id: int, out: Path) -> dict[str, Any]:
    """What the campaign page shows of the operator: the pending prompt, its traffic, the prompts answered."""
    channel = channel_of(data, campaign_id)
    prompts = channel.prompts()
    pending = next((p for p in reversed(prompts) if p["closed"] is None), None)
    if pending is not None and pending is not prompts[-1]:
        pending = None  # an older prompt its process left open (cancelled): only the newest one waits
    rows, _ = traffic(out, pending)
    return {"pending": pending, "traffic": rows, "history": [p for p in prompts if p is not pending]}


class Watch:
    """The operator's side of a campaign's event stream: an ``operator`` event each time the pending prompt
    changes (``{"id": N}`` or ``{"id": null}``), a ``traffic`` event with each batch of exchanges captured
    while a prompt waits."""

    def __init__(self, data: Path, campaign_id: int, out: Path) -> None:
        self.channel = channel_of(data, campaign_id)
        self.out = out
        self.names: tuple[str, ...] | None = None
        self.pending: dict[str, Any] | None = None
        self.offset: int | None = None

    def poll(self) -> list[tuple[str, dict[str, Any]]]:
        events: list[tuple[str, dict[str, Any]]] = []
        try:
            names = tuple(sorted(os.listdir(self.channel.folder)))
        except OSError:
            names = ()
        first = self.names is None
        if names != self.names:
            self.names = names
            pending = self.channel.pending()
            was = None if self.pending is None else self.pending["id"]
            now = None if pending is None else pending["id"]
            if now != was or (first and names):
                self.pending = pending
                self.offset = None if pending is None else pending.get("exchanges_offset")
                events.append(("operator", {"id": now}))
        if self.pending is not None and isinstance(self.offset, int):
            rows, self.offset = exchanges_since(self.out, self.offset, TRAFFIC_READ)
            if rows:
                events.append(("traffic", {"prompt": self.pending["id"], "exchanges": rows[-TRAFFIC_ROWS:]}))
        return events
