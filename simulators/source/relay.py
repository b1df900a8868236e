"""Relay of the PACS's multipart answer to the consumer: large reads, parts counted rather than searched.

A series retrieve through the Source reads the PACS's ``multipart/related`` answer and writes its own
(RFC 2046 §5.1.1, PS3.18 §8.6.1.2): the Source keeps the KOS filter and the per-part transfer syntax
check, so it must see where each part starts, but it need not touch every byte in Python. Here a
part that declares its Content-Length is read by counting, in reads that stop at its end (no search,
no slice, no copy); a part that does not is searched once per read (``bytes.find``); a close-delimited
PACS body is read straight from its socket, a megabyte per system call (``body_reader``); the small
writes (delimiters, part headers) are joined up to a useful size. No thread: the two sockets' kernel
buffers let the PACS keep sending while the consumer drains (a read-ahead thread cost more CPU in
queue handoffs than it saved).
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING

from harness.dicomweb.multipart import MultipartError

if TYPE_CHECKING:
    import requests

START, DATA, END = 0, 1, 2  # events of split_parts: (START, headers), (DATA, bytes), (END, None)
MAX_HEADERS = 16 * 1024
READ_SIZE = 1024 * 1024  # largest read of body bytes
SMALL_READ = 4096  # read size while looking for a delimiter and part headers


class ChunkReader:
    """``read1(n)`` over an iterable of chunks: at most ``n`` bytes of what arrived, b"" at the end.

    Lets :func:`split_parts` read a list of chunks (tests) the way it reads a socket; a chunk no
    longer than ``n`` is handed on as it is (no copy).
    """

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._it, self._rest = iter(chunks), b""

    def __call__(self, n: int) -> bytes:
        while not self._rest:
            chunk = next(self._it, None)
            if chunk is None:
                return b""
            self._rest = chunk if isinstance(chunk, bytes) else bytes(chunk)
        out, self._rest = (self._rest, b"") if len(self._rest) <= n else (self._rest[:n], self._rest[n:])
        return out


def _content_length(headers: list[tuple[str, str]]) -> int | None:
    for name, value in headers:
        if name.lower() == "content-length":
            return int(value) if value.isdigit() and len(value) < 16 else None
    return None


def split_parts(source: Callable[[int], bytes] | Iterable[bytes], boundary: str,
                read_size: int = READ_SIZE) -> Iterator[tuple[int, object]]:
    """Events of a multipart body (RFC 2046 §5.1.1 syntax) read from ``source``: for each part
    ``(START, [(name, value)...])``, ``(DATA, bytes)``..., ``(END, None)``.

    ``source`` is a ``read1(n)`` callable (at most ``n`` bytes, b"" at the end: a socket, urllib3's
    ``raw.read1``) or an iterable of chunks. A part whose headers give its ``Content-Length`` (Orthanc
    sends one) is read by counting: its bytes are never searched, each read stops at the part's end
    (no slice, no copy), and the delimiter must follow right there (else MultipartError: the length
    is wrong). A part without a length is searched for the delimiter once per read (``bytes.find``).
    Memory: two reads. Raises MultipartError when the body is truncated (no close delimiter) or
    malformed.
    """
    read1 = source if callable(source) else ChunkReader(source)
    dash = b"--" + boundary.encode("ascii")
    delim = b"\r\n" + dash
    keep = len(delim) - 1
    buf, pos, state, first, length = b"", 0, "preamble", True, None

    def more(size: int = SMALL_READ) -> bool:
        nonlocal buf, pos
        chunk = read1(size)
        if not chunk:
            return False
        buf, pos = (buf[pos:] + chunk if pos < len(buf) else chunk), 0
        return True

    while True:
        if state == "counted":  # Content-Length bytes, then the delimiter
            remaining = length
            if pos < len(buf) and remaining:
                take = min(len(buf) - pos, remaining)
                yield DATA, buf if pos == 0 and take == len(buf) else buf[pos:pos + take]
                pos, remaining = pos + take, remaining - take
            while remaining:
                data = read1(min(remaining, read_size))
                if not data:
                    raise MultipartError("truncated multipart body (ended in a part)")
                yield DATA, data
                remaining -= len(data)
            while len(buf) - pos < len(delim):  # the delimiter and the next part's headers, in one read
                if not more():
                    raise MultipartError("truncated multipart body (ended in a part)")
            if not buf.startswith(delim, pos):
                raise MultipartError(f"a part declared {length} bytes (Content-Length) and is not followed by "
                                     "the delimiter there")
            yield END, None
            pos, state = pos + len(delim), "delimiter"
            continue
        if state == "body":
            end = buf.find(delim, pos)
            if end >= 0:
                if end > pos:
                    yield DATA, buf[pos:end]
                yield END, None
                pos, state = end + len(delim), "delimiter"
                continue
            nxt = read1(read_size)
            if not nxt:
                raise MultipartError("truncated multipart body (ended in a part)")
            if len(nxt) >= keep and (buf[-keep:] + nxt[:keep]).find(delim) < 0:  # none starts in buf: all body,
                if pos < len(buf):  # handed on as it came (no copy of the chunk)
                    yield DATA, buf[pos:] if pos else buf
                buf, pos = nxt, 0
            else:  # a delimiter (or what looks like one) spans them: join, search again
                buf, pos = buf[pos:] + nxt, 0
            continue
        elif state == "preamble":
            if first and len(buf) - pos >= len(dash) and buf.startswith(dash, pos):
                pos, state = pos + len(dash), "delimiter"
                continue
            if not first or len(buf) - pos >= len(dash):
                first = False
                found = buf.find(delim, pos)
                if found >= 0:
                    pos, state = found + len(delim), "delimiter"
                    continue
                pos = max(pos, len(buf) - keep)
        elif state == "delimiter":
            rest = buf[pos:pos + 1026]
            if rest.startswith(b"--"):
                return
            stripped = rest.lstrip(b" \t")
            if stripped.startswith(b"\r\n"):
                pos, state = pos + len(rest) - len(stripped) + 2, "headers"
                continue
            if len(stripped) >= 2 or len(rest) > 1024:
                raise MultipartError(f"delimiter followed by {stripped[:20]!r}, not CRLF")
        elif state == "headers":
            if buf.startswith(b"\r\n", pos):
                yield START, []
                pos, state = pos + 2, "body"
                continue
            end = buf.find(b"\r\n\r\n", pos)
            if end >= 0:
                headers = _headers(buf[pos:end])
                yield START, headers
                length = _content_length(headers)
                pos, state = end + 4, "body" if length is None else "counted"
                continue
            if len(buf) - pos > MAX_HEADERS:
                raise MultipartError(f"part headers longer than {MAX_HEADERS} bytes")
        if not more():
            raise MultipartError(f"truncated multipart body (ended in the {state})")


def _headers(raw: bytes) -> list[tuple[str, str]]:
    out = []
    for line in raw.split(b"\r\n"):
        name, colon, value = line.partition(b":")
        if not colon:
            raise MultipartError(f"malformed part header line {line[:80]!r}")
        out.append((name.decode("latin-1").strip(), value.decode("latin-1").strip()))
    return out


def arrivals(resp: requests.Response, size: int) -> Iterator[bytes]:
    """What the upstream response (``requests``/urllib3) has received, as soon as it arrives, ``size`` at most.

    ``iter_content(size)`` on a body without length or chunking (Orthanc's ``Connection: close`` answers)
    waits until ``size`` bytes are there; ``read1`` makes one read: the first part leaves at once.
    """
    raw = resp.raw
    while True:
        data = raw.read1(size)
        if not data:
            return
        yield data


def body_reader(resp: requests.Response) -> Callable[[int], bytes]:
    """``read1(n)`` over the body of a streamed upstream response, straight from its socket when it can be.

    A close-delimited body (no Content-Length, not chunked, not encoded: Orthanc's DICOMweb answers,
    RFC 9112 §6.3) is read with ``recv(n, MSG_WAITALL)``: one system call per ``n`` bytes instead of
    one per arrival, and no poll before each (the read timeout moves to the kernel, ``SO_RCVTIMEO``).
    What http.client had already buffered comes first. Any other body goes through urllib3's ``read1``.
    The response must be closed by the caller (the connection is not reusable afterwards).
    """
    raw = resp.raw
    inner = getattr(raw, "_fp", None)  # http.client.HTTPResponse
    fp = getattr(inner, "fp", None)  # BufferedReader over socket.SocketIO
    sock = getattr(getattr(fp, "raw", None), "_sock", None)
    encoded = resp.headers.get("Content-Encoding", "identity").strip().lower() != "identity"
    if (not isinstance(sock, socket.socket) or getattr(inner, "chunked", True) or encoded
            or getattr(inner, "length", 0) is not None or getattr(raw, "_has_decoded_content", False)):
        return raw.read1
    timeout = sock.gettimeout()
    buffered = [fp.read1(65536)]  # what the buffer holds (a read of the socket when it holds nothing)
    sock.settimeout(None)
    if timeout:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO,
                        struct.pack("ll", int(timeout), int(timeout % 1 * 1_000_000)))

    def read1(n: int) -> bytes:
        if buffered:
            data = buffered.pop()
            if len(data) > n:
                buffered.append(data[n:])
                return data[:n]
            if data:
                return data
        try:
            return sock.recv(n, socket.MSG_WAITALL)
        except BlockingIOError as exc:  # SO_RCVTIMEO passed with nothing read
            raise TimeoutError(f"the PACS sent nothing for {timeout} s") from exc

    return read1


def coalesce(pieces: Iterable[bytes], size: int) -> Iterator[bytes]:
    """Small pieces joined until ``size`` bytes (fewer writes, fewer HTTP chunks); large ones pass as they
    are; the first piece leaves at once (time to first byte)."""
    pending: list[bytes] = []
    held = 0
    first = True
    for piece in pieces:
        if not piece:
            continue
        if first:
            first = False
            yield piece
            continue
        if len(piece) >= size:  # not copied: what is pending leaves first, in its own write
            if pending:
                yield b"".join(pending)
                pending, held = [], 0
            yield piece
            continue
        pending.append(piece)
        held += len(piece)
        if held >= size:
            yield b"".join(pending)
            pending, held = [], 0
    if pending:
        yield b"".join(pending)
