"""C-STORE throughput and WADO-RS series retrieve: embedded PACS vs Orthanc, same study, same run.

Generates one study (default: the ANS performance shape, CT 512x512 JPEG-LS lossless, here 300
instances in one series; ``--instances 1300`` for the full ~200 MB study), sends it by C-STORE
(one association, ``maximum_pdu_size = 0``) into the embedded PACS and into Orthanc, then
retrieves the series over WADO-RS from each (``transfer-syntax=*``: as stored, no transcoding)
and prints instances/s, MB/s and the embedded/Orthanc ratios. Not run by the test suite.

    python bench/bench_pacs.py [--instances 300] [--transfer-syntax jpeg-ls] [--repeat 3]
    python bench/bench_pacs.py --instances 1300 --generate-only   # the ANS study: target < 60 s
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import requests

from fixtures.studies import StudySpec, write_study
from harness.dicom import load_study_into_pacs
from harness.dicomweb import MultipartParser, boundary_from_content_type
from harness.orthanc import skip_reason, start_orthanc
from simulators.pacs import start_pacs

ACCEPT = 'multipart/related; type="application/dicom"; transfer-syntax=*'


def store_rate(files: list[Path], host: str, port: int, aet: str) -> tuple[float, float]:
    total = sum(p.stat().st_size for p in files)
    t0 = time.perf_counter()
    load_study_into_pacs(files, host, port, aet)
    elapsed = time.perf_counter() - t0
    return len(files) / elapsed, total / elapsed / 1e6


def wado_rate(url: str, expected_parts: int, repeat: int) -> tuple[float, float, float]:
    """Best of ``repeat``: (seconds, MB/s, time to first byte), the body parsed as it streams."""
    best = (float("inf"), 0.0, 0.0)
    for _ in range(repeat):
        t0 = time.perf_counter()
        with requests.get(url, headers={"Accept": ACCEPT}, stream=True, timeout=300) as r:
            r.raise_for_status()
            parser = MultipartParser(boundary_from_content_type(r.headers["Content-Type"]))
            size, parts, first = 0, 0, None
            for chunk in r.iter_content(1 << 20):
                first = first or time.perf_counter() - t0
                size += len(chunk)
                parts += sum(1 for e in parser.feed(chunk) if type(e).__name__ == "PartEnd")
            parser.close()
        elapsed = time.perf_counter() - t0
        if parts != expected_parts:
            raise RuntimeError(f"{url}: {parts} parts, expected {expected_parts}")
        if elapsed < best[0]:
            best = (elapsed, size / elapsed / 1e6, first or 0.0)
    return best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=300)
    parser.add_argument("--transfer-syntax", default="jpeg-ls")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--generate-only", action="store_true", help="time the study generation only")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-pacs-") as tmp:
        root = Path(tmp)
        t0 = time.perf_counter()
        refs = write_study(StudySpec(modality="CT", instances=args.instances, series=1,
                                     transfer_syntax=args.transfer_syntax), root / "study")
        files = [r.path for r in refs]
        size = sum(r.size for r in refs) / 1e6
        print(f"study: {len(files)} CT instances, {size:.1f} MB, {args.transfer_syntax}, "
              f"generated in {time.perf_counter() - t0:.1f} s")
        if args.generate_only:
            return 0
        series_path = f"/studies/{refs[0].study_instance_uid}/series/{refs[0].series_instance_uid}"
        results: dict[str, tuple] = {}
        with start_pacs(root / "embedded") as pacs:
            store = store_rate(files, pacs.host, pacs.port, pacs.aet)
            results["embedded"] = store + wado_rate(pacs.dicomweb_url + series_path, len(files), args.repeat)
        reason = skip_reason()
        if reason:
            print(f"Orthanc skipped: {reason}")
        else:
            with start_orthanc(root / "orthanc") as orthanc:
                store = store_rate(files, orthanc.host, orthanc.port, orthanc.aet)
                results["orthanc"] = store + wado_rate(orthanc.dicomweb_url + series_path, len(files),
                                                       args.repeat)
    print(f"{'PACS':10} {'C-STORE inst/s':>15} {'C-STORE MB/s':>13} {'WADO s':>8} {'WADO MB/s':>10} "
          f"{'first byte ms':>14}")
    for name, (ips, smb, secs, wmb, first) in results.items():
        print(f"{name:10} {ips:15.1f} {smb:13.1f} {secs:8.2f} {wmb:10.1f} {first * 1000:14.1f}")
    if len(results) == 2:
        e, o = results["embedded"], results["orthanc"]
        print(f"ratios embedded/orthanc: C-STORE {e[0] / o[0]:.2f}x, WADO-RS throughput {e[3] / o[3]:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
