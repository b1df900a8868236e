"""CPU cost of one RAD-68 Provide and Register inside the DMP simulator, without HTTP.

bench_dmp.py measures PnR/s over loopback, with the clients on the same cores; on a shared
machine its figures move by a quarter from one minute to the next. This bench runs the same
messages (DMP KOS of 300 references + Signature01, MTOM) through the simulator's WSGI callable in
this process: capture, SOAP/MTOM decoding, XDS validation, registry, SQLite commit, the response.

- default: CPU ms per PnR, the minimum and median over ``--rounds`` rounds of ``--count``
  submissions (the minimum is the figure least disturbed by other work on the machine);
- ``--instructions``: instructions per PnR counted by valgrind's callgrind (the difference
  between runs of 60 and 10 submissions, so start-up is not counted). The count does not move with
  the machine's load, so it shows what one code change gains. Needs ``valgrind``; takes a minute.

    /work/venv/bin/python bench/bench_dmp_cpu.py [--count 150] [--rounds 7] [--instructions]
"""

from __future__ import annotations

import argparse
import io
import pickle
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench_dmp import pnr_messages  # this folder: the script's own, first on sys.path

from simulators.dmp.app import DmpApp, create_app
from simulators.dmp.config import DmpConfig


def call(app: DmpApp, message: tuple[str, bytes]) -> None:
    """One POST /repository through the WSGI callable; a non-Success answer stops the bench."""
    ctype, body = message
    environ: dict[str, Any] = {
        "REQUEST_METHOD": "POST", "PATH_INFO": "/repository", "SCRIPT_NAME": "", "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "80", "SERVER_PROTOCOL": "HTTP/1.1", "CONTENT_TYPE": ctype,
        "CONTENT_LENGTH": str(len(body)), "wsgi.input": io.BytesIO(body), "wsgi.url_scheme": "http",
        "wsgi.errors": sys.stderr, "wsgi.multithread": True, "wsgi.multiprocess": False, "wsgi.run_once": False,
        "REMOTE_ADDR": "127.0.0.1", "REMOTE_PORT": "50000"}
    answer = b"".join(app(environ, lambda status, headers, exc_info=None: None))
    if b"ResponseStatusType:Success" not in answer:
        raise SystemExit(f"submission refused: {answer[:2000]!r}")


def run(messages: list[tuple[str, bytes]], rounds: int, count: int) -> list[float]:
    """CPU ms per PnR of each round, after 5 warm-up submissions (schemas, value sets)."""
    with tempfile.TemporaryDirectory() as tmp:
        app = create_app(DmpConfig(workdir=Path(tmp), vihf="off"))
        try:
            for message in messages[:5]:
                call(app, message)
            out = []
            for r in range(rounds):
                start = time.process_time()
                for message in messages[5 + r * count:5 + (r + 1) * count]:
                    call(app, message)
                out.append((time.process_time() - start) * 1000 / count)
            return out
        finally:
            app.close()


def instructions(count_small: int = 10, count_large: int = 60) -> float:
    """Instructions per PnR: callgrind totals of two runs, messages built once outside valgrind."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "messages.pickle"
        path.write_bytes(pickle.dumps(pnr_messages(count_large + 5, None)))
        totals = []
        for count in (count_small, count_large):
            done = subprocess.run(
                ["valgrind", "--tool=callgrind", f"--callgrind-out-file={tmp}/callgrind.out",
                 sys.executable, __file__, "--replay", str(path), "--count", str(count)],
                capture_output=True, text=True, check=True)
            found = re.search(r"Collected : (\d+)", done.stderr)
            if found is None:
                raise SystemExit(f"no callgrind total in:\n{done.stderr[-2000:]}")
            totals.append(int(found.group(1)))
    return (totals[1] - totals[0]) / (count_large - count_small)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=150, help="submissions per round")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--instructions", action="store_true", help="count instructions with callgrind")
    parser.add_argument("--replay", type=Path, help=argparse.SUPPRESS)  # the run under valgrind
    args = parser.parse_args()
    if args.replay:
        run(pickle.loads(args.replay.read_bytes()), 1, args.count)
        return
    if args.instructions:
        print(f"in-process RAD-68 PnR (KOS 300 refs + Signature01, MTOM): "
              f"{instructions() / 1e6:.2f} M instructions per PnR (callgrind)", flush=True)
        return
    per_round = run(pnr_messages(args.rounds * args.count + 5, None), args.rounds, args.count)
    print(f"in-process RAD-68 PnR (KOS 300 refs + Signature01, MTOM): CPU {min(per_round):.2f} ms per PnR "
          f"(minimum of {args.rounds} rounds of {args.count}), median {statistics.median(per_round):.2f}; rounds: "
          f"{' '.join(f'{x:.2f}' for x in per_round)}", flush=True)


if __name__ == "__main__":
    main()
