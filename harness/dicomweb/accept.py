"""Accept header parsing and content negotiation for WADO-RS (DICOM PS3.18 §8.7, RFC 9110 §12.5.1).

The ANS client simulator sends several ``multipart/related; type="application/dicom";
transfer-syntax=<TS>; q=<0..1>`` values, comma-joined or one Accept line each, sometimes
with a trailing comma and a ``boundary=**`` parameter (ANS DRIM-M_DATA
``test a blanc/Simulateur client wadoRS/*.txt``). All of that must parse.

Sans-IO: header strings in, :class:`MediaRange` objects out; :func:`negotiate` picks an
:class:`Offer` or returns None, which the server turns into 406 Not Acceptable.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from harness.dicomweb.mediatype import MediaTypeError, format_media_type, parse_media_type, split_quoted

# PS3.18 §8.7.3: a media type without transfer-syntax means the default of Tables 8.7.3-2 (instances)
# and 8.7.3-4 (bulkdata, uncompressed): Explicit VR Little Endian. Implicit VR LE shall not be used there.
DEFAULT_TRANSFER_SYNTAX = "1.2.840.10008.1.2.1"

# Transfer syntaxes seen in the ANS WADO-RS samples (ANS DRIM-M_DATA Simulateur client wadoRS), PS3.6 Table A-1;
# value: (name, lossless)
TRANSFER_SYNTAXES: dict[str, tuple[str, bool]] = {
    "1.2.840.10008.1.2": ("Implicit VR Little Endian", True),
    "1.2.840.10008.1.2.1": ("Explicit VR Little Endian", True),
    "1.2.840.10008.1.2.1.99": ("Deflated Explicit VR Little Endian", True),
    "1.2.840.10008.1.2.4.50": ("JPEG Baseline (Process 1)", False),
    "1.2.840.10008.1.2.4.51": ("JPEG Extended (Process 2 & 4)", False),
    "1.2.840.10008.1.2.4.57": ("JPEG Lossless, Non-Hierarchical (Process 14)", True),
    "1.2.840.10008.1.2.4.70": ("JPEG Lossless, Non-Hierarchical, First-Order Prediction (SV1)", True),
    "1.2.840.10008.1.2.4.80": ("JPEG-LS Lossless", True),
    "1.2.840.10008.1.2.4.81": ("JPEG-LS Lossy (Near-Lossless)", False),
    "1.2.840.10008.1.2.4.90": ("JPEG 2000 (Lossless Only)", True),
    "1.2.840.10008.1.2.4.91": ("JPEG 2000", False),
    "1.2.840.10008.1.2.4.100": ("MPEG2 Main Profile / Main Level", False),
    "1.2.840.10008.1.2.4.101": ("MPEG2 Main Profile / High Level", False),
    "1.2.840.10008.1.2.4.102": ("MPEG-4 AVC/H.264 High Profile / Level 4.1", False),
    "1.2.840.10008.1.2.4.103": ("MPEG-4 AVC/H.264 BD-compatible High Profile / Level 4.1", False),
    "1.2.840.10008.1.2.5": ("RLE Lossless", True),
}

MAX_HEADER_LINES = 64  # Accept lines in one request
MAX_TOTAL_LENGTH = 16 * 1024  # characters over all Accept lines
MAX_RANGES = 128  # media ranges over all lines
MAX_PARAMS = 16  # parameters of one media range

# RFC 9110 §12.4.2 qvalue
_QVALUE = re.compile(r"^(0(\.[0-9]{0,3})?|1(\.0{0,3})?)$")
_UID = re.compile(r"^[0-9]+(\.[0-9]+)*$")


class AcceptError(ValueError):
    """The Accept header cannot be parsed, or is too big to be worth parsing (answer 400)."""


@dataclass(frozen=True)
class MediaRange:
    """One element of an Accept header: ``type/subtype`` with its parameters and weight."""

    type: str
    subtype: str
    params: tuple[tuple[str, str], ...] = ()
    q: float = 1.0

    @property
    def media_type(self) -> str:
        return f"{self.type}/{self.subtype}"

    def param(self, name: str) -> str | None:
        return next((v for k, v in self.params if k == name), None)

    @property
    def transfer_syntax(self) -> str | None:
        return self.param("transfer-syntax")

    @property
    def related_type(self) -> str | None:
        """The ``type`` parameter of ``multipart/related`` (RFC 2387 §3.1), lower-cased."""
        value = self.param("type")
        return value.lower() if value else None

    def specificity(self) -> int:
        """RFC 9110 §12.5.1: the most specific matching range gives the q of a representation."""
        if self.type == "*":
            return 0
        if self.subtype == "*":
            return 1
        return 2 + sum(1 for k, _ in self.params if k in ("type", "transfer-syntax"))


@dataclass(frozen=True)
class Offer:
    """A representation the server can produce: ``multipart/related`` of ``application/dicom``
    in one transfer syntax, ``application/dicom+json``, ``application/octet-stream`` frames..."""

    media_type: str
    related_type: str | None = None
    transfer_syntax: str | None = None
    extra: dict[str, str] = field(default_factory=dict, compare=False, hash=False)

    def content_type(self, boundary: str | None = None) -> str:
        """The response Content-Type for this offer (PS3.18 §8.7.3, ANS DRIM-M_DATA Simulateur client wadoRS)."""
        params: list[tuple[str, str]] = []
        if self.related_type:
            params.append(("type", self.related_type))
        if self.transfer_syntax:
            params.append(("transfer-syntax", self.transfer_syntax))
        if boundary:
            params.append(("boundary", boundary))
        return format_media_type(self.media_type, params)


def dicom_offers(transfer_syntaxes: list[str]) -> list[Offer]:
    """``multipart/related; type="application/dicom"`` offers, in server preference order."""
    return [Offer("multipart/related", "application/dicom", ts) for ts in transfer_syntaxes]


def parse_accept(values: list[str] | str) -> list[MediaRange]:
    """Every media range of the Accept header lines ``values`` (RFC 9110 §12.5.1).

    Empty elements (``a, , b``, a trailing comma) are skipped. Raises AcceptError on a
    malformed element, a bad q-value or a header past the MAX_* bounds.
    """
    lines = [values] if isinstance(values, str) else list(values)
    if len(lines) > MAX_HEADER_LINES:
        raise AcceptError(f"{len(lines)} Accept header lines (limit {MAX_HEADER_LINES})")
    if sum(len(v) for v in lines) > MAX_TOTAL_LENGTH:
        raise AcceptError(f"Accept header longer than {MAX_TOTAL_LENGTH} characters")
    ranges: list[MediaRange] = []
    for line in lines:
        try:
            elements = split_quoted(line, ",")
        except MediaTypeError as exc:
            raise AcceptError(str(exc)) from None
        for element in elements:
            if element.strip():
                ranges.append(_parse_range(element))
                if len(ranges) > MAX_RANGES:
                    raise AcceptError(f"more than {MAX_RANGES} media ranges in Accept")
    return ranges


def _parse_range(element: str) -> MediaRange:
    try:
        main, sub, params = parse_media_type(element)
    except MediaTypeError as exc:
        raise AcceptError(str(exc)) from None
    if len(params) > MAX_PARAMS:
        raise AcceptError(f"more than {MAX_PARAMS} parameters in {element.strip()[:80]!r}")
    q = 1.0
    kept: list[tuple[str, str]] = []
    for name, value in params:
        if name == "q":
            if not _QVALUE.match(value):
                raise AcceptError(f"bad q-value {value!r} in {element.strip()[:80]!r} (RFC 9110 §12.4.2)")
            q = float(value)
        elif name == "transfer-syntax" and value != "*" and not _UID.match(value):
            raise AcceptError(f"bad transfer-syntax {value!r} (a UID or '*')")
        else:
            kept.append((name, value))
    return MediaRange(main, sub, tuple(kept), q)


def _default_ts(offer: Offer) -> str | None:
    """Transfer syntax a range without ``transfer-syntax`` asks for (PS3.18 §8.7.3, Tables 8.7.3-2 and 8.7.3-4)."""
    if offer.related_type == "application/dicom" or offer.media_type in ("application/dicom",
                                                                        "application/octet-stream"):
        return DEFAULT_TRANSFER_SYNTAX
    return None


def matches(media_range: MediaRange, offer: Offer) -> bool:
    """True if ``offer`` is one of the representations ``media_range`` accepts."""
    otype, _, osub = offer.media_type.lower().partition("/")
    if media_range.type != "*" and media_range.type != otype:
        return False
    if media_range.subtype != "*" and media_range.subtype != osub:
        return False
    if media_range.type == "*" or media_range.subtype == "*":
        return True
    related = media_range.related_type
    if related is not None and related != (offer.related_type or "").lower():
        return False
    wanted = media_range.transfer_syntax
    if wanted == "*" or offer.transfer_syntax is None:
        return True
    if wanted is None:  # image/jls, image/jp2...: the media type implies the syntax (PS3.18 Table 8.7.3-2)
        default = _default_ts(offer)
        return default is None or default == offer.transfer_syntax
    return wanted == offer.transfer_syntax


def quality(ranges: list[MediaRange], offer: Offer) -> float:
    """q of ``offer``: that of the most specific matching range (the highest on a tie); 0 if none."""
    best: tuple[int, float] | None = None
    for media_range in ranges:
        if matches(media_range, offer):
            key = (media_range.specificity(), media_range.q)
            if best is None or key > best:
                best = key
    return 0.0 if best is None else best[1]


def negotiate(ranges: list[MediaRange], available: list[Offer]) -> Offer | None:
    """Best offer: highest q, then the server's order of ``available``; None means 406.

    No range at all (no Accept header) accepts anything (RFC 9110 §12.5.1); whether a WADO-RS
    server should then answer 400 instead is the caller's rule (ANS PoC).
    """
    if not ranges:
        return available[0] if available else None
    best: Offer | None = None
    best_q = 0.0
    for offer in available:
        q = quality(ranges, offer)
        if q > best_q:
            best, best_q = offer, q
    return best
