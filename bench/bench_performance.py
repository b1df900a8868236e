"""Figures of the performance plan on the reference Source, printed: each requirement's figure, threshold and the
harness's ceiling on the same bytes, then the per-level WADO-RS table (ANS DRIM-M_DATA informatif/Performances/
Readme.md; DB.SO.102 from Scripts/Mesure de performances DRIMBox_PACS/Readme.md). Run:

    .venv/bin/python bench/bench_performance.py [--study ans|small] [--pacs embedded|orthanc] [--fault NAME]

``--pacs orthanc`` runs the reference Source in front of Orthanc (``DRIMCHECK_SOURCE_PACS=orthanc``): the C-MOVE
figures (DB.SO.102) are then Orthanc's. ``bench/bench_harness_ceiling.py`` prints the measuring client's own
ceiling against a trivial server and against Orthanc.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--study", choices=["ans", "small"], default="ans")
    parser.add_argument("--pacs", choices=["embedded", "orthanc"], default="embedded",
                        help="the PACS behind the reference Source (default the embedded one)")
    parser.add_argument("--fault", help="a fault of the reference Source (reference:source?fault=NAME)")
    args = parser.parse_args()
    spec = "reference:source" + (f"?fault={args.fault}" if args.fault else "")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out"
        env = {**os.environ, "DRIMCHECK_PERFORMANCE_STUDY": args.study}
        if args.pacs == "orthanc":
            env["DRIMCHECK_SOURCE_PACS"] = "orthanc"
        subprocess.run([sys.executable, "-m", "harness.cli", "run", "--sut", spec, "--plan", "performance", "--out",
                        str(out), "--quiet"], cwd=str(REPO), env=env, check=False)
        book = json.loads((out / "evidence" / "performance.json").read_text())
    print(f"{'requirement':<26} {'verdict':<13} {'figure':>12} {'threshold':>14} {'ceiling':>12} {'cpu':>5}")
    for v in book["verdicts"]:
        figure = "-" if v["measured"] is None else f"{v['measured']:.4g}"
        ceiling = "-" if v["ceiling"] is None else f"{v['ceiling']:.4g}"
        print(f"{v['requirement']:<26} {v['outcome']:<13} {figure:>12} {('<=' if v['kind'] == 'max' else '>=')}"
              f"{v['threshold']:>9g} {v['unit']:<4} {ceiling:>10} {v['client_cpu']:>5.0%}")
    source = book["figures"].get("source") or {}
    print(f"\nWADO-RS, study {source.get('study')} ({source.get('images')} images): warm median (cold)")
    print(f"{'retrieve':<22} {'first byte ms':>14} {'1st image ms':>13} {'last byte ms':>13} {'MB/s':>8} {'img/s':>8}")
    for key, series in source.get("wado", {}).items():
        warm, cold = series["warm"], series["cold"]
        cells = [f"{warm[m]['median']:.4g}" if warm.get(m) else "-"
                 for m in ("ttfb_ms", "first_part_ms", "total_ms", "mb_per_s", "images_per_s")]
        print(f"{key:<22} {cells[0]:>14} {cells[1]:>13} {cells[2]:>13} {cells[3]:>8} {cells[4]:>8}"
              f"   (cold first byte {cold['ttfb_ms'] or 0:.0f} ms)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
