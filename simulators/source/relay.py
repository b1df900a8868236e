"""Relay of the PACS's multipart answer to the consumer: read ahead in a thread, split with a few large slices.

A series retrieve through the Source reads the PACS's ``multipart/related`` answer and writes its own
(RFC 2046 §5.1.1, PS3.18 §8.6.1.2): the Source keeps the KOS filter and the per-part transfer syntax
check, so it must see where each part starts, but it need not touch every byte in Python. Here the
PACS stream is pulled by a thread (the PACS keeps sending while the consumer's socket drains), each
network chunk is searched for the delimiter once (``bytes.find``) and handed on as it came, and the
small writes (delimiters, part headers) are joined up to a useful size.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING

from harness.dicomweb.multipart import MultipartError

if TYPE_CHECKING:
    import requests

START, DATA, END = 0, 1, 2  # events of split_parts: (START, headers), (DATA, bytes), (END, None)
_DONE = object()
MAX_HEADERS = 16 * 1024


def split_parts(chunks: Iterable[bytes], boundary: str) -> Iterator[tuple[int, object]]:
    """Events of a multipart body fed as ``chunks`` (RFC 2046 §5.1.1 syntax): for each part
    ``(START, [(name, value)...])``, ``(DATA, bytes)``..., ``(END, None)``.

    Memory: two network chunks. Body data is handed on as the chunks came (a slice only where a part
    ends): no copy in the steady state. Raises MultipartError when the body is truncated (no close
    delimiter) or malformed.
    """
    dash = b"--" + boundary.encode("ascii")
    delim = b"\r\n" + dash
    keep = len(delim) - 1
    it = iter(chunks)
    buf, pos, state, first = b"", 0, "preamble", True

    def pull() -> bytes | None:
        for chunk in it:
            if chunk:
                return chunk if isinstance(chunk, bytes) else bytes(chunk)
        return None

    def more() -> bool:
        nonlocal buf, pos
        chunk = pull()
        if chunk is None:
            return False
        buf, pos = (buf[pos:] + chunk if pos < len(buf) else chunk), 0
        return True

    while True:
        if state == "body":
            end = buf.find(delim, pos)
            if end >= 0:
                if end > pos:
                    yield DATA, buf[pos:end]
                yield END, None
                pos, state = end + len(delim), "delimiter"
                continue
            nxt = pull()
            if nxt is None:
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
                yield START, _headers(buf[pos:end])
                pos, state = end + 4, "body"
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


def read_ahead(chunks: Iterator[bytes], depth: int, on_close: Callable[[], object] | None = None) -> Iterator[bytes]:
    """``chunks`` pulled by a thread, at most ``depth`` chunks ahead of the reader.

    Closing the returned generator stops the thread (``on_close`` is called to unblock a read, e.g.
    closing the upstream response); an exception of the producer is raised in the reader.
    """
    items: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def pump() -> None:
        try:
            for chunk in chunks:
                while not stop.is_set():
                    try:
                        items.put(chunk, timeout=0.5)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            items.put(_DONE)
        except BaseException as exc:  # handed to the reader
            if not stop.is_set():
                items.put(exc)

    thread = threading.Thread(target=pump, name="source-read-ahead", daemon=True)
    thread.start()
    try:
        while True:
            item = items.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        if on_close is not None:
            on_close()
        try:  # a producer waiting on a full queue sees the stop flag within its put timeout
            while True:
                items.get_nowait()
        except queue.Empty:
            pass
        thread.join(timeout=1.0)  # one blocked in a read ends with that read's own timeout


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
