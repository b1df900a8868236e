"""Locust (drimcheck load) beside wrk, and Locust's own ceiling: how much load one machine can generate.

1. The same WADO-RS series URL of the reference Source (the ``small`` or ``ans`` fixture study published
   through the reference network) loaded by wrk and by ``wado-storm`` with the same number of connections /
   users, one after the other: requests/s, MB/s, p50/p99. The network runs in plain HTTP here, since wrk
   presents no client certificate and the Source's WADO-RS wants one in TLS mode (mutual TLS, C17).
2. ``wado-storm`` against a trivial local server (asyncio, a fixed small multipart answer, no parsing): the
   rate the load generator itself reaches, in one local process and with a master and two workers; beside
   it wrk's rate on that server (what the server could take).

wrk is Debian's package ``wrk``; without it the wrk rows are skipped with a message.
Nothing is asserted: the figures are printed. Every target is on loopback.

    python bench/bench_load.py [--study small|ans] [--users 8] [--duration 10]
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from harness.load import Distribution, LoadSpec, RunInfo, run_load  # noqa: E402
from harness.load.targets import TargetOptions, reference_target  # noqa: E402
from harness.servers import free_port  # noqa: E402

ACCEPT = 'multipart/related; type="application/dicom"; transfer-syntax=*'
TRIVIAL_SERVER = r'''
import asyncio, sys
body = (b"--b\r\nContent-Type: application/dicom\r\n\r\n" + b"x" * 1024 + b"\r\n--b--\r\n")
answer = (b"HTTP/1.1 200 OK\r\nContent-Type: multipart/related; type=\"application/dicom\"; boundary=b\r\n"
          b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
class Reply(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport, self.buffer = transport, b""
    def data_received(self, data):
        self.buffer += data
        while b"\r\n\r\n" in self.buffer:
            _, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
            self.transport.write(answer)
async def main():
    server = await asyncio.get_running_loop().create_server(Reply, "127.0.0.1", int(sys.argv[1]))
    print("ready", flush=True)
    await server.serve_forever()
asyncio.run(main())
'''


def wrk(url: str, headers: dict[str, str], connections: int, seconds: float) -> dict[str, float] | None:
    """wrk's requests/s, MB/s, p50 and p99 (ms), or None when wrk is not installed."""
    if shutil.which("wrk") is None:
        return None
    cmd = ["wrk", "-t", "2", "-c", str(connections), "-d", f"{int(seconds)}s", "--latency", "--timeout", "30s"]
    for key, value in headers.items():
        cmd += ["-H", f"{key}: {value}"]
    out = subprocess.run([*cmd, url], capture_output=True, text=True, timeout=seconds + 60, check=True).stdout
    if "Non-2xx" in out:
        raise RuntimeError(f"wrk got error answers:\n{out}")

    def ms(label: str) -> float:
        value, unit = re.search(rf"^\s+{label}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M).groups()
        return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]

    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out)[1])
    value, unit = re.search(r"Transfer/sec:\s+([\d.]+)(B|KB|MB|GB)", out).groups()
    mb = float(value) * {"B": 1e-6, "KB": 1.024e-3, "MB": 1.048576, "GB": 1073.741824}[unit]
    return {"rps": rate, "mbps": mb, "p50": ms("50"), "p99": ms("99")}


def locust(target: dict, users: int, seconds: float, workers: int = 0) -> dict[str, float]:
    spec = LoadSpec(scenario="wado-storm", target=target, users=users, spawn_rate=users * 4, duration=seconds)
    with tempfile.TemporaryDirectory() as out:
        res = run_load(spec, Path(out), RunInfo("bench"), Distribution(workers=workers), echo=False)
    if res["total"]["failures"]:
        raise RuntimeError(f"Locust run had failures: {res['errors']}")
    t = res["total"]
    return {"rps": t["requests_per_s"], "mbps": t["mb_per_s"], "p50": t["p50_ms"], "p99": t["p99_ms"]}


def row(name: str, fig: dict[str, float] | None) -> None:
    if fig is None:
        print(f"  {name:<38} skipped: wrk is not installed (apt-get install wrk)")
        return
    print(f"  {name:<38} {fig['rps']:>9.0f} req/s {fig['mbps']:>9.1f} MB/s   p50 {fig['p50']:>7.1f} ms   "
          f"p99 {fig['p99']:>7.1f} ms")


def bench_source(study: str, users: int, seconds: float) -> None:
    from simulators.network import start_network

    with tempfile.TemporaryDirectory() as workdir, start_network(Path(workdir) / "net") as net:
        prepared = reference_target(net, None, "wado-storm", TargetOptions(study=study, token_count=1), Path(workdir))
        t = prepared.target
        url = f"{t['wado_rs']}/studies/{t['study_uid']}/series/{t['series'][0]}"
        target = {**t, "series": t["series"][:1]}
        print(f"reference Source, one series of the {study} study ({prepared.setup['study']}), "
              f"{users} connections/users, {seconds:g} s each:")
        row("wrk", wrk(url, {"Accept": ACCEPT, "Authorization": f"Bearer {t['tokens'][0]}",
                             "KOS-SOPInstanceUID": t["kos_uid"]}, users, seconds))
        row("Locust wado-storm, 1 process", locust(target, users, seconds))


def bench_ceiling(users: int, seconds: float) -> None:
    port = free_port()
    server = subprocess.Popen([sys.executable, "-c", TRIVIAL_SERVER, str(port)], stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None and server.stdout.readline().strip() == "ready"
        base = f"http://127.0.0.1:{port}"
        target = {"wado_rs": base, "study_uid": "1.2.3", "kos_uid": "1.2.4", "series": ["1.2.5"], "tokens": ["t"]}
        print(f"trivial local server (1 kB multipart answer), {users * 4} connections/users, {seconds:g} s each:")
        row("wrk (the server's ceiling)", wrk(base + "/studies/1.2.3/series/1.2.5", {"Accept": ACCEPT},
                                              users * 4, seconds))
        row("Locust wado-storm, 1 process", locust(target, users * 4, seconds))
        row("Locust wado-storm, master + 2 workers", locust(target, users * 4, seconds, workers=2))
    finally:
        server.terminate()
        server.wait(timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--study", choices=("small", "ans"), default="small")
    parser.add_argument("--users", type=int, default=8)
    parser.add_argument("--duration", type=float, default=10.0)
    args = parser.parse_args()
    started = time.monotonic()
    bench_source(args.study, args.users, args.duration)
    bench_ceiling(args.users, args.duration)
    print(f"(bench took {time.monotonic() - started:.0f} s)")


if __name__ == "__main__":
    main()
