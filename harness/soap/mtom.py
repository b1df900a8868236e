"""MTOM/XOP packages (multipart/related; type="application/xop+xml") and plain SOAP 1.2 bodies.

Sans-IO: bytes in, objects out. Public: :func:`encode_mtom`, :func:`decode_message`,
:class:`SoapMessage` (with :meth:`SoapMessage.document_bytes`), :class:`MtomReader` (incremental
feed), :func:`xop_include`, :func:`make_cid`, :func:`parse_content_type`.

Specs: W3C XOP 1.0 §3-4 (xop:Include, cid: URLs), W3C SOAP MTOM §3, RFC 2387 (multipart/related,
``start``/``type``), RFC 2046 §5.1.1 (delimiters, preamble, epilogue), RFC 2392 (cid URLs),
IHE ITI TF-2x Appendix V (MTOM for XDS.b). Output uses explicit CRLF, never ``email.generator``
(which rewrites line endings inside binary parts).
"""

from __future__ import annotations

import base64
import binascii
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import quote, unquote

from lxml import etree

from harness.soap.envelope import (
    SOAP12_CONTENT_TYPE,
    Envelope,
    SoapFault,
    envelope_from_root,
)
from harness.xmlsafe import DEFAULT_MAX_BYTES, UnsafeXmlError, parse_xml

XOP_NS = "http://www.w3.org/2004/08/xop/include"
XOP_CONTENT_TYPE = "application/xop+xml"
ROOT_PART_TYPE = 'application/xop+xml; charset=UTF-8; type="application/soap+xml"'
_XOP_INCLUDE = f"{{{XOP_NS}}}Include"
_CRLF = b"\r\n"
_TOKEN = re.compile(r'\s*;\s*([!#$%&\'*+.^_`|~0-9A-Za-z-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;\s]*)')


def make_cid(prefix: str = "doc") -> str:
    """A fresh Content-ID (without angle brackets)."""
    return f"{prefix}.{uuid.uuid4().hex}@drimcheck"


def xop_include(cid: str) -> etree._Element:
    """``<xop:Include href="cid:..."/>`` (XOP 1.0 §3.1); place it as the only child of the element."""
    elem = etree.Element(_XOP_INCLUDE, nsmap={"xop": XOP_NS})
    elem.set("href", "cid:" + quote(cid, safe="@.-_!$&'()*+,;=:~"))
    return elem


def parse_content_type(value: str) -> tuple[str, dict[str, str]]:
    """Split a Content-Type into (lower-case media type, parameters) (RFC 9110 §8.3.1)."""
    value = value.strip()
    media, _, rest = value.partition(";")
    params: dict[str, str] = {}
    rest = ";" + rest if rest else ""
    pos = 0
    while pos < len(rest):
        m = _TOKEN.match(rest, pos)
        if not m:
            if rest[pos:].strip(" \t;"):
                raise SoapFault("Sender", f"malformed Content-Type parameters: {rest[pos:]!r}")
            break
        raw = m.group(2)
        if raw.startswith('"'):
            raw = re.sub(r"\\(.)", r"\1", raw[1:-1])
        params[m.group(1).lower()] = raw
        pos = m.end()
    return media.strip().lower(), params


@dataclass
class SoapMessage:
    """A decoded SOAP message: the envelope, its raw XML, and the XOP parts by Content-ID."""

    envelope: Envelope
    xml: bytes
    attachments: dict[str, bytes] = field(default_factory=dict)
    mtom: bool = False
    content_type: str = SOAP12_CONTENT_TYPE
    action: str | None = None  # the ``action`` media-type parameter, if any

    def document_bytes(self, elem: etree._Element) -> bytes:
        """Bytes of an xs:base64Binary element: its XOP part, or its decoded inline text."""
        inc = elem.find(_XOP_INCLUDE)
        if inc is not None:
            return self.attachments[_cid_of(inc)]
        text = "".join(elem.itertext())
        try:
            return base64.b64decode("".join(text.split()), validate=True)
        except (binascii.Error, ValueError):
            raise SoapFault("Sender", f"{etree.QName(elem).localname}: content is not valid base64") from None


def _cid_of(inc: etree._Element) -> str:
    href = inc.get("href") or ""
    if not href.lower().startswith("cid:"):
        raise SoapFault("Sender", f"xop:Include href {href!r} is not a cid: URL (XOP 1.0 §3.1)")
    return unquote(href[4:])


# --------------------------------------------------------------------------- encoding

