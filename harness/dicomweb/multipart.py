"""multipart/related writer and streaming parser for DICOMweb (RFC 2046 §5.1, RFC 2387,
DICOM PS3.18 §8.6.1.2 "multipart/related" payloads).

Sans-IO: the writer yields bytes, the parser is fed bytes and returns events; neither touches a
socket. The writer spells every CRLF itself (never ``email.generator``, which rewrites line
endings and may re-fold headers: Orthanc's ``SendStowRaw`` learnt this the hard way), and it is
a generator so a 1 GB study goes out part by part without being held in memory.
"""

from __future__ import annotations

import itertools
import re
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from harness.dicomweb.mediatype import MediaTypeError, format_media_type, parse_media_type

CRLF = b"\r\n"
Headers = list[tuple[str, str]]
DEFAULT_MAX_PART_SIZE = 2 * 1024**3  # 2 GB: one DICOM instance; callers lower it when they must
DEFAULT_MAX_HEADER_SIZE = 16 * 1024
_LWSP = b" \t"
_MAX_PADDING = 1024  # spaces allowed after a delimiter (RFC 2046 transport-padding)
_SLICE = 256 * 1024  # input is parsed in slices of this size, whatever the caller feeds
# RFC 2046 §5.1.1: bchars, 1 to 70 characters, not ending with a space
_BOUNDARY = re.compile(r"^[0-9A-Za-z'()+_,\-./:=? ]{0,69}[0-9A-Za-z'()+_,\-./:=?]$")
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")


class MultipartError(ValueError):
    """The payload is not a well-formed multipart body (truncated, wrong boundary, oversize part)."""


@dataclass(frozen=True)
class PartStart:
    headers: Headers

    def header(self, name: str) -> str | None:
        return header_value(self.headers, name)


@dataclass(frozen=True)
class PartData:
    data: bytes


@dataclass(frozen=True)
class PartEnd:
    pass


@dataclass(frozen=True)
class Epilogue:
    data: bytes


Event = PartStart | PartData | PartEnd | Epilogue


def header_value(headers: Headers, name: str) -> str | None:
    """First value of header ``name`` (case-insensitive), or None."""
    lname = name.lower()
    return next((v for k, v in headers if k.lower() == lname), None)


def check_boundary(boundary: str) -> str:
    if not _BOUNDARY.match(boundary):
        raise MultipartError(f"invalid boundary {boundary!r} (RFC 2046 §5.1.1: 1-70 bchars)")
    return boundary


def new_boundary() -> str:
    """A fresh boundary: random, so it cannot occur in the DICOM payload it delimits."""
    return f"drimcheck-{uuid.uuid4().hex}"


def content_type_header(type_: str, boundary: str, **params: str) -> str:
    """``content_type_header("multipart/related", b, type="application/dicom", transfer_syntax=ts)``.

    Underscores in keyword names become hyphens (``transfer_syntax`` -> ``transfer-syntax``);
    the boundary comes last, as in the ANS samples (ANS DRIM-M_DATA Simulateur client wadoRS).
    """
    check_boundary(boundary)
    pairs = [(k.replace("_", "-"), v) for k, v in params.items() if v is not None]
    try:
        return format_media_type(type_, [*pairs, ("boundary", boundary)])
    except MediaTypeError as exc:
        raise MultipartError(str(exc)) from None


def boundary_from_content_type(content_type: str) -> str:
    """The ``boundary`` parameter of a ``multipart/*`` Content-Type (RFC 2046 §5.1.1)."""
    try:
        main, _sub, params = parse_media_type(content_type)
    except MediaTypeError as exc:
        raise MultipartError(str(exc)) from None
    if main != "multipart":
        raise MultipartError(f"not a multipart content type: {content_type!r}")
    boundary = next((v for k, v in params if k == "boundary"), None)
    if boundary is None:
        raise MultipartError(f"no boundary parameter in {content_type!r}")
    return check_boundary(boundary)


def _head(headers: Headers) -> bytes:
    lines = []
    for name, value in headers:
        if not _HEADER_NAME.match(name) or any(c in value for c in "\r\n\0"):
            raise MultipartError(f"header {name!r} cannot be written safely")
        lines.append(f"{name}: {value}".encode("latin-1") + CRLF)
    return b"".join(lines) + CRLF


def iter_multipart(parts: Iterable[tuple[Headers, bytes | Iterable[bytes]]],
                   boundary: str) -> Iterator[bytes]:
    """Encode ``parts`` as a multipart body, lazily: one part is pulled from ``parts`` at a time.

    Layout (RFC 2046 §5.1.1): ``--b CRLF headers CRLF body CRLF --b ... CRLF --b-- CRLF``;
    the CRLF before each delimiter belongs to the delimiter, not to the body.
    """
    delimiter = b"--" + check_boundary(boundary).encode("ascii")
    for headers, body in parts:
        yield delimiter + CRLF + _head(headers)
        if isinstance(body, bytes | bytearray | memoryview):
            yield bytes(body)
        else:
            for chunk in body:
                if chunk:
                    yield bytes(chunk)
        yield CRLF
    yield delimiter + b"--" + CRLF


