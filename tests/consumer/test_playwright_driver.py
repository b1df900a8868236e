"""The example Playwright driver (``examples/consumer_driver_playwright.py``) runs the whole consumer_drimbox
plan in a real headless Chromium against the reference Consumer started as its own process.

As a vendor would: the example is copied beside the SUT profile, named there by a relative path
(``driver: drivers/consumer_driver_playwright.py:PlaywrightReferenceDriver``), and ``drimcheck run`` must exit
0 with every SHALL passed, each screen answer written in the report as the Playwright driver's. Skipped when
Playwright (``pip install -e '.[browser]'``) or a Chromium (``apt-get install chromium``) is missing.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path
from types import ModuleType

import pytest

pytest.importorskip("playwright.sync_api", reason="Playwright is not installed (pip install -e '.[browser]')")

from tests.blackbox.products import shall_not_passed, write_pki
from tests.blackbox.test_consumer_blackbox import run_consumer

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "consumer_driver_playwright.py"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("consumer_driver_playwright", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def example() -> ModuleType:
    module = _example()
    if module.chromium_executable() is None:
        named = os.environ.get("DRIMCHECK_CHROMIUM")
        pytest.skip(f"no Chromium: DRIMCHECK_CHROMIUM={named} is not a file" if named else
                    f"no Chromium: none of {', '.join(module.CHROMIUM_CANDIDATES)} exists (apt-get install chromium)")
    if shutil.which("certutil") is None:
        pytest.skip("no certutil to give Chromium the Consumer's test CA (apt-get install libnss3-tools)")
    return module


@pytest.fixture(scope="module")
def vihf_pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The VIHF signer given to the Consumer (key, certificate) and its CA given to the plan."""
    return write_pki(tmp_path_factory.mktemp("consumer-pki"), "Playwright-driven Consumer VIHF")


def test_playwright_driver_passes_the_consumer_plan(example, vihf_pki, tmp_path, monkeypatch):
    drivers = tmp_path / "campaign" / "drivers"
    drivers.mkdir(parents=True)
    shutil.copy(EXAMPLE, drivers / EXAMPLE.name)
    screens = tmp_path / "screens"
    monkeypatch.setenv("DRIMCHECK_SCREENSHOTS", str(screens))

    code, results, output = run_consumer(None, vihf_pki, tmp_path,
                                         driver=f"drivers/{EXAMPLE.name}:PlaywrightReferenceDriver")

    assert shall_not_passed(results) == {}, output
    assert code == 0, output
    answers = [f["message"] for t in results["tests"] for f in t.get("findings") or [] if f["rule"] == "DRIVER"]
    by = f"answered by {example.PlaywrightReferenceDriver.answered_by}"
    assert answers and all(by in message for message in answers), answers
    exam_lists = sorted(screens.glob("*-exam-list.png"))
    assert exam_lists, f"no screenshot of an exam list in {screens}"
    assert exam_lists[0].read_bytes().startswith(PNG_SIGNATURE)


def test_the_browser_checks_the_consumers_certificate(example, tmp_path):
    """Chromium reaches an HTTPS Consumer only through the CAs the harness hands it: without them the
    contextual call stops on the certificate error (never a silent pass over a bad chain); with them
    it lands on the Consumer's page."""
    from harness.drivers import DriverContext, StepUnavailable
    from harness.pki import network_pki
    from harness.servers import serve_wsgi
    from harness.tls import NetworkTls

    def consumer(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/html; charset=utf-8")])
        return [b"<!doctype html><title>Examens</title><p>liste</p>"]

    tls = NetworkTls(network_pki(tmp_path / "pki"))
    server = serve_wsgi(consumer, "https-consumer", ssl_context=tls.context("consumer"))
    try:
        assert server.url.startswith("https://")
        for cas, lands in (((), False), ((str(tls.ca),), True)):
            context = DriverContext(server.url + "/contextual", server.url, "https://psc.invalid/authorize",
                                    "10000000001", cas=cas)
            driver = example.PlaywrightReferenceDriver(context)
            try:
                if lands:
                    driver.open_patient({"PatientID": "1"})
                    assert driver.page.url == server.url + "/contextual"
                else:
                    with pytest.raises(StepUnavailable, match="ERR_CERT_AUTHORITY_INVALID"):
                        driver.open_patient({"PatientID": "1"})
            finally:
                driver.close()
    finally:
        server.stop()
