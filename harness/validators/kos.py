"""KOS manifest validator: DICOM Part 10, the KOS IOD, TID 2010, XDS-I.b and the DRIMbox rules.

Public: :func:`validate_kos` (findings), :func:`read_kos` (bytes/path/dataset -> Dataset),
:func:`kos_facts` (identity, study, accession, modalities: the input of the cross-document checks).

Rule ids are the catalog ids of ``testplans/catalog/content.yaml`` (KOS-*). Profile ``xds`` runs the
DICOM and IHE rules only (KOS-PARSE/IOD/SR/EVD, with KOS-EVD-003 for the RAD-69 retrieve location);
``dmp`` adds the CI-SIS / DRIMbox rules (KOS-URL/PAT/REQ/DRIM; ANS DRIM-M_DATA
test a blanc/Cross-validateur/OK_Cas_Passant/KOS_OK.xml).
Locations are DICOM tag paths: ``(0040,A375)[0]>(0008,1115)[1]>(0008,1190)``.

Speed (>= 200 manifests of 1300 references per second, ``bench/bench_kos.py``): the evidence and
content sequences are cut out of the file and read by ``kosrefs`` from raw bytes (every declared length
checked); the other elements become pydicom raw elements without a second ``dcmread``, and the checks
read plain ASCII values and defined-length sequences straight from them (:class:`_Values`), leaving
every other value to pydicom's conversion. pydicom reads the references only to locate a problem, or
when their layout is unusual. Both paths give the same findings, on good, broken and fuzzed files
(``tests/validators/test_kos_fastpath.py``, against ``dcmread`` of the whole file).
"""

from __future__ import annotations

import io
import re
import struct
import warnings
from collections.abc import Iterator
from itertools import chain
from pathlib import Path
from urllib.parse import urlsplit

import pydicom
from pydicom import config
from pydicom.charset import convert_encodings, default_encoding
from pydicom.datadict import dictionary_VR, tag_for_keyword
from pydicom.dataelem import RawDataElement, convert_raw_data_element
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.errors import InvalidDicomError
from pydicom.sequence import Sequence
from pydicom.tag import BaseTag

from harness.dicomweb.paths import parse_wado_path
from harness.findings import Finding, error, info, warning
from harness.validators.common import INS_OIDS, all_uids_valid_bytes, is_oid, is_uid, nir_key_ok
from harness.validators.kosrefs import (
    ContentItem,
    ContentScan,
    SopBlock,
    StudyRef,
    Truncated,
    Unusual,
    content_from_dataset,
    content_from_raw,
    elements,
    evidence_from_dataset,
    evidence_from_raw,
    expected_content,
    items,
    sop_sequence_block,
)
from harness.validators.kosrefs import content_end as kosrefs_content_end

KOS_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.88.59"  # DICOM PS3.4 B.5
TRANSFER_SYNTAXES = {  # both occur in the ANS DRIM-M_DATA KOS samples
    "1.2.840.10008.1.2": "Implicit VR Little Endian",
    "1.2.840.10008.1.2.1": "Explicit VR Little Endian",
}
INS_ISSUERS = ("ASIP-SANTE-INS-NIR", "ASIP-SANTE-INS-NIA")  # ANS DRIM-M_DATA KOS_OK.xml
REFERENCE_VALUE_TYPES = ("IMAGE", "COMPOSITE", "WAVEFORM")  # PS3.16 TID 2010
MAX_KOS_BYTES = 256 * 1024 * 1024

# SOP class -> modality (DICOM PS3.4 B.5), used to compare the KOS series with XDS eventCodes.
SOP_CLASS_MODALITY: dict[str, str] = {
    "1.2.840.10008.5.1.4.1.1.2": "CT", "1.2.840.10008.5.1.4.1.1.2.1": "CT",
    "1.2.840.10008.5.1.4.1.1.4": "MR", "1.2.840.10008.5.1.4.1.1.4.1": "MR",
    "1.2.840.10008.5.1.4.1.1.1": "CR", "1.2.840.10008.5.1.4.1.1.1.1": "DX",
    "1.2.840.10008.5.1.4.1.1.1.2": "MG", "1.2.840.10008.5.1.4.1.1.6.1": "US",
    "1.2.840.10008.5.1.4.1.1.3.1": "US", "1.2.840.10008.5.1.4.1.1.20": "NM",
    "1.2.840.10008.5.1.4.1.1.128": "PT", "1.2.840.10008.5.1.4.1.1.130": "PT",
    "1.2.840.10008.5.1.4.1.1.12.1": "XA", "1.2.840.10008.5.1.4.1.1.12.2": "RF",
    "1.2.840.10008.5.1.4.1.1.481.1": "RTIMAGE",
}

# Type 1 / type 2 attributes not already owned by another rule (DICOM PS3.3 A.35.4).
_TYPE1 = {"SOPInstanceUID": "(0008,0018)", "StudyInstanceUID": "(0020,000D)",
          "SeriesInstanceUID": "(0020,000E)", "SeriesNumber": "(0020,0011)",
          "InstanceNumber": "(0020,0013)", "ContentDate": "(0008,0023)", "ContentTime": "(0008,0033)"}