def encode_multipart(parts: Iterable[tuple[Headers, bytes]], boundary: str) -> bytes:
    return b"".join(iter_multipart(parts, boundary))


class MultipartParser:
    """Incremental parser: ``feed(chunk)`` returns the events that chunk completes.

    Memory stays bounded by the chunk size plus the delimiter length: body bytes are handed
    out as :class:`PartData` as soon as they cannot be the start of a delimiter.
    ``close()`` raises :class:`MultipartError` if the body ended before the close delimiter.
    """

    def __init__(self, boundary: str, max_part_size: int = DEFAULT_MAX_PART_SIZE,
                 max_header_size: int = DEFAULT_MAX_HEADER_SIZE, max_parts: int | None = None) -> None:
        self.boundary = check_boundary(boundary)
        self._dash = b"--" + boundary.encode("ascii")
        self._delim = CRLF + self._dash
        self.max_part_size = max_part_size
        self.max_header_size = max_header_size
        self.max_parts = max_parts
        self.parts = 0
        self._buf = bytearray()
        self._state = "preamble"
        self._part_size = 0
        self._closed = False
        self._at_start = True  # the first delimiter may open the body without a CRLF

    @property
    def finished(self) -> bool:
        """True once the close delimiter was seen."""
        return self._state == "epilogue"

    def feed(self, chunk: bytes) -> list[Event]:
        if self._closed:
            raise MultipartError("feed() after close()")
        if not chunk:
            return []
        if self._state == "epilogue":
            return [Epilogue(bytes(chunk))]
        events: list[Event] = []
        view = memoryview(chunk)
        for start in range(0, len(view), _SLICE):  # a bounded buffer keeps every step O(slice)
            self._buf += view[start:start + _SLICE]
            while self._step(events):
                pass
        return events

    def close(self) -> list[Event]:
        """End of input: the remaining events, or MultipartError if the body is incomplete."""
        self._closed = True
        if self._state == "closing":
            events: list[Event] = [] if self._buf in (b"", b"\r") else [Epilogue(bytes(self._buf))]
            self._buf.clear()
            self._state = "epilogue"
            return events
        if self._state == "epilogue":
            return []
        where = {"preamble": f"no boundary line '--{self.boundary}' found (wrong boundary?)",
                 "after_delimiter": "input ended right after a delimiter",
                 "headers": f"input ended inside the headers of part {self.parts + 1}",
                 "body": f"input ended inside part {self.parts} (no closing delimiter)"}[self._state]
        raise MultipartError(f"truncated multipart body: {where}")

    # one state transition per call; False when more input is needed
    def _step(self, events: list[Event]) -> bool:
        return getattr(self, f"_in_{self._state}")(events)

    def _in_preamble(self, events: list[Event]) -> bool:
        buf = self._buf
        if self._at_start and len(buf) < len(self._dash) and self._dash.startswith(bytes(buf)):
            return False
        if self._at_start and buf.startswith(self._dash):
            del buf[: len(self._dash)]
        else:
            pos = buf.find(self._delim)
            if pos < 0:
                keep = len(self._delim) - 1
                if len(buf) > keep:
                    self._at_start = False
                    del buf[: len(buf) - keep]  # preamble is discarded (RFC 2046 §5.1.1)
                return False
            del buf[: pos + len(self._delim)]
        self._at_start = False
        self._state = "after_delimiter"
        return True

    def _in_after_delimiter(self, events: list[Event]) -> bool:
        buf = self._buf
        if len(buf) < 2:
            return False
        if buf[:2] == b"--":
            del buf[:2]
            self._state = "closing"
            return True
        head = bytes(buf[:_MAX_PADDING + 2])
        stripped = head.lstrip(_LWSP)  # transport padding
        if not stripped or stripped == b"\r":
            if len(head) > _MAX_PADDING:
                raise MultipartError("delimiter line padding too long")
            return False
        if not stripped.startswith(CRLF):
            raise MultipartError(f"delimiter '--{self.boundary}' followed by {stripped[:20]!r}, not CRLF")
        del buf[: len(head) - len(stripped) + 2]
        if self.max_parts is not None and self.parts >= self.max_parts:
            raise MultipartError(f"more than {self.max_parts} parts")
        self._state = "headers"
        return True

    def _in_closing(self, events: list[Event]) -> bool:
        """After the close delimiter: its line's CRLF is syntax, what follows is epilogue."""
        buf = self._buf
        if len(buf) < 2 and CRLF.startswith(bytes(buf)):
            return False
        rest = bytes(buf[2:] if buf.startswith(CRLF) else buf)
        buf.clear()
        if rest:
            events.append(Epilogue(rest))
        self._state = "epilogue"
        return False

    def _in_epilogue(self, events: list[Event]) -> bool:
        if self._buf:
            events.append(Epilogue(bytes(self._buf)))
            self._buf.clear()
        return False

    def _in_headers(self, events: list[Event]) -> bool:
        buf = self._buf
        if buf.startswith(CRLF):
            end, skip = 0, 2
        else:
            end, skip = buf.find(b"\r\n\r\n"), 4
        if end < 0:
            if len(buf) > self.max_header_size:
                raise self._headers_too_long()
            return False
        if end > self.max_header_size:
            raise self._headers_too_long()
        headers = _parse_headers(bytes(buf[:end]), self.parts + 1)
        del buf[: end + skip]
        self.parts += 1
        self._part_size = 0
        events.append(PartStart(headers))
        self._state = "body"
        return True

    def _headers_too_long(self) -> MultipartError:
        return MultipartError(f"part {self.parts + 1} headers longer than {self.max_header_size} bytes")

    def _in_body(self, events: list[Event]) -> bool:
        buf = self._buf
        pos = buf.find(self._delim)
        if pos < 0:
            safe = len(buf) - (len(self._delim) - 1)
            if safe > 0:
                self._emit(events, bytes(buf[:safe]))
                del buf[:safe]
            return False
        if pos:
            self._emit(events, bytes(buf[:pos]))
        del buf[: pos + len(self._delim)]
        events.append(PartEnd())
        self._state = "after_delimiter"
        return True

    def _emit(self, events: list[Event], data: bytes) -> None:
        self._part_size += len(data)
        if self._part_size > self.max_part_size:
            raise MultipartError(f"part {self.parts} larger than {self.max_part_size} bytes")
        events.append(PartData(data))


