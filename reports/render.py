"""Readable renderings of captured messages for the HTML report.

XML is pretty-printed, DICOM Part 10 (alone or inside a multipart body) becomes a dump, HL7
segments go one per line; anything else is shown as text or as a hex excerpt. Rendering never
raises: evidence that cannot be decoded is shown raw.
"""

from __future__ import annotations

import hashlib
import io
import re

from lxml import etree

from harness.xmlsafe import UnsafeXmlError, parse_xml

SHOW_LIMIT = 200_000


def render_body(data: bytes, content_type: str = "", protocol: str = "") -> str:
    """``protocol`` ``dimse``: a binary body is a DICOM dataset without preamble (an identifier)."""
    if not data:
        return ""
    ct = content_type.lower()
    if protocol == "dimse" and b"\x00" in data[:64]:
        return dicom_dump(data)
    if "multipart/" in ct:
        return _render_multipart(data, ct)
    if data[128:132] == b"DICM" or "application/dicom" in ct:
        return dicom_dump(data)
    head = data.lstrip()[:1]
    if head == b"<":
        return pretty_xml(data)
    if data.startswith(b"MSH|") or data.startswith(b"\x0bMSH|"):
        return data.strip(b"\x0b\x1c\r\n").decode("utf-8", "replace").replace("\r", "\n")
    try:
        return data[:SHOW_LIMIT].decode("utf-8")
    except UnicodeDecodeError:
        return hexdump(data[:512]) + (f"\n... {len(data)} bytes" if len(data) > 512 else "")


def pretty_xml(data: bytes) -> str:
    try:
        root = parse_xml(data)
    except UnsafeXmlError:
        return data[:SHOW_LIMIT].decode("utf-8", "replace")
    text = etree.tostring(root, pretty_print=True, encoding="unicode")
    return text[:SHOW_LIMIT]


_DUMPS: dict[bytes, str] = {}  # SHA-256 of a dataset -> its dump
_DUMPS_KEPT, _DUMP_KEPT_CHARS = 2048, 64 * 1024


def dicom_dump(data: bytes) -> str:
    """pydicom's dump of a dataset (a Part 10 file or a bare dataset). A campaign's evidence holds the same
    instance many times (each WADO-RS response of a study carries it again); its dump, the slowest rendering
    of report.html, is made once per process and kept when short."""
    key = hashlib.sha256(data).digest()
    text = _DUMPS.get(key)
    if text is None:
        text = _dicom_dump(data)
        if len(text) <= _DUMP_KEPT_CHARS and len(_DUMPS) < _DUMPS_KEPT:
            _DUMPS[key] = text
    return text


def _dicom_dump(data: bytes) -> str:
    try:
        import pydicom

        ds = pydicom.dcmread(io.BytesIO(data), force=True, stop_before_pixels=True)
        return str(ds)[:SHOW_LIMIT]
    except Exception as exc:
        return f"(not readable as DICOM: {exc})\n" + hexdump(data[:256])


def hexdump(data: bytes) -> str:
    lines = []
    for off in range(0, len(data), 16):
        chunk = data[off:off + 16]
        hexpart = " ".join(f"{b:02x}" for b in chunk)
        text = "".join(chr(b) if 32 <= b < 127 else "." for b in chunk)
        lines.append(f"{off:08x}  {hexpart:<47}  {text}")
    return "\n".join(lines)


def _render_multipart(data: bytes, ct: str) -> str:
    match = re.search(r'boundary="?([^";]+)"?', ct)
    if not match:
        return hexdump(data[:512])
    boundary = b"--" + match.group(1).encode()
    out = []
    for i, part in enumerate(data.split(boundary)[1:], 1):
        if part.startswith(b"--"):
            break
        head, _, body = part.lstrip(b"\r\n").partition(b"\r\n\r\n")
        headers = head.decode("latin-1")
        part_ct = next((ln.split(":", 1)[1] for ln in headers.splitlines()
                        if ln.lower().startswith("content-type:")), "")
        body = body[:-2] if body.endswith(b"\r\n") else body
        digest = hashlib.sha1(body).hexdigest()  # the XDS hash of a document is its SHA-1 (ITI TF-3 §4.2.3.2.7)
        out.append(f"--- part {i}: {len(body)} bytes, SHA-1 {digest} ---\n{headers}\n\n{render_body(body, part_ct)}")
        if sum(len(x) for x in out) > SHOW_LIMIT or i >= 20:
            out.append("... (more parts)")
            break
    return "\n".join(out)
