"""The references of a KOS (evidence and content tree), read fast from raw bytes.

A manifest of the ANS performance study references 1300 instances twice (evidence and content
items): converting those ~10,000 elements with pydicom costs ~0.4 s, far from the >= 200 KOS/s target.
This sans-IO reader walks the two big sequences with ``struct`` down to the ReferencedSOPSequence
values, matches their items with one compiled regular expression per series, and compares every
declared length with what was matched in bulk (no Python step per item): items tile the value, item
length = its elements, element length = value + pad. The content usually repeats the evidence items in
order, one CONTAINS IMAGE item each: it is then compared in one go with the bytes the evidence implies.
What the regex does not cover is walked element by element (undefined lengths, TEXT items, other
elements); anything unusual there (a length past its container, an unknown VR, non-ASCII or
multi-valued UIDs, big endian) raises :class:`Unusual` and the caller falls back to pydicom, so the
fast path only ever agrees with the slow one (tests/validators/test_kos_fastpath.py).

Public: :class:`StudyRef`, :class:`SeriesRef`, :class:`SopBlock`, :class:`ContentItem`,
:class:`ContentScan`, :func:`evidence_from_raw`, :func:`content_from_raw`, :func:`evidence_from_dataset`,
:func:`content_from_dataset`, the walkers :func:`elements` and :func:`items`.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import chain, repeat
from operator import add, sub

from pydicom.datadict import dictionary_VR
from pydicom.dataset import Dataset

from harness.validators.common import all_uids_valid_bytes

_VRS = {b"AE", b"AS", b"AT", b"CS", b"DA", b"DS", b"DT", b"FD", b"FL", b"IS", b"LO", b"LT", b"OB", b"OD", b"OF",
        b"OL", b"OV", b"OW", b"PN", b"SH", b"SL", b"SQ", b"SS", b"ST", b"SV", b"TM", b"UC", b"UI", b"UL", b"UN",
        b"UR", b"US", b"UT", b"UV"}  # DICOM PS3.5 §6.2
_LONG_VRS = {b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN", b"UR", b"UT", b"UV"}
_UNDEFINED = 0xFFFFFFFF
ITEM, ITEM_END, SEQ_END = 0xFFFEE000, 0xFFFEE00D, 0xFFFEE0DD
_ITEM_END8, _SEQ_END8 = b"\xfe\xff\x0d\xe0\x00\x00\x00\x00", b"\xfe\xff\xdd\xe0\x00\x00\x00\x00"
_U32 = struct.Struct("<I")
_U16 = struct.Struct("<H")
_TAG = struct.Struct("<HH")

def _short(tag: bytes, vr: bytes, explicit: bool) -> bytes:
    """Header of an element with a 16-bit length (explicit VR) or 32-bit (implicit), length captured."""
    return tag + (vr + rb"(..)" if explicit else rb"(.{4})")


# A UID value as the fast readers match it: digits and dots, then an optional NUL pad (PS3.5 §9.1 is checked
# on all the values at once by _valid_uids).
_UID_VALUE = rb"([0-9.]+)(\x00?)"


_ITEM_HEAD = {False: rb"\xfe\xff\x00\xe0(.{4})", True: rb"\xfe\xff\x00\xe0(\xff\xff\xff\xff)"}  # by undefined
_ITEM_TAIL = {False: b"", True: rb"\xfe\xff\x0d\xe0\x00\x00\x00\x00"}


def _number(explicit: bool, instance_number: bool) -> bytes:
    return _short(rb"\x20\x00\x13\x00", b"IS", explicit) + rb"([ 0-9+-]*)" if instance_number else b""


def _sop_item_re(explicit: bool, instance_number: bool | None, undefined: bool = False) -> re.Pattern[bytes]:
    """One SOP reference item: (0008,1150) + (0008,1155) [+ (0020,0013)] (PS3.3 C.17.2.1), of defined
    length or ended by its delimitation item; ``instance_number`` None: the start of an item only.

    Groups: item length, the two UI elements (whole), class length, class, pad, instance length, instance,
    pad [, number length, number]; the lengths are checked against the values afterwards (:func:`_sop_block`).
    """
    end = b"" if instance_number is None else _number(explicit, instance_number) + _ITEM_TAIL[undefined]
    return re.compile(_ITEM_HEAD[undefined] + b"("
                      + _short(rb"\x08\x00\x50\x11", b"UI", explicit) + _UID_VALUE
                      + _short(rb"\x08\x00\x55\x11", b"UI", explicit) + _UID_VALUE + b")" + end, re.S)


@lru_cache(maxsize=64)
def _same_class_re(explicit: bool, instance_number: bool, undefined: bool,
                   class_element: bytes) -> re.Pattern[bytes]:
    """SOP items whose (0008,1150) element is exactly ``class_element`` (a series holds one SOP class):
    a literal is cheaper to match than a UID. Groups: item length, the two UI elements, instance length,
    instance, pad [, number length, number]."""
    return re.compile(_ITEM_HEAD[undefined] + b"(" + re.escape(class_element)
                      + _short(rb"\x08\x00\x55\x11", b"UI", explicit) + _UID_VALUE + b")"
                      + _number(explicit, instance_number) + _ITEM_TAIL[undefined], re.S)


_SOP_ITEM = {(e, n, u): _sop_item_re(e, n, u) for e in (True, False) for n in (True, False, None)
             for u in (True, False)}


def _content_item_re(explicit: bool) -> re.Pattern[bytes]:
    """One CONTAINS IMAGE/COMPOSITE/WAVEFORM item of defined length referencing one instance (TID 2010).

    Groups: item length, ReferencedSOPSequence length, its one SOP item (checked by :func:`_sop_block`),
    ValueType length + value.
    """
    sq = rb"\x08\x00\x99\x11" + (rb"SQ\x00\x00(.{4})" if explicit else rb"(.{4})")
    cs = b"CS" if explicit else b""

    def n(k: int) -> bytes:
        return k.to_bytes(2 if explicit else 4, "little")

    return re.compile(
        rb"\xfe\xff\x00\xe0(.{4})" + sq
        + rb"(\xfe\xff\x00\xe0.{4}\x08\x00\x50\x11" + (rb"UI.." if explicit else rb".{4}") + rb"[0-9.]+\x00?"
        + rb"\x08\x00\x55\x11" + (rb"UI.." if explicit else rb".{4}") + rb"[0-9.]+\x00?)"
        + rb"\x40\x00\x10\xa0" + cs + n(8) + b"CONTAINS"
        + rb"\x40\x00\x40\xa0" + cs + b"(" + b"|".join(re.escape(n(len(v)) + v)
                                                   for v in (b"IMAGE ", b"COMPOSITE ", b"WAVEFORM")) + b")", re.S)


_CONTENT_ITEM = {e: _content_item_re(e) for e in (True, False)}


class Unusual(ValueError):
    """The raw bytes do not have the layout the fast reader knows: use pydicom instead."""


class Truncated(Unusual):
    """An element or item extends past the end of its container (a cut file)."""


@dataclass
class SeriesRef:
    uid: str
    url: str | None
    location_uid: str | None
    pairs: list[tuple[bytes, bytes]] = field(default_factory=list)  # (SOP class, SOP instance), raw ASCII
    has_sop_sequence: bool = True
    block: SopBlock | None = None  # how the fast reader matched the SOP items (None: read otherwise)

    @property
    def sops(self) -> list[tuple[str, str]]:
        return _decode_pairs(self.pairs)


@dataclass
class StudyRef:
    uid: str
    series: list[SeriesRef] = field(default_factory=list)
    has_series_sequence: bool = True


@dataclass
class ContentItem:
    relationship: str
    value_type: str
    ref: tuple[str, str] | None  # (SOP class, SOP instance) of the first ReferencedSOPSequence item


# --- generic walker ---------------------------------------------------------------------------

@lru_cache(maxsize=512)
def _implicit_vr(tag: int) -> bytes:
    try:
        return dictionary_VR(tag).encode()[:2]
    except KeyError:
        return b"UN"


def elements(buf: bytes, pos: int, end: int, explicit: bool,
             sequence_end: Callable[[int, int], int | None] | None = None,
             ) -> Iterator[tuple[int, bytes, int, int, int]]:
    """(tag, VR, value start, value end, next position) of each element of one level; stops at an item end.

    The end of an undefined-length sequence is found by walking it, or by ``sequence_end(tag, start)``
    when that returns a position (the caller vouches for it); a ReferencedSOPSequence is skipped in one
    go when its items check out (:func:`_sop_sequence_end`).
    """
    while pos < end:
        if pos + 8 > end:
            raise Truncated("element header cut")
        group, elem = _TAG.unpack_from(buf, pos)
        tag = group << 16 | elem
        if tag == ITEM_END:
            return
        if explicit:
            vr = buf[pos + 4:pos + 6]
            if vr not in _VRS:
                raise Unusual(f"unknown VR {vr!r}")
            if vr in _LONG_VRS:
                length, start = _U32.unpack_from(buf, pos + 8)[0], pos + 12
            else:
                length, start = _U16.unpack_from(buf, pos + 6)[0], pos + 8
        else:
            vr, length, start = _implicit_vr(tag), _U32.unpack_from(buf, pos + 4)[0], pos + 8
        if length == _UNDEFINED:
            if vr != b"SQ":
                raise Unusual(f"undefined length on a {vr!r} element")
            stop = sequence_end(tag, start) if sequence_end is not None else None
            if stop is None and tag == 0x00081199:
                stop = _sop_sequence_end(buf, start, end, explicit)
            if stop is None:
                stop = _sequence_end(buf, start, end, explicit, sequence_end)
            pos = stop + 8  # after the sequence delimitation item
            yield tag, vr, start, stop, pos
        else:
            if start + length > end:
                raise Truncated(f"element ({group:04X},{elem:04X}) of {length} bytes extends past its container")
            pos = start + length
            yield tag, vr, start, pos, pos


def items(buf: bytes, start: int, end: int, explicit: bool, delimited: bool = False,
          sequence_end: Callable[[int, int], int | None] | None = None) -> Iterator[tuple[int, int]]:
    """(start, end) of each item of a sequence value (defined or undefined lengths).

    ``delimited``: the value has an undefined length and ends at its delimitation item (within ``end``);
    ``sequence_end``: as for :func:`elements`, within undefined-length items.
    """
    pos = start
    while pos < end:
        if pos + 8 > end:
            raise Unusual("item header cut")
        group, elem = _TAG.unpack_from(buf, pos)
        tag = group << 16 | elem
        if tag == SEQ_END and delimited:
            return
        if tag != ITEM:
            raise Unusual("expected an item tag")
        length = _U32.unpack_from(buf, pos + 4)[0]
        if length != _UNDEFINED and pos + 8 + length > end:
            raise Unusual("item extends past its sequence")  # pydicom decides what it makes of it
        if length == _UNDEFINED:
            last = pos + 8
            for _tag, _vr, _s, _e, after in elements(buf, pos + 8, end, explicit, sequence_end):
                last = after
            if buf[last:last + 4] != b"\xfe\xff\x0d\xe0":
                raise Unusual("item without delimiter")
            yield pos + 8, last
            pos = last + 8
        else:
            yield pos + 8, pos + 8 + length
            pos += 8 + length


def _sequence_end(buf: bytes, start: int, end: int, explicit: bool,
                  sequence_end: Callable[[int, int], int | None] | None = None) -> int:
    pos = start
    for _s, stop in items(buf, start, end, explicit, delimited=True, sequence_end=sequence_end):
        pos = stop
        if buf[pos:pos + 4] == b"\xfe\xff\x0d\xe0":
            pos += 8
    if buf[pos:pos + 4] != b"\xfe\xff\xdd\xe0":
        raise Unusual("sequence without delimiter")
    return pos


def _sop_sequence_end(buf: bytes, start: int, end: int, explicit: bool) -> int | None:
    """Where an undefined-length ReferencedSOPSequence ends, without walking it: at the first sequence
    delimitation item, if what lies before it is a run of SOP items that :func:`_sop_block` accepts."""
    found = sop_sequence_block(buf, start, end, explicit)
    return None if found is None else found[0]


def sop_sequence_block(buf: bytes, start: int, end: int, explicit: bool) -> tuple[int, SopBlock] | None:
    """:func:`_sop_sequence_end` with the items read on the way."""
    stop = buf.find(_SEQ_END8, start, end)
    if stop < 0:
        return None
    try:
        return stop, _sop_block(buf, start, stop, explicit)
    except (Unusual, struct.error):
        return None


def content_end(buf: bytes, start: int, end: int, explicit: bool, expected: bytes) -> int | None:
    """Where an undefined-length content sequence starting at ``start`` ends (its delimitation item),
    jumping over ``expected`` (:func:`expected_content` of the evidence) and walking any other item."""
    pos = start
    while pos < end:
        if expected and buf.startswith(expected, pos):
            pos += len(expected)
        elif buf.startswith(_SEQ_END8, pos):
            return pos
        else:
            _i0, i1 = next(items(buf, pos, end, explicit))
            pos = i1 + 8 if buf.startswith(b"\xfe\xff\x0d\xe0", i1) else i1
    return None


def _text(buf: bytes, start: int, end: int, vr: bytes = b"UI") -> str:
    """A UI or UR value as pydicom gives it: trailing padding stripped (PS3.5 §6.2); Unusual if multi-valued."""
    raw = buf[start:end]
    if vr == b"UR":
        return raw.decode("latin-1").rstrip()
    raw = raw.rstrip(b"\x00 ")
    if b"\\" in raw:
        raise Unusual("multi-valued UID")
    return raw.decode("latin-1").strip()  # pydicom's UID class strips whitespace too


def _uid(buf: bytes, start: int, end: int) -> bytes:
    """A SOP reference UID, raw ASCII, padding stripped like pydicom; Unusual for anything else."""
    raw = buf[start:end].rstrip(b"\x00 ")
    if not raw.isascii() or b"\\" in raw:
        raise Unusual("UID with non-ASCII characters or several values")
    return raw.decode("ascii").strip().encode("ascii")  # pydicom's UID class strips whitespace too


# --- evidence -----------------------------------------------------------------------------------

@dataclass
class SopBlock:
    """The SOP reference items of one ReferencedSOPSequence value, as :func:`_sop_block` matched them."""
    pairs: list[tuple[bytes, bytes]]  # (SOP class, SOP instance), raw ASCII
    elements: tuple[bytes, ...]  # the two UI elements of each item, as a content item would repeat them
    uids: set[bytes]  # the SOP instances
    uids_valid: bool  # every UID is a valid DICOM UID (PS3.5 §9.1)
    undefined: bool = False  # the items end with a delimitation item (undefined length)


def _sop_block(buf: bytes, start: int = 0, end: int | None = None, explicit: bool = True) -> SopBlock:
    """(SOP class, SOP instance) of each item of a ReferencedSOPSequence value, without a Python step per item.

    One regex scan, then every declared length is compared with what was matched, in bulk: item length =
    its elements, element length = value + pad, and the items tile the value exactly. So pydicom, which
    follows the declared lengths, reads the same items. The first item gives the layout (its SOP class,
    an Instance Number or not); items of several classes are matched with the generic expression.
    Anything else (undefined lengths, other elements, padding by spaces, a length that lies) raises
    :class:`Unusual`.
    """
    end = len(buf) if end is None else end
    if start == end:
        return SopBlock([], (), set(), True)
    undefined = buf.startswith(b"\xff\xff\xff\xff", start + 4)
    first = _SOP_ITEM[explicit, None, undefined].match(buf, start, end)
    if first is None:
        raise Unusual("SOP reference item of unknown layout")
    number = buf.startswith(b"\x20\x00\x13\x00", first.end())
    cls_len = len(first.group(4)) + len(first.group(5))
    if int.from_bytes(first.group(3), "little") != cls_len:
        raise Unusual("SOP Class UID length")
    try:
        return _same_class_block(buf, start, end, explicit, number, undefined, first.group(2)[:8 + cls_len],
                                 first.group(4))
    except Unusual:
        return _mixed_class_block(buf, start, end, explicit, number, undefined)


def _checked_sizes(cols: list[tuple[bytes, ...]], explicit: bool, number: int | None, undefined: bool,
                   span: int, values: tuple[int, ...]) -> None:
    """Bulk length checks of :func:`_sop_block`; ``values``: the columns (length, value, pad) of UI elements,
    ``number``: the column of the Instance Number length, if any; ``span``: the bytes the items fill."""
    n, short = len(cols[0]), ("H" if explicit else "I")
    size = tuple(map(len, cols[1]))
    if number is not None:
        num_len = tuple(map(len, cols[number + 1]))
        if struct.unpack(f"<{n}{short}", b"".join(cols[number])) != num_len:
            raise Unusual("Instance Number length")
        size = tuple(map(add, size, map(add, num_len, repeat(8))))
    if undefined:  # header and delimitation item around each item
        fits = sum(size) + 16 * n == span
    else:
        item_len = struct.unpack(f"<{n}I", b"".join(cols[0]))
        fits = item_len == size and sum(item_len) + 8 * n == span
    if not fits or any(struct.unpack(f"<{n}{short}", b"".join(cols[k]))
                       != tuple(map(add, map(len, cols[k + 1]), map(len, cols[k + 2]))) for k in values):
        raise Unusual("SOP reference items of unknown layout")


_UID_SHAPE = bytes.maketrans(b"\n23456789", b".11111111")


def _valid_uids(values: tuple[bytes, ...]) -> bool:
    """Every value (digits and dots) is a valid UID (PS3.5 §9.1), checked on all of them at once: joined
    and mapped to dots and ones, an empty component is "..", a leading zero ".0" (or the component 0,
    which gets the exact check)."""
    if not values:
        return True
    shape = (b"\n" + b"\n".join(values) + b"\n").translate(_UID_SHAPE)
    if max(map(len, values)) > 64 or b".." in shape:
        return False
    return b".0" not in shape or all_uids_valid_bytes(values)


def _same_class_block(buf: bytes, start: int, end: int, explicit: bool, number: bool, undefined: bool,
                      class_element: bytes, cls: bytes) -> SopBlock:
    found = _same_class_re(explicit, number, undefined, class_element).findall(buf, start, end)
    if not found:
        raise Unusual("no SOP reference item")
    cols = list(zip(*found, strict=True))  # item length, elements, instance length, instance, pad[, number]
    _checked_sizes(cols, explicit, 5 if number else None, undefined, end - start, (2,))
    return SopBlock(list(zip(repeat(cls), cols[3])), cols[1], set(cols[3]), _valid_uids((cls,))
                    and _valid_uids(cols[3]), undefined)


def _mixed_class_block(buf: bytes, start: int, end: int, explicit: bool, number: bool,
                       undefined: bool) -> SopBlock:
    found = _SOP_ITEM[explicit, number, undefined].findall(buf, start, end)
    cols = list(zip(*found, strict=True))  # item length, elements, class length, class, pad, instance...
    if not cols:
        raise Unusual("no SOP reference item")
    _checked_sizes(cols, explicit, 8 if number else None, undefined, end - start, (2, 5))
    return SopBlock(list(zip(cols[3], cols[6], strict=True)), cols[1], set(cols[6]),
                    _valid_uids(cols[3]) and _valid_uids(cols[6]), undefined)


def _walk_sops(buf: bytes, start: int, end: int, explicit: bool) -> list[tuple[bytes, bytes]]:
    """The pairs of :func:`_sop_block`, one element at a time: any lengths, defined or not (slower)."""
    pairs = []
    for i0, i1 in items(buf, start, end, explicit):
        cls = uid = b""
        for tag, _vr, v0, v1, _n in elements(buf, i0, i1, explicit):
            if tag == 0x00081150:
                cls = _uid(buf, v0, v1)
            elif tag == 0x00081155:
                uid = _uid(buf, v0, v1)
        pairs.append((cls, uid))
    return pairs


def _sops(buf: bytes, start: int, end: int, explicit: bool) -> tuple[list[tuple[bytes, bytes]], SopBlock | None]:
    try:
        block = _sop_block(buf, start, end, explicit)
        return block.pairs, block
    except (Unusual, struct.error):
        return _walk_sops(buf, start, end, explicit), None


def _decode_pairs(pairs: list[tuple[bytes, bytes]]) -> list[tuple[str, str]]:
    """One decode for all the UIDs (C speed), not two per reference."""
    if not pairs:
        return []
    flat = b"\n".join(chain.from_iterable(pairs)).decode("utf-8", "replace").split("\n")
    return list(zip(flat[0::2], flat[1::2], strict=True))


_EVIDENCE_VR = {0x0020000D: b"UI", 0x0020000E: b"UI", 0x00081190: b"UR", 0x0040E011: b"UI",
                0x00081115: b"SQ", 0x00081199: b"SQ"}


def _expect_vr(tag: int, vr: bytes, explicit: bool) -> None:
    """An element of the evidence with another VR than its dictionary one: pydicom decides (PS3.5 §7.1.2)."""
    if explicit and tag in _EVIDENCE_VR and vr != _EVIDENCE_VR[tag]:
        raise Unusual(f"VR {vr!r} for ({tag >> 16:04X},{tag & 0xFFFF:04X})")


def evidence_from_raw(buf: bytes, explicit: bool, start: int = 0, end: int | None = None,
                      sequence_end: Callable[[int, int], int | None] | None = None) -> list[StudyRef]:
    """Parse the raw value of (0040,A375) Current Requested Procedure Evidence Sequence (``buf[start:end]``).

    ``sequence_end``: as for :func:`elements`; when it has ``blocks`` (value start -> :class:`SopBlock`),
    the SOP items it read already are not read again.
    """
    studies = []
    end = len(buf) if end is None else end
    for s_start, s_end in items(buf, start, end, explicit, sequence_end=sequence_end):
        study = StudyRef("", has_series_sequence=False)
        for tag, vr, v0, v1, _n in elements(buf, s_start, s_end, explicit, sequence_end):
            _expect_vr(tag, vr, explicit)
            if tag == 0x0020000D:
                study.uid = _text(buf, v0, v1)
            elif tag == 0x00081115:
                study.has_series_sequence = v1 > v0
                study.series = [_series(buf, a, b, explicit, sequence_end)
                                for a, b in items(buf, v0, v1, explicit, sequence_end=sequence_end)]
        studies.append(study)
    return studies


def _series(buf: bytes, start: int, end: int, explicit: bool,
            sequence_end: Callable[[int, int], int | None] | None = None) -> SeriesRef:
    series = SeriesRef("", None, None, has_sop_sequence=False)
    known: dict[int, SopBlock] = getattr(sequence_end, "blocks", {})
    for tag, vr, v0, v1, _n in elements(buf, start, end, explicit, sequence_end):
        _expect_vr(tag, vr, explicit)
        if tag == 0x0020000E:
            series.uid = _text(buf, v0, v1)
        elif tag == 0x00081190:
            series.url = _text(buf, v0, v1, b"UR")
        elif tag == 0x0040E011:
            series.location_uid = _text(buf, v0, v1)
        elif tag == 0x00081199:
            block = known.get(v0)
            series.pairs, series.block = (block.pairs, block) if block is not None else _sops(buf, v0, v1, explicit)
            series.has_sop_sequence = bool(series.pairs)
    return series


# --- content --------------------------------------------------------------------------------------

@dataclass
class ContentScan:
    """What the content tree says about the references, without item positions (enough when all is well)."""
    refs: list[tuple[bytes, bytes]]  # (SOP class, SOP instance) of each IMAGE/COMPOSITE/WAVEFORM item
    all_contains: bool  # every item hangs by CONTAINS
    all_referenced: bool  # every IMAGE/COMPOSITE/WAVEFORM item has a ReferencedSOPSequence item
    same_as_evidence: bool = False  # refs are the evidence references, in the same order


_CONTENT_OVERHEAD = {True: 34, False: 28}  # item length - SQ length - ValueType (length + value), by VR
# What a CONTAINS IMAGE item adds around the SOP reference it repeats from the evidence (PS3.16 TID 2010)
_SQ_HEAD = {True: b"\x08\x00\x99\x11SQ\x00\x00", False: b"\x08\x00\x99\x11"}
_TAIL = {True: b"\x40\x00\x10\xa0CS\x08\x00CONTAINS\x40\x00\x40\xa0CS\x06\x00IMAGE ",
         False: b"\x40\x00\x10\xa0\x08\x00\x00\x00CONTAINS\x40\x00\x40\xa0\x06\x00\x00\x00IMAGE "}


def expected_content(blocks: list[SopBlock], explicit: bool, undefined: bool = False) -> bytes:
    """The content sequence value a manifest usually has: one CONTAINS IMAGE item per evidenced instance,
    in the evidence order, each repeating the SOP reference, with defined lengths or (``undefined``) every
    item and sequence ended by its delimitation item (as dcm4che writes them), in this transfer syntax."""
    head, tail = _SQ_HEAD[explicit], _TAIL[explicit]
    if undefined:
        start = b"\xfe\xff\x00\xe0\xff\xff\xff\xff" + head + b"\xff\xff\xff\xff\xfe\xff\x00\xe0\xff\xff\xff\xff"
        end = _ITEM_END8 + _SEQ_END8 + tail + _ITEM_END8
        return b"".join(chain.from_iterable(chain.from_iterable(
            zip(repeat(start), block.elements, repeat(end)) for block in blocks)))
    heads: dict[int, bytes] = {}
    for size in set().union(*(map(len, block.elements) for block in blocks)):
        sop_item = size + 8
        heads[size] = b"".join((b"\xfe\xff\x00\xe0", _U32.pack(len(head) + 4 + sop_item + len(tail)), head,
                                _U32.pack(sop_item), b"\xfe\xff\x00\xe0", _U32.pack(size)))
    return b"".join(chain.from_iterable(chain.from_iterable(
        zip(map(heads.__getitem__, map(len, block.elements)), block.elements, repeat(tail)) for block in blocks)))


def content_from_raw(buf: bytes, explicit: bool, blocks: list[SopBlock] | None = None,
                     evidence_pairs: list[tuple[bytes, bytes]] | None = None) -> ContentScan:
    """Read the raw value of (0040,A730) Content Sequence (first level).

    Usually the content is one CONTAINS IMAGE item per evidenced instance, in the evidence order: the
    bytes are then exactly :func:`expected_content` of the evidence ``blocks`` (one comparison), maybe
    after or before other items (a TEXT description), walked element by element. Otherwise the usual
    items are matched by one regex split, their lengths checked in bulk, their SOP items checked like the
    evidence ones; the other items (the gaps of the split) are walked. When unsure, every item is walked.
    """
    try:
        if blocks is not None and evidence_pairs is not None:
            scan = _content_like_evidence(buf, explicit, blocks, evidence_pairs)
            if scan is not None:
                return scan
        return _split_content(buf, explicit)
    except (Unusual, struct.error, ValueError):
        return _walk_content(buf, 0, len(buf), explicit)


def _content_like_evidence(buf: bytes, explicit: bool, blocks: list[SopBlock],
                           evidence_pairs: list[tuple[bytes, bytes]]) -> ContentScan | None:
    expected = expected_content(blocks, explicit, buf.startswith(b"\xff\xff\xff\xff", 4))
    if buf == expected:
        return ContentScan(evidence_pairs, True, True, same_as_evidence=True)
    if not expected or len(buf) <= len(expected):
        return None
    if buf.endswith(expected):
        other = _walk_content(buf, 0, len(buf) - len(expected), explicit)
    elif buf.startswith(expected):
        other = _walk_content(buf, len(expected), len(buf), explicit)
    else:
        return None
    return ContentScan(evidence_pairs + other.refs, other.all_contains, other.all_referenced)


def _split_content(buf: bytes, explicit: bool) -> ContentScan:
    parts = _CONTENT_ITEM[explicit].split(buf)
    n = len(parts) // 5
    item_len, sq_len, inner, vt = parts[1::5], parts[2::5], parts[3::5], parts[4::5]
    if n:
        sq_lens = struct.unpack(f"<{n}I", b"".join(sq_len))
        if sq_lens != tuple(map(len, inner)) or tuple(map(sub, struct.unpack(f"<{n}I", b"".join(item_len)),
                                                          map(add, sq_lens, map(len, vt)))) \
                != (_CONTENT_OVERHEAD[explicit],) * n:
            raise Unusual("content item lengths")
    scan = ContentScan(_sop_block(b"".join(inner), explicit=explicit).pairs, True, True)
    for gap in parts[0::5]:
        if gap:
            other = _walk_content(gap, 0, len(gap), explicit)
            scan.refs += other.refs
            scan.all_contains &= other.all_contains
            scan.all_referenced &= other.all_referenced
    return scan


def _walk_content(buf: bytes, start: int, end: int, explicit: bool) -> ContentScan:
    scan = ContentScan([], True, True)
    for i0, i1 in items(buf, start, end, explicit):
        relationship, value_type, ref = _content_item(buf, i0, i1, explicit)
        scan.all_contains &= relationship == "CONTAINS"
        if value_type in ("IMAGE", "COMPOSITE", "WAVEFORM"):
            if ref is None:
                scan.all_referenced = False
            else:
                scan.refs.append(ref)
    return scan


def _code_string(buf: bytes, start: int, end: int) -> str:
    raw = buf[start:end].rstrip(b" \x00")
    if not raw.isascii() or b"\\" in raw:
        raise Unusual("code string with non-ASCII characters or several values")
    return raw.decode("ascii")


def _content_item(buf: bytes, start: int, end: int,
                  explicit: bool) -> tuple[str, str, tuple[bytes, bytes] | None]:
    """Relationship, value type and first reference (raw ASCII) of one content item."""
    relationship = value_type = ""
    ref = None
    for tag, vr, v0, v1, _n in elements(buf, start, end, explicit):
        if explicit and tag in (0x0040A010, 0x0040A040, 0x00081199) and vr != (b"SQ" if tag == 0x00081199 else b"CS"):
            raise Unusual("content item element with an unexpected VR")
        if tag == 0x0040A010:
            relationship = _code_string(buf, v0, v1)
        elif tag == 0x0040A040:
            value_type = _code_string(buf, v0, v1)
        elif tag == 0x00081199:
            refs = _walk_sops(buf, v0, v1, explicit)
            ref = refs[0] if refs else None
    return relationship, value_type, ref


# --- slow path (pydicom), same structures ----------------------------------------------------------

def evidence_from_dataset(ds: Dataset) -> list[StudyRef]:
    studies = []
    for study in ds.get("CurrentRequestedProcedureEvidenceSequence") or []:
        ref = StudyRef(str(study.get("StudyInstanceUID", "") or ""),
                       has_series_sequence=bool(study.get("ReferencedSeriesSequence")))
        for series in study.get("ReferencedSeriesSequence") or []:
            sops = [(_b(s.get("ReferencedSOPClassUID")), _b(s.get("ReferencedSOPInstanceUID")))
                    for s in series.get("ReferencedSOPSequence") or []]
            ref.series.append(SeriesRef(
                str(series.get("SeriesInstanceUID", "") or ""),
                str(series.RetrieveURL) if series.get("RetrieveURL") else None,
                str(series.RetrieveLocationUID) if series.get("RetrieveLocationUID") else None,
                sops, bool(sops)))
        studies.append(ref)
    return studies


def _b(value: object) -> bytes:
    return str(value or "").encode("utf-8", "surrogateescape")


def content_from_dataset(ds: Dataset) -> list[ContentItem]:
    out = []
    for item in ds.get("ContentSequence") or []:
        refs = item.get("ReferencedSOPSequence") or []
        ref = (str(refs[0].get("ReferencedSOPClassUID", "") or ""),
               str(refs[0].get("ReferencedSOPInstanceUID", "") or "")) if refs else None
        out.append(ContentItem(str(item.get("RelationshipType", "") or ""), str(item.get("ValueType", "") or ""), ref))
    return out