def _parse_headers(raw: bytes, index: int) -> Headers:
    headers: Headers = []
    for line in raw.split(CRLF) if raw else ():
        if line[:1] in (b" ", b"\t") and headers:  # obsolete folding (RFC 5322 §2.2.3)
            name, value = headers[-1]
            headers[-1] = (name, value + " " + line.strip().decode("latin-1"))
            continue
        name, colon, value = line.partition(b":")
        text = name.decode("latin-1")
        if not colon or not _HEADER_NAME.match(text):
            raise MultipartError(f"part {index}: malformed header line {line[:80]!r}")
        headers.append((text, value.strip().decode("latin-1")))
    return headers


def iter_parts(content_type: str, chunks: Iterable[bytes], max_part_size: int = DEFAULT_MAX_PART_SIZE,
               max_parts: int | None = None) -> Iterator[tuple[Headers, bytes]]:
    """Yield each part as soon as it is complete: memory holds one part, not the whole response.

    For a study streamed from a WADO-RS server (``requests`` ``iter_content``); raises
    MultipartError when the stream ends early or breaks the syntax, after the good parts.
    """
    parser = MultipartParser(boundary_from_content_type(content_type), max_part_size=max_part_size,
                             max_parts=max_parts)
    headers: Headers = []
    data: list[bytes] = []
    for chunk in itertools.chain(chunks, [None]):  # None: end of input
        events = parser.close() if chunk is None else parser.feed(bytes(chunk))
        for event in events:
            if isinstance(event, PartStart):
                headers, data = event.headers, []
            elif isinstance(event, PartData):
                data.append(event.data)
            elif isinstance(event, PartEnd):
                yield headers, b"".join(data)


def parse_multipart(content_type: str, body: bytes | Iterable[bytes],
                    max_part_size: int = DEFAULT_MAX_PART_SIZE, max_parts: int | None = None,
                    ) -> list[tuple[Headers, bytes]]:
    """Whole-body convenience: ``[(headers, data), ...]``; MultipartError on any defect."""
    parser = MultipartParser(boundary_from_content_type(content_type), max_part_size=max_part_size,
                             max_parts=max_parts)
    chunks = [body] if isinstance(body, bytes | bytearray | memoryview) else body
    parts: list[tuple[Headers, bytes]] = []
    current: list[bytes] = []
    for chunk in chunks:
        _collect(parser.feed(bytes(chunk)), parts, current)
    _collect(parser.close(), parts, current)
    return parts


def _collect(events: list[Event], parts: list[tuple[Headers, bytes]], current: list[bytes]) -> None:
    for event in events:
        if isinstance(event, PartStart):
            parts.append((event.headers, b""))
            current.clear()
        elif isinstance(event, PartData):
            current.append(event.data)
        elif isinstance(event, PartEnd):
            parts[-1] = (parts[-1][0], b"".join(current))
            current.clear()
