"""Several worker processes behind one listening socket (``drimcheck serve dmp --workers N``).

Python runs one request at a time per process (the GIL); the registry's work per submission is
CPU-bound (SOAP/MTOM decoding, XDS validation, indexing), so throughput grows with processes,
not threads. The parent binds the socket once and starts N fresh interpreters
(``python -m simulators.dmp.workers``) that inherit it and ``accept()`` on it (pre-fork model:
the kernel hands each new connection to one idle worker). Each worker opens its own database
connections; writers are serialised across workers by the storage's write lock
(storage.Storage.write_transaction), so a submission stays atomic and a uniqueId is registered
once whichever worker receives it. Workers die with the parent (PR_SET_PDEATHSIG, plus a watch on
the parent pid), so a killed server leaves no worker serving.

Each worker records its exchanges in its own process (the in-memory capture of
``drimcheck serve``); the inspector of one worker links objects to the exchanges it captured and
names the others by their wsa:MessageID.
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

from harness.httpd import HttpServer
from simulators.dmp.config import DmpConfig
from simulators.dmp.storage import Storage, open_storage

_PR_SET_PDEATHSIG = 1


def config_to_json(config: DmpConfig) -> str:
    data = asdict(config)
    data["workdir"] = str(config.workdir)
    data["known_patients"] = None if config.known_patients is None else sorted(config.known_patients)
    data["trust_store"] = [pem.decode("ascii") for pem in config.trust_store]
    return json.dumps(data)


def config_from_json(text: str) -> DmpConfig:
    data = json.loads(text)
    data["workdir"] = Path(data["workdir"])
    if data["known_patients"] is not None:
        data["known_patients"] = set(data["known_patients"])
    data["trust_store"] = [pem.encode("ascii") for pem in data["trust_store"]]
    known = {f.name for f in fields(DmpConfig)}
    return DmpConfig(**{k: v for k, v in data.items() if k in known})


def shared_db_url(config: DmpConfig) -> str:
    """The database every worker opens: the configured URL, or the default SQLite file made explicit."""
    if config.db:
        return config.db
    folder = Path(config.workdir).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{folder / 'dmp.sqlite'}"


class WorkerPool:
    """A running multi-process DMP: ``endpoints``, ``pids``, ``storage`` (the parent's own
    connection, for reading) and ``stop()`` (SIGTERM, then SIGKILL after ``grace`` seconds)."""

    def __init__(self, config: DmpConfig, sock: socket.socket, procs: list[subprocess.Popen]) -> None:
        self.config, self._sock, self.procs = config, sock, procs
        host, port = sock.getsockname()[:2]
        base = f"http://{host}:{port}"
        self.endpoints = {"registry": base + config.registry_path, "repository": base + config.repository_path,
                          "inspector": base + "/inspect", "base": base,
                          "repository_unique_id": config.repository_unique_id}
        self._storage: Storage | None = None

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.procs]

    @property
    def storage(self) -> Storage:
        if self._storage is None:
            self._storage = open_storage(self.config.db)
        return self._storage

    def stop(self, grace: float = 10.0) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + grace
        for proc in self.procs:
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
            if proc.stdout is not None:
                proc.stdout.close()
        self._sock.close()
        if self._storage is not None:
            self._storage.close()
            self._storage = None

    def __enter__(self) -> WorkerPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_workers(config: DmpConfig, workers: int, port: int = 0, host: str = "127.0.0.1",
                  ready_timeout: float = 120.0) -> WorkerPool:
    """Bind ``host:port`` (0 = free port), create the schema, start ``workers`` processes and
    wait until each accepts connections."""
    if workers < 1:
        raise ValueError(f"--workers must be at least 1, not {workers}")
    from harness.servers import check_port_free

    if port:
        check_port_free(port, host)
    config = DmpConfig(**{**{f.name: getattr(config, f.name) for f in fields(DmpConfig)},
                          "db": shared_db_url(config)})
    open_storage(config.db).close()  # schema (and WAL mode) once, before workers race for it
    sock = socket.create_server((host, port), backlog=512)
    sock.set_inheritable(True)
    procs: list[subprocess.Popen] = []
    pool = WorkerPool(config, sock, procs)
    payload = config_to_json(config)
    root = str(Path(__file__).resolve().parents[2])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}
    try:
        for _ in range(workers):
            proc = subprocess.Popen(
                [sys.executable, "-m", "simulators.dmp.workers", str(sock.fileno()), str(os.getpid())],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, pass_fds=(sock.fileno(),), env=env, text=True)
            procs.append(proc)
            assert proc.stdin is not None
            proc.stdin.write(payload)
            proc.stdin.close()
        deadline = time.monotonic() + ready_timeout
        for proc in procs:
            _wait_ready(proc, deadline)
    except BaseException:
        pool.stop(grace=2)
        raise
    return pool


def _wait_ready(proc: subprocess.Popen, deadline: float) -> None:
    assert proc.stdout is not None
    line = ""
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if line.startswith("ready") or not line:
            break
    if not line.startswith("ready"):
        raise RuntimeError(f"DMP worker {proc.pid} did not start (exit code {proc.poll()})")


# ------------------------------------------------------------------ worker side

def _die_with_parent(parent: int) -> None:
    """SIGKILL this worker when the parent dies (Linux prctl), and watch the parent pid as well
    (other systems, or a parent already gone before prctl)."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        pass

    def watch() -> None:
        while True:
            if os.getppid() != parent:
                os._exit(1)
            time.sleep(0.2)

    if os.getppid() != parent:
        os._exit(1)
    threading.Thread(target=watch, name="dmp-parent-watch", daemon=True).start()


def worker_main(fd: int, parent: int, config_json: str, grace: float = 5.0) -> int:
    """Serve the simulator on the inherited listening socket ``fd`` until SIGTERM; requests in
    flight get ``grace`` seconds, then the process ends (an unfinished submission rolls back)."""
    _die_with_parent(parent)
    import logging

    from simulators.dmp.app import create_app
    from simulators.dmp.faults import handlers_for

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    config = config_from_json(config_json)
    app = create_app(config, handlers_for(config.fault))
    server = HttpServer(app, socket.socket(fileno=fd), name="dmp-worker", max_requests=50, accept_delay=0.005)
    stopper = threading.Thread(target=server.shutdown, args=(grace,), name="dmp-stop", daemon=True)

    def on_term(*_: object) -> None:
        if not stopper.is_alive() and stopper.ident is None:
            stopper.start()

    signal.signal(signal.SIGTERM, on_term)
    print(f"ready {os.getpid()}", flush=True)
    try:
        server.serve_forever()
    finally:
        if stopper.ident is not None:
            stopper.join(grace + 15)
        app.close()
    os._exit(0)


def main(argv: list[str] | None = None) -> Any:
    args = sys.argv[1:] if argv is None else argv
    return worker_main(int(args[0]), int(args[1]), sys.stdin.read())


if __name__ == "__main__":
    sys.exit(main())
