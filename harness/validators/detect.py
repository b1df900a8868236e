"""Guess what a content file is from its first bytes (never from its name alone).

Kinds: ``dicom`` (Part 10 preamble + DICM), ``xds`` (SOAP envelope, ebRIM/ebRS request or response,
or a captured MTOM package), ``cda`` (HL7 v3 ClinicalDocument), ``hl7`` (HL7 v2, MLLP framing
tolerated), ``unknown``.
"""

from __future__ import annotations

import re

XDS_ROOTS = {"Envelope", "ProvideAndRegisterDocumentSetRequest", "SubmitObjectsRequest", "RegistryResponse",
             "RetrieveDocumentSetRequest", "RetrieveDocumentSetResponse", "AdhocQueryRequest",
             "AdhocQueryResponse", "UpdateDocumentSetRequest"}
_FIRST_TAG = re.compile(rb"<\s*(?:[A-Za-z_][\w.-]*:)?([A-Za-z_][\w.-]*)")
_SKIP = re.compile(rb"\s*(<\?.*?\?>|<!--.*?-->)", re.S)


def detect_kind(data: bytes, name: str = "") -> str:
    """``dicom`` | ``xds`` | ``cda`` | ``hl7`` | ``unknown``."""
    if len(data) >= 132 and data[128:132] == b"DICM":
        return "dicom"
    head = data[:65536].lstrip(b"\xef\xbb\xbf\x0b \t\r\n")
    if head.startswith(b"MSH"):
        return "hl7"
    if head.startswith(b"--") or head[:13].lower() == b"content-type:":
        return "xds" if b"application/xop+xml" in head or b"Envelope" in head else "unknown"
    if head.startswith(b"<"):
        root = _root_name(head)
        if root in XDS_ROOTS:
            return "xds"
        if root == "ClinicalDocument":
            return "cda"
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
