"""Guess what a content file is from its first bytes (never from its name alone).

Kinds: ``dicom`` (Part 10 preamble + DICM, or DICOM written as XML: PS3.19 Native DICOM Model,
dcmtk dcm2xml), ``xds`` (SOAP envelope, ebRIM/ebRS request or response, or a captured MTOM package: a
MIME multipart body, with or without its HTTP header block), ``cda`` (HL7 v3 ClinicalDocument), ``hl7``
(HL7 v2, MLLP framing tolerated), ``unknown``.
"""

from __future__ import annotations

import re

XDS_ROOTS = {"Envelope", "ProvideAndRegisterDocumentSetRequest", "SubmitObjectsRequest", "RegistryResponse",
             "RetrieveDocumentSetRequest", "RetrieveDocumentSetResponse", "AdhocQueryRequest",
             "AdhocQueryResponse", "UpdateDocumentSetRequest"}
DICOM_XML_ROOTS = {"NativeDicomModel", "file-format", "data-set"}  # PS3.19 §A.1; dcmtk dcm2xml
_MIME_START = re.compile(rb"(--\S|[A-Za-z][A-Za-z0-9-]*:|(POST|PUT) \S+ HTTP/)")
_FIRST_TAG = re.compile(rb"<\s*(?:[A-Za-z_][\w.-]*:)?([A-Za-z_][\w.-]*)")
_SKIP = re.compile(rb"\s*(<\?.*?\?>|<!--.*?-->)", re.S)


def detect_kind(data: bytes, name: str = "") -> str:
    """``dicom`` | ``xds`` | ``cda`` | ``hl7`` | ``unknown``."""
    if len(data) >= 132 and data[128:132] == b"DICM":
        return "dicom"
    head = data[:65536].lstrip(b"\xef\xbb\xbf\x0b \t\r\n")
    if head.startswith(b"MSH"):
        return "hl7"
    if _MIME_START.match(head):  # a MIME package (RFC 2046) or an HTTP capture of one
        return "xds" if b"application/xop+xml" in head or b"Envelope" in head else "unknown"
    if head.startswith(b"<"):
        root = _root_name(head)
        if root in XDS_ROOTS:
            return "xds"
        if root == "ClinicalDocument":
            return "cda"
        if root in DICOM_XML_ROOTS:
            return "dicom"
        return "unknown"
    if name.lower().endswith((".dcm", ".dicom")):
        return "dicom"  # no preamble: the KOS validator says why it cannot be read
    return "unknown"


def _root_name(head: bytes) -> str | None:
    pos = 0
    while True:
        skipped = _SKIP.match(head, pos)
        if not skipped:
            break
        pos = skipped.end()
    rest = head[pos:].lstrip()
    if rest.startswith(b"<!DOCTYPE"):
        end = rest.find(b">")
        bracket = rest.find(b"[")
        if 0 < bracket < end:  # internal subset: <!DOCTYPE x [ ... ]>
            close = rest.find(b"]>")
            end = close + 1 if close > 0 else -1
        rest = rest[end + 1:].lstrip() if end > 0 else b""
        while (s := _SKIP.match(rest)) is not None:
            rest = rest[s.end():].lstrip()
    match = _FIRST_TAG.match(rest)
    return match.group(1).decode() if match else None
