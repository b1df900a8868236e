"""Metadata validation of a submission with the project's XDS validator (harness.xds.validate).

The validator returns findings; the registry turns each error into an XDSRegistryMetadataError
(ITI TF-3 Table 4.2.4.1-2). Checks the registry makes itself, with their own error codes
(hash, size, patient consistency, duplicates), are left to registry.py so each code is exact.
"""

from __future__ import annotations

from lxml import etree

from harness.findings import Severity
from harness.xds.query import RegistryError

# the registry reports these itself with a specific code (see registry.py)
_OWN_TOPICS = ("HASH", "SIZE", "PATIENT-MATCH", "PID-MATCH", "PATIENTID-MATCH", "MISSING-DOC", "DOCUMENT-BYTES")


def metadata_errors(pnr: etree._Element, profile: str) -> list[RegistryError]:
    try:
        from harness.xds.validate import validate_submission
    except ImportError:  # validator not installed: registry checks only
        return []
    findings = validate_submission(pnr, profile=profile)
    out = []
    for f in findings:
        if f.severity is not Severity.ERROR or any(t in f.rule.upper() for t in _OWN_TOPICS):
            continue
        out.append(RegistryError("XDSRegistryMetadataError", f"[{f.rule}] {f.message}", f.location))
    return out
