"""Metadata validation of a submission with the project's XDS validator (harness.xds.validate).

Each error finding becomes a RegistryError with the code ``registry_error_code`` gives
(XDSRegistryMetadataError unless more specific, ITI TF-3 Table 4.2.4.1-2). The checks the
registry/repository makes itself against the documents and the registry content (hash, size,
missing document or entry, patient consistency) are left to registry.py, so each is reported once
with the code the repository owes: a hash or size that does not match the received document is an
XDSRepositoryMetadataError (ITI TF-2b §3.41.4.1.3, assertion ITI41-25), XDSNonIdenticalHash is for a
uniqueId already registered with another hash.
"""

from __future__ import annotations

from lxml import etree

from harness.findings import Severity
from harness.xds.query import RegistryError

# rules of harness.xds.validate that registry.py checks itself with the exact code
REGISTRY_OWN_RULES = frozenset({"XDS-HASH-002", "XDS-SIZE-002", "XDS-PNR-002", "XDS-PNR-003", "XDS-PID-002"})


def metadata_errors(pnr: etree._Element, profile: str, attachments: dict[str, bytes] | None = None,
                    skip: frozenset[str] = frozenset()) -> list[RegistryError]:
    try:
        from harness.xds.validate import registry_error_code, validate_submission
    except ImportError:  # validator not built: registry checks only
        return []
    # check_documents=False: document presence, hash and size are registry.py's own checks (the rules
    # REGISTRY_OWN_RULES), made once there with the code the repository owes; no second SHA-1 here
    findings = validate_submission(pnr, profile=profile, attachments=attachments or {}, check_documents=False)
    return [RegistryError(registry_error_code(f.rule), f"[{f.rule}] {f.message}", f.location)
            for f in findings if f.severity is Severity.ERROR and f.rule not in REGISTRY_OWN_RULES | skip]
