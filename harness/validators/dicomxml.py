"""DICOM written as XML -> a pydicom Dataset, sans-IO (bytes in, Dataset out).

Two forms are read, the one the ANS cross-validator takes and the standard one:

- dcmtk ``dcm2xml`` (``<file-format><meta-header/><data-set/>``, or a bare ``<data-set>``; optional
  namespace ``http://dicom.offis.de/dcmtk``): ``<element tag="gggg,eeee" vr=".." >value</element>`` with
  values separated by ``\\``, ``<sequence><item>...</item></sequence>``, binary values as hex
  (``binary="yes"``), base64 (``binary="base64"``) or left out (``binary="hidden"``);
- the DICOM PS3.19 §A.1 Native DICOM Model (``<NativeDicomModel>``, namespace optional):
  ``<DicomAttribute tag="ggggeeee" vr="..">`` holding ``<Value number="n">``, ``<PersonName>``
  (PS3.19 §A.1.5), ``<Item>``, ``<InlineBinary>`` or ``<BulkData>`` (not available offline).

Every value becomes the raw element a Part 10 file would hold (Explicit VR Little Endian, text encoded
in the declared Specific Character Set, PS3.5 §6.1), so pydicom converts and checks it exactly as when it
reads a file. Parsing goes through :func:`harness.xmlsafe.parse_xml` (no DTD, no entities, size limit),
and the tree is bounded (depth of sequences, number of elements). Public: :func:`is_dicom_xml`,
:func:`read_dicom_xml`, :class:`DicomXml`, :class:`DicomXmlError`.
"""

from __future__ import annotations

import base64
import binascii
import re
import struct
import warnings
from dataclasses import dataclass, field

from lxml import etree
from pydicom.charset import convert_encodings, default_encoding, encode_string
from pydicom.dataelem import DataElement, RawDataElement
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.tag import BaseTag
from pydicom.uid import ExplicitVRLittleEndian

from harness.xmlsafe import UnsafeXmlError, parse_xml

MAX_DICOM_XML_BYTES = 64 * 1024 * 1024
MAX_DEPTH = 32  # nested sequences (a KOS has 3, an SR tree rarely more than 10)
MAX_ELEMENTS = 2_000_000  # attributes in the whole document

# Root element (local name) -> form
FORMS = {"file-format": "dcmtk dcm2xml", "data-set": "dcmtk dcm2xml", "NativeDicomModel": "PS3.19 Native DICOM Model"}

# PS3.5 §6.2 Table 6.2-1: how each VR is stored
TEXT_VRS = {"AE", "AS", "CS", "DA", "DS", "DT", "IS", "LO", "LT", "PN", "SH", "ST", "TM", "UC", "UI", "UR", "UT"}
SINGLE_VALUE_TEXT = {"LT", "ST", "UT", "UR"}  # the backslash is part of the value (PS3.5 §6.4)
NUMBER_FORMATS = {"US": "H", "SS": "h", "UL": "I", "SL": "i", "FL": "f", "FD": "d", "UV": "Q", "SV": "q"}
WORD_BYTES = {"OB": 1, "UN": 1, "OW": 2, "OF": 4, "OL": 4, "OD": 8, "OV": 8}
_HEX = re.compile(r"[0-9A-Fa-f]+\Z")
_TAG_COMMA = re.compile(r"\(?([0-9A-Fa-f]{4}),([0-9A-Fa-f]{4})\)?\Z")
_TAG_PLAIN = re.compile(r"[0-9A-Fa-f]{8}\Z")
_NAME_PARTS = ("FamilyName", "GivenName", "MiddleName", "NamePrefix", "NameSuffix")  # PS3.19 §A.1.5


class DicomXmlError(ValueError):
    """The XML is not a DICOM dataset in a known form, or breaks a limit."""


@dataclass
class DicomXml:
    """What was read: the dataset (with ``file_meta`` when the XML has one), the form, and notes on what
    the XML could not carry (hidden binary values, bulk data, values re-encoded with another charset)."""

    dataset: Dataset
    form: str
    has_meta: bool
    notes: list[str] = field(default_factory=list)
    hidden: list[str] = field(default_factory=list)  # tags (gggg,eeee) whose value the XML leaves out


