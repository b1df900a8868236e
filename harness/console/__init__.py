"""``drimcheck console``: a web console for test sessions (profiles, campaigns, evidence, sign-off, validators)
and its REST API, as the field's Gazelle Test Management / EVS, NIST XDS Toolkit and Inferno are web tools.

Public: :func:`create_app`, :func:`stop_app` and :class:`ConsoleConfig` (:mod:`harness.console.app`), imported
on first use so that ``drimcheck`` (which registers :mod:`harness.console.command`) starts without Flask's and
SQLAlchemy's import cost.
"""

from __future__ import annotations

from typing import Any

__all__ = ["ConsoleConfig", "create_app", "stop_app"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from harness.console import app

        return getattr(app, name)
    raise AttributeError(f"module 'harness.console' has no attribute {name!r}")
