"""The Source's viewer in a real headless Chromium (Playwright), over HTTPS from the network's test PKI: the demo
study opened through a Pro Santé Connect login shows the fixture's pixels, scrolls, and without a session no pixel
reaches the page. Skipped when Playwright, Chromium or node/npm (the viewer library) is missing."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from pydicom import dcmread

pytest.importorskip("playwright.sync_api", reason="Playwright is not installed (pip install -e '.[test]')")

import re

from playwright.sync_api import expect, sync_playwright

from tests.source.test_viewer import MARIE, viewer_library  # noqa: F401  (a fixture of this module)

pytestmark = pytest.mark.usefixtures("viewer_library")

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
# Rendering tolerance between the canvas and the image computed here from the DICOM pixel data, in 8-bit grey
# levels: the canvas scales the 64x64 image up 8 times (interpolated), so it is sampled at the centre of each source
# pixel. At least 96 % of the 4096 samples within 2 levels (measured: 97.8 %; the rest lie on edges that the
# interpolation blends), the mean difference within 2 levels. The neighbouring images of the phantom match only
# 93 % of samples so: the test tells the right image from the next one (checked below on the scrolled image).
LEVELS, SHARE, MEAN_TOLERANCE = 2, 0.96, 2.0


@pytest.fixture(scope="module")
def network(tmp_path_factory: pytest.TempPathFactory):
    if not CHROMIUM.is_file():
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    from harness.tls import network_tls
    from simulators.network import start_network

    work = tmp_path_factory.mktemp("viewer-browser")
    net = start_network(work / "network", demo=True, tls=network_tls(work / "pki"))
    net.workdir = work / "network"  # type: ignore[attr-defined]
    yield net
    net.stop()


@pytest.fixture(scope="module")
def browser(network):
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield chromium
        chromium.close()


def expected_rendering(path: Path) -> np.ndarray:
    """The image as a viewer must show it: modality LUT, then the linear VOI LUT of the image's first window
    (DICOM PS3.3 C.11.1.1 and C.11.2.1.2.1), to 0..255."""
    ds = dcmread(path)
    values = ds.pixel_array.astype(np.float64) * float(ds.get("RescaleSlope", 1)) + float(ds.get("RescaleIntercept", 0))
    center = float(ds.WindowCenter[0] if ds["WindowCenter"].VM > 1 else ds.WindowCenter)
    width = float(ds.WindowWidth[0] if ds["WindowWidth"].VM > 1 else ds.WindowWidth)
    scaled = ((values - (center - 0.5)) / (width - 1) + 0.5) * 255
    return np.clip(scaled, 0, 255)


def canvas_samples(png: bytes, rows: int, columns: int) -> np.ndarray:
    """Grey levels of a screenshot of the canvas at the centre of each source pixel (the image fills the
    square viewport)."""
    from PIL import Image

    image = np.asarray(Image.open(io.BytesIO(png)).convert("L"), dtype=np.float64)
    height, width = image.shape
    ys = ((np.arange(rows) + 0.5) * height / rows).astype(int)
    xs = ((np.arange(columns) + 0.5) * width / columns).astype(int)
    return image[np.ix_(ys, xs)]


def saved(png: bytes, path: Path) -> bytes:
    """The screenshot, also written to the test's folder (written here: Playwright would use a thread of its own)."""
    path.write_bytes(png)
    return png


def matches(png: bytes, expected: np.ndarray) -> tuple[bool, str]:
    diff = np.abs(canvas_samples(png, *expected.shape) - expected)
    share = float((diff <= LEVELS).mean())
    return (share >= SHARE and diff.mean() <= MEAN_TOLERANCE,
            f"{share:.1%} of samples within {LEVELS} levels, mean difference {diff.mean():.2f}")


def fixture_file(network, sop: str) -> Path:
    for path in sorted((network.workdir / "demo").rglob("*.dcm")):
        if dcmread(path, stop_before_pixels=True).SOPInstanceUID == sop:
            return path
    raise AssertionError(f"no demo fixture file holds {sop}")


def test_demo_study_shows_the_fixture_pixels_and_scrolls(network, browser, tmp_path):
    context = browser.new_context(ignore_https_errors=True, viewport={"width": 1100, "height": 800})
    try:
        page = context.new_page()
        page.goto(network.demo["viewer URL"])
        assert "/protocol/openid-connect/auth" in page.url  # no session: Pro Santé Connect first
        with page.expect_navigation():
            page.get_by_role("button", name=f"RPPS {MARIE}").click()
        viewport = page.locator("#viewport")
        expect(viewport).to_have_attribute("data-series-loaded-ms", re.compile(r"^\d+$"), timeout=60_000)
        cookie = next(c for c in context.cookies() if c["name"] == "drimbox_viewer_sid")
        assert cookie["httpOnly"] and cookie["secure"] and cookie["sameSite"] == "Lax"
        data = json.loads(page.locator("#viewer-data").text_content())
        index = int(viewport.get_attribute("data-index"))
        canvas = page.locator("#viewport canvas").first
        first_png = saved(canvas.screenshot(), tmp_path / "first.png")
        first = fixture_file(network, data["series"][0]["instances"][0])
        ok, how = matches(first_png, expected_rendering(first))
        assert ok, f"canvas differs from the fixture rendered at its window: {how} ({tmp_path / 'first.png'})"
        canvas.hover()
        page.mouse.wheel(0, 120)  # the next image
        expect(viewport).not_to_have_attribute("data-index", str(index), timeout=10_000)
        page.wait_for_timeout(300)
        second_png = saved(canvas.screenshot(), tmp_path / "second.png")
        assert not matches(second_png, expected_rendering(first))[0], "scrolling left the first image shown"
        others = [p for p in sorted(first.parent.glob("*.dcm")) if p != first]
        assert any(matches(second_png, expected_rendering(p))[0] for p in others), \
            "the scrolled canvas is none of the series' other images"
        assert "access_token" not in page.content()
    finally:
        context.close()


def test_without_a_session_no_pixel_reaches_the_page(network, browser, tmp_path):
    """A page opened without a session: its image requests are refused 401 and carry no pixel data."""
    context = browser.new_context(ignore_https_errors=True)
    try:
        page = context.new_page()
        viewer = network.demo["viewer URL"].split("/viewer?", 1)[0]
        base = f"{viewer}/viewer/dicomweb/{network.demo['KOS UID']}/studies/{network.demo['study UID']}"
        page.goto(viewer + "/viewer/static/viewer.css")  # same origin, no session
        answers = page.evaluate("""async (base) => {
            const out = [];
            for (const [path, accept] of [['/metadata', 'application/dicom+json'],
                                          ['/series/1/metadata', 'application/dicom+json']]) {
              const r = await fetch(base + path, {headers: {Accept: accept}});
              const body = new Uint8Array(await r.arrayBuffer());
              out.push([r.status, body.length, String.fromCharCode(...body.slice(0, 200))]);
            }
            return out;
        }""", base)
        for status, _size, text in answers:
            assert status == 401 and "no viewer session" in text
        page.goto(network.demo["viewer URL"])
        assert "/protocol/openid-connect/auth" in page.url  # the viewer page itself sends the browser to PSC
        saved(page.screenshot(), tmp_path / "psc.png")
    finally:
        context.close()
