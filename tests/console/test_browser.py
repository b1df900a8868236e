"""The console in a real browser: Debian's Chromium driven by Playwright (as the project launches it for the
Consumer's example driver), against the console served on a loopback port with its real worker.

Two real campaigns, the cheapest that show each point: ``reference:content`` (about 4 s of CPU) watched live to
its verdict, and ``reference:dmp?fault=wrong-hash`` narrowed to the requirement it breaks (``--only``, about 5 s)
for a failed requirement whose captured message is opened decoded. (A content campaign validates files and
captures no message, so its failed requirements have none to open.) A screenshot of each page is written to the
test's tmp folder. Skipped, with the reason, without Playwright or a Chromium.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("playwright.sync_api", reason="Playwright is not installed (pip install -e '.[test]')")

from harness.console import ConsoleConfig, create_app, stop_app
from harness.console.security import hash_password
from harness.servers import serve_wsgi

CHROMIUM = os.environ.get("DRIMCHECK_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
PASSWORD = "browser test password"
CAMPAIGN_TIMEOUT_MS = 180_000
BAD_PROFILE = """name: Acme DMP 1.0
actor: dmp
endpoints:
  registry: htp://dmp.acme.test/registry
  repository: https://dmp.acme.test/repository
credentials:
  vihf_key: keys/missing.key
"""


def served_console(config: ConsoleConfig, password: str = PASSWORD, poll: float | None = None) -> Iterator[str]:
    """The console of ``config`` served on loopback with a vendor account ``acme`` (its job worker polling every
    ``poll`` seconds when given): its URL, then the stop. Skips without Chromium (the browser tests' reason to
    serve it)."""
    if not Path(CHROMIUM).is_file():
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium, or set DRIMCHECK_CHROMIUM)")
    app = create_app(config)
    if poll is not None:
        app.extensions["console"].worker.poll = poll
    app.extensions["console"].store.add_user("acme", hash_password(password), "vendor")
    server = serve_wsgi(app, "console")
    try:
        yield server.url
    finally:
        server.stop()
        stop_app(app)


@pytest.fixture(scope="module")
def console(tmp_path_factory):
    yield from served_console(ConsoleConfig(data=tmp_path_factory.mktemp("console-data")))


@pytest.fixture(scope="module")
def page(console):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            context = browser.new_context()
            context.set_default_timeout(30_000)
            yield context.new_page()
        finally:
            browser.close()


def test_a_vendors_session_in_the_browser(console, page, tmp_path):
    from playwright.sync_api import expect

    shots = tmp_path / "screens"
    n = iter(range(1, 100))

    shots.mkdir()

    def shot(name: str) -> None:  # bytes written here: Playwright writing a path uses a thread of its loop
        (shots / f"{next(n):02d}-{name}.png").write_bytes(page.screenshot(full_page=True))

    page.goto(console + "/")
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()
    shot("login")
    page.get_by_label("Name").fill("acme")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Test sessions")).to_be_visible()
    shot("home")

    # a profile with mistakes: each bad field is named, the text is kept
    page.goto(console + "/profiles/new?actor=dmp")
    page.locator("textarea[name=yaml]").fill(BAD_PROFILE)
    page.get_by_role("button", name="Create").click()
    problems = page.get_by_role("alert", name="problems")
    expect(problems).to_contain_text("endpoints.registry")
    expect(problems).to_contain_text("credentials.vihf_key")
    expect(page.locator("textarea[name=yaml]")).to_have_value(BAD_PROFILE)
    shot("profile-problems")

    # a content campaign, watched live to its verdict (the page reloads itself on the stream's end)
    page.goto(console + "/campaigns/new")
    page.get_by_label("or reference implementation").fill("reference:content")
    page.get_by_label("content", exact=True).check()
    page.get_by_role("button", name="Start").click()
    expect(page.locator("#state")).to_have_text("running", timeout=CAMPAIGN_TIMEOUT_MS)
    shot("campaign-running")
    expect(page.locator("#verdict")).to_have_text("pass", timeout=CAMPAIGN_TIMEOUT_MS)
    expect(page.locator("#requirements")).to_contain_text("KOS-PARSE-001")
    shot("campaign-finished")
    page.goto(console + "/validate")
    shot("validators")

    # a DMP with a named fault, narrowed to the requirement the fault breaks: its message, decoded
    page.goto(console + "/campaigns/new")
    page.get_by_label("or reference implementation").fill("reference:dmp?fault=wrong-hash")
    page.get_by_label("dmp", exact=True).check()
    page.get_by_label("Only").fill("DMP-PNR-HASH-COMPUTED")
    page.get_by_role("button", name="Start").click()
    expect(page.locator("#verdict")).to_have_text("fail", timeout=CAMPAIGN_TIMEOUT_MS)
    shot("campaign-failed")
    page.get_by_role("link", name="DMP-PNR-HASH-COMPUTED").click()
    expect(page.get_by_role("region", name="failure")).to_contain_text("hash is not the SHA-1 of the KOS")
    shot("requirement")
    page.locator("#exchanges a").first.click()
    expect(page.locator("pre.decoded").first).to_be_visible()
    expect(page.locator("h3").first).to_contain_text("envelope")
    shot("exchange-decoded")
    page.goto(page.url.split("/exchanges/")[0] + "/evidence?q=DMP-PNR-HASH-COMPUTED")
    expect(page.locator("#exchanges")).to_contain_text("requirement or test")
    shot("evidence-search")
    assert len(list(shots.glob("*.png"))) == 10
