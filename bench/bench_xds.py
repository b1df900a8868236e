"""Benchmark: validate 1000 XDS Provide and Register messages (MTOM, DMP KOS submissions).

Prints messages/s for the full path (MTOM decode, SOAP/WS-Addressing, XSD, IHE + DMP rules,
SHA-1 of the documents). Target: >= 200 messages/s on one core.

    /work/venv/bin/python bench/bench_xds.py [--count 1000] [--kos-bytes 60000] [--profile dmp]
"""

from __future__ import annotations

import argparse
import os
import time

from harness.soap import ITI41_ACTION
from harness.xds.builder import build_pnr_message, kos_submission
from harness.xds.validate import validate_message


def _messages(count: int, kos_bytes: int) -> list[tuple[str, bytes]]:
    out = []
    for i in range(count):
        sub = kos_submission(os.urandom(kos_bytes), patient_id="162018885045327^^^&1.2.250.1.213.1.4.10&ISO^NH",
                             study_uid=f"1.2.250.1.999.2.{i}", accession=f"ACC{i}", order_id=f"ORD{i}",
                             modalities=("CT",), regions=(("63337009", "Abdomen + pelvis"),))
        out.append(build_pnr_message(sub))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--kos-bytes", type=int, default=60_000, help="size of each KOS (1300 refs ≈ 150 kB)")
    parser.add_argument("--profile", default="dmp", choices=("xds", "dmp"))
    args = parser.parse_args()
    messages = _messages(args.count, args.kos_bytes)
    validate_message(*messages[0], args.profile, ITI41_ACTION)  # warm the schema and value sets
    start = time.perf_counter()
    errors = sum(1 for ct, body in messages if validate_message(ct, body, args.profile, ITI41_ACTION))
    elapsed = time.perf_counter() - start
    size = sum(len(b) for _, b in messages) / len(messages)
    print(f"validated {len(messages)} PnR messages (avg {size / 1024:.0f} KiB, profile {args.profile}) "
          f"in {elapsed:.2f} s: {len(messages) / elapsed:.0f} messages/s; {errors} with findings")


if __name__ == "__main__":
    main()