def encode_mtom(envelope: bytes, attachments: Mapping[str, bytes], *, action: str,
                boundary: str | None = None, start: str = "root.message@drimcheck",
                content_types: Mapping[str, str] | None = None) -> tuple[str, bytes]:
    """Package ``envelope`` and its XOP parts; returns (Content-Type header value, body).

    The envelope must already hold ``xop:Include`` elements naming ``attachments`` keys
    (use :func:`xop_include`). ``boundary`` is fixed for reproducible output in tests.
    """
    boundary = boundary or f"MIMEBoundary_{uuid.uuid4().hex}"
    content_types = content_types or {}
    ctype = (f'multipart/related; boundary="{boundary}"; type="{XOP_CONTENT_TYPE}"; start="<{start}>"; '
             f'start-info="{SOAP12_CONTENT_TYPE}"; action="{action}"')
    delim = b"--" + boundary.encode("ascii")
    out = [delim, _CRLF, _headers(ROOT_PART_TYPE, start), envelope]
    for cid, data in attachments.items():
        part_type = content_types.get(cid, "application/octet-stream")
        out += [_CRLF, delim, _CRLF, _headers(part_type, cid), data]
    out += [_CRLF, delim, b"--", _CRLF]
    return ctype, b"".join(out)


def _headers(content_type: str, cid: str) -> bytes:
    return (f"Content-Type: {content_type}\r\nContent-Transfer-Encoding: binary\r\n"
            f"Content-ID: <{cid}>\r\n\r\n").encode("ascii")


# --------------------------------------------------------------------------- decoding

def decode_message(content_type: str, body: bytes, *, max_bytes: int = DEFAULT_MAX_BYTES) -> SoapMessage:
    """Decode an HTTP body as MTOM/XOP or plain SOAP 1.2; raise :class:`SoapFault` (Sender) when wrong."""
    if len(body) > max_bytes:
        raise SoapFault("Sender", f"message of {len(body)} bytes exceeds the limit of {max_bytes} bytes")
    media, params = parse_content_type(content_type or "")
    if media == SOAP12_CONTENT_TYPE:
        env, xml = _parse_root(body, max_bytes)
        _check_no_includes(env)
        return SoapMessage(env, xml, {}, False, content_type, params.get("action"))
    if media != "multipart/related":
        raise SoapFault("Sender", f"Content-Type {media or '(none)'} is neither application/soap+xml "
                        "nor multipart/related (SOAP 1.2 / MTOM)")
    if params.get("type", "").lower() != XOP_CONTENT_TYPE:
        raise SoapFault("Sender", f'multipart/related type must be "{XOP_CONTENT_TYPE}" (SOAP MTOM §3), '
                        f"found {params.get('type')!r}")
    boundary = params.get("boundary")
    if not boundary:
        raise SoapFault("Sender", "multipart/related without a boundary parameter (RFC 2046 §5.1.1)")
    parts = split_multipart(body, boundary)
    return _assemble(parts, params, content_type, max_bytes)


def _assemble(parts: list[tuple[dict[str, str], bytes]], params: dict[str, str], content_type: str,
              max_bytes: int) -> SoapMessage:
    by_cid: dict[str, bytes] = {}
    root_index = 0
    start = params.get("start", "").strip().strip("<>")
    for index, (headers, data) in enumerate(parts):
        cid = headers.get("content-id", "").strip().strip("<>")
        if cid:
            by_cid[cid] = data
        if start and cid == start:
            root_index = index
    if start and start not in by_cid:
        raise SoapFault("Sender", f"start part <{start}> not found in the MIME package (RFC 2387 §3.2)")
    root_headers, root_data = parts[root_index]
    _check_root_part(root_headers)
    env, xml = _parse_root(root_data, max_bytes)
    root_cid = root_headers.get("content-id", "").strip().strip("<>")
    attachments = {cid: data for cid, data in by_cid.items() if cid != root_cid}
    for inc in env.root.iter(_XOP_INCLUDE):
        cid = _cid_of(inc)
        if cid not in attachments:
            raise SoapFault("Sender", f"xop:Include references cid:{cid}, which is not a part of the package "
                            "(XOP 1.0 §4.1)")
    return SoapMessage(env, xml, attachments, True, content_type, params.get("action"))


def _check_root_part(headers: dict[str, str]) -> None:
    media, params = parse_content_type(headers.get("content-type", ""))
    if media != XOP_CONTENT_TYPE:
        raise SoapFault("Sender", f"root MIME part must be {XOP_CONTENT_TYPE} (SOAP MTOM §3), found "
                        f"{media or '(none)'}")
    if params.get("type", "").lower() != SOAP12_CONTENT_TYPE:
        raise SoapFault("Sender", f'root part type parameter must be "{SOAP12_CONTENT_TYPE}", found '
                        f"{params.get('type')!r}")


def _parse_root(data: bytes, max_bytes: int) -> tuple[Envelope, bytes]:
    try:
        root = parse_xml(data, max_bytes=max_bytes)
    except UnsafeXmlError as exc:
        raise SoapFault("Sender", str(exc), exc.reason) from None
    return envelope_from_root(root), data


def _check_no_includes(env: Envelope) -> None:
    for inc in env.root.iter(_XOP_INCLUDE):
        raise SoapFault("Sender", f"xop:Include {inc.get('href')!r} in a message that is not an XOP package")


