"""DRIMcheck engine: catalog, SUT profiles, capture, checks, campaign runner and pytest plugin.

The check helpers below come from :mod:`harness.checks`, which needs pytest; they are imported when first
asked for (PEP 562 ``__getattr__``), so ``drimcheck serve`` and the campaign runner, which never use them,
start without importing pytest."""

from typing import Any

__version__ = "0.1.0"

_FROM = {
    "ConformanceFailure": "harness.checks", "attach_findings": "harness.checks", "expect": "harness.checks",
    "expect_equal": "harness.checks", "expect_no_errors": "harness.checks", "expect_status": "harness.checks",
    "fail": "harness.checks", "not_applicable": "harness.checks",
    "Finding": "harness.findings", "Severity": "harness.findings",
}

__all__ = [
    "ConformanceFailure",
    "Finding",
    "Severity",
    "__version__",
    "attach_findings",
    "expect",
    "expect_equal",
    "expect_no_errors",
    "expect_status",
    "fail",
    "not_applicable",
]


def __getattr__(name: str) -> Any:
    if name not in _FROM:
        raise AttributeError(f"module 'harness' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(_FROM[name]), name)
    globals()[name] = value
    return value
