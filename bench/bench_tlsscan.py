"""How long testssl.sh takes per option set against loopback servers, to keep harness.tlsscan's set (``-p -s -S
-C``) under about a minute, and what the option sets it left out would cost (figures printed, never asserted).

Servers: the project's own TLS settings (harness.tls.server_context) and a deliberately weak one (TLS 1.0 to
1.2, CBC and anonymous suites). Each option set runs once per server with the arguments harness.tlsscan uses.
Says so and exits 0 when testssl.sh is absent. Not run by the test suite.

    python bench/bench_tlsscan.py [--sets "-p -s -S -C" "-p -s -C" "-p -s -S -C -E"]
"""

from __future__ import annotations

import argparse
import logging
import ssl
import subprocess
import tempfile
import time
import warnings
from pathlib import Path

from harness import tlsscan
from harness.pki import network_pki
from harness.servers import serve_wsgi
from harness.tls import server_context

CHOSEN = " ".join(tlsscan.CHECKS)
# the chosen set, without the certificate, with each suite per protocol (-E), with every vulnerability (-U)
DEFAULT_SETS = (CHOSEN, "-p -s -C", f"{CHOSEN} -E", f"{CHOSEN} -U")


def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
    return [b"ok"]


def weak_context(cert: Path, key: Path) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        context.minimum_version = ssl.TLSVersion.TLSv1
    context.maximum_version = ssl.TLSVersion.TLSv1_2
    context.set_ciphers("AES128-SHA:AECDH-AES128-SHA:ECDHE-RSA-AES128-GCM-SHA256:@SECLEVEL=0")
    context.load_cert_chain(cert, key)
    return context


def timed(binary: str, url: str, ca: Path, checks: tuple[str, ...]) -> tuple[float, int]:
    host, port = tlsscan._target(url)
    with tempfile.TemporaryDirectory() as tmp:
        args = tlsscan.command(binary, host, port, Path(tmp) / "scan.json", ca=ca, checks=checks)
        started = time.monotonic()
        done = subprocess.run(args, cwd=tmp, env=tlsscan._env(Path(tmp)), stdin=subprocess.DEVNULL,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=900, check=False)
        return time.monotonic() - started, done.returncode


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", nargs="+", default=list(DEFAULT_SETS), help="testssl.sh option sets to time")
    args = parser.parse_args(argv)
    logging.getLogger("harness.servers").setLevel(logging.CRITICAL)  # the scans' aborted handshakes are routine
    try:
        binary = tlsscan.find_scanner()
    except tlsscan.ScannerUnavailable as exc:
        print(f"skipped: {exc}")
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        pki = network_pki(Path(tmp))
        cert, key = pki.cert_path("dmp"), pki.key_path("dmp")
        servers = {"project": server_context(cert, key), "weak": weak_context(cert, key)}
        for name, context in servers.items():
            with serve_wsgi(app, f"bench-{name}", ssl_context=context) as server:
                report = tlsscan.scan(server.url, ca=pki.ca_path)
                print(f"{name:8} scan(): {report.seconds:6.1f} s  {report.scanner}, {len(report.problems())} problems")
                for option_set in args.sets:
                    seconds, code = timed(binary, server.url, pki.ca_path, tuple(option_set.split()))
                    print(f"{name:8} {option_set:18} {seconds:6.1f} s  exit {code}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