def local(tag: object) -> str:
    return etree.QName(tag).localname if isinstance(tag, str) else ""


def is_dicom_xml(root_name: str | None) -> bool:
    """True for the root element of a dcm2xml or PS3.19 Native DICOM Model document."""
    return root_name in FORMS


def read_dicom_xml(data: bytes, max_bytes: int = MAX_DICOM_XML_BYTES) -> DicomXml:
    """Parse DICOM-as-XML (see the module docstring); raise :class:`DicomXmlError` saying why not."""
    try:
        root = parse_xml(data, max_bytes=max_bytes)
    except UnsafeXmlError as exc:
        raise DicomXmlError(str(exc)) from None
    name = local(root.tag)
    if name not in FORMS:
        raise DicomXmlError(f"root element <{name}> is neither dcm2xml's file-format/data-set nor "
                            "PS3.19 NativeDicomModel")
    reader = _Reader()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        if name == "NativeDicomModel":
            elements = reader.native(root, [default_encoding], 0)
        else:
            data_set = root if name == "data-set" else _child(root, "data-set")
            meta = None if name == "data-set" else _child(root, "meta-header")
            if data_set is None:
                raise DicomXmlError("dcm2xml file-format without a data-set element")
            elements = reader.dcmtk(meta, [default_encoding], 0) if meta is not None else {}
            elements.update(reader.dcmtk(data_set, [default_encoding], 0))
    return _assemble(elements, FORMS[name], reader)


def _child(root: etree._Element, name: str) -> etree._Element | None:
    return next((c for c in root if local(c.tag) == name), None)


def _assemble(elements: dict[int, DataElement | RawDataElement], form: str, reader: _Reader) -> DicomXml:
    meta = {t: e for t, e in elements.items() if t >> 16 == 0x0002}
    body = {t: e for t, e in elements.items() if t >> 16 != 0x0002}
    ds = Dataset(body)
    ds.file_meta = FileMetaDataset(meta)
    has_meta = "TransferSyntaxUID" in ds.file_meta
    if not has_meta:
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        reader.notes.append("no File Meta Information in the XML: read as Explicit VR Little Endian")
    ds.set_original_encoding(False, True, reader.charset_of(body, [default_encoding]))
    return DicomXml(ds, form, has_meta, reader.notes, reader.hidden)


