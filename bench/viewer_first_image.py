"""On demand (not run by the test suite): the Source's web viewer on the ANS-shaped performance study.

ANS DRIM-M_DATA ``informatif/Performances/Readme.md``: a 1300-image CT study, JPEG-LS lossless, ~200 MB; "Source
viewing latency" and "viewing throughput" are among the label's performance workflows. This starts the network
(HTTPS from a throwaway test PKI), stores the study in the Source's PACS (``drimcheck fixtures study`` shape: 2
series of 650 images, 512x512, JPEG-LS), sends its report so the Source publishes the KOS, then opens the study in
headless Chromium through a Pro Santé Connect login and prints, from the page's own timings
(``performance.now()`` since the viewer's module started): time to the first image drawn, and time until every
image of the first series is loaded and decoded. Run:

    .venv/bin/python bench/viewer_first_image.py [--instances 1300] [--runs 3]
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def publish(work: Path, net, instances: int, series: int) -> str:
    """Store the study in the Source's PACS, send its report, wait for the Source's KOS; the study UID."""
    from fixtures.studies import write_study
    from harness.dicom import load_study_into_pacs
    from simulators.ris import messages as M
    from simulators.ris import send
    from simulators.source.store import CURRENT

    parts = dict(net.parts)
    ex = M.exam("viewer-bench", series=series, instances=instances // series)
    began = time.monotonic()
    refs = write_study(M.study_spec(ex, transfer_syntax="jpeg-ls", rows=512, columns=512), work / "study")
    size = sum(r.path.stat().st_size for r in refs)
    print(f"study: {len(refs)} images, {size / 1e6:.0f} MB JPEG-LS, written in {time.monotonic() - began:.0f} s",
          flush=True)
    began = time.monotonic()
    pacs = parts["src-pacs"]
    load_study_into_pacs([r.path for r in refs], pacs.host, pacs.port, pacs.aet)
    print(f"stored in the Source's PACS in {time.monotonic() - began:.0f} s", flush=True)
    _raw, ack = send(parts["source"].endpoints["mllp"], M.oru(ex))
    if ack is None or ack.code != "AA":
        raise SystemExit(f"the Source refused the report: {ack.code if ack else 'no ACK'}")
    deadline = time.monotonic() + 300
    while not parts["source"].store.kos_of_study(ex.study_uid, CURRENT):
        if time.monotonic() > deadline:
            raise SystemExit("no KOS published within 300 s")
        time.sleep(0.5)
    return ex.study_uid


def open_once(browser, url: str) -> tuple[float, float, int]:
    """(ms to the first image, ms to the whole first series, its image count) of one page load."""
    from playwright.sync_api import expect

    context = browser.new_context(ignore_https_errors=True, viewport={"width": 1100, "height": 800})
    try:
        page = context.new_page()
        page.goto(url)
        with page.expect_navigation():
            page.get_by_role("button", name="RPPS 10001000001").click()
        viewport = page.locator("#viewport")
        expect(viewport).to_have_attribute("data-series-loaded-ms", re.compile(r"^\d+$"), timeout=600_000)
        return (float(viewport.get_attribute("data-first-image-ms")),
                float(viewport.get_attribute("data-series-loaded-ms")), int(viewport.get_attribute("data-count")))
    finally:
        context.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--instances", type=int, default=1300)
    parser.add_argument("--series", type=int, default=2)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    from harness import viewer_lib
    from harness.tls import network_tls
    from simulators.network import start_network

    viewer_lib.install(log=print)
    with tempfile.TemporaryDirectory(prefix="viewer-bench-") as tmp:
        work = Path(tmp)
        net = start_network(work / "network", tls=network_tls(work / "pki"))
        try:
            study = publish(work, net, args.instances, args.series)
            url = dict(net.parts)["source"].endpoints["viewer"] + f"?StudyInstanceUID={study}"
            print(f"viewer: {url}", flush=True)
            firsts, wholes = [], []
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=args.chromium, args=ARGS)
                try:
                    for run in range(args.runs):
                        first, whole, count = open_once(browser, url)
                        firsts.append(first)
                        wholes.append(whole)
                        print(f"run {run + 1}: first image {first:.0f} ms, whole first series ({count} images) "
                              f"{whole / 1000:.1f} s = {count / (whole / 1000):.0f} images/s", flush=True)
                finally:
                    browser.close()
            print(f"median: first image {statistics.median(firsts):.0f} ms, whole first series "
                  f"{statistics.median(wholes) / 1000:.1f} s")
        finally:
            net.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
