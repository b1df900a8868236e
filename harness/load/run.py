"""Run a load specification in Locust processes and turn their figures into results.json and the reports.

One machine: one ``local`` process (greenlets). ``workers=K``: a ``master`` process and K ``worker``
processes on this machine; ``remote_workers=R`` makes the master wait for R more, started elsewhere with
``drimcheck load worker --master-host HOST --master-port PORT`` (the master then binds ``master_host``).
Nothing is left behind on failure: every process started here is ended, and the output folder receives its
files only once the figures are complete (each written to a temporary name, then renamed).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.load.spec import LoadSpec
from harness.load.stats import Recorder, summarize

REPO = Path(__file__).resolve().parents[2]
RESULTS_FORMAT = "drimcheck-load/1"


class LoadError(RuntimeError):
    """The load run could not be carried out (a process failed, workers never joined); the message says why."""


@dataclass
class Distribution:
    """How the load is generated: ``workers`` local worker processes (0: one local process),
    ``remote_workers`` more that join from other machines, the master's address and port."""

    workers: int = 0
    remote_workers: int = 0
    master_host: str = "127.0.0.1"
    master_port: int = 0
    join_timeout: float = 120.0

    @property
    def distributed(self) -> bool:
        return self.workers + self.remote_workers > 0


@dataclass
class RunInfo:
    """What the report says about the run besides its figures."""

    sut: str
    command: list[str] = field(default_factory=list)
    setup: dict[str, Any] = field(default_factory=dict)  # what the set-up did or required (study, documents...)


def _env() -> dict[str, str]:
    """The load processes' environment: the project importable, and Locust's own tips silenced."""
    path = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    return {**os.environ, "PYTHONPATH": path, "PYTHONUNBUFFERED": "1"}


def _module() -> list[str]:
    return [sys.executable, "-m", "harness.load.worker"]


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


def generate(spec: LoadSpec, dist: Distribution, scratch: Path, echo: bool = True) -> dict[str, Any]:
    """Run ``spec`` in Locust processes; the raw figures (started, ended, workers, recorder)."""
    from harness.servers import free_port

    stats = scratch / "stats.json"
    logs = scratch / "load.log"
    budget = spec.duration + dist.join_timeout + 120
    procs: list[subprocess.Popen] = []
    with logs.open("w", encoding="utf-8") as log:
        out = None if echo else log
        try:
            if not dist.distributed:
                cmd = [*_module(), "local", "--stats-out", str(stats)]
            else:
                port = dist.master_port or free_port(dist.master_host)
                cmd = [*_module(), "master", "--stats-out", str(stats), "--bind-host", dist.master_host,
                       "--port", str(port), "--expect-workers", str(dist.workers + dist.remote_workers),
                       "--join-timeout", str(dist.join_timeout)]
            lead = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=out, stderr=log, env=_env(), cwd=str(REPO))
            procs.append(lead)
            assert lead.stdin is not None
            lead.stdin.write(spec.to_json().encode())
            lead.stdin.close()
            if dist.distributed:
                connect = "127.0.0.1" if dist.master_host in ("0.0.0.0", "") else dist.master_host
                for _ in range(dist.workers):
                    procs.append(subprocess.Popen(
                        [*_module(), "worker", "--master-host", connect, "--master-port", str(port)],
                        stdin=subprocess.DEVNULL, stdout=out, stderr=log, env=_env(), cwd=str(REPO)))
            deadline = time.monotonic() + budget
            while lead.poll() is None:
                if time.monotonic() > deadline:
                    raise LoadError(f"the load did not end within {budget:.0f} s")
                dead = [p for p in procs[1:] if p.poll() not in (None, 0)]
                if dead:
                    raise LoadError(f"a worker process exited with status {dead[0].returncode}")
                time.sleep(0.2)
            for proc in procs[1:]:
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    _stop(proc)
        finally:
            for proc in procs:
                _stop(proc)
    if lead.returncode != 0 or not stats.exists():
        tail = logs.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-12:]
        raise LoadError(f"the load process exited with status {lead.returncode}" +
                        ("\n" + "\n".join(tail) if tail else ""))
    return json.loads(stats.read_text(encoding="utf-8"))


def build_results(spec: LoadSpec, raw: dict[str, Any], info: RunInfo, dist: Distribution) -> dict[str, Any]:
    """results.json of a load run: what ran, where, and its figures (harness.load.stats.summarize)."""
    from harness import __version__

    figures = summarize(Recorder.from_dict(raw["recorder"]), raw["started"], raw["ended"])
    return {
        "format": RESULTS_FORMAT,
        "tool_version": __version__,
        "scenario": spec.scenario,
        "sut": info.sut,
        "command": info.command,
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(raw["started"])),
        "users": spec.users,
        "spawn_rate": spec.spawn_rate,
        "duration_requested_s": spec.duration,
        "workers": raw.get("workers", 0),
        "mode": "distributed" if dist.distributed else "local",
        "setup": info.setup,
        **figures,
    }


def write_json(path: Path, data: Any) -> None:
    tmp = path.with_name(path.name + ".partial")
    tmp.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def run_load(spec: LoadSpec, out: Path, info: RunInfo, dist: Distribution | None = None,
             echo: bool = True) -> dict[str, Any]:
    """Run ``spec`` and write ``results.json``, ``report.html`` and ``report.md`` into ``out``; the results."""
    from harness.load.report import write_reports

    spec.check()
    dist = dist or Distribution()
    with tempfile.TemporaryDirectory(prefix="drimcheck-load-") as scratch:
        raw = generate(spec, dist, Path(scratch), echo=echo)
    results = build_results(spec, raw, info, dist)
    out.mkdir(parents=True, exist_ok=True)  # only now: a run that failed leaves no folder behind
    write_reports(results, out)
    write_json(out / "results.json", results)
    return results
