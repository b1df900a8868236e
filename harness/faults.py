"""Named faults of the reference implementation.

Each simulator package (``simulators.dmp``, ``simulators.source``...) exposes ``FAULTS``, a
dict of :class:`Fault`; each fault breaks the requirement ids it names, and the fault proof
checks that the plan fails exactly those.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass


@dataclass(frozen=True)
class Fault:
    name: str
    description: str
    breaks: tuple[str, ...]


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
