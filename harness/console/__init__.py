"""``drimcheck console``: a web console for test sessions (profiles, campaigns, evidence, sign-off, validators)
and its REST API, as the field's Gazelle Test Management / EVS, NIST XDS Toolkit and Inferno are web tools.

Public: :func:`create_app` and :class:`ConsoleConfig` (:mod:`harness.console.app`); the command is
:mod:`harness.console.command`.
"""

from harness.console.app import ConsoleConfig, create_app, stop_app

__all__ = ["ConsoleConfig", "create_app", "stop_app"]
