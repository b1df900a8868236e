"""A product's HTTPS endpoint scanned by testssl.sh (:mod:`harness.tlsscan`) inside a plan: the maintained
scanner's view of control point C17 (protocols, cipher categories, TLS compression, certificate), beside the
plan's own handshake probes.

A scan takes 25 to 45 seconds per endpoint, so it runs when the profile asks for it (``options.tls_scan:
true``). It is never passed when it was not made: scanning off, or testssl.sh absent, leaves the requirement
not run with the reason; a scanner that fails or a check it could not make leaves it inconclusive.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from harness.checks import attach_findings, fail, inconclusive, passed
from harness.findings import info, warning


def check_scan(url: str, *, rule: str, options: dict[str, Any] | None, ca: str | Path | None,
               client_cert: tuple[Path, Path] | None = None) -> None:
    """Scan ``url``; fail ``rule`` with every C17 problem testssl.sh reports, the whole scan as evidence."""
    from harness.tlsscan import ScanFailed, ScannerUnavailable, scan

    if not url.startswith("https://"):
        inconclusive(f"the endpoint is plain HTTP ({url}): there is no TLS to scan (the HTTPS requirement's finding)")
    if not (options or {}).get("tls_scan"):
        pytest.skip("not run: the profile does not ask for a TLS scan (options.tls_scan: true runs testssl.sh, "
                    "about 30 s per endpoint)")
    try:
        report = scan(url, ca=Path(ca) if ca else None, client_cert=client_cert)
    except ScannerUnavailable as exc:
        pytest.skip(f"not run: {exc}")
    except ScanFailed as exc:
        inconclusive(f"testssl.sh did not complete its scan of {url}: {exc}")
    attach_findings([info("TLS-SCAN", url, f"{report.scanner} ({report.openssl}) in {report.seconds:.0f} s",
                          found=" ".join(report.command))]
                    + [info("TLS-SCAN", f"{url} {f.id}", f.finding, found=f.severity) for f in report.findings
                       if f.section != "client"]
                    + [warning("TLS-SCAN", url, text) for text in (*report.concerns(), *report.notes)],
                    label="testssl.sh")
    problems = report.problems()
    if problems:
        fail(rule, url, "none of the C17 problems testssl.sh looks for (TLS < 1.2, weak cipher categories, "
             "compression, chain or name)", "; ".join(problems), "the scanner finds the TLS of the endpoint weak")
    unchecked = report.unchecked()
    if unchecked:
        inconclusive(f"testssl.sh could not decide: {'; '.join(unchecked)}")
    passed(rule, url, "no C17 problem", f"protocols {report.protocols}, weak cipher categories none, "
           f"compression {report.compression}", "testssl.sh finds the endpoint's TLS sound")
