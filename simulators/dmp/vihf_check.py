"""VIHF enforcement at the DMP endpoints (ANS DRIM-M_DATA Validateur XDS): off, warn (log + evidence),
enforce (SOAP fault).

The assertion rules live in harness.vihf (shared with clients that build assertions); here only
the policy: which patient the request is about, and what to do with the findings. Findings that
do not refuse the request (every error and warning in ``warn``, warnings in ``enforce``) are
returned to the endpoint, which keeps them as evidence of that message (soapio.py: a
``Warning: 299`` header of the captured response, and the registry's findings table shown by the
inspector).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from harness.findings import Finding, Severity
from harness.soap import SoapFault, SoapMessage
from simulators.dmp import ebxml as E
from simulators.dmp.config import DmpConfig

log = logging.getLogger(__name__)


def request_patient(msg: SoapMessage) -> str | None:
    """The patient a request is about: PnR/ITI-57 patientId, or the query's patient parameter."""
    body = msg.envelope.body
    if body is None:
        return None
    for ei in body.iter(f"{E.RIM}ExternalIdentifier"):
        if E.EXT_ID.get(ei.get("identificationScheme", ""), "").endswith("_patient"):
            return ei.get("value")
    for slot in body.iter(f"{E.RIM}Slot"):
        if slot.get("name") in ("$XDSDocumentEntryPatientId", "$XDSSubmissionSetPatientId", "$patientId"):
            text = slot.findtext(f"{E.RIM}ValueList/{E.RIM}Value") or ""
            return text.strip().strip("'")
    return None


def vihf_checker(config: DmpConfig, verify_signature: bool = True, required: bool = True
                 ) -> Callable[[SoapMessage, str | None], list[Finding]] | None:
    """The check of one request: raises SoapFault (enforce, an error found), else returns the
    findings to keep as evidence of the request. ``required`` off (a fault): a request without
    wsse:Security is let through unchecked."""
    if config.vihf == "off":
        return None
    from harness.vihf import verify_vihf

    def check(msg: SoapMessage, action: str | None) -> list[Finding]:
        security = msg.envelope.security
        if security is None and not required:
            return []
        findings = verify_vihf(security, trust_store=config.trust_store, patient=request_patient(msg),
                               check_signature=verify_signature)
        errors = [f for f in findings if f.severity is Severity.ERROR]
        if errors and config.vihf == "enforce":
            first = errors[0]
            raise SoapFault("Sender", f"VIHF rejected: [{first.rule}] {first.location}: {first.message}",
                            "wsse:InvalidSecurity")
        kept = [f for f in findings if f.severity in (Severity.ERROR, Severity.WARNING)]
        for f in kept:
            log.warning("VIHF (%s, accepted): %s", config.vihf, f)
        return kept

    return check


