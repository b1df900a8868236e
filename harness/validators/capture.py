"""A stored XDS message -> the Content-Type and body it was sent with, sans-IO (bytes in, :class:`Capture` out).

Forms of a file: plain SOAP 1.2 (or a bare ebRS payload); an MTOM package (SOAP MTOM §3, RFC 2387) with
its HTTP header block (request line optional) or without it, the boundary then taken from the first
delimiter line; and an MTOM package that was pretty-printed when written to the file (the ANS
``informatif/XDS/publication.xml``: delimiter and header lines indented, whitespace before ``<?xml``). A
receiver refuses the last form as it stands (RFC 2046 §5.1.1: a delimiter starts a line; XML 1.0 §2.8: the
declaration comes first), so it is restored (delimiters found on stripped lines, indented text parts
dedented, base64 parts decoded as they are) and packaged again with :func:`harness.soap.encode_mtom`; the
:class:`Capture` says what was restored and which parts' bytes are not the original ones.

Public: :func:`read_capture`, :class:`Capture`, :func:`is_mime`.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass

from harness.soap.mtom import SoapFault, decode_message, encode_mtom, parse_content_type

SOAP_CONTENT_TYPE = "application/soap+xml; charset=UTF-8"
_HEADER = re.compile(rb"^[A-Za-z][A-Za-z0-9-]*:")
_REQUEST_LINE = re.compile(rb"^(POST|PUT|GET) \S+ HTTP/\d")
_STATUS_LINE = re.compile(rb"^HTTP/\d(\.\d)? \d{3}")
_CLOSE = re.compile(rb"--([^\s]+?)--\s*\Z")
_RUN_HEADER = re.compile(rb"(?<=\S)(?=Content-[A-Za-z-]+:)")  # a header run on after the previous one


@dataclass(frozen=True)
class Capture:
    """``content_type`` and ``body`` as sent; ``form`` is ``soap``, ``mtom``, ``http`` (an MTOM or SOAP body
    after its HTTP header block) or ``mime-restored``; ``notes`` say what was restored; ``altered`` holds
    the Content-IDs of parts whose bytes differ from the stored ones (dedented text)."""

    content_type: str
    body: bytes
    form: str
    notes: tuple[str, ...] = ()
    altered: frozenset[str] = frozenset()


def is_mime(data: bytes) -> bool:
    """A MIME package: its first line is a delimiter ``--boundary`` or it starts with a header block."""
    head = data.lstrip()
    return head.startswith(b"--") or bool(_HEADER.match(head[:200])) or bool(_REQUEST_LINE.match(head[:200]))


def read_capture(data: bytes) -> Capture:
    """See the module docstring; never raises (a broken package is left for the decoder to refuse)."""
    head = data.lstrip()
    if _REQUEST_LINE.match(head[:200]) or _STATUS_LINE.match(head[:200]) or _HEADER.match(head[:200]):
        content_type, body = _split_headers(head)
        form = "http"
    elif head.startswith(b"--"):
        content_type = (f'multipart/related; type="application/xop+xml"; boundary="{boundary_of(head)}"; '
                        f'start-info="application/soap+xml"')
        body, form = head, "mtom"
    else:
        return Capture(SOAP_CONTENT_TYPE, data, "soap")
    try:
        media, params = parse_content_type(content_type)
    except SoapFault:
        return Capture(content_type, body, form)
    if media != "multipart/related" or not params.get("boundary"):
        return Capture(content_type, body, form)
    try:
        decode_message(content_type, body)
        return Capture(content_type, body, form)
    except SoapFault:
        restored = _restore(body, params)
        return restored if restored is not None else Capture(content_type, body, form)


def boundary_of(body: bytes) -> str:
    """The boundary of a package stored without its Content-Type: the first line's delimiter, cut where
    the close delimiter at the end says it ends when the line breaks after it were lost."""
    first = body.split(b"\n", 1)[0].strip()[2:]
    close = _CLOSE.search(body[-300:])
    if close and first.startswith(close.group(1)):
        return close.group(1).decode("latin-1")
    return first.split()[0].decode("latin-1") if first else ""


def _split_headers(data: bytes) -> tuple[str, bytes]:
    """An HTTP message's header block -> (Content-Type, body); the header block ends at the first blank line."""
    match = re.search(rb"\r?\n\r?\n", data)
    header, body = (data[:match.start()], data[match.end():]) if match else (data, b"")
    content_type = SOAP_CONTENT_TYPE
    for line in re.split(rb"\r?\n(?![ \t])", header):
        name, _, value = line.decode("latin-1").partition(":")
        if name.strip().lower() == "content-type":
            content_type = " ".join(value.split())
    return content_type, body


