"""Timed WADO-RS retrieves and the harness's own ceiling on the same bytes.

The client is http.client on a fresh connection per request (connection set-up timed apart), the body read in
large pieces and never kept: only its size, its multipart delimiters (DICOM PS3.18 §8.6.1.2, RFC 2046 §5.1.1)
and when they arrived. Its thread's CPU time (``time.thread_time``) says whether the harness, not the SUT, set
the pace. :class:`CeilingServer` sends the same instance files from a trivial local server, so the same client
measures what the harness reaches on its own.
"""

from __future__ import annotations

import http.client
import ssl
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

from harness import capture
from harness.dicomweb import boundary_from_content_type
from harness.dicomweb.multipart import MultipartError

ACTOR = "harness:performance"
READ = 1024 * 1024


class PartCounter:
    """Counts the multipart delimiters of a body fed piece by piece (sans-IO): ``parts`` complete parts so far.

    A delimiter is CRLF ``--boundary`` (the first one may open the body); the close delimiter ends the last part.
    """

    def __init__(self, boundary: str) -> None:
        self._delimiter = b"\r\n--" + boundary.encode("latin-1")
        self._tail = b"\r\n"  # as if the body followed a line break: a delimiter may open it
        self.delimiters = 0

    def feed(self, data: bytes) -> int:
        """Feed the next piece; returns how many delimiters it completed."""
        window = self._tail + data
        found = window.count(self._delimiter)
        self.delimiters += found
        self._tail = window[-(len(self._delimiter) - 1):]
        return found

    @property
    def parts(self) -> int:
        return max(0, self.delimiters - 1)


@dataclass(frozen=True)
class Sample:
    """One timed retrieve; times in ms from the request sent (the connection already open)."""

    status: int
    connect_ms: float
    ttfb_ms: float | None  # first body byte
    first_part_ms: float | None  # end of the first part: the first image complete
    total_ms: float  # last byte
    bytes: int
    parts: int
    cpu_s: float  # the client thread's CPU time during the request

    @property
    def transfer_s(self) -> float:
        return max((self.total_ms - (self.ttfb_ms or 0.0)) / 1000.0, 1e-6)

    @property
    def mb_per_s(self) -> float:
        return self.bytes / 1e6 / self.transfer_s

    @property
    def images_per_s(self) -> float:
        return self.parts / self.transfer_s

    @property
    def cpu_share(self) -> float:
        return self.cpu_s / max(self.total_ms / 1000.0, 1e-6)

    def to_dict(self) -> dict[str, float | int | None]:
        return {"status": self.status, "connect_ms": self.connect_ms, "ttfb_ms": self.ttfb_ms,
                "first_part_ms": self.first_part_ms, "total_ms": self.total_ms, "bytes": self.bytes,
                "parts": self.parts, "mb_per_s": self.mb_per_s, "images_per_s": self.images_per_s,
                "cpu_share": self.cpu_share}


def fetch(url: str, headers: list[tuple[str, str]], context: ssl.SSLContext | None = None,
          timeout: float = 600.0, label: str = "") -> Sample:
    """GET ``url`` with ``headers`` and time it; the exchange is captured (headers and figures, not the body)."""
    parts = urlsplit(url)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    if parts.scheme == "https":
        conn: http.client.HTTPConnection = http.client.HTTPSConnection(
            parts.hostname, parts.port or 443, timeout=timeout, context=context or ssl.create_default_context())
    else:
        conn = http.client.HTTPConnection(parts.hostname, parts.port or 80, timeout=timeout)
    started = time.time()
    c0 = time.perf_counter()
    try:
        conn.connect()
        connect_ms = (time.perf_counter() - c0) * 1000
        cpu0, t0 = time.thread_time(), time.perf_counter()
        conn.putrequest("GET", path, skip_accept_encoding=True)
        for key, value in headers:
            conn.putheader(key, value)
        conn.endheaders()
        resp = conn.getresponse()
        counter = PartCounter(_boundary(resp.getheader("Content-Type") or ""))
        ttfb = first_part = None
        size = 0
        while True:
            data = resp.read1(READ)
            if not data:
                break
            now = time.perf_counter()
            if ttfb is None:
                ttfb = (now - t0) * 1000
            size += len(data)
            counter.feed(data)
            if first_part is None and counter.delimiters >= 2:
                first_part = (now - t0) * 1000
        total = (time.perf_counter() - t0) * 1000
        sample = Sample(resp.status, connect_ms, ttfb, first_part, total, size, counter.parts,
                        time.thread_time() - cpu0)
        response_headers = resp.getheaders()
    finally:
        conn.close()
    capture.record("http", ACTOR, "outbound", f"GET {path} [{label}] {size} bytes, {sample.parts} part(s), first "
                   f"byte {_ms(ttfb)} ms, last {total:.0f} ms (body measured, not kept)", peer=url,
                   request_headers=headers, response_headers=response_headers, status=sample.status,
                   started=started, elapsed=total / 1000)
    return sample


def _boundary(content_type: str) -> str:
    """The boundary of a multipart answer; a refusal (text/plain, problem+json) has none, and counts no part."""
    try:
        return boundary_from_content_type(content_type) or "\0none"
    except MultipartError:
        return "\0none"


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


class CeilingServer:
    """A trivial HTTP(S) server answering any GET with the given instance files as one multipart/related body
    (PS3.18 §8.6.1.2), read from disk a megabyte at a time: the same bytes the SUT serves, without its work."""

    BOUNDARY = "drimcheck-ceiling-boundary"

    def __init__(self, files: list[Path], context: ssl.SSLContext | None = None) -> None:
        self.files = list(files)
        head = f"--{self.BOUNDARY}\r\nContent-Type: application/dicom\r\n\r\n".encode()
        self._head, self._close = head, f"\r\n--{self.BOUNDARY}--\r\n".encode()
        self.length = sum(len(head) + p.stat().st_size for p in self.files) + 2 * (len(self.files) - 1) \
            + len(self._close)
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", f'multipart/related; type="application/dicom"; '
                                 f'boundary={owner.BOUNDARY}')
                self.send_header("Content-Length", str(owner.length))
                self.end_headers()
                for piece in owner.body():
                    self.wfile.write(piece)

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        if context is not None:
            self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        self.url = f"{'https' if context else 'http'}://127.0.0.1:{self._server.server_address[1]}/ceiling"
        self._thread = threading.Thread(target=self._server.serve_forever, name="perf-ceiling", daemon=True)
        self._thread.start()

    def body(self) -> Iterator[bytes]:
        for index, path in enumerate(self.files):
            yield (b"\r\n" if index else b"") + self._head
            with open(path, "rb") as fh:
                while data := fh.read(READ):
                    yield data
        yield self._close

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> CeilingServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
