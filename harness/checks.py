"""Assertions that explain themselves: rule id, location, what was expected, what was seen.

A plan test fails through :class:`ConformanceFailure` so the report can show the rule and the
evidence instead of a bare traceback; warnings are attached as findings and never fail a test.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import NoReturn

import pytest

from harness.findings import Finding, Severity, human

NOT_APPLICABLE_PREFIX = "not applicable: "
MAX_CHECKS = 200  # checks kept per test (a sweep over hundreds of instances keeps its first ones)
INCONCLUSIVE_PREFIX = "inconclusive: "

_attached = threading.local()


class ConformanceFailure(AssertionError):
    def __init__(self, rule: str, location: str, expected: object, observed: object, message: str) -> None:
        self.rule, self.location, self.message = rule, location, message
        self.expected, self.observed = _s(expected), _s(observed)
        super().__init__(f"[{rule}] {location}: {message} (expected {self.expected}, observed {self.observed})")

    def to_dict(self) -> dict:
        return {"rule": self.rule, "location": self.location, "expected": self.expected,
                "observed": self.observed, "message": self.message}


def fail(rule: str, location: str, expected: object, observed: object, message: str) -> NoReturn:
    raise ConformanceFailure(rule, location, expected, observed, message)


def passed(rule: str, location: str, expected: object, observed: object, message: str) -> None:
    """Record a check that held, so a pass shows what was checked (the report lists them per test)."""
    bucket = getattr(_attached, "checks", None)
    if bucket is None:
        bucket = _attached.checks = []
    if len(bucket) < MAX_CHECKS:
        bucket.append({"rule": rule, "location": location, "expected": _s(expected), "observed": _s(observed),
                       "message": message})


def take_checks() -> list[dict]:
    """The checks that held in the running test, cleared (the pytest plugin stores them with the test)."""
    items = getattr(_attached, "checks", None) or []
    _attached.checks = []
    return items


def expect(condition: object, *, rule: str, location: str, expected: object, observed: object,
           message: str) -> None:
    if not condition:
        fail(rule, location, expected, observed, message)
    passed(rule, location, expected, observed, message)


def expect_equal(observed: object, expected: object, *, rule: str, location: str, message: str = "") -> None:
    if observed != expected:
        fail(rule, location, expected, observed, message or "value differs")
    passed(rule, location, expected, observed, message or "value as expected")


def expect_status(response: object, expected: int | Iterable[int], *, rule: str, message: str = "") -> None:
    """Check an HTTP status; ``response`` is a requests.Response (or anything with status_code/url)."""
    codes = {expected} if isinstance(expected, int) else set(expected)
    status = getattr(response, "status_code", None)
    method = getattr(getattr(response, "request", None), "method", "")
    where = f"{method} {getattr(response, 'url', '')}".strip()
    if status not in codes:
        fail(rule, where, " or ".join(map(str, sorted(codes))), status, message or "unexpected HTTP status")
    passed(rule, where, " or ".join(map(str, sorted(codes))), status, message or "HTTP status as expected")


def attach_findings(findings: Iterable[Finding], label: str = "") -> None:
    """Attach findings to the running test; the report lists them beside the verdict."""
    bucket = getattr(_attached, "items", None)
    if bucket is None:
        bucket = _attached.items = []
    bucket.extend((label, f) for f in findings)


def take_attached() -> list[tuple[str, Finding]]:
    items = getattr(_attached, "items", None) or []
    _attached.items = []
    return items


def expect_no_errors(findings: Iterable[Finding], *, rules: Iterable[str] | None = None, label: str = "") -> None:
    """Fail on the first error finding (restricted to ``rules`` when given); attach them all."""
    findings = list(findings)
    attach_findings(findings, label)
    wanted = None if rules is None else set(rules)
    for f in findings:
        if f.severity is Severity.ERROR and (wanted is None or f.rule in wanted):
            fail(f.rule, f.location, f.expected, f.found, f.message)
    ran = sorted({f.rule for f in findings}) if findings else []
    passed(label or "validator", "findings", "no error finding",
           f"{len(findings)} finding(s), none an error" + (f" ({', '.join(ran[:12])})" if ran else ""),
           "validator findings checked")


def not_applicable(reason: str) -> NoReturn:
    """The test does not apply to this SUT (e.g. an option it does not implement)."""
    pytest.skip(NOT_APPLICABLE_PREFIX + reason)


def not_run(reason: str) -> NoReturn:
    """The test could not be carried out on this SUT (a screen step its driver cannot perform): nothing was
    checked, so its requirement is not run, never passed on its other tests."""
    pytest.skip(reason)


def inconclusive(precondition: str) -> NoReturn:
    """A precondition of the test failed (the exam could not be published, a peer did not start, the SUT
    never made the call): the requirement is neither passed nor failed, and the report names why
    (STYLE §17: a refused publication is the finding, what depends on it is inconclusive)."""
    pytest.skip(INCONCLUSIVE_PREFIX + precondition)


def _s(value: object) -> str | None:
    return human(value)
