"""Named faults of the reference implementation.

Each simulator package (``simulators.dmp``, ``simulators.source``...) exposes ``FAULTS``, a
dict of :class:`Fault`; each fault breaks the requirement ids it names, and the fault proof
checks that the plan fails exactly those. A fault whose requirements belong to another plan than
its actor's (``plan``: the performance plan's latency and throughput) fails exactly them in that
plan, and nothing in its actor's plan: :meth:`Fault.breaks_in` says what each plan must fail.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass


@dataclass(frozen=True)
class Fault:
    name: str
    description: str
    breaks: tuple[str, ...]
    plan: str | None = None  # the plan whose campaign fails ``breaks``; None: the plan of the fault's actor

    def breaks_in(self, plan: str, actor_plan: str) -> tuple[str, ...]:
        """What a campaign of ``plan`` must fail with this fault on (``actor_plan``: the plan named after the
        fault's actor): ``breaks`` in the fault's own plan, nothing in any other."""
        return self.breaks if plan == (self.plan or actor_plan) else ()


# reference actor -> module that holds FAULTS and start_reference()
REFERENCE_MODULES: dict[str, str] = {
    "source_drimbox": "simulators.source",
    "consumer_drimbox": "simulators.consumer",
    "dmp": "simulators.dmp",
    "content": "fixtures.reference_content",
}


def reference_module(actor: str):
    """Import the reference implementation of ``actor``; ImportError means not built yet."""
    return importlib.import_module(REFERENCE_MODULES[actor])


def faults_of(actor: str) -> dict[str, Fault]:
    try:
        module = reference_module(actor)
    except ImportError:
        return {}
    return dict(getattr(module, "FAULTS", {}))
