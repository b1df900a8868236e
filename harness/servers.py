"""Real servers on loopback ports, started and stopped from tests, plans and `drimcheck serve`."""

from __future__ import annotations

import errno
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from werkzeug.serving import make_server

LOOPBACK = "127.0.0.1"


class PortInUseError(RuntimeError):
    """A configured port is taken; the CLI turns this into a one-line error (exit 2)."""


def free_port(host: str = LOOPBACK) -> int:
    """A port that is free now; the OS picks it, so parallel workers (xdist) do not collide."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


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


class StoppableServer(Protocol):
    """What RunningServer needs of a server: werkzeug's threaded server or harness.httpd.HttpServer."""

    def shutdown(self) -> None: ...

    def server_close(self) -> None: ...


@dataclass
class RunningServer:
    """A WSGI app served in a background thread (werkzeug's threaded server, or harness.httpd)."""

    name: str
    host: str
    port: int
    _server: StoppableServer
    _thread: threading.Thread

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)

    def __enter__(self) -> RunningServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def serve_wsgi(app: Callable, name: str, port: int = 0, host: str = LOOPBACK,
               ssl_context: object = None) -> RunningServer:
    """Serve ``app`` on ``host:port`` (0 = any free port) until ``stop()``."""
    if port:
        check_port_free(port, host)
    server = make_server(host, port, app, threaded=True, ssl_context=ssl_context)  # type: ignore[arg-type]
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name=f"wsgi-{name}", daemon=True)
    thread.start()
    return RunningServer(name, host, server.server_port, server, thread)