def split_multipart(body: bytes, boundary: str) -> list[tuple[dict[str, str], bytes]]:
    """Split a multipart body into (lower-cased headers, content) (RFC 2046 §5.1.1).

    Delimiters are recognised at the start of a line; CRLF is the norm but bare LF is tolerated
    (some captured messages had their line endings normalised). Preamble and epilogue are ignored.
    A missing close delimiter means the body was truncated.
    """
    delim = b"--" + boundary.encode("latin-1")
    starts = _delimiter_positions(body, delim)
    if not starts:
        raise SoapFault("Sender", f"no MIME delimiter for boundary {boundary!r} (wrong boundary?)")
    parts: list[tuple[dict[str, str], bytes]] = []
    for i, pos in enumerate(starts):
        after = pos + len(delim)
        if body[after:after + 2] == b"--":
            if not parts:
                raise SoapFault("Sender", "MIME package has no part before its close delimiter")
            return parts
        line_end = body.find(b"\n", after)
        if line_end < 0 or i + 1 >= len(starts):
            break
        end = starts[i + 1]
        end -= 2 if body[end - 2:end] == _CRLF else 1
        parts.append(_parse_part(body[line_end + 1:end]))
    raise SoapFault("Sender", "MIME package truncated: no close delimiter (RFC 2046 §5.1.1)")


def _delimiter_positions(body: bytes, delim: bytes) -> list[int]:
    """Offsets of lines that start with ``delim`` followed by ``--``, blanks or a line end."""
    found = []
    pos = 0 if body.startswith(delim) else _next_line_start(body, delim, 0)
    while pos >= 0:
        tail = body[pos + len(delim):pos + len(delim) + 2]
        if tail[:1] in (b"", b"\r", b"\n", b" ", b"\t") or tail == b"--":
            found.append(pos)
        pos = _next_line_start(body, delim, pos + 1)
    return found


def _next_line_start(body: bytes, delim: bytes, start: int) -> int:
    idx = body.find(b"\n" + delim, start)
    return idx + 1 if idx >= 0 else -1


def _parse_part(raw: bytes) -> tuple[dict[str, str], bytes]:
    sep = re.search(rb"\r?\n\r?\n", raw)
    if raw.startswith((b"\r\n", b"\n")):
        head, content = b"", raw[2 if raw.startswith(b"\r\n") else 1:]
    elif sep is None:
        raise SoapFault("Sender", "MIME part without the blank line that ends its headers")
    else:
        head, content = raw[:sep.start()], raw[sep.end():]
    headers: dict[str, str] = {}
    for line in re.split(rb"\r?\n(?![ \t])", head):
        name, colon, value = line.decode("latin-1").partition(":")
        if not colon:
            raise SoapFault("Sender", f"malformed MIME part header line {line[:80]!r}")
        headers[name.strip().lower()] = " ".join(value.split())
    return headers, _transfer_decode(headers, content)


def _transfer_decode(headers: dict[str, str], content: bytes) -> bytes:
    encoding = headers.get("content-transfer-encoding", "binary").lower()
    if encoding in ("binary", "8bit", "7bit"):
        return content
    if encoding == "base64":
        try:
            return base64.b64decode(b"".join(content.split()), validate=True)
        except (binascii.Error, ValueError):
            raise SoapFault("Sender", "MIME part declared base64 is not valid base64") from None
    raise SoapFault("Sender", f"unsupported Content-Transfer-Encoding {encoding!r}")


class MtomReader:
    """Incremental front end: :meth:`feed` bytes as they arrive; returns the message once complete.

    Completion is the close delimiter for MTOM (RFC 2046 §5.1.1) or ``content_length`` bytes for
    plain SOAP. :meth:`close` decodes what was received and raises SoapFault if it is incomplete.
    """

    def __init__(self, content_type: str, content_length: int | None = None,
                 max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.content_type, self.content_length, self.max_bytes = content_type, content_length, max_bytes
        media, params = parse_content_type(content_type or "")
        boundary = params.get("boundary") if media == "multipart/related" else None
        self._close = b"--" + boundary.encode("latin-1") + b"--" if boundary else None
        self._buf = bytearray()

    def feed(self, data: bytes) -> SoapMessage | None:
        start = max(0, len(self._buf) - (len(self._close) + 1 if self._close else 0))
        self._buf += data
        if len(self._buf) > self.max_bytes:
            raise SoapFault("Sender", f"message exceeds the limit of {self.max_bytes} bytes")
        if self._close is not None:
            idx = self._buf.find(self._close, start)
            if idx >= 0 and (idx == 0 or self._buf[idx - 1:idx] == b"\n"):
                return self.close()
            return None
        if self.content_length is not None and len(self._buf) >= self.content_length:
            return self.close()
        return None

    def close(self) -> SoapMessage:
        return decode_message(self.content_type, bytes(self._buf), max_bytes=self.max_bytes)
