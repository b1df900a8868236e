"""Real servers on loopback ports, started and stopped from tests, plans and `drimcheck serve`.

Every HTTP endpoint is served by cheroot (the CherryPy project's WSGI server, BSD licence): a
maintained HTTP/1.1 server with persistent connections, a thread pool, chunked request bodies and
TLS from a given :class:`ssl.SSLContext`, mutual TLS included (the verified client certificate
reaches the application as ``SSL_CLIENT_CERT``). It runs inside a thread as well as in a process
of its own, which plans (peers started in-process) and ``drimcheck serve`` both need. Control
point C17 of the DRIMbox label wants every flow encrypted: servers get a context from
:mod:`harness.tls` unless plain HTTP is asked for explicitly.
"""

from __future__ import annotations

import errno
import logging
import socket
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cheroot import wsgi
from cheroot.ssl.builtin import BuiltinSSLAdapter

LOOPBACK = "127.0.0.1"
THREADS = 24  # requests served at once per server: persistent idle connections wait in a selector, not here

log = logging.getLogger(__name__)


class PortInUseError(RuntimeError):
    """A configured port is taken; the CLI turns this into a one-line error (exit 2)."""


# Ports handed out to be bound later by another process (a product started with --port, a plan's pinned peer).
# The OS's pick (bind to 0) comes from the ephemeral range, which every outgoing connection of every process also
# draws its local port from: between the pick and the bind, a connection elsewhere may take it. Under pytest-xdist,
# each worker picks in its own block below the ephemeral range (Linux default 32768-60999), so neither the other
# workers nor outgoing connections can hold the port in between.
PINNED_BASE, PINNED_BLOCK = 12000, 4000
_handed: list[int] = []


def free_port(host: str = LOOPBACK) -> int:
    """A port that is free now, for a server another process will bind. In a test worker (xdist sets
    ``PYTEST_XDIST_WORKER=gwN``) it comes from that worker's own block, never one handed out lately by this
    process; elsewhere the OS picks it."""
    import os
    import random

    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    if worker.startswith("gw") and worker[2:].isdigit():
        start = PINNED_BASE + (int(worker[2:]) % 5) * PINNED_BLOCK
        for _ in range(200):
            port = random.randrange(start, start + PINNED_BLOCK)
            if port in _handed:
                continue
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
                try:
                    sock.bind((host, port))
                except OSError:
                    continue
            _handed.append(port)
            del _handed[:-256]
            return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def stop_requested() -> threading.Event:
    """An event that Ctrl-C or SIGTERM sets, in place of KeyboardInterrupt: installed before a foreground
    ``drimcheck serve`` or ``console`` starts its servers and says it is serving, a signal sent as soon as that
    line is read is kept, and raises nowhere (not halfway through a start or a stop)."""
    import signal

    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    return stop


def wait_for_stop(stop: threading.Event | None = None) -> None:
    """Block until ``stop`` (:func:`stop_requested`, installed now when not given) is set."""
    stop = stop or stop_requested()
    while not stop.wait(0.5):
        pass


def check_port_free(port: int, host: str = LOOPBACK) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # the server itself binds with SO_REUSEADDR: do the same, so a port whose previous
        # server left sockets in TIME_WAIT is not mistaken for a port in use
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise PortInUseError(
                    f"port {port} on {host} is already in use: stop what holds it or choose another --port"
                ) from None
            raise


class ContextAdapter(BuiltinSSLAdapter):
    """cheroot's TLS adapter around a ready :class:`ssl.SSLContext` (cheroot's own builds one from
    file names only; ours come from the test PKI, with client-certificate checking when asked)."""

    def __init__(self, context: ssl.SSLContext) -> None:
        self.certificate = self.private_key = self.certificate_chain = None
        self.ciphers = self.private_key_password = None
        self.context = context
        self._server_env: dict[str, str] = {}


class _Server(wsgi.Server):
    @classmethod
    def prepare_socket(cls, bind_addr: Any, family: int, type: int, proto: int, nodelay: bool,
                       ssl_adapter: Any, reuse_port: bool = False) -> socket.socket:
        sock = super().prepare_socket(bind_addr, family, type, proto, nodelay, ssl_adapter, reuse_port)
        # cheroot leaves SO_REUSEADDR off on a port chosen by the OS; a simulator stopped and started again
        # on that port (a plan's DMP outage) must get it back while old connections still close
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        return sock

    def error_log(self, msg: str = "", level: int = 20, traceback: bool = False) -> None:
        # cheroot writes to stderr; the project logs (a refused TLS handshake is routine in a security plan)
        log.log(level, "%s: %s", self.server_name, msg, exc_info=traceback)


def make_server(app: Callable, name: str, port: int = 0, host: str = LOOPBACK,
                ssl_context: ssl.SSLContext | None = None, threads: int = THREADS) -> _Server:
    """A cheroot server bound and listening (``prepare()`` done), not yet serving."""
    if port:
        check_port_free(port, host)
    server = _Server((host, port), app, numthreads=threads, server_name=name, timeout=60, shutdown_timeout=5,
                     request_queue_size=128)
    server.nodelay = True  # WADO-RS streams: small writes leave at once (no Nagle + delayed-ACK stall)
    if ssl_context is not None:
        server.ssl_adapter = ContextAdapter(ssl_context)
    server.prepare()
    for thread in server.requests._threads:  # reused by the server: not left behind by a test (harness.leaks)
        thread.owner_running = lambda s=server: bool(s.ready)  # type: ignore[attr-defined]
    return server


class _ServeThread(threading.Thread):
    def __init__(self, server: _Server, name: str) -> None:
        super().__init__(target=server.serve, name=f"wsgi-{name}", daemon=True)
        self._server = server

    def owner_running(self) -> bool:
        return bool(self._server.ready)


@dataclass
class RunningServer:
    """A WSGI app served in a background thread: ``url`` (http:// or https://), ``stop()``."""

    name: str
    host: str
    port: int
    _server: Any
    _thread: threading.Thread
    tls: bool = False

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.host}:{self.port}"

    def stop(self) -> None:
        self._server.stop()
        self._thread.join(timeout=10)

    def __enter__(self) -> RunningServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def serve_wsgi(app: Callable, name: str, port: int = 0, host: str = LOOPBACK,
               ssl_context: ssl.SSLContext | None = None, threads: int = THREADS) -> RunningServer:
    """Serve ``app`` on ``host:port`` (0 = any free port) until ``stop()``; HTTPS with ``ssl_context``."""
    server = make_server(app, name, port, host, ssl_context=ssl_context, threads=threads)
    thread = _ServeThread(server, name)
    thread.start()
    return RunningServer(name, host, server.bind_addr[1], server, thread, tls=ssl_context is not None)


def serve_again(app: Callable, name: str, port: int, host: str = LOOPBACK, ssl_context: ssl.SSLContext | None = None,
                timeout: float = 10.0) -> RunningServer:
    """Serve ``app`` on the port a stopped server just left (a peer restarted by a plan: an outage, another
    certificate). Sockets of the previous server may keep the port in TIME_WAIT a moment: retry until
    ``timeout`` seconds have passed, then raise."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        try:
            return serve_wsgi(app, name, port=port, host=host, ssl_context=ssl_context)
        except (OSError, PortInUseError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
