"""DRIMcheck engine: catalog, SUT profiles, capture, checks, campaign runner and pytest plugin."""

from harness.checks import (
    ConformanceFailure,
    attach_findings,
    expect,
    expect_equal,
    expect_no_errors,
    expect_status,
    fail,
    not_applicable,
)
from harness.findings import Finding, Severity

__version__ = "0.1.0"

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