_TYPE2 = {"PatientName": "(0010,0010)", "PatientID": "(0010,0020)", "PatientBirthDate": "(0010,0030)",
          "PatientSex": "(0010,0040)", "StudyDate": "(0008,0020)", "StudyTime": "(0008,0030)",
          "ReferringPhysicianName": "(0008,0090)", "StudyID": "(0020,0010)",
          "AccessionNumber": "(0008,0050)", "Manufacturer": "(0008,0070)",
          "ReferencedPerformedProcedureStepSequence": "(0008,1111)"}

EVIDENCE = "(0040,A375)"
SERIES = "(0008,1115)"
SOPS = "(0008,1199)"
CONTENT = "(0040,A730)"
_DATE = re.compile(r"[0-9]{8}\Z")
_INSEE = re.compile(r"[0-9][0-9AB][0-9]{3}\Z")
_KOS_TITLE = re.compile(r"11[0-9]{4}\Z")  # a DCM code of the 113xxx family: CID 7010 titles


class KosReadError(ValueError):
    """The bytes are not a readable DICOM Part 10 file."""


def read_kos(data: bytes | Path | Dataset, *, stop_before_pixels: bool = True) -> Dataset:
    """Parse a Part 10 file (DICOM PS3.10 §7.1) or raise KosReadError with the reason."""
    if isinstance(data, Dataset):
        return data
    if isinstance(data, Path):
        if data.stat().st_size > MAX_KOS_BYTES:
            raise KosReadError(f"file of {data.stat().st_size} bytes exceeds {MAX_KOS_BYTES}")
        data = data.read_bytes()
    if len(data) > MAX_KOS_BYTES:
        raise KosReadError(f"{len(data)} bytes exceeds {MAX_KOS_BYTES}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # pydicom's value warnings: our rules report them
            ds = pydicom.dcmread(io.BytesIO(data), stop_before_pixels=stop_before_pixels)
    except InvalidDicomError as exc:
        raise KosReadError(f"not a DICOM Part 10 file: {exc}") from None
    except Exception as exc:  # pydicom raises many types on truncated or corrupt input
        raise KosReadError(f"unreadable DICOM ({exc.__class__.__name__}: {exc})") from None
    return ds


def validate_kos(data: bytes | Path | Dataset, *, profile: str = "dmp",
                 dciodvfy: bool = False) -> list[Finding]:
    """Validate a KOS manifest; ``dciodvfy=True`` also merges dicom3tools' messages (origin dciodvfy)."""
    try:
        if isinstance(data, Path) and data.stat().st_size > MAX_KOS_BYTES:
            raise KosReadError(f"file of {data.stat().st_size} bytes exceeds {MAX_KOS_BYTES}")
        raw = data.read_bytes() if isinstance(data, Path) else data
        ds, cut = _read_fast(raw) if isinstance(raw, bytes) else (read_kos(raw), None)
    except (KosReadError, OSError) as exc:
        return [error("KOS-PARSE-001", "(file)", str(exc), "DICOM Part 10 file", "unreadable")]
    findings = list(_check_meta(ds))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # pydicom converts values lazily and warns; we report
            findings += _check_all(ds, profile, cut)
    except Exception as exc:  # a malformed value must become a finding, never a crash
        findings.append(error("KOS-PARSE-001", "(dataset)", f"cannot read a value: {exc}",
                              "well-formed attribute values", exc.__class__.__name__))
    if dciodvfy and not isinstance(data, Dataset):
        from harness.validators.dciodvfy import run_dciodvfy
        raw = data.read_bytes() if isinstance(data, Path) else data
        findings += run_dciodvfy(raw)
    return findings


_BIG_SEQUENCES = (0x0040A375, 0x0040A730)  # evidence, content: the two sequences that grow with the study


class Cut:
    """The two big sequences cut out of a Part 10 file before pydicom reads the rest (see _read_fast)."""

    def __init__(self, data: bytes, values: dict[int, bytes], explicit: bool) -> None:
        self.data, self.values, self.explicit = data, values, explicit
        self._full: Dataset | None = None

    def full(self) -> Dataset:
        """The whole file read by pydicom (slow path)."""
        if self._full is None:
            self._full = read_kos(self.data)
        return self._full


def _read_fast(data: bytes) -> tuple[Dataset, Cut | None]:
    """pydicom on the file minus the evidence and content sequences, which kosrefs reads from raw bytes.

    pydicom parses undefined-length sequences eagerly (~0.4 s for 1300 references); cutting them out
    first keeps the read of any manifest in milliseconds. The other elements become pydicom raw elements
    directly (what ``dcmread`` builds, without reading the file again); pydicom converts their values
    when the checks ask. Falls back to ``dcmread`` when unsure.
    """
    try:
        cut = _cut_sequences(data)
    except Truncated as exc:
        raise KosReadError(f"truncated DICOM file: {exc}") from None
    except (Unusual, struct.error, IndexError, ValueError):
        cut = None
    if cut is None:
        return read_kos(data), None
    rest, values, explicit, spans = cut
    try:
        ds = _dataset(data, spans, explicit)
    except Exception:  # anything pydicom would see differently: let it read the file itself
        ds = None
    return ds if ds is not None else read_kos(rest), Cut(data, values, explicit)


def meta_sop_class(data: bytes) -> str | None:
    """Media Storage SOP Class UID (0002,0002) of a Part 10 file, read from its File Meta Information
    alone (PS3.10 §7.1): tells a KOS from an image without reading the dataset. None when unreadable."""
    try:
        end = _meta_end(data)
        for tag, _vr, v0, v1, _after in elements(data, 132, min(end, len(data)), True):
            if tag == 0x00020002:
                return data[v0:v1].rstrip(b"\x00 ").decode("ascii")
    except (Unusual, struct.error, ValueError, IndexError, UnicodeDecodeError):
        return None
    return None


def _meta_end(data: bytes) -> int:
    if data[128:132] != b"DICM" or data[132:136] != b"\x02\x00\x00\x00" or data[136:138] != b"UL":
        raise Unusual("no preamble or no group length")
    return 144 + int.from_bytes(data[140:144], "little")


_Span = tuple[int, bytes, int, int]  # tag, VR, value start, value end


def _cut_sequences(data: bytes) -> tuple[bytes, dict[int, bytes], bool, list[_Span] | None] | None:
    """The file without the two big sequences, their values, the VR form, and the other elements' spans
    (meta included; None when one of them has an undefined length)."""
    end_meta = _meta_end(data)
    spans: list[_Span] | None = []
    for tag, vr, v0, v1, _n in elements(data, 132, end_meta, True):
        spans.append((tag, vr, v0, v1))
    ts = next((data[v0:v1].rstrip(b"\x00 ").decode() for tag, _vr, v0, v1 in spans if tag == 0x00020010), "")
    if ts not in TRANSFER_SYNTAXES:
        return None
    explicit = ts != "1.2.840.10008.1.2"
    vr = data[end_meta + 4:end_meta + 6]
    if len(vr) == 2 and (0x40 < vr[0] < 0x5B and 0x40 < vr[1] < 0x5B) != explicit:
        return None  # pydicom would read the body with the other VR form (filereader._is_implicit_vr)
    values, pieces, last = {}, [data[:end_meta]], end_meta
    pos = end_meta
    content_end = _ContentEnd(data, values, explicit)
    for tag, vr, v0, v1, after in elements(data, end_meta, len(data), explicit, content_end):
        if tag in _BIG_SEQUENCES:
            values[tag] = data[v0:v1]
            if tag == 0x0040A375:
                content_end.evidence = (v0, v1)
            pieces.append(data[last:pos])
            last = after
        elif spans is not None:
            if after == v1:
                spans.append((tag, vr, v0, v1))
            else:
                spans = None  # an undefined length: pydicom parses it while reading, let it read
        pos = after
    pieces.append(data[last:])
    values[_EVIDENCE_READ] = content_end.studies
    return b"".join(pieces), values, explicit, spans


_EVIDENCE_READ = -1  # key of Cut.values: the evidence already read while cutting (or None)


class _ContentEnd:
    """Finds where the undefined-length sequences of a manifest end without walking their ~1300 items:
    a ReferencedSOPSequence at its delimiter once its items check out (kept in ``blocks`` for the
    evidence reader), the content sequence over the bytes the evidence implies (kosrefs.expected_content),
    the evidence being read just before it (A375 < A730)."""

    def __init__(self, data: bytes, values: dict, explicit: bool) -> None:
        self.data, self.values, self.explicit = data, values, explicit
        self.studies: list[StudyRef] | None = None
        self.blocks: dict[int, SopBlock] = {}
        self.ends: dict[int, int | None] = {}
        self.evidence: tuple[int, int] | None = None  # value span of (0040,A375)

    def __call__(self, tag: int, start: int) -> int | None:
        if tag == 0x00081199:
            if start not in self.ends:
                found = sop_sequence_block(self.data, start, len(self.data), self.explicit)
                self.ends[start] = None if found is None else found[0]
                if found is not None:
                    self.blocks[start] = found[1]
            return self.ends[start]
        if tag != 0x0040A730 or self.evidence is None:
            return None
        try:
            studies = evidence_from_raw(self.data, self.explicit, *self.evidence, sequence_end=self)
            blocks = [series.block for study in studies for series in study.series]
            if any(block is None for block in blocks):
                return None
            self.studies = studies
            return kosrefs_content_end(self.data, start, len(self.data), self.explicit,
                                       expected_content(blocks, self.explicit, undefined=True))
        except (Unusual, struct.error, StopIteration, IndexError):
            return None


def _dataset(data: bytes, spans: list[_Span] | None, explicit: bool) -> Dataset | None:
    """The Dataset ``dcmread`` makes of the file minus the big sequences (filereader.read_dataset): raw
    elements, file meta, original encoding. None when the elements are not the plain case."""
    if spans is None:
        return None
    meta, body = {}, {}
    for tag, vr, v0, v1 in spans:
        if tag >> 16 == 2 and not body:
            meta[tag] = RawDataElement(BaseTag(tag), vr.decode(), v1 - v0, data[v0:v1], v0, False, True)
        elif tag >> 16 <= 2 or tag >= 0x7FE00008 or tag in body:  # stop_before_pixels, odd groups, repeats
            return None
        else:
            body[tag] = RawDataElement(BaseTag(tag), vr.decode() if explicit else None, v1 - v0, data[v0:v1], v0,
                                       not explicit, True)
    ds = Dataset(body)
    ds.file_meta = FileMetaDataset(meta)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        charset = ds.get_item(0x00080005)
        encoding = convert_encodings(convert_raw_data_element(charset).value) if charset is not None \
            else [default_encoding]
    ds.set_original_encoding(not explicit, True, encoding)
    return ds


# Values pydicom would give without its per-element conversion (~25 us each, ~1 ms per manifest): plain
# single-valued ASCII strings of these VRs decode the same in every character set (PS3.5 §6.1.2.3), with
# the padding pydicom strips (values.multi_string, convert_single_string; UID strips whitespace too).
_PLAIN_VRS = {"UI", "CS", "DA", "TM", "SH", "LO", "LT"}
_PRINTABLE = bytes(c for c in range(0x20, 0x7F) if c != 0x5C)  # no backslash: one value only


class _Values:
    """``ds.get`` / ``in`` for the checks, decoding plain values straight from the raw element.

    Sequences of defined length become items of raw elements (what ``values.convert_SQ`` builds, each
    wrapped in turn). Anything else (other VRs, empty or non-ASCII values, converted elements, an odd
    item layout, datetime conversion or strict validation switched on) is pydicom's ``ds.get``.
    """

    __slots__ = ("_sequences", "ds")

    def __init__(self, ds: Dataset) -> None:
        self.ds = ds
        self._sequences: dict[int, list[_Values]] = {}

    def __contains__(self, keyword: str) -> bool:
        return keyword in self.ds

    def __getattr__(self, name: str) -> object:
        return getattr(self.ds, name)

    def get(self, keyword: str, default: object = None) -> object:
        tag = tag_for_keyword(keyword)
        elem = self.ds.get_item(tag) if tag is not None else None
        if not isinstance(elem, RawDataElement) or not elem.value or not elem.is_little_endian \
                or config.datetime_conversion or config.settings.reading_validation_mode == config.RAISE:
            return self.ds.get(keyword, default)
        vr = elem.VR or dictionary_VR(tag)
        if vr == "SQ":
            if tag not in self._sequences:
                wrapped = _raw_items(elem, self.ds._character_set)
                if wrapped is None:
                    seq = self.ds.get(keyword, default)
                    return [_Values(item) for item in seq] if isinstance(seq, Sequence) else seq
                self._sequences[tag] = wrapped
            return self._sequences[tag]
        value = elem.value.rstrip(b"\x00 ")
        if vr not in _PLAIN_VRS or value.translate(None, _PRINTABLE):
            return self.ds.get(keyword, default)
        return value.decode("ascii").strip() if vr == "UI" else value.decode("ascii")


def _raw_items(elem: RawDataElement, encoding: list[str]) -> list[_Values] | None:
    """The items of a raw SQ value as Datasets of raw elements, as filereader.read_sequence_item makes them
    (parent encoding, original encoding); None when pydicom might read them otherwise."""
    buf, explicit = elem.value, not elem.is_implicit_VR
    out = []
    try:
        for i0, i1 in items(buf, 0, len(buf), explicit):
            if explicit and i1 - i0 >= 6 and not (0x40 < buf[i0 + 4] < 0x5B and 0x40 < buf[i0 + 5] < 0x5B):
                return None  # an implicit VR item: pydicom switches (filereader._is_implicit_vr)
            raw, end = {}, i0
            for tag, vr, v0, v1, after in elements(buf, i0, i1, explicit):
                if after != v1 or tag in raw or tag >> 16 == 0xFFFE:
                    return None
                raw[tag] = RawDataElement(BaseTag(tag), vr.decode() if explicit else None, v1 - v0, buf[v0:v1], v0,
                                          not explicit, True)
                end = after
            if end != i1:
                return None
            item = Dataset(raw, parent_encoding=encoding)
            charset = raw.get(0x00080005)
            item.set_original_encoding(not explicit, True, encoding if charset is None else
                                       convert_encodings(convert_raw_data_element(charset).value))
            out.append(_Values(item))
    except (Unusual, struct.error, ValueError, LookupError):
        return None
    return out


class Refs:
    """The KOS with its evidence and content tree as plain structures (see kosrefs)."""

    def __init__(self, ds: Dataset, cut: Cut | None = None) -> None:
        self.ds, self.cut = ds, cut
        self.values = _Values(ds)  # what the checks read values from
        self.studies, self.scan = _references(ds, cut)
        self._content: list[ContentItem] | None = None
        self.pairs = [p for study in self.studies for series in study.series for p in series.pairs]
        blocks = [series.block for study in self.studies for series in study.series]
        # read by kosrefs' regex: every UID non-empty, digits and dots; valid when the block says so
        self.fast = all(b is not None for b in blocks)
        self.uids_valid = self.fast and all(b.uids_valid for b in blocks)
        self.uids: set[bytes] = set().union(*(b.uids for b in blocks)) if self.fast else {  # KOS-EVD-002, SR-002
            uid for _cls, uid in self.pairs}
        self._sop_list: list[tuple[int, int, int, str, str]] | None = None

    @property
    def sop_list(self) -> list[tuple[int, int, int, str, str]]:
        """(study, series, SOP item index, class, instance), decoded: for locating problems."""
        if self._sop_list is None:
            self._sop_list = [(i, j, k, cls, uid) for i, study in enumerate(self.studies)
                              for j, series in enumerate(study.series) for k, (cls, uid) in enumerate(series.sops)]
        return self._sop_list

    def sops(self) -> Iterator[tuple[str, str, str]]:
        """(location of the SOP item, SOP class, SOP instance) over the evidence (slow: builds locations)."""
        for i, j, k, cls, uid in self.sop_list:
            yield sop_location(i, j, k), cls, uid

    @property
    def content(self) -> list[ContentItem]:
        """Content items with their positions (pydicom; only needed when something is wrong)."""
        if self._content is None:
            self._content = content_from_dataset(self.cut.full() if self.cut else self.ds)
        return self._content


def sop_location(i: int, j: int, k: int) -> str:
    return f"{EVIDENCE}[{i}]>{SERIES}[{j}]>{SOPS}[{k}]"


def _references(ds: Dataset, cut: Cut | None) -> tuple[list[StudyRef], ContentScan | None]:
    """Fast reader on the raw sequences; pydicom when the layout is unusual (same result)."""
    read = None
    if cut is not None:
        evd, cnt, explicit = cut.values.get(0x0040A375), cut.values.get(0x0040A730), cut.explicit
        read = cut.values.get(_EVIDENCE_READ)
    else:
        implicit, little = getattr(ds, "original_encoding", (None, None))
        evd_e, cnt_e = ds.get_item(0x0040A375), ds.get_item(0x0040A730)
        evd, cnt = (getattr(e, "value", None) for e in (evd_e, cnt_e))
        explicit = not implicit
        if not little or any(e is not None and not isinstance(v, bytes) for e, v in ((evd_e, evd), (cnt_e, cnt))):
            return evidence_from_dataset(ds), None
    try:
        studies = read if read is not None else evidence_from_raw(evd, explicit) if evd is not None else []
        if cnt is None:
            return studies, ContentScan([], True, True)
        series = [s for study in studies for s in study.series]
        blocks = [s.block for s in series if s.block is not None]
        return studies, content_from_raw(cnt, explicit, blocks if len(blocks) == len(series) else None,
                                         [p for s in series for p in s.pairs])
    except (Unusual, struct.error, UnicodeDecodeError, StopIteration, IndexError):
        return evidence_from_dataset(cut.full() if cut else ds), None


def _check_all(ds: Dataset, profile: str, cut: Cut | None = None) -> list[Finding]:
    refs = Refs(ds, cut)
    findings: list[Finding] = []
    for check in _IHE_CHECKS:
        findings.extend(check(refs))
    if profile == "dmp":
        for check in _DMP_CHECKS:
            findings.extend(check(refs))
    else:
        findings.extend(_check_retrieve_location(refs))
    return findings


def _check_meta(ds: Dataset) -> Iterator[Finding]:
    meta = getattr(ds, "file_meta", None)
    ts = str(getattr(meta, "TransferSyntaxUID", "") or "")
    if ts not in TRANSFER_SYNTAXES:
        yield error("KOS-PARSE-001", "(0002,0010)", "transfer syntax is not Implicit/Explicit VR Little Endian",
                    " or ".join(TRANSFER_SYNTAXES), ts or "(none)")


# --- IOD and SR structure (DICOM PS3.3 A.35.4, PS3.16 TID 2010) ---

def _check_iod(refs: Refs) -> Iterator[Finding]:
    ds = refs.values
    sop = str(ds.get("SOPClassUID", ""))
    if sop != KOS_SOP_CLASS:
        yield error("KOS-IOD-001", "(0008,0016)", "SOP Class UID is not Key Object Selection", KOS_SOP_CLASS, sop)
    meta_sop = str(getattr(getattr(ds, "file_meta", None), "MediaStorageSOPClassUID", "") or "")
    if meta_sop and meta_sop != sop:
        yield error("KOS-IOD-001", "(0002,0002)", "Media Storage SOP Class UID differs from SOP Class UID",
                    sop, meta_sop)
    if ds.get("Modality") != "KO":
        yield error("KOS-IOD-001", "(0008,0060)", "Modality of a KOS is KO", "KO", ds.get("Modality"))
    for keyword, tag in _TYPE1.items():
        if ds.get(keyword) in (None, ""):
            yield error("KOS-IOD-002", tag, f"type 1 attribute {keyword} is missing or empty", "a value", "(none)")
    for keyword, tag in _TYPE2.items():
        if keyword not in ds:
            yield error("KOS-IOD-002", tag, f"type 2 attribute {keyword} is absent", "present (may be empty)",
                        "(absent)")


def _check_uids(refs: Refs) -> Iterator[Finding]:
    if (refs.uids_valid or all_uids_valid_bytes(chain.from_iterable(refs.pairs))) and all(
            not v or is_uid(v) for _t, v in _uids(refs, with_sops=False)):
        return
    for tag, value in _uids(refs):
        if value and not is_uid(value):
            yield error("KOS-IOD-003", tag, "not a valid DICOM UID (PS3.5 §9.1)", "digits and dots, <= 64", value)


def _uids(refs: Refs, with_sops: bool = True) -> Iterator[tuple[str, str]]:
    ds = refs.values
    for kw, tag in (("SOPInstanceUID", "(0008,0018)"), ("StudyInstanceUID", "(0020,000D)"),
                    ("SeriesInstanceUID", "(0020,000E)")):
        yield tag, str(ds.get(kw, "") or "")
    for i, study in enumerate(refs.studies):
        yield f"{EVIDENCE}[{i}]>(0020,000D)", study.uid
        for j, series in enumerate(study.series):
            yield f"{EVIDENCE}[{i}]>{SERIES}[{j}]>(0020,000E)", series.uid
            if series.location_uid is not None:
                yield f"{EVIDENCE}[{i}]>{SERIES}[{j}]>(0040,E011)", series.location_uid
    if with_sops:
        for loc, cls, uid in refs.sops():
            yield f"{loc}>(0008,1155)", uid
            yield f"{loc}>(0008,1150)", cls


AGENCY_ACCEPTS = ("the agency's DICOM Standard Conformance validator accepts it (its sample OK_KOS_Valide): "
                  "a warning, not an error")


def _check_sr(refs: Refs) -> Iterator[Finding]:
    """TID 2010 at the root (PS3.3 C.17.3, PS3.16 TID 2010, IHE RAD TF-3 §4.68.4.1.2.3).

    Severity follows what the agency's tools decide: its DICOM Standard Conformance validator says OK to
    a KOS whose root is TEXT titled with a placeholder code (``OK_KOS_Valide.xml``), so those are warnings.
    A title that is another DICOM KOS title (CID 7010: "Rejected for Quality Reasons", "For Teaching", ...)
    stays an error: the object then declares itself something other than the XDS-I manifest."""
    ds = refs.values
    if ds.get("ValueType") != "CONTAINER":
        yield warning("KOS-SR-001", "(0040,A040)", f"root content item is a CONTAINER (PS3.3 C.17.3); "
                      f"{AGENCY_ACCEPTS}", "CONTAINER", ds.get("ValueType"))
    if ds.get("ContinuityOfContent") != "SEPARATE":
        yield error("KOS-SR-001", "(0040,A050)", "continuity of content", "SEPARATE", ds.get("ContinuityOfContent"))
    concept = (ds.get("ConceptNameCodeSequence") or [None])[0]
    code = (str(concept.get("CodeValue", "")), str(concept.get("CodingSchemeDesignator", ""))) if concept else None
    if code != ("113030", "DCM"):
        found = "^".join(code) if code else "(none)"
        if code is None or (code[1] == "DCM" and _KOS_TITLE.match(code[0])):
            yield error("KOS-SR-001", "(0040,A043)[0]", "document title is 113030 (DCM) Manifest",
                        "113030^DCM", found)
        else:
            yield warning("KOS-SR-001", "(0040,A043)[0]", "document title is 113030 (DCM) Manifest, and this "
                          f"title is no DICOM KOS title (CID 7010); {AGENCY_ACCEPTS}", "113030^DCM", found)


def _content_all_well(refs: Refs) -> bool:
    """The raw scan alone proves KOS-SR-002 holds (the usual case); otherwise locate the problems.

    True when every item hangs by CONTAINS and the IMAGE/COMPOSITE/WAVEFORM items reference each
    evidenced instance once, with its class: the content references are the evidence ones (same order:
    no set needed), and no instance is listed twice.
    """
    scan = refs.scan
    if scan is None or not (scan.all_contains and scan.all_referenced) or len(refs.uids) != len(refs.pairs):
        return False
    if scan.same_as_evidence:
        return True
    return len(scan.refs) == len(refs.pairs) and len({uid for _cls, uid in scan.refs}) == len(scan.refs) \
        and set(scan.refs) == set(refs.pairs)


def _check_content(refs: Refs) -> Iterator[Finding]:
    if _content_all_well(refs):
        return
    evidence: dict[str, tuple[str, tuple[int, int, int]]] = {}
    for i, j, k, cls, uid in refs.sop_list:
        evidence.setdefault(uid, (cls, (i, j, k)))
    seen: set[str] = set()
    for i, item in enumerate(refs.content):
        loc = f"{CONTENT}[{i}]"
        if item.relationship != "CONTAINS":
            yield error("KOS-SR-002", f"{loc}>(0040,A010)", "content items hang by CONTAINS", "CONTAINS",
                        item.relationship)
        if item.value_type not in REFERENCE_VALUE_TYPES:
            continue
        cls, uid = item.ref or ("", "")
        if uid in seen:
            yield error("KOS-SR-002", f"{loc}>(0008,1199)[0]", "instance referenced by two content items",
                        "one item per instance", uid)
        seen.add(uid)
        if uid not in evidence:
            yield error("KOS-SR-002", f"{loc}>(0008,1199)[0]>(0008,1155)",
                        "content item references an instance absent from the evidence", "an evidenced instance", uid)
        elif cls != evidence[uid][0]:
            yield error("KOS-SR-002", f"{loc}>(0008,1199)[0]>(0008,1150)", "SOP class differs from the evidence",
                        evidence[uid][0], cls)
    for uid, (_cls, ijk) in evidence.items():
        if uid not in seen:
            yield error("KOS-SR-002", f"{sop_location(*ijk)}>(0008,1155)",
                        "evidenced instance has no IMAGE content item", "one CONTAINS IMAGE item", uid)


def _check_evidence(refs: Refs) -> Iterator[Finding]:
    if len(refs.studies) != 1:
        yield error("KOS-EVD-001", EVIDENCE, "evidence lists exactly one study", 1, len(refs.studies))
    own = str(refs.values.get("StudyInstanceUID", ""))
    for i, study in enumerate(refs.studies):
        if study.uid != own:
            yield error("KOS-EVD-001", f"{EVIDENCE}[{i}]>(0020,000D)", "evidence study is not the KOS study",
                        own, study.uid)
        if not study.series:
            yield error("KOS-EVD-001", f"{EVIDENCE}[{i}]>{SERIES}", "study item lists no series", ">= 1 series", 0)
        for j, series in enumerate(study.series):
            where = f"{EVIDENCE}[{i}]>{SERIES}[{j}]"
            if not series.uid:
                yield error("KOS-EVD-001", f"{where}>(0020,000E)", "series item has no Series Instance UID",
                            "a UID", "(none)")
            if not series.pairs:
                yield error("KOS-EVD-001", f"{where}>{SOPS}", "series item lists no instance", ">= 1", 0)
    if len(refs.uids) == len(refs.pairs) and (refs.fast or all(cls and uid for cls, uid in refs.pairs)):
        return  # the usual case: nothing to locate
    seen: dict[str, tuple[int, int, int]] = {}
    for i, j, k, cls, uid in refs.sop_list:
        if not uid or not cls:
            yield error("KOS-EVD-001", sop_location(i, j, k), "instance reference without SOP Class/Instance UID",
                        "both UIDs", "missing")
        elif uid in seen:
            yield error("KOS-EVD-002", f"{sop_location(i, j, k)}>(0008,1155)",
                        "instance already referenced at " + sop_location(*seen[uid]), "each instance once", uid)
        else:
            seen[uid] = (i, j, k)


def _check_retrieve_location(refs: Refs) -> Iterator[Finding]:
    """IHE XDS-I.b: each series item names its source (RAD-69 Retrieve Location UID, or a Retrieve URL)."""
    for i, study in enumerate(refs.studies):
        for j, series in enumerate(study.series):
            if not series.location_uid and not series.url:
                yield error("KOS-EVD-003", f"{EVIDENCE}[{i}]>{SERIES}[{j}]>(0040,E011)",
                            "series item without Retrieve Location UID or Retrieve URL", "(0040,E011) or (0008,1190)",
                            "(none)")


# --- DRIMbox / CI-SIS rules (ANS DRIM-M_DATA KOS_OK.xml, CI-SIS CR-IMG) ---

def _check_retrieve_urls(refs: Refs) -> Iterator[Finding]:
    bases: dict[str, str] = {}
    for i, study in enumerate(refs.studies):
        for j, series in enumerate(study.series):
            where = f"{EVIDENCE}[{i}]>{SERIES}[{j}]>(0008,1190)"
            url = series.url or ""
            if not url:
                yield error("KOS-URL-001", where, "series has no Retrieve URL", "<base>/studies/{st}/series/{se}",
                            "(none)")
                continue
            tail = f"/studies/{study.uid}/series/{series.uid}"
            parts = urlsplit(url)
            base = parts.path[: parts.path.rfind("/studies/")] if "/studies/" in parts.path else parts.path
            try:  # the strict WADO-RS path grammar of the Source DRIMbox (PS3.18 §10.4.1)
                wado = parse_wado_path(parts.path, base=base)
            except ValueError:
                wado = None
            if parts.scheme not in ("http", "https") or not parts.netloc or parts.fragment or wado is None \
                    or (wado.level, wado.metadata, wado.study, wado.series) != ("series", False, study.uid, series.uid):
                yield error("KOS-URL-002", where, "Retrieve URL is not the WADO-RS URL of this series",
                            "<base>" + tail, url)
                continue
            bases[where] = f"{parts.scheme}://{parts.netloc}{base}"
    if len(set(bases.values())) > 1:
        yield warning("KOS-URL-003", EVIDENCE, "series are retrieved from different WADO-RS services",
                      "one base URL", sorted(set(bases.values())))


def _check_patient(refs: Refs) -> Iterator[Finding]:
    ds = refs.values
    pid = str(ds.get("PatientID", "") or "")
    issuer = str(ds.get("IssuerOfPatientID", "") or "")
    if not pid or issuer not in INS_ISSUERS:
        yield error("KOS-PAT-001", "(0010,0021)", "PatientID must be the INS issued by ASIP-SANTE-INS-NIR",
                    INS_ISSUERS[0], f"{pid}/{issuer}")
    qual = (ds.get("IssuerOfPatientIDQualifiersSequence") or [None])[0]
    oid = str(qual.get("UniversalEntityID", "")) if qual else ""
    kind = str(qual.get("UniversalEntityIDType", "")) if qual else ""
    if oid not in INS_OIDS or kind != "ISO":
        yield error("KOS-PAT-001", "(0010,0024)[0]>(0040,0032)", "issuer qualifier must be an INS OID of type ISO",
                    " | ".join(INS_OIDS), f"{oid or '(none)'} {kind}".strip())
    if pid and not nir_key_ok(pid):
        yield error("KOS-PAT-002", "(0010,0020)", "INS is not a 15-character NIR with a valid key",
                    "13 characters + key 97 - n mod 97", pid)
    others = ds.get("OtherPatientIDsSequence") or []
    if pid and not any(str(o.get("PatientID", "")) == pid and o.get("TypeOfPatientID") == "TEXT" for o in others):
        yield warning("KOS-PAT-003", "(0010,1002)", "OtherPatientIDsSequence does not repeat the INS (TEXT)",
                      pid, [str(o.get("PatientID", "")) for o in others])
    yield from _check_traits(ds)


def _check_traits(ds: Dataset | _Values) -> Iterator[Finding]:
    name = str(ds.get("PatientName", "") or "")
    parts = name.split("^")
    if "^" not in name and len(name.split()) >= 2:
        # both names written, unseparated (PS3.5 6.2 PN): the agency's conformance sample OK_KOS_Valide has
        # "John Doe"; the Source plan compares the KOS's name with the report's (SRC-KOS-PAT) itself
        yield warning("KOS-PAT-004", "(0010,0010)", "patient name is birth name^first given name, components "
                      f"separated by ^ (PS3.5 6.2); {AGENCY_ACCEPTS}", "FAMILY^GIVEN", name)
    elif len(parts) < 2 or not parts[0].strip() or not parts[1].strip():
        yield error("KOS-PAT-004", "(0010,0010)", "patient name is birth name^first given name",
                    "FAMILY^GIVEN", name)
    birth = str(ds.get("PatientBirthDate", "") or "")
    if not _DATE.match(birth):
        yield error("KOS-PAT-004", "(0010,0030)", "birth date (DA, YYYYMMDD) is required", "YYYYMMDD", birth)
    if ds.get("PatientSex") not in ("M", "F", "O"):
        yield error("KOS-PAT-004", "(0010,0040)", "sex is M, F or O", "M|F|O", ds.get("PatientSex"))
    place = str(ds.get("PatientComments", "") or "")
    if not _INSEE.match(place):
        yield warning("KOS-DRIM-002", "(0010,4000)", "PatientComments should hold the INSEE birthplace code",
                      "5-character INSEE code", place)


def _check_request(refs: Refs) -> Iterator[Finding]:
    ds = refs.values
    requests = ds.get("ReferencedRequestSequence") or []
    if not requests:
        yield error("KOS-REQ-001", "(0040,A370)", "Referenced Request Sequence is missing", ">= 1 item", 0)
    own = str(ds.get("StudyInstanceUID", ""))
    for i, req in enumerate(requests):
        loc = f"(0040,A370)[{i}]"
        issuer = (req.get("IssuerOfAccessionNumberSequence") or [None])[0]
        oid = str(issuer.get("UniversalEntityID", "")) if issuer else ""
        if not req.get("AccessionNumber") or not is_oid(oid) or (issuer.get("UniversalEntityIDType") != "ISO"):
            yield error("KOS-REQ-001", f"{loc}>(0008,0051)", "accession number with an ISO OID issuer",
                        "AccessionNumber + (OID, ISO)", f"{req.get('AccessionNumber', '')}/{oid}")
        if str(req.get("StudyInstanceUID", "")) != own:
            yield error("KOS-REQ-001", f"{loc}>(0020,000D)", "request names another study", own,
                        req.get("StudyInstanceUID"))
        placer = (req.get("OrderPlacerIdentifierSequence") or [None])[0]
        if not req.get("PlacerOrderNumberImagingServiceRequest") or not placer:
            yield warning("KOS-REQ-002", f"{loc}>(0040,2016)", "placer order number and its issuer",
                          "(0040,2016) + (0040,0026)", req.get("PlacerOrderNumberImagingServiceRequest"))


def _check_drimbox(refs: Refs) -> Iterator[Finding]:
    ds = refs.values
    inst = str(ds.get("InstitutionName", "") or "").split("^")
    if len(inst) < 10 or not inst[9].strip():
        yield warning("KOS-DRIM-001", "(0008,0080)", "InstitutionName should carry the FINESS in component 10",
                      "NAME^^^^^^^^^FINESS", "^".join(inst))
    if str(ds.get("SeriesNumber", "")) != "59" or str(ds.get("InstanceNumber", "")) != "1":
        yield info("KOS-DRIM-003", "(0020,0011)", "ANS samples use SeriesNumber 59 and InstanceNumber 1",
                   "59/1", f"{ds.get('SeriesNumber')}/{ds.get('InstanceNumber')}")


_IHE_CHECKS = (_check_iod, _check_uids, _check_sr, _check_content, _check_evidence)
_DMP_CHECKS = (_check_retrieve_urls, _check_patient, _check_request, _check_drimbox)


def kos_facts(ds: Dataset) -> dict:
    """What the cross-document checks compare (ANS DRIM-M_DATA Cross-validateur samples): identity, study,
    accession, modalities, and the referenced instances as (series, SOP instance, SOP class)."""
    name = str(ds.get("PatientName", "") or "").split("^")
    other = str(ds.get("OtherPatientNames", "") or "")
    used = [n.split("^") for n in other.split("\\")] if other else []
    requests = ds.get("ReferencedRequestSequence") or []
    refs = Refs(ds)
    classes = {cls.decode("ascii", "replace") for cls, _uid in refs.pairs}
    return {
        "ins": str(ds.get("PatientID", "") or ""),
        "birth_name": name[0] if name else "", "given": name[1] if len(name) > 1 else "",
        "used_names": [(u[0], u[1] if len(u) > 1 else "") for u in used],
        "birth_date": str(ds.get("PatientBirthDate", "") or ""), "sex": str(ds.get("PatientSex", "") or ""),
        "birthplace": str(ds.get("PatientComments", "") or ""),
        "study_uids": {str(ds.get("StudyInstanceUID", ""))}, "sop_uid": str(ds.get("SOPInstanceUID", "") or ""),
        "accessions": {str(r.get("AccessionNumber", "")) for r in requests if r.get("AccessionNumber")},
        "modalities": {SOP_CLASS_MODALITY[c] for c in classes if c in SOP_CLASS_MODALITY},
        "references": {(refs.studies[i].series[j].uid, uid, cls) for i, j, _k, cls, uid in refs.sop_list},
    }