class _Reader:
    """Walks the tree once; counts elements and depth (limits) and collects notes."""

    def __init__(self) -> None:
        self.count = 0
        self.notes: list[str] = []
        self.hidden: list[str] = []

    def _tick(self, depth: int) -> None:
        self.count += 1
        if self.count > MAX_ELEMENTS:
            raise DicomXmlError(f"more than {MAX_ELEMENTS} attributes")
        if depth > MAX_DEPTH:
            raise DicomXmlError(f"sequences nested deeper than {MAX_DEPTH}")

    def charset_of(self, elements: dict, parent: list[str]) -> list[str]:
        """The encodings of a dataset or item: its own (0008,0005), else its parent's (PS3.5 §6.1.2.5)."""
        elem = elements.get(0x00080005)
        if elem is None:
            return parent
        raw = elem.value if isinstance(elem, RawDataElement) else b""
        terms = [t.strip() for t in raw.decode("ascii", "replace").split("\\")]
        try:
            return convert_encodings(terms if any(terms) else [""])
        except LookupError:
            return parent

    # --- dcmtk dcm2xml ---------------------------------------------------------------------------

    def dcmtk(self, parent: etree._Element, encodings: list[str], depth: int) -> dict:
        """``<element>`` / ``<sequence>`` children of a meta-header, data-set or item."""
        out: dict[int, DataElement | RawDataElement] = {}
        children = [c for c in parent if local(c.tag) in ("element", "sequence")]
        charset = next((c for c in children if _dcmtk_tag(c) == 0x00080005), None)
        if charset is not None and (value := self._dcmtk_element(charset, encodings)) is not None:
            out[BaseTag(0x00080005)] = value
            encodings = self.charset_of(out, encodings)
        for child in children:
            self._tick(depth)
            tag = _dcmtk_tag(child)
            if tag in out:
                continue
            if local(child.tag) == "sequence":
                if child.get("vr", "SQ") != "SQ":  # encapsulated pixel data: <pixel-item>s
                    self.hidden.append(_fmt(tag))
                    continue
                items = [self.dcmtk(i, encodings, depth + 1) for i in child if local(i.tag) == "item"]
                out[tag] = DataElement(tag, "SQ", Sequence([self._item(i, encodings) for i in items]))
            else:
                elem = self._dcmtk_element(child, encodings)
                if elem is not None:
                    out[tag] = elem
        return out

    def _item(self, elements: dict, encodings: list[str]) -> Dataset:
        item = Dataset(elements, parent_encoding=encodings)
        item.set_original_encoding(False, True, self.charset_of(elements, encodings))
        return item

    def _dcmtk_element(self, elem: etree._Element, encodings: list[str]) -> RawDataElement | None:
        tag, vr = _dcmtk_tag(elem), (elem.get("vr") or "UN").upper()
        binary = (elem.get("binary") or "no").lower()
        text = elem.text or ""
        if binary == "hidden" or elem.get("loaded") == "no" or binary == "file":
            self.hidden.append(_fmt(tag))
            return None
        if binary == "base64":
            value = _b64(text, tag)
        elif binary == "yes" or (vr in WORD_BYTES and text.strip()):
            value = _hex_words(text, WORD_BYTES.get(vr, 1), tag)
        else:
            value = self._encode(tag, vr, text.split("\\") if vr not in SINGLE_VALUE_TEXT else [text], encodings)
        return _raw(tag, vr, value)

    # --- PS3.19 Native DICOM Model ---------------------------------------------------------------

    def native(self, parent: etree._Element, encodings: list[str], depth: int) -> dict:
        """``<DicomAttribute>`` children of a NativeDicomModel or an Item (PS3.19 §A.1.1)."""
        out: dict[int, DataElement | RawDataElement] = {}
        children = [c for c in parent if local(c.tag) == "DicomAttribute"]
        charset = next((c for c in children if _native_tag(c) == 0x00080005), None)
        if charset is not None and (value := self._native_element(charset, encodings, depth)) is not None:
            out[BaseTag(0x00080005)] = value
            encodings = self.charset_of(out, encodings)
        for child in children:
            self._tick(depth)
            tag = _native_tag(child)
            if tag not in out:
                elem = self._native_element(child, encodings, depth)
                if elem is not None:
                    out[tag] = elem
        return out

    def _native_element(self, elem: etree._Element, encodings: list[str], depth: int
                        ) -> DataElement | RawDataElement | None:
        tag, vr = _native_tag(elem), (elem.get("vr") or "UN").upper()
        kids = [c for c in elem if isinstance(c.tag, str)]
        if vr == "SQ":
            items = sorted((c for c in kids if local(c.tag) == "Item"), key=_number)
            return DataElement(tag, "SQ", Sequence([self._item(self.native(i, encodings, depth + 1), encodings)
                                                    for i in items]))
        inline = next((c for c in kids if local(c.tag) == "InlineBinary"), None)
        if inline is not None:
            return _raw(tag, vr, _b64(inline.text or "", tag))
        if any(local(c.tag) == "BulkData" for c in kids):
            self.hidden.append(_fmt(tag))
            return None
        if vr == "PN":
            values = [_person_name(p) for p in sorted((c for c in kids if local(c.tag) == "PersonName"), key=_number)]
        else:
            values = [c.text or "" for c in sorted((c for c in kids if local(c.tag) == "Value"), key=_number)]
        if vr == "AT":
            values = [_at_plain(v, tag) for v in values]
        return _raw(tag, vr, self._encode(tag, vr, values, encodings))

    # --- values ----------------------------------------------------------------------------------

    def _encode(self, tag: int, vr: str, values: list[str], encodings: list[str]) -> bytes:
        """Values as a Part 10 file stores them (PS3.5 §6.2, §7.1.2: padded to an even length)."""
        if vr in NUMBER_FORMATS:
            return _numbers(values, NUMBER_FORMATS[vr], tag)
        if vr == "AT":
            return b"".join(struct.pack("<HH", t >> 16, t & 0xFFFF) for t in (_at(v, tag) for v in values if v))
        if vr not in TEXT_VRS:
            raise DicomXmlError(f"{_fmt(tag)}: VR {vr} given as text")
        text = "\\".join(values)
        try:
            raw = encode_string(text, encodings) if vr in ("LO", "LT", "PN", "SH", "ST", "UC", "UT") \
                else text.encode("ascii")
        except (UnicodeEncodeError, LookupError):
            self.notes.append(f"{_fmt(tag)}: value not representable in the declared character set, kept as UTF-8")
            raw = text.encode("utf-8")
        return raw + (b"\0" if vr == "UI" else b" ") * (len(raw) % 2)


