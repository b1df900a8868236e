"""A lean HTTP/1.1 WSGI server: persistent connections, reused threads, few syscalls per response.

Why not werkzeug's development server for the simulators that take load (the DMP): it parses each
request head with ``http.server`` (an email-parser pass), closes the connection after every response
(a new TCP connection and a new handler per request) and writes a response in several unbuffered
sends. Measured on a 91 kB SOAP POST: about 1.1 ms of server CPU per request, a fifth of a whole
RAD-68 submission. This server keeps what the project needs and nothing more:

- HTTP/1.1 message syntax (RFC 9112): request line, header fields (limits: 64 KiB of head, 100
  fields; obsolete line folding refused), ``Content-Length`` or ``chunked`` request bodies (both at
  once refused, §6.3), ``Expect: 100-continue`` answered when the application first reads the body;
- persistent connections by default in HTTP/1.1 (§9.3), closed after ``max_requests`` requests (the
  client opens another, and worker processes rebalance), ``Connection: close`` honoured, HTTP/1.0
  closed after the response; an idle connection is closed after ``keepalive_timeout`` seconds;
- responses with the application's ``Content-Length``, else one computed for a list of bytes, else
  chunked transfer coding (HTTP/1.1) or close-delimited (HTTP/1.0); no body for HEAD, 1xx, 204, 304;
  ``Date`` added (RFC 9110 §6.6.1);
- PEP 3333 environ, ``wsgi.input_terminated`` for chunked bodies, ``close()`` of the result always called;
- malformed requests get 400/414/431/501/505 and the connection is closed; an application error
  before the status is sent gets a 500, after it the connection is cut (the client sees a truncated body);
- a listening socket that may be shared with other processes (``drimcheck serve dmp --workers N``):
  accepts are non-blocking behind a selector, so a process that loses the race for a connection
  simply waits for the next one;
- ``shutdown()`` stops accepting, closes idle connections at once and lets requests in flight end.

Not here: TLS, HTTP/2, pipelining beyond reading requests one after the other on a connection.
"""

from __future__ import annotations

import io
import logging
import queue
import selectors
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterable
from email.utils import formatdate
from http import HTTPStatus
from typing import Any
from urllib.parse import unquote_to_bytes

from harness.servers import RunningServer, check_port_free

log = logging.getLogger(__name__)

MAX_HEAD = 64 * 1024
MAX_FIELDS = 100
_DRAIN_LIMIT = 1 << 20  # unread request body drained to keep the connection; more and it is closed
_NO_BODY = {204, 304}


class _BadRequest(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class _PoolThread(threading.Thread):
    """A thread of a server's pool. Such threads outlive a request (reused) and a connection (the next
    one takes them): the leak guard (harness.leaks) leaves them alone while their server runs."""

    def __init__(self, pool: _Pool, name: str) -> None:
        super().__init__(target=pool._run, name=name, daemon=True)
        self._pool = pool

    def owner_running(self) -> bool:
        return not self._pool.stopped


class _Pool:
    """Threads started on demand and reused; a submitted job never waits for a busy one (a
    persistent connection can hold its thread for long), up to ``limit`` threads."""

    def __init__(self, name: str, limit: int) -> None:
        self._name, self._limit = name, limit
        self._jobs: queue.SimpleQueue = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._idle = 0
        self._threads: list[threading.Thread] = []
        self.stopped = False

    def submit(self, fn: Callable[..., None], *args: Any) -> None:
        with self._lock:
            if self._idle:
                self._idle -= 1  # reserved: that thread takes this job
            elif len(self._threads) < self._limit:
                thread = _PoolThread(self, f"{self._name}-{len(self._threads)}")
                self._threads.append(thread)
                thread.start()
        self._jobs.put((fn, args))

    def _run(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            fn, args = job
            try:
                fn(*args)
            except Exception:
                log.exception("HTTP connection handler failed")
            with self._lock:
                self._idle += 1

    def stop(self, timeout: float) -> None:
        with self._lock:
            self.stopped = True
            threads = list(self._threads)
        for _ in threads:
            self._jobs.put(None)
        deadline = time.monotonic() + timeout
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))


