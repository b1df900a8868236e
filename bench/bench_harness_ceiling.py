"""The performance plan's measuring client on its own: what it reaches against a trivial local server and against
Orthanc on the same bytes, and what it costs per GB received.

The performance plan judges a SUT's WADO-RS figures beside the harness's ceiling (``testplans/performance``): the
same client (``testplans.performance.measure.fetch``: http.client, a fresh connection, the body read a megabyte at
a time and its multipart delimiters counted) fetching the same instance files from a trivial server. This bench
prints that ceiling, the same client's figures against Orthanc's DICOMweb (a real PACS serving the study as
stored), and the client thread's CPU seconds per GB: the harness's overhead, which must stay far below the
transfer itself so that the SUT, not the harness, sets the pace. Not run by the test suite.

    .venv/bin/python bench/bench_harness_ceiling.py [--study ans|small] [--repeat 5] [--tls]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

JPEG_LS = "1.2.840.10008.1.2.4.80"
ACCEPT = f'multipart/related; type="application/dicom"; transfer-syntax={JPEG_LS}'


def summarise(name: str, samples: list, size: int) -> None:
    warm = samples[1:] or samples
    mb = statistics.median(s.mb_per_s for s in warm)
    ttfb = statistics.median(s.ttfb_ms or 0.0 for s in warm)
    per_gb = statistics.median(s.cpu_s / max(s.bytes, 1) * 1e9 for s in warm)
    share = statistics.median(s.cpu_share for s in warm)
    parts = {s.parts for s in samples}
    print(f"{name:<28} {mb:>9.1f} {statistics.median(s.images_per_s for s in warm):>9.0f} {ttfb:>9.1f} "
          f"{per_gb:>11.2f} {share:>9.0%}   ({size / 1e6:.0f} MB, {sorted(parts)} parts, cold "
          f"{samples[0].mb_per_s:.1f} MB/s)")


def main() -> int:
    from harness.dicom import load_study_into_pacs
    from harness.orthanc import skip_reason, start_orthanc
    from testplans.performance.measure import CeilingServer, fetch
    from testplans.performance.source import study_files

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--study", choices=["ans", "small"], default="ans")
    parser.add_argument("--repeat", type=int, default=5, help="warm fetches after the first (default 5)")
    parser.add_argument("--tls", action="store_true", help="the trivial server over HTTPS (the SUT's WADO-RS is)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        _, refs = study_files(args.study, root / "study")
        files = [r.path for r in refs]
        size = sum(p.stat().st_size for p in files)
        print(f"study {args.study}: {len(files)} images, {size / 1e6:.1f} MB; warm medians of {args.repeat} after a "
              "cold fetch\n")
        print(f"{'server':<28} {'MB/s':>9} {'images/s':>9} {'TTFB ms':>9} {'CPU s/GB':>11} {'CPU share':>9}")
        server_ctx = client_ctx = None
        if args.tls:
            import ssl

            from harness.tls import network_tls

            pki = network_tls(root / "pki")
            server_ctx, client_ctx = pki.context("source"), ssl.create_default_context(cafile=str(pki.ca))
        with CeilingServer(files, server_ctx) as server:
            samples = [fetch(server.url, [("Accept", "multipart/related")], client_ctx)
                       for _ in range(args.repeat + 1)]
        summarise("trivial server" + (" (HTTPS)" if args.tls else ""), samples, size)
        reason = skip_reason()
        if reason:
            print(f"Orthanc: not measured ({reason})")
            return 0
        with start_orthanc(root / "orthanc") as orthanc:
            load_study_into_pacs(files, orthanc.host, orthanc.port, orthanc.aet)
            url = f"{orthanc.dicomweb_url}/studies/{refs[0].study_instance_uid}"
            samples = [fetch(url, [("Accept", ACCEPT)]) for _ in range(args.repeat + 1)]
            summarise("Orthanc DICOMweb (HTTP)", samples, size)
    return 0


if __name__ == "__main__":
    sys.exit(main())
