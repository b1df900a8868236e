"""Several worker processes serving one DMP (``drimcheck serve dmp --workers N``), on granian.

Python runs one request at a time per process (the GIL); the registry's work per submission is
CPU-bound (SOAP/MTOM decoding, XDS validation, indexing), so throughput grows with processes,
not threads. granian (Rust HTTP/1.1 and TLS, BSD licence) runs N worker processes on one port,
each calling the WSGI application from one thread: its HTTP parsing, keep-alive handling and TLS
are outside the GIL, which is why it serves ``bench/bench_dmp.py`` as fast as the pre-fork server
this replaced did in plain HTTP (cheroot, which serves every other endpoint from a thread, reached
two thirds of it here). TLS material is given as files (``--ssl-certificate``, PKCS#8
``--ssl-keyfile``, ``--ssl-ca`` with client verification for mutual TLS). Each worker opens its
own database connections; writers are serialised across workers by the storage's write lock
(storage.Storage.write_transaction), so a submission stays atomic and a uniqueId is registered
once whichever worker receives it. granian dies with the parent (PR_SET_PDEATHSIG) and takes its
workers with it, so a killed server leaves no worker serving.

Each worker records its exchanges in its own process (the in-memory capture of
``drimcheck serve``); the inspector of one worker links objects to the exchanges it captured and
names the others by their wsa:MessageID.
"""

from __future__ import annotations

import ctypes
import json
import os
import random
import signal
import socket
import ssl
import subprocess
import sys
import time
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

from simulators.dmp.config import DmpConfig
from simulators.dmp.storage import Storage, open_storage

_PR_SET_PDEATHSIG = 1
CONFIG_ENV = "DRIMCHECK_DMP_CONFIG"
REBALANCE = 50


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


def granian_app() -> Any:
    """The WSGI application of one worker (granian's ``--factory`` target), configured by the parent
    through the environment."""
    import logging

    from simulators.dmp.app import create_app
    from simulators.dmp.faults import handlers_for

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    config = config_from_json(os.environ[CONFIG_ENV])
    return _Rebalance(create_app(config, handlers_for(config.fault)))


class _Rebalance:
    """One response in ``REBALANCE`` (at random) says ``Connection: close`` (RFC 9112 §9.6): the client
    opens a new connection, which the kernel hands to an idle worker. Without it a few long-lived
    client connections stay on the worker that accepted them (seen: 73 % / 27 % of the CPU with 4
    clients on 2 workers). granian's WSGI environ names no client port, so connections cannot be
    counted one by one; the random draw recycles each after ``REBALANCE`` requests on average."""

    def __init__(self, app: Any) -> None:
        self.app = app

    def __call__(self, environ: dict, start_response: Any) -> Any:
        if random.random() * REBALANCE >= 1:
            return self.app(environ, start_response)

        def closing(status: str, headers: list, exc_info: Any = None) -> Any:
            headers = [h for h in headers if h[0].lower() != "connection"] + [("Connection", "close")]
            return start_response(status, headers, exc_info)

        return self.app(environ, closing)


class WorkerPool:
    """A running multi-process DMP: ``endpoints``, ``pids`` (the worker processes), ``storage`` (the
    parent's own connection, for reading) and ``stop()`` (SIGTERM, then SIGKILL after ``grace`` seconds)."""

    def __init__(self, config: DmpConfig, proc: subprocess.Popen, host: str, port: int, tls: bool = False) -> None:
        self.config, self.proc = config, proc
        base = f"{'https' if tls else 'http'}://{host}:{port}"
        self.endpoints = {"registry": base + config.registry_path, "repository": base + config.repository_path,
                          "inspector": base + "/inspect", "base": base,
                          "repository_unique_id": config.repository_unique_id}
        self._storage: Storage | None = None

    @property
    def pids(self) -> list[int]:
        """The worker processes (granian's children), not its supervising process."""
        return sorted(_children(self.proc.pid))

    @property
    def storage(self) -> Storage:
        if self._storage is None:
            self._storage = open_storage(self.config.db)
        return self._storage

    def stop(self, grace: float = 10.0) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)  # granian stops its workers, requests in flight end
            try:
                self.proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        if self._storage is not None:
            self._storage.close()
            self._storage = None

    def __enter__(self) -> WorkerPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _children(pid: int) -> set[int]:
    """Processes whose parent is ``pid`` (scanning /proc: the per-task children file is not always built)."""
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        if parent == pid:
            found.add(int(stat.parent.name))
    return found


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM when the parent dies (Linux prctl); its own session, so a
    last-resort SIGKILL reaches the workers too."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):
        pass


def start_workers(config: DmpConfig, workers: int, port: int = 0, host: str = "127.0.0.1",
                  ready_timeout: float = 120.0, tls: dict[str, str] | None = None) -> WorkerPool:
    """Create the schema, start granian with ``workers`` processes on ``host:port`` (0 = a free port)
    and wait until every worker answers. ``tls`` (``cert``, ``key`` in PKCS#8, optionally
    ``client_ca`` to demand client certificates) serves HTTPS."""
    if workers < 1:
        raise ValueError(f"--workers must be at least 1, not {workers}")
    from harness.servers import check_port_free, free_port

    if port:
        check_port_free(port, host)
    else:
        port = free_port(host)
    config = DmpConfig(**{**{f.name: getattr(config, f.name) for f in fields(DmpConfig)},
                          "db": shared_db_url(config)})
    open_storage(config.db).close()  # schema (and WAL mode) once, before workers race for it
    command = [sys.executable, "-m", "granian", "--interface", "wsgi", "--factory", "--workers", str(workers),
               "--blocking-threads", "1", "--host", host, "--port", str(port), "--log-level", "warning",
               "--no-ws", "--http", "1", "--workers-kill-timeout", "3"]
    if tls:
        command += ["--ssl-certificate", tls["cert"], "--ssl-keyfile", tls["key"], "--ssl-protocol-min", "tls1.2"]
        if tls.get("client_ca"):
            command += ["--ssl-ca", tls["client_ca"], "--ssl-client-verify"]
    command.append("simulators.dmp.workers:granian_app")
    root = str(Path(__file__).resolve().parents[2])
    env = {**os.environ, CONFIG_ENV: config_to_json(config),
           "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}
    proc = subprocess.Popen(command, env=env, stdin=subprocess.DEVNULL, start_new_session=True,
                            preexec_fn=_die_with_parent)
    pool = WorkerPool(config, proc, host, port, tls=bool(tls))
    try:
        _wait_ready(pool, workers, host, port, bool(tls), time.monotonic() + ready_timeout)
    except BaseException:
        pool.stop(grace=2)
        raise
    return pool


def _wait_ready(pool: WorkerPool, workers: int, host: str, port: int, tls: bool, deadline: float) -> None:
    """Every worker process started and the port answering HTTP (a TLS handshake first when ``tls``)."""
    context = None
    if tls:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname, context.verify_mode = False, ssl.CERT_NONE  # readiness only, not trust
    while time.monotonic() < deadline:
        if pool.proc.poll() is not None:
            raise RuntimeError(f"the DMP server (granian) ended at start (exit code {pool.proc.returncode})")
        if len(pool.pids) >= workers and _answers(host, port, context):
            return
        time.sleep(0.05)
    raise RuntimeError(f"the DMP server did not answer on {host}:{port} in time")


def _answers(host: str, port: int, context: ssl.SSLContext | None) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2) as raw:
            sock = context.wrap_socket(raw) if context else raw
            sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            return sock.recv(12).startswith(b"HTTP/1.1")
    except (OSError, ssl.SSLError):
        return False
