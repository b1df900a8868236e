"""Black-box proof of the TLS-scan requirements (SRC-SEC-SCAN, CON-SEC-SCAN): with ``options.tls_scan: true``
the plans scan the product's HTTPS endpoint with testssl.sh. The clean Source passes the scan; a Consumer
that also accepts TLS 1.0/1.1 fails it beside the probe requirement the same fault breaks (one case of each
kind, as a scan costs about 30 s; tests/tls proves the scanner's reading of weak suites and versions).
Without testssl.sh the requirement is not run, never passed: these tests then skip, as the scan they prove
cannot happen."""

from __future__ import annotations

import pytest

from harness.tlsscan import ScannerUnavailable, find_scanner
from tests.blackbox.products import verdicts
from tests.blackbox.test_consumer_blackbox import consumer_pki, run_consumer  # noqa: F401 (fixture)
from tests.blackbox.test_source_blackbox import pacs, pki_files, run_source  # noqa: F401 (fixtures)

SCAN = {"tls_scan": True}


@pytest.fixture(scope="module", autouse=True)
def scanner() -> None:
    try:
        find_scanner()
    except ScannerUnavailable as exc:
        pytest.skip(str(exc))


def failed(results: dict) -> set[str]:
    return {rid for rid, v in verdicts(results).items() if v == "failed"}


def test_the_clean_source_passes_the_scan(pacs, pki_files, tmp_path):  # noqa: F811
    code, results, output = run_source(None, pacs, pki_files, tmp_path, options=SCAN)
    assert verdicts(results)["SRC-SEC-SCAN"] == "passed", output
    assert code == 0, output


def test_legacy_tls_of_the_consumer_fails_the_scan(consumer_pki, tmp_path):  # noqa: F811
    code, results, output = run_consumer("legacy-tls", consumer_pki, tmp_path, options=SCAN)
    assert failed(results) == {"CON-SEC-TLS12", "CON-SEC-SCAN"}, output
    scan = next(t for t in results["tests"] if "CON-SEC-SCAN" in t["requirements"])
    assert "TLS 1.0 offered" in scan["failure"]["observed"] or "TLS 1.1 offered" in scan["failure"]["observed"], scan
    assert code == 1
