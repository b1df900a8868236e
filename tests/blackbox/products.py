"""Products started as their own processes and campaigns run against them through a YAML profile.

This is how a vendor runs DRIMcheck: the product is configured by its command line only
(``drimcheck serve ACTOR ...``), the harness knows nothing of it but the profile, and the verdict is the
exit status and results.json of ``drimcheck run`` started in the profile's folder with a relative path.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
READY = "serving; Ctrl-C stops"


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}


@dataclass
class Product:
    """A ``drimcheck serve`` process and the endpoints it printed (``{simulator: {key: url}}``)."""

    proc: subprocess.Popen
    endpoints: dict[str, dict[str, str]] = field(default_factory=dict)
    output: list[str] = field(default_factory=list)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        if self.proc.stdout is not None:
            self.proc.stdout.close()

    def __enter__(self) -> Product:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def serve(args: list[str], cwd: Path, timeout: float = 60.0) -> Product:
    """Start ``drimcheck serve ARGS`` in ``cwd`` and wait until it says it is serving."""
    proc = subprocess.Popen([sys.executable, "-m", "harness.cli", "serve", *args], cwd=str(cwd), env=_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1)
    product = Product(proc)
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=pump, name="serve-output", daemon=True).start()
    deadline = time.monotonic() + timeout
    while True:
        try:
            line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
        except queue.Empty:
            line = ""
        if line is None or time.monotonic() > deadline:
            product.stop()
            raise RuntimeError(f"drimcheck serve {' '.join(args)} did not start:\n{''.join(product.output)}")
        product.output.append(line)
        if line.strip() == READY:
            return product
        parts = line.split(None, 2)  # "<simulator> <key> <value>", as drimcheck serve prints its endpoints
        if len(parts) == 3:
            product.endpoints.setdefault(parts[0], {})[parts[1]] = parts[2].strip()


def write_pki(folder: Path, name: str) -> Path:
    """A throwaway CA and a signer it issued, as PEM files a product and a profile name:
    ``ca.pem`` (the trust anchor), ``vihf.key`` and ``vihf.pem`` (the signer's key and certificate)."""
    from harness.vihf import throwaway_pki

    pki = throwaway_pki(name)
    folder.mkdir(parents=True, exist_ok=True)
    for file, data in (("ca.pem", pki.ca_pem), ("vihf.key", pki.key_pem), ("vihf.pem", pki.cert_pem)):
        (folder / file).write_bytes(data)
    return folder


def campaign(profile: dict[str, Any], plan: str, folder: Path, timeout: float = 900,
             quiet: bool = True) -> tuple[int, dict, str]:
    """Write ``profile`` to ``folder/sut.yaml`` and run ``drimcheck run --sut sut.yaml`` from ``folder``
    (a relative path, as a vendor types it); returns (exit status, results.json, output)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "sut.yaml").write_text(yaml.safe_dump(profile, sort_keys=False), encoding="utf-8")
    proc = subprocess.run([sys.executable, "-m", "harness.cli", "run", "--sut", "sut.yaml", "--plan", plan,
                           "--out", "out", *(["--quiet"] if quiet else [])], cwd=str(folder),
                          stdin=subprocess.DEVNULL, env=_env(), capture_output=True,
                          text=True, timeout=timeout, check=False)
    results = folder / "out" / "results.json"
    output = proc.stdout + proc.stderr
    assert results.exists(), f"no results.json (exit {proc.returncode}):\n{output}"
    return proc.returncode, json.loads(results.read_text(encoding="utf-8")), output


def verdicts(results: dict) -> dict[str, str]:
    return {r["id"]: r["verdict"] for r in results["requirements"]}


def failed(results: dict) -> set[str]:
    return {rid for rid, v in verdicts(results).items() if v == "failed"}


def shall_not_passed(results: dict) -> dict[str, str]:
    """Every SHALL neither passed nor not tested for its catalog reason (what a clean product must not have:
    no SHALL not applicable, not run or inconclusive)."""
    return {r["id"]: r["verdict"] for r in results["requirements"]
            if r["level"] == "SHALL" and r["verdict"] not in ("passed", "not_tested")}


def expect_clean(run: tuple[int, dict, str], golden: Path) -> None:
    """A clean product: exit 0, every SHALL passed (or not tested for its catalog reason), and the verdicts of
    the in-process run of the same plan (``tests/golden``): both forms of the proof agree."""
    code, results, output = run
    assert shall_not_passed(results) == {}, output
    assert code == 0, output
    expected = json.loads(golden.read_text(encoding="utf-8"))["requirements"]
    assert verdicts(results) == expected, "the black-box run and the in-process run disagree"


def expect_fault(run: tuple[int, dict, str], breaks: tuple[str, ...]) -> None:
    """A product with one named fault: exit 1, failing exactly the requirements the fault names."""
    code, results, output = run
    assert failed(results) == set(breaks), output
    assert code == 1, output


def tls_profile(client: bool = False) -> dict[str, str]:
    """The profile's ``tls`` for a product served over HTTPS from the default test PKI (``drimcheck serve``
    without --plain-http): its CA, and with ``client`` the Consumer's ORG AUTH CLI certificate that a
    Source's WADO-RS demands (mutual TLS)."""
    from harness.pki import default_folder, network_pki

    pki = network_pki(default_folder())
    tls = {"ca": str(pki.ca_path)}
    if client:  # and the PKI whose refused certificates the transport-security tests present
        tls |= {"cert": str(pki.cert_path("consumer-client")), "key": str(pki.key_path("consumer-client")),
                "pki": str(pki.folder)}
    return tls
