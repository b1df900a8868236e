"""`drimcheck serve`: real simulators in the foreground, endpoints printed, clean stop, clear errors."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

from harness.servers import free_port

REPO = Path(__file__).resolve().parents[2]


def start(*args: str, cwd: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "harness.cli", "serve", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=str(cwd), env=dict(os.environ))


def read_until_serving(proc: subprocess.Popen, timeout: float = 60) -> list[str]:
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line.rstrip())
        if line.startswith("serving"):
            return lines
    proc.kill()
    raise AssertionError("no 'serving' line: " + "\n".join(lines) + proc.stderr.read())


def test_serve_prints_endpoints_and_stops_cleanly_on_ctrl_c(tmp_path):
    port = free_port()
    proc = start("psc", "--port", str(port), "--pki", str(tmp_path / "pki"), cwd=tmp_path)
    try:
        lines = read_until_serving(proc)
        issuer = next(ln.split()[-1] for ln in lines if ln.split()[1:2] == ["issuer"])
        assert issuer.startswith(f"https://127.0.0.1:{port}/")  # HTTPS by default (C17)
        found = requests.get(issuer + "/.well-known/openid-configuration", timeout=10,
                             verify=str(tmp_path / "pki" / "ca.pem")).json()
        assert found["issuer"] == issuer
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=90)  # a loaded CI machine stops threads slowly
    assert proc.returncode == 0, err
    assert "stopped" in out


def test_port_in_use_is_one_line_and_exit_2(tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        proc = subprocess.run([sys.executable, "-m", "harness.cli", "serve", "dmp", "--port", str(port),
                               "--dmp-workdir", str(tmp_path / "dmp")], capture_output=True, text=True,
                              cwd=str(REPO), timeout=60, check=False)
    assert proc.returncode == 2
    assert "already in use" in proc.stderr and "Traceback" not in proc.stderr


def test_port_with_several_simulators_is_refused():
    proc = subprocess.run([sys.executable, "-m", "harness.cli", "serve", "dmp", "psc", "--port", "8000"],
                          capture_output=True, text=True, cwd=str(REPO), timeout=60, check=False)
    assert proc.returncode == 2 and "--port applies to one simulator" in proc.stderr


def test_serve_help_lists_the_simulator_options():
    proc = subprocess.run([sys.executable, "-m", "harness.cli", "serve", "dmp", "--help"], capture_output=True,
                          text=True, cwd=str(REPO), timeout=60, check=False)
    assert proc.returncode == 0
    for option in ("--profile", "--vihf", "--db", "--port"):
        assert option in proc.stdout
