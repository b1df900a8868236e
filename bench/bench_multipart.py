"""Throughput of the multipart/related codec on a study-sized body (figures printed, never asserted).

Run: /work/venv/bin/python bench/bench_multipart.py [instances] [instance_kb]
"""

from __future__ import annotations

import sys
import time

from harness.dicomweb.multipart import MultipartParser, PartData, encode_multipart, iter_multipart


def main(instances: int = 1300, instance_kb: int = 160) -> None:
    body = bytes(range(256)) * (instance_kb * 4)
    parts = [([("Content-Type", "application/dicom")], body)] * instances
    t0 = time.perf_counter()
    total = sum(len(c) for c in iter_multipart(parts, "bench-boundary"))
    t_write = time.perf_counter() - t0
    raw = encode_multipart(parts, "bench-boundary")
    for label, step in (("64 KiB chunks", 65536), ("one buffer", len(raw))):
        parser = MultipartParser("bench-boundary")
        got = 0
        t0 = time.perf_counter()
        for i in range(0, len(raw), step):
            got += sum(len(e.data) for e in parser.feed(raw[i:i + step]) if isinstance(e, PartData))
        parser.close()
        elapsed = time.perf_counter() - t0
        assert got == len(body) * instances
        print(f"parse {label:14s}: {total / 1e6:8.1f} MB in {elapsed:6.3f} s = {total / 1e6 / elapsed:8.1f} MB/s")
    print(f"write (generator) : {total / 1e6:8.1f} MB in {t_write:6.3f} s = {total / 1e6 / t_write:8.1f} MB/s")


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:3]))
