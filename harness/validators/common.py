"""Small helpers shared by the content validators: identifiers, UIDs, locations.

Kept apart so the KOS, CDA, HL7 and cross-document validators agree on what an INS or a UID is.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

# INS OIDs: ANS DRIM-M_DATA Validateur XDS/XDS.xml
# (1.2.250.1.213.1.4.8 INS-NIR, .9 INS-NIA, .10 / .11 test NIR / NIA).
INS_OIDS: dict[str, str] = {
    "1.2.250.1.213.1.4.8": "INS-NIR",
    "1.2.250.1.213.1.4.9": "INS-NIA",
    "1.2.250.1.213.1.4.10": "INS-NIR (test)",
    "1.2.250.1.213.1.4.11": "INS-NIA (test)",
}

_UID = re.compile(r"(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*\Z")
_UID_CHARS = re.compile(r"[0-9.\n]*\Z")
# newline -> ".", digits 2-9 -> "1": then an empty component is "..", a leading zero ".00" or ".01"
_UID_SHAPE = str.maketrans("\n23456789", ".11111111")
_NIR = re.compile(r"[1-478][0-9]{4}(2A|2B|[0-9]{2})[0-9]{6}[0-9]{2}\Z")


def is_uid(value: object) -> bool:
    """DICOM PS3.5 §9.1: digits and dots, no leading zero in a component, at most 64 characters."""
    text = str(value or "")
    return 0 < len(text) <= 64 and _UID.match(text) is not None


def all_uids_valid(values: list[str]) -> bool:
    """True when every value is a valid UID: one regex over the joined list (fast path for 1000s of UIDs)."""
    if not values:
        return True
    joined = "\n".join(values)
    if max(map(len, values)) > 64 or _UID_CHARS.match(joined) is None:
        return False
    shape = "." + joined.translate(_UID_SHAPE) + "."
    return ".." not in shape and ".00" not in shape and ".01" not in shape


_UID_SHAPE_B = bytes.maketrans(b"\n23456789", b".11111111")


def all_uids_valid_bytes(values: Iterable[bytes]) -> bool:
    """:func:`all_uids_valid` on raw ASCII values, without decoding them (KOS fast path)."""
    parts = list(values)
    if not parts:
        return True
    joined = b"\n".join(parts)
    if max(map(len, parts)) > 64 or joined.translate(None, b"0123456789.\n"):
        return False
    shape = b"." + joined.translate(_UID_SHAPE_B) + b"."
    return b".." not in shape and b".00" not in shape and b".01" not in shape


def is_oid(value: object) -> bool:
    """An ISO OID in dotted form (same grammar as a DICOM UID, no length limit)."""
    text = str(value or "")
    return bool(text) and _UID.match(text) is not None


def nir_key_ok(value: str) -> bool:
    """NIR matricule (13 characters) + key = 97 - (number mod 97); Corsica 2A/2B count as 19/18."""
    if not _NIR.match(value or ""):
        return False
    body = value[:13].replace("2A", "19").replace("2B", "18")
    return 97 - int(body) % 97 == int(value[13:])


def norm(text: object) -> str:
    """Compare names the way the cross-validator does: trimmed, upper case, inner blanks collapsed."""
    return " ".join(str(text or "").upper().split())