def _raw(tag: int, vr: str, value: bytes) -> RawDataElement:
    return RawDataElement(BaseTag(tag), vr, len(value), value, 0, False, True)


def _dcmtk_tag(elem: etree._Element) -> BaseTag:
    text = elem.get("tag") or ""
    m = _TAG_COMMA.match(text)
    if not m:
        raise DicomXmlError(f"<{local(elem.tag)}> tag {text!r} is not gggg,eeee")
    return BaseTag(int(m.group(1) + m.group(2), 16))


def _native_tag(elem: etree._Element) -> BaseTag:
    text = elem.get("tag") or ""
    if not _TAG_PLAIN.match(text):
        raise DicomXmlError(f"DicomAttribute tag {text!r} is not 8 hexadecimal digits (PS3.19 §A.1.1)")
    return BaseTag(int(text, 16))


def _number(elem: etree._Element) -> int:
    value = elem.get("number") or "0"
    return int(value) if value.isdigit() else 0


def _fmt(tag: int) -> str:
    return f"({tag >> 16:04X},{tag & 0xFFFF:04X})"


def _person_name(elem: etree._Element) -> str:
    """PS3.19 §A.1.5: Alphabetic / Ideographic / Phonetic groups of name components -> PN string."""
    groups = []
    for group in ("Alphabetic", "Ideographic", "Phonetic"):
        node = next((c for c in elem if local(c.tag) == group), None)
        parts = [] if node is None else [next((c.text or "" for c in node if local(c.tag) == p), "")
                                         for p in _NAME_PARTS]
        groups.append("^".join(parts).rstrip("^"))
    return "=".join(groups).rstrip("=")


def _numbers(values: list[str], fmt: str, tag: int) -> bytes:
    out = []
    for v in values:
        v = v.strip()
        if not v:
            continue
        try:
            out.append(struct.pack("<" + fmt, float(v) if fmt in "fd" else int(v, 0)))
        except (ValueError, struct.error):
            raise DicomXmlError(f"{_fmt(tag)}: {v!r} is not a {fmt!r} number") from None
    return b"".join(out)


def _at(value: str, tag: int) -> int:
    value = value.strip()
    m = _TAG_COMMA.match(value)
    if m:
        return int(m.group(1) + m.group(2), 16)
    if _TAG_PLAIN.match(value):
        return int(value, 16)
    raise DicomXmlError(f"{_fmt(tag)}: AT value {value!r} is not a tag")


def _at_plain(value: str, tag: int) -> str:
    return f"{_at(value, tag):08X}"


def _b64(text: str, tag: int) -> bytes:
    """base64 binary (dcm2xml ``binary="base64"``, PS3.19 InlineBinary), padded to an even length."""
    try:
        value = base64.b64decode("".join(text.split()), validate=True)
    except (binascii.Error, ValueError):
        raise DicomXmlError(f"{_fmt(tag)}: binary value is not base64") from None
    return value + b"\0" * (len(value) % 2)


def _hex_words(text: str, width: int, tag: int) -> bytes:
    """dcm2xml hex values (``binary="yes"``): one hex number per word, separated by ``\\``."""
    out = bytearray()
    for word in text.split("\\"):
        word = word.strip()
        if not word:
            continue
        if not _HEX.match(word) or len(word) > 2 * width:
            raise DicomXmlError(f"{_fmt(tag)}: {word[:20]!r} is not a hex value of {width} byte(s)")
        out += int(word, 16).to_bytes(width, "little")
    return bytes(out) + b"\0" * (len(out) % 2)
