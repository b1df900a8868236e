"""SHA-1 of a document's bytes, computed once however many checks ask for it.

A Provide and Register reads each document's SHA-1 three times: the validator's hash rule
(XDS-HASH-002), the DMP signature manifest (XDS-DMP-SIG-004) and the repository's own check
(XDSNonIdenticalHash), all on the same bytes object (the MTOM part). At ~60 µs for a KOS of 300
references, the last few digests are kept with the object they were computed from, and found again
by identity: an object held here cannot be freed, so its id cannot be reused by other bytes.
"""

from __future__ import annotations

import base64
import hashlib
from collections import deque

_recent: deque[tuple[bytes, bytes]] = deque(maxlen=8)  # (the bytes, their SHA-1), newest last


def sha1(data: bytes) -> bytes:
    """The raw SHA-1 of ``data``."""
    for held, digest in tuple(_recent):  # a copy: another thread may append meanwhile
        if held is data:
            return digest
    digest = hashlib.sha1(data).digest()
    _recent.append((data, digest))
    return digest


def sha1_hex(data: bytes) -> str:
    """XDSDocumentEntry.hash: lowercase hex (ITI TF-3 §4.2.3.2.11)."""
    return sha1(data).hex()


def sha1_b64(data: bytes) -> str:
    """ds:DigestValue of an xmldsig#sha1 reference: base64."""
    return base64.b64encode(sha1(data)).decode()
