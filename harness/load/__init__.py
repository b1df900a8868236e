"""Load on a system under test: Locust scenarios, run in their own processes, and their report.

Public: :func:`run_load` (run a :class:`LoadSpec` and write results.json, report.html, report.md),
:class:`Distribution` (local process, or a master and workers), :class:`RunInfo`, :func:`prepare` (the
target set up for a scenario). Locust itself is imported only by ``harness.load.worker``, in the load
processes: its import monkey-patches the standard library for gevent.
"""

from harness.load.run import Distribution, LoadError, RunInfo, run_load
from harness.load.spec import SCENARIO_NAMES, LoadSpec, SpecError
from harness.load.targets import TargetError, TargetOptions, prepare

__all__ = ["SCENARIO_NAMES", "Distribution", "LoadError", "LoadSpec", "RunInfo", "SpecError", "TargetError",
           "TargetOptions", "prepare", "run_load"]