class _Input(io.RawIOBase):
    """``wsgi.input``: the request body, ``length`` bytes or chunked; sends ``100 Continue`` first when asked."""

    def __init__(self, rfile: io.BufferedReader, length: int | None, send_continue: Callable[[], None] | None
                 ) -> None:
        self._rfile, self._left, self._chunked = rfile, length or 0, length is None
        self._continue = send_continue
        self._done = False

    def readable(self) -> bool:
        return True

    @property
    def finished(self) -> bool:
        return self._done or (not self._chunked and self._left == 0)

    def _start(self) -> None:
        if self._continue is not None:
            self._continue()
            self._continue = None

    def read(self, size: int = -1) -> bytes:  # type: ignore[override]
        self._start()
        if not self._chunked:
            n = self._left if size is None or size < 0 else min(size, self._left)
            data = self._rfile.read(n) if n else b""
            if len(data) < n:
                self._left = 0
                raise ConnectionError("request body ended before its Content-Length")
            self._left -= len(data)
            return data
        out = bytearray()
        while not self._done and (size is None or size < 0 or len(out) < size):
            if self._left == 0:
                self._next_chunk()
                continue
            want = self._left if size is None or size < 0 else min(self._left, size - len(out))
            data = self._rfile.read(want)
            if len(data) < want:
                raise ConnectionError("chunked request body ended inside a chunk")
            out += data
            self._left -= len(data)
            if self._left == 0 and self._rfile.read(2) != b"\r\n":
                raise ConnectionError("chunk not followed by CRLF")
        return bytes(out)

    def readinto(self, buffer: Any) -> int:
        if self._chunked:
            data = self.read(len(buffer))
            buffer[: len(data)] = data
            return len(data)
        self._start()
        view = memoryview(buffer).cast("B")[: self._left]
        got = self._rfile.readinto(view) if len(view) else 0
        if len(view) and not got:
            self._left = 0
            raise ConnectionError("request body ended before its Content-Length")
        self._left -= got
        return got

    def readline(self, size: int | None = -1) -> bytes:
        return io.RawIOBase.readline(self, size)

    def _next_chunk(self) -> None:
        line = self._rfile.readline(1026)
        size = line.split(b";", 1)[0].strip()
        try:
            if not size or not all(c in b"0123456789abcdefABCDEF" for c in size):
                raise ValueError
            self._left = int(size, 16)
        except ValueError:
            raise ConnectionError(f"bad chunk size line {line[:40]!r}") from None
        if self._left == 0:
            while self._rfile.readline(MAX_HEAD) not in (b"\r\n", b"\n", b""):  # trailer fields, ignored
                pass
            self._done = True

    def drain(self, limit: int) -> bool:
        """Read what the application left (at most ``limit`` bytes): True when the body is wholly read."""
        if self._continue is not None:
            return False  # the client waits for 100 Continue: nothing to drain, but it may still send
        try:
            while not self.finished and limit > 0:
                got = len(self.read(min(limit, 1 << 16)))
                if not got:
                    break
                limit -= got
        except (ConnectionError, OSError):
            return False
        return self.finished


