"""An operator's steps answered in a real browser: Debian's Chromium driven by Playwright (as test_browser.py does)
against the console on a loopback port with its real worker, the campaign being the stand-in for ``drimcheck run``
whose ``OperatorDriver`` asks through the channel the console names (tests/console/fake_run.py ``operator``; a
real Consumer campaign costs tens of seconds of CPU). The page shows the prompt as it comes, the patient and the
exam, the ITI-43 the step caused as it is captured; "Done" and a question's choices answer it; the campaign then
finishes. A screenshot of each page is written to the test's tmp folder. Skipped, with the reason, without
Playwright or a Chromium.
"""

from __future__ import annotations

import re

import pytest

pytest.importorskip("playwright.sync_api", reason="Playwright is not installed (pip install -e '.[test]')")

from harness.console import ConsoleConfig
from tests.console.conftest import FAKE_RUN
from tests.console.test_browser import ARGS, CHROMIUM, served_console

PASSWORD = "operator test password"


@pytest.fixture
def console(tmp_path, monkeypatch):
    monkeypatch.setenv("FAKE_RUN_MODE", "operator")
    yield from served_console(ConsoleConfig(data=tmp_path / "data", worker_command=FAKE_RUN), PASSWORD, poll=0.1)


def test_an_operator_answers_the_steps_in_the_page(console, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    shots = tmp_path / "screens"
    shots.mkdir()
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            page = browser.new_context().new_page()
            page.set_default_timeout(30_000)

            def shot(name: str) -> None:
                (shots / f"{name}.png").write_bytes(page.screenshot(full_page=True))

            page.goto(console + "/login")
            page.get_by_label("Name").fill("acme")
            page.get_by_label("Password").fill(PASSWORD)
            page.get_by_role("button", name="Log in").click()
            page.goto(console + "/campaigns/new")
            page.get_by_label("or reference implementation").fill("reference:content")
            page.get_by_label("content", exact=True).check()
            page.get_by_role("button", name="Start").click()

            # the step comes live, then the exchange it caused
            prompt = page.locator("#prompt")
            expect(prompt.locator(".prompt-text")).to_contain_text("in the exam list, open the exam of 14/03/2025")
            expect(page.locator("#prompt-patient")).to_contain_text("LEGRAND")
            expect(page.locator("#prompt-exam")).to_contain_text("ACC0042")
            expect(page.locator("#operator-traffic")).to_contain_text("ITI-43 1.2.250.1.999.9.1")
            shot("step")
            prompt.get_by_role("button", name="Done").click()
            expect(page.get_by_role("status").first).to_contain_text("answer taken (confirmed done)")

            # the import's question: one choice per series
            expect(page.locator("#prompt h2")).to_contain_text("a question")
            page.get_by_label(re.compile("series 1 of 2")).select_option("imported")
            page.get_by_label(re.compile("series 2 of 2")).select_option("incomplete")
            shot("question")
            page.get_by_role("button", name="Send the answers").click()
            expect(page.locator("#verdict")).to_have_text("pass")
            expect(page.locator("#operator-history")).to_contain_text("1.2.250.1.999.9.4: incomplete — acme")
            shot("finished")
        finally:
            browser.close()
    assert len(list(shots.glob("*.png"))) == 3
