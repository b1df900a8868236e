"""Validate 1000 KOS manifests of 1300 references each (the ANS performance study size) and print KOS/s.

Target (issue 3): >= 200 KOS/s on one core. The KOS bytes are built once (same shape as the good set:
one study, 1300 CT instances in 4 series, one IMAGE item per instance); each iteration parses the
bytes and runs every rule of profile dmp, as ``drimcheck validate`` does. Not run by the test suite.

    python bench/bench_kos.py [--count 1000] [--references 1300]
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace

from fixtures.mutations.goodset import EXAMS, build_kos, dicom_bytes
from harness.findings import Severity
from harness.validators.kos import validate_kos


def make_kos(references: int, series: int = 4) -> bytes:
    exam = replace(EXAMS[0], key="bench", series=series, instances=references // series)
    return dicom_bytes(build_kos(exam))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--references", type=int, default=1300)
    args = parser.parse_args(argv)
    data = make_kos(args.references)
    errors = [f for f in validate_kos(data) if f.severity is Severity.ERROR]
    assert not errors, errors[:3]
    start, cpu = time.perf_counter(), time.process_time()
    for _ in range(args.count):
        validate_kos(data)
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    print(f"{args.count} KOS x {args.references} references ({len(data)} bytes each): {elapsed:.2f} s wall, "
          f"{cpu:.2f} s CPU: {args.count / elapsed:.0f} KOS/s wall, {args.count / cpu:.0f} KOS/s per CPU second "
          f"(target >= 200 KOS/s on one core)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