class HttpServer:
    """Serve ``app`` on the listening socket ``sock`` (bound and listening already) until :meth:`shutdown`."""

    def __init__(self, app: Callable, sock: socket.socket, name: str = "httpd", max_threads: int = 1000,
                 keepalive_timeout: float = 15.0, request_timeout: float = 120.0, max_requests: int = 200,
                 accept_delay: float = 0.0) -> None:
        """``max_requests``: requests served on one connection before it is closed (the client opens
        another). ``accept_delay``: seconds this server waits per connection it already serves before
        it accepts a new one, so that processes sharing the listening socket each take a fair share of
        persistent connections (the least busy one accepts first); 0 for a server alone on its socket."""
        self.app, self.socket, self.name = app, sock, name
        self.keepalive_timeout, self.request_timeout = keepalive_timeout, request_timeout
        self.max_requests, self.accept_delay = max_requests, accept_delay
        host, port = sock.getsockname()[:2]
        self.server_name, self.server_port = host, port
        self._pool = _Pool(name, max_threads)
        self._wake_r, self._wake_w = socket.socketpair()
        self._stopping = threading.Event()
        self._stopped = threading.Event()
        self._conns: dict[socket.socket, bool] = {}  # connection -> idle (waiting for a request)
        self._conns_lock = threading.Lock()
        self._date = (0, "")

    # ------------------------------------------------------------------ accepting
    def serve_forever(self) -> None:
        self.socket.setblocking(False)
        selector = selectors.DefaultSelector()
        selector.register(self.socket, selectors.EVENT_READ)
        selector.register(self._wake_r, selectors.EVENT_READ)
        try:
            while not self._stopping.is_set():
                for key, _ in selector.select():
                    if key.fileobj is self._wake_r or self._stopping.is_set():
                        break
                    if self.accept_delay:
                        with self._conns_lock:
                            served = len(self._conns)
                        if served:
                            time.sleep(min(served * self.accept_delay, 0.05))
                    try:
                        conn, addr = self.socket.accept()
                    except (BlockingIOError, InterruptedError):
                        continue  # another worker process took it
                    except OSError:
                        if self._stopping.is_set():
                            break
                        raise
                    conn.setblocking(True)
                    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                    with self._conns_lock:
                        self._conns[conn] = True
                    self._pool.submit(self._serve_connection, conn, addr)
        finally:
            selector.close()
            self._stopped.set()

    def shutdown(self, grace: float = 10.0) -> None:
        """Stop accepting, close idle connections, give requests in flight ``grace`` seconds."""
        self._stopping.set()
        try:
            self._wake_w.send(b"x")
        except OSError:
            pass
        self._stopped.wait(10)
        with self._conns_lock:
            idle = [c for c, waiting in self._conns.items() if waiting]
        for conn in idle:
            _shut(conn)
        self._pool.stop(grace)
        with self._conns_lock:
            left = list(self._conns)
        for conn in left:  # still busy after the grace period
            _shut(conn)

    def server_close(self) -> None:
        self._wake_r.close()
        self._wake_w.close()
        self.socket.close()

    # ------------------------------------------------------------------ one connection
    def _serve_connection(self, conn: socket.socket, addr: Any) -> None:
        rfile = conn.makefile("rb", buffering=1 << 16)
        try:
            keep, served = True, 0
            while keep and not self._stopping.is_set():
                conn.settimeout(self.keepalive_timeout)
                try:
                    line = rfile.readline(MAX_HEAD + 1)
                except (TimeoutError, OSError):
                    return
                if line in (b"\r\n", b"\n"):  # one empty line before a request is allowed (RFC 9112 §2.2)
                    continue
                if not line:
                    return
                with self._conns_lock:
                    self._conns[conn] = False
                conn.settimeout(self.request_timeout)
                served += 1
                try:
                    keep = self._serve_request(conn, rfile, line, addr, last=served >= self.max_requests)
                except _BadRequest as bad:
                    self._send_error(conn, bad.status, str(bad))
                    return
                except (TimeoutError, ConnectionError, OSError):
                    return
                with self._conns_lock:
                    self._conns[conn] = True
        finally:
            with self._conns_lock:
                self._conns.pop(conn, None)
            rfile.close()
            _shut(conn)
            conn.close()

    def _serve_request(self, conn: socket.socket, rfile: io.BufferedReader, line: bytes, addr: Any,
                       last: bool = False) -> bool:
        """Answer one request; True when the connection can carry another one."""
        if len(line) > MAX_HEAD or not line.endswith(b"\n"):
            raise _BadRequest(414, "request line too long")
        parts = line.split()
        if len(parts) != 3:
            raise _BadRequest(400, "malformed request line")
        method_b, target, version_b = parts
        version = version_b.decode("latin-1")
        if version not in ("HTTP/1.1", "HTTP/1.0"):
            raise _BadRequest(505 if version.startswith("HTTP/") else 400, f"unsupported version {version}")
        headers = _read_fields(rfile)
        method = method_b.decode("latin-1")
        environ = self._environ(method, target, version, headers, addr)
        length_text = environ.get("CONTENT_LENGTH", "")
        chunked = False
        if "HTTP_TRANSFER_ENCODING" in environ:
            codings = [c.strip().lower() for c in environ["HTTP_TRANSFER_ENCODING"].split(",")]
            if codings[-1:] != ["chunked"] or any(c not in ("chunked", "identity") for c in codings):
                raise _BadRequest(501, "only the chunked transfer coding is supported")
            if length_text:
                raise _BadRequest(400, "both Content-Length and Transfer-Encoding (RFC 9112 §6.3)")
            chunked = True
        elif length_text and not length_text.isdigit():
            raise _BadRequest(400, f"bad Content-Length {length_text[:40]!r}")
        expects = environ.get("HTTP_EXPECT", "").lower() == "100-continue" and version == "HTTP/1.1"
        body = _Input(rfile, None if chunked else int(length_text or 0),
                      (lambda: conn.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")) if expects else None)
        environ["wsgi.input"] = body
        environ["wsgi.input_terminated"] = chunked
        connection = environ.get("HTTP_CONNECTION", "").lower()
        keep = version == "HTTP/1.1" and "close" not in connection and not last
        keep = self._respond(conn, environ, method, version, keep)
        return keep and body.drain(_DRAIN_LIMIT) and not self._stopping.is_set()

    def _environ(self, method: str, target: bytes, version: str, headers: list[tuple[str, str]], addr: Any
                 ) -> dict[str, Any]:
        if target.startswith((b"http://", b"https://")):  # absolute-form (RFC 9112 §3.2.2)
            target = b"/" + target.split(b"/", 3)[3] if target.count(b"/") >= 3 else b"/"
        path, _, query = target.partition(b"?")
        environ: dict[str, Any] = {
            "REQUEST_METHOD": method, "SCRIPT_NAME": "", "PATH_INFO": unquote_to_bytes(path).decode("latin-1"),
            "QUERY_STRING": query.decode("latin-1"), "RAW_URI": target.decode("latin-1"),
            "REQUEST_URI": target.decode("latin-1"), "SERVER_NAME": self.server_name,
            "SERVER_PORT": str(self.server_port), "SERVER_PROTOCOL": version,
            "REMOTE_ADDR": addr[0] if addr else "", "REMOTE_PORT": str(addr[1]) if addr else "",
            "wsgi.version": (1, 0), "wsgi.url_scheme": "http", "wsgi.errors": sys.stderr,
            "wsgi.multithread": True, "wsgi.multiprocess": False, "wsgi.run_once": False,
        }
        for name, value in headers:
            key = name.upper().replace("-", "_")
            if "_" in name:  # Foo_Bar would collide with Foo-Bar in the environ: dropped, as other servers do
                continue
            if key not in ("CONTENT_TYPE", "CONTENT_LENGTH"):
                key = "HTTP_" + key
            environ[key] = f"{environ[key]},{value}" if key in environ else value
        return environ

    def _respond(self, conn: socket.socket, environ: dict[str, Any], method: str, version: str, keep: bool) -> bool:
        state: dict[str, Any] = {"status": None, "headers": None, "sent": False}

        def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable:
            if exc_info is not None:
                try:
                    if state["sent"]:
                        raise exc_info[1].with_traceback(exc_info[2])
                finally:
                    exc_info = None
            elif state["status"] is not None:
                raise AssertionError("start_response called twice")
            state["status"], state["headers"] = status, headers
            return write

        out = _Writer(conn, method == "HEAD", version, keep)

        def write(data: bytes) -> None:
            if not state["sent"]:
                out.start(state["status"], state["headers"], self._now(), None)
                state["sent"] = True
            out.body(data)

        result: Iterable[bytes] | None = None
        try:
            result = self.app(environ, start_response)
            pieces: Iterable[bytes] = result
            if isinstance(result, (list, tuple)) and not state["sent"]:
                pieces = [p for p in result if p]
                if state["status"] is None:
                    raise AssertionError("the application returned without calling start_response")
                out.start(state["status"], state["headers"], self._now(), sum(map(len, pieces)))
                state["sent"] = True
            for piece in pieces:
                if not piece:
                    continue
                if not state["sent"]:
                    out.start(state["status"], state["headers"], self._now(), None)
                    state["sent"] = True
                out.body(piece)
            if not state["sent"]:
                if state["status"] is None:
                    raise AssertionError("the application returned without calling start_response")
                out.start(state["status"], state["headers"], self._now(), 0)
            out.end()
        except (ConnectionError, TimeoutError):
            return False
        except Exception:
            log.exception("%s: application error on %s %s", self.name, method, environ.get("PATH_INFO"))
            if not out.started:
                self._send_error(conn, 500, "internal server error")
            return False
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
        return out.keep

    def _now(self) -> str:
        second = int(time.time())
        if self._date[0] != second:
            self._date = (second, formatdate(second, usegmt=True))
        return self._date[1]

    def _send_error(self, conn: socket.socket, status: int, message: str) -> None:
        body = f"{status} {HTTPStatus(status).phrase}: {message}\n".encode("latin-1", "replace")
        head = (f"HTTP/1.1 {status} {HTTPStatus(status).phrase}\r\nContent-Type: text/plain; charset=latin-1\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\nDate: {self._now()}\r\n\r\n")
        try:
            conn.sendall(head.encode("latin-1") + body)
        except OSError:
            pass


class _Writer:
    """The response on the wire: head and first piece in one send, chunked coding with one sendmsg per piece."""

    def __init__(self, conn: socket.socket, head_only: bool, version: str, keep: bool) -> None:
        self.conn, self.head_only, self.version, self.keep = conn, head_only, version, keep
        self.started = False
        self.chunked = False
        self.left: int | None = None  # bytes still owed by a Content-Length
        self.no_body = head_only
        self._head = b""

    def start(self, status: str, headers: list[tuple[str, str]], date: str, length: int | None) -> None:
        code = int(status[:3])
        names = {name.lower() for name, _ in headers}
        lines = [f"{self.version} {status}"]
        lines += [f"{name}: {value}" for name, value in headers if name.lower() != "connection"]
        if code in _NO_BODY or code < 200:
            self.no_body = True
        elif "content-length" in names:
            self.left = int(next(v for n, v in headers if n.lower() == "content-length"))
        elif length is not None:
            lines.append(f"Content-Length: {length}")
            self.left = length
        elif self.version == "HTTP/1.1" and not self.head_only:
            lines.append("Transfer-Encoding: chunked")
            self.chunked = True
        elif not self.head_only:
            self.keep = False  # HTTP/1.0 without a length: the end of the body is the end of the connection
        if "date" not in names:
            lines.append(f"Date: {date}")
        if not self.keep:
            lines.append("Connection: close")
        self._head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        self.started = True

    def body(self, data: bytes) -> None:
        if self.no_body:
            return
        if self.left is not None:
            if len(data) > self.left:
                data, self.keep = data[: self.left], False
            self.left -= len(data)
        if self.chunked:
            self._send([self._head, b"%x\r\n" % len(data), data, b"\r\n"])
        else:
            self._send([self._head, data])
        self._head = b""

    def end(self) -> None:
        tail = [self._head]
        if self.chunked:
            tail.append(b"0\r\n\r\n")
        self._send(tail)
        self._head = b""
        if self.left:  # the application sent less than its Content-Length: the client cannot reuse this
            self.keep = False

    def _send(self, buffers: list[bytes]) -> None:
        views = [memoryview(b) for b in buffers if b]
        if len(views) == 1:
            self.conn.sendall(views[0])
            return
        if sum(len(v) for v in views) <= 64 * 1024:
            self.conn.sendall(b"".join(views))
            return
        send_buffers(self.conn, views)


def send_buffers(sock: socket.socket, buffers: Iterable[Any]) -> None:
    """Send ``buffers`` in order, gathered (``sendmsg``, no copy), resuming after partial sends."""
    views = [memoryview(b).cast("B") for b in buffers if len(b)]
    while views:
        sent = sock.sendmsg(views)
        while views and sent >= len(views[0]):
            sent -= len(views[0])
            views.pop(0)
        if views and sent:
            views[0] = views[0][sent:]


def _read_fields(rfile: io.BufferedReader) -> list[tuple[str, str]]:
    fields: list[tuple[str, str]] = []
    total = 0
    while True:
        line = rfile.readline(MAX_HEAD + 1)
        total += len(line)
        if total > MAX_HEAD or len(fields) > MAX_FIELDS:
            raise _BadRequest(431, "request header fields too large")
        if line in (b"\r\n", b"\n"):
            return fields
        if not line.endswith(b"\n"):
            raise _BadRequest(400, "request head ended before its empty line")
        if line[:1] in (b" ", b"\t"):
            raise _BadRequest(400, "obsolete line folding in a header field (RFC 9112 §5.2)")
        name, colon, value = line.partition(b":")
        if not colon or not name or name != name.strip():
            raise _BadRequest(400, f"malformed header field {line[:60]!r}")
        fields.append((name.decode("latin-1"), value.strip().decode("latin-1")))


def _shut(conn: socket.socket) -> None:
    try:
        conn.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


def serve_wsgi(app: Callable, name: str, port: int = 0, host: str = "127.0.0.1", **options: Any) -> RunningServer:
    """Serve ``app`` on ``host:port`` (0 = a free port) in a background thread until ``stop()``."""
    if port:
        check_port_free(port, host)
    sock = socket.create_server((host, port), backlog=512)
    server = HttpServer(app, sock, name=name, **options)
    thread = threading.Thread(target=server.serve_forever, name=f"http-{name}", daemon=True)
    thread.start()
    return RunningServer(name, host, server.server_port, server, thread)
