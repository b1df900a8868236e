"""WADO-RS series retrieve through the reference Source DRIMbox vs Orthanc's own DICOMweb.

One run prints, side by side, for each study (best and median of ``--repeat`` alternating runs): throughput
(MB/s) and time to first byte of Orthanc direct and through the Source, the throughput ratio (target >= 0.8)
and the TTFB ratio (target <= 2x Orthanc), and the Source process's CPU seconds per GB relayed (its per-byte
cost: steadier than the ratio, which moves with Orthanc's own figure on a shared 2-core machine); then the
peak RSS of the Source process while it serves a ~1 GB study (target < 200 MB).

Studies: a 300-instance CT series (512x512, explicit VR LE, ~157 MB) and the ANS-shaped 1300-image CT
(JPEG-LS lossless, ANS DRIM-M_DATA informatif/Performances); the RSS study is ``--rss-gb`` GB of explicit
CT (0 skips it).
The Source runs in its own process (``drimcheck serve source``) so its RSS is its own (VmHWM).

    python bench/bench_source.py [--repeat 3] [--rss-gb 1.0] [--skip-ans]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench_dmp import cpu_seconds  # noqa: E402 - this folder: the script's own, first on sys.path

from fixtures.studies import write_study  # noqa: E402
from harness.orthanc import skip_reason, start_orthanc  # noqa: E402
from harness.servers import free_port  # noqa: E402
from simulators.dmp import DmpConfig  # noqa: E402
from simulators.dmp.reference import start as start_dmp  # noqa: E402
from simulators.psc import start_psc  # noqa: E402
from simulators.ris import messages as M  # noqa: E402
from simulators.ris import send  # noqa: E402

ANY = 'multipart/related; type="application/dicom"; transfer-syntax=*'
CHUNK = 1024 * 1024


def upload(orthanc, files: list[Path]) -> None:
    """REST upload (much faster than C-STORE into Orthanc with its defaults, DESIGN 'Measured here')."""
    with requests.Session() as s:
        for f in files:
            r = s.post(orthanc.rest_url + "/instances", data=f.read_bytes(), timeout=60)
            r.raise_for_status()


def fetch(url: str, headers: dict[str, str]) -> tuple[float, float, int]:
    """(time to first byte, total seconds, bytes) of one streamed GET."""
    t0 = time.perf_counter()
    ttfb, size = None, 0
    with requests.get(url, headers=headers, stream=True, timeout=600) as r:
        r.raise_for_status()
        for chunk in r.iter_content(CHUNK):
            if ttfb is None:
                ttfb = time.perf_counter() - t0
            size += len(chunk)
    return ttfb or 0.0, time.perf_counter() - t0, size


def start_source(workdir: Path, orthanc, dmp, psc) -> tuple[subprocess.Popen, str, str]:
    port, mllp = free_port(), free_port()
    cmd = [sys.executable, "-m", "harness.cli", "serve", "source", "--port", str(port), "--mllp-port", str(mllp),
           "--pacs", f"{orthanc.aet}@{orthanc.host}:{orthanc.port}", "--pacs-dicomweb", orthanc.dicomweb_url,
           "--dmp", dmp.endpoints["base"], "--psc-introspect", psc.endpoints["introspect"],
           "--source-workdir", str(workdir)]
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}/wado-rs"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if requests.get(base, timeout=1).status_code == 200:
                return proc, base, f"127.0.0.1:{mllp}"
        except requests.RequestException:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("the Source did not start")


def vm_hwm_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def publish(mllp: str, workdir: Path, ex) -> str:
    _raw, ack = send(mllp, M.oru(ex), timeout=300)
    if ack is None or ack.code != "AA":
        raise RuntimeError(f"the Source refused the report: {ack}")
    with sqlite3.connect(workdir / "source.sqlite") as db:
        return db.execute("SELECT sop_uid FROM kos WHERE study_uid=?", (ex.study_uid,)).fetchone()[0]


def measure(name: str, key: str, n: int, ts: str, size: int, ctx: dict, repeat: int) -> dict:
    ex = M.exam(f"bench-source-{key}", series=1, instances=n)
    t0 = time.perf_counter()
    refs = write_study(M.study_spec(ex, transfer_syntax=ts, rows=size, columns=size), ctx["tmp"] / key)
    upload(ctx["orthanc"], [r.path for r in refs])
    setup = time.perf_counter() - t0
    kos = publish(ctx["mllp"], ctx["workdir"], ex)
    series = refs[0].series_instance_uid
    path = f"/studies/{ex.study_uid}/series/{series}"
    direct, through, cpu = [], [], 0.0
    for _ in range(repeat):
        direct.append(fetch(ctx["orthanc"].dicomweb_url + path, {"Accept": ANY}))
        token = ctx["psc"].issue_token("10001000002", "drimbox-consumer")
        before = cpu_seconds([ctx["pid"]])
        through.append(fetch(ctx["source"] + path, {"Accept": ANY, "Authorization": f"Bearer {token}",
                                                     "KOS-SOPInstanceUID": kos}))
        cpu += cpu_seconds([ctx["pid"]]) - before
    mb = direct[0][2] / 1e6
    row = {"study": name, "instances": n, "MB": mb, "setup_s": setup,
           "cpu_s_per_gb": cpu / (sum(m[2] for m in through) / 1e9)}
    for label, pick in (("best", min), ("median", statistics.median_low)):
        d_time, s_time = pick(m[1] for m in direct), pick(m[1] for m in through)
        row[label] = {"orthanc_MBps": mb / d_time, "source_MBps": through[0][2] / 1e6 / s_time,
                      "orthanc_ttfb_ms": pick(m[0] for m in direct) * 1000,
                      "source_ttfb_ms": pick(m[0] for m in through) * 1000}
    return row


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--rss-gb", type=float, default=1.0, help="size of the RSS study in GB (0 = skip)")
    parser.add_argument("--skip-ans", action="store_true", help="skip the 1300-image JPEG-LS study")
    parser.add_argument("--instances", type=int, default=300, help="instances of the first study")
    args = parser.parse_args()
    if skip_reason():
        print(f"skipped: {skip_reason()}")
        return 0
    tmp = Path(tempfile.mkdtemp(prefix="bench-source-"))
    orthanc = start_orthanc(tmp / "orthanc")
    dmp = start_dmp(DmpConfig(workdir=tmp / "dmp", vihf="off"))
    psc = start_psc()
    proc, base, mllp = start_source(tmp / "source", orthanc, dmp, psc)
    ctx = {"tmp": tmp, "orthanc": orthanc, "psc": psc, "source": base, "mllp": mllp, "workdir": tmp / "source",
           "pid": proc.pid}
    rows = []
    try:
        rows.append(measure(f"CT {args.instances} explicit", "ct", args.instances, "explicit", 512, ctx, args.repeat))
        if not args.skip_ans:
            rows.append(measure("ANS CT 1300 JPEG-LS", "ans", 1300, "jpeg-ls", 512, ctx, args.repeat))
        rss = None
        if args.rss_gb > 0:
            n = int(args.rss_gb * 1e9 / (512 * 512 * 2 + 1500))
            rows.append(measure(f"RSS study {args.rss_gb:g} GB", "rss", n, "explicit", 512, ctx, 1))
            rss = vm_hwm_mb(proc.pid)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        psc.stop()
        dmp.stop()
        orthanc.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"{'study':28} {'':6} {'n':>5} {'MB':>7} {'Orthanc MB/s':>13} {'Source MB/s':>12} {'ratio':>6} "
          f"{'TTFB Orthanc ms':>16} {'TTFB Source ms':>15} {'TTFB x':>7} {'Source CPU s/GB':>16}")
    for r in rows:
        for label in ("best", "median"):
            m = r[label]
            print(f"{r['study']:28} {label:6} {r['instances']:>5} {r['MB']:>7.0f} {m['orthanc_MBps']:>13.0f} "
                  f"{m['source_MBps']:>12.0f} {m['source_MBps'] / m['orthanc_MBps']:>6.2f} "
                  f"{m['orthanc_ttfb_ms']:>16.1f} {m['source_ttfb_ms']:>15.1f} "
                  f"{m['source_ttfb_ms'] / max(m['orthanc_ttfb_ms'], 1e-6):>7.1f} {r['cpu_s_per_gb']:>16.2f}")
    if rss is not None:
        print(f"peak RSS of the Source process (VmHWM): {rss:.0f} MB (target < 200 MB)")
    print("targets: ratio >= 0.8, TTFB <= 2x Orthanc")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONPATH", str(REPO))
    raise SystemExit(main())