def _restore(body: bytes, params: dict[str, str]) -> Capture | None:
    """Re-read a pretty-printed package line by line; None when that does not give a package either."""
    boundary = params["boundary"].encode("latin-1")
    delim, close = b"--" + boundary, b"--" + boundary + b"--"
    notes: list[str] = []
    relined = re.sub(rb"(?<=\S)" + re.escape(delim), b"\n" + delim, body)
    relined = re.sub(re.escape(delim) + rb"(?=[^\s-])", delim + b"\n", relined)
    if relined != body:
        notes.append("MIME delimiter and header lines run together (line breaks lost when stored)")
    lines = relined.split(b"\n")
    if any(ln.strip() in (delim, close) and not ln.startswith(delim) for ln in lines):
        notes.append("MIME delimiter lines are indented (RFC 2046 §5.1.1: a delimiter starts a line)")
    if b"\r\n" not in body:
        notes.append("line ends are LF, not CRLF (RFC 2046 §5.1.1)")
    parts: list[list[bytes]] = []
    current: list[bytes] | None = None
    for line in lines:
        stripped = line.strip()
        if stripped in (delim, close):
            if current is not None:
                parts.append(current)
            current = None if stripped == close else []
        elif current is not None:
            current.append(line)
    decoded = [_part(p, notes) for p in parts]
    if not decoded or any(d is None for d in decoded):
        return None
    return _repackage([d for d in decoded if d is not None], params, notes)


def _part(lines: list[bytes], notes: list[str]) -> tuple[dict[str, str], bytes, bool] | None:
    """(headers, content, altered) of one part given as its lines; the headers end at a blank line or at
    the first line that is not a header (the blank line may have been lost too)."""
    headers: dict[str, str] = {}
    i = 0
    while i < len(lines) and _HEADER.match(lines[i].strip()):
        for field in _RUN_HEADER.split(lines[i].strip()):
            name, _, value = field.decode("latin-1").partition(":")
            headers[name.strip().lower()] = " ".join(value.split())
        i += 1
    if not headers:
        return None
    content = lines[i + (1 if i < len(lines) and not lines[i].strip() else 0):]  # line ends kept as stored
    while content and not content[-1].strip():
        content.pop()
    if content:  # the line end before the next delimiter belongs to the delimiter (RFC 2046 §5.1.1)
        content[-1] = content[-1].rstrip(b"\r")
    encoding = headers.get("content-transfer-encoding", "binary").lower()
    if encoding == "base64":
        try:
            return headers, base64.b64decode(b"".join(b"".join(content).split()), validate=True), False
        except (binascii.Error, ValueError):
            return None
    indent = _indent(content)
    if indent and "xop+xml" not in headers.get("content-type", ""):  # the root XML: whitespace is not data
        notes.append(f"part {headers.get('content-id', '?')}: text indented by {indent} character(s) when "
                     "stored, dedented (its bytes are not the ones sent)")
    content = [ln[indent:] if ln[:indent].strip() == b"" else ln.lstrip() for ln in content]
    return headers, b"\n".join(content), bool(indent)


def _indent(content: list[bytes]) -> int:
    first = next((ln for ln in content if ln.strip()), b"")
    return len(first) - len(first.lstrip(b" \t"))


def _repackage(parts: list[tuple[dict[str, str], bytes, bool]], params: dict[str, str],
               notes: list[str]) -> Capture | None:
    cid = [h.get("content-id", "").strip().strip("<>") for h, _c, _a in parts]
    start = params.get("start", "").strip().strip("<>") or next(
        (c for c, (h, _x, _a) in zip(cid, parts, strict=True) if "xop+xml" in h.get("content-type", "")), cid[0])
    if start not in cid:
        return None
    root = parts[cid.index(start)][1]
    attachments = {c: content for c, (_h, content, _a) in zip(cid, parts, strict=True) if c != start}
    types = {c: h.get("content-type", "application/octet-stream") for c, (h, _x, _a) in zip(cid, parts, strict=True)}
    action = params.get("action") or _root_action(parts[cid.index(start)][0]) or ""
    content_type, body = encode_mtom(root, attachments, action=action, boundary=params["boundary"], start=start,
                                     content_types=types)
    try:
        decode_message(content_type, body)
    except SoapFault:
        return None
    altered = frozenset(c for c, (_h, _x, a) in zip(cid, parts, strict=True) if a and c != start)
    return Capture(content_type, body, "mime-restored", tuple(notes), altered)


def _root_action(headers: dict[str, str]) -> str | None:
    try:
        return parse_content_type(headers.get("content-type", ""))[1].get("action")
    except SoapFault:
        return None
