"""Findings: what a validator says about a message, and why.

Validators return findings and never print or exit, so the same rule can feed a CLI verdict,
a test assertion and a report without being re-run (DESIGN: one module, one job).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from enum import StrEnum


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


@dataclass(frozen=True)
class Finding:
    """One observation about a document.

    ``rule`` is a requirement id of the catalog (``KOS-PAT-001``) or a standard's rule id;
    ``location`` is a DICOM tag path (``(0040,A375)[0]>(0008,1115)[1]>(0008,1190)``), an XPath,
    or an HL7 field (``OBX[2]-5``); ``origin`` names the tool that produced it (``drimcheck``,
    ``dciodvfy``, ``schematron``, ``xsd``).
    """

    rule: str
    severity: Severity
    location: str
    message: str
    expected: str | None = None
    found: str | None = None
    origin: str = "drimcheck"

    def to_dict(self) -> dict:
        data = asdict(self)
        data["severity"] = self.severity.value
        return data

    @classmethod
    def from_dict(cls, data: dict) -> Finding:
        return cls(**{**data, "severity": Severity(data["severity"])})

    def __str__(self) -> str:
        text = f"{self.severity.value.upper()} [{self.rule}] {self.location}: {self.message}"
        if self.expected is not None or self.found is not None:
            text += f" (expected {self.expected or '(none)'}, found {self.found or '(none)'})"
        return text


def error(rule: str, location: str, message: str, expected: object = None, found: object = None,
          origin: str = "drimcheck") -> Finding:
    return Finding(rule, Severity.ERROR, location, message, _s(expected), _s(found), origin)


def warning(rule: str, location: str, message: str, expected: object = None, found: object = None,
            origin: str = "drimcheck") -> Finding:
    return Finding(rule, Severity.WARNING, location, message, _s(expected), _s(found), origin)


def info(rule: str, location: str, message: str, expected: object = None, found: object = None,
         origin: str = "drimcheck") -> Finding:
    return Finding(rule, Severity.INFO, location, message, _s(expected), _s(found), origin)


def errors(findings: Iterable[Finding]) -> list[Finding]:
    return [f for f in findings if f.severity is Severity.ERROR]


def _s(value: object) -> str | None:
    return None if value is None else human(value)


def human(value: object) -> str:
    """A value as a person writes it in a report: no Python reprs (no ``None``, brackets or quotes)."""
    if value is None:
        return "(none)"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            return f"{len(value)} bytes"
    if isinstance(value, dict):
        return "; ".join(f"{human(k)}: {human(v)}" for k, v in value.items()) or "(empty)"
    if isinstance(value, (list, tuple, set, frozenset)):
        items = sorted(value, key=str) if isinstance(value, (set, frozenset)) else list(value)
        if not items:
            return "(none)"
        return ", ".join(f"({human(v)})" if isinstance(v, (list, tuple)) and len(v) > 1 else human(v)
                         for v in items)
    return str(value)
