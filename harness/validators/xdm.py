"""IHE XDM media (ITI-32 Distribute Document Set on Media) as DRIMboxes export and import a study.

A package is a folder holding ``IHE_XDM/`` or a ZIP of one (ZIP over Email, DICOM PS3.12 Annex V). What is
checked, each rule with the text it comes from:

- layout (ITI TF-2b §3.32.4.1.2, §3.32.4.1.2.2): ``IHE_XDM/`` and ``README.TXT``, ``INDEX.HTM`` at the media
  root, no autorun file there, one sub-folder per submission set, a ``METADATA.XML`` in each (XDM-LAYOUT-*);
- ``METADATA.XML``, read with :func:`harness.xmlsafe.parse_xml`: its ``lcm:SubmitObjectsRequest`` goes through the
  project's XDS metadata validator (:func:`harness.xds.validate.validate_submission`: XSD, IHE, and the DMP rules
  under profile ``dmp``); then, with the files' bytes, the same validator's hash and size rules (XDS-HASH-002,
  XDS-SIZE-002) and the DMP signature manifest. XDM differences: every DocumentEntry carries ``URI``, ``hash`` and
  ``size`` (ITI TF-3 §4.3.1, XDM column; XDM-URI-001, XDM-META-003);
- the documents: each URI is a relative path that stays in the package (XDM-URI-002) naming a file of the
  submission set folder (XDM-DOC-001; found elsewhere: XDM-URI-003); files no entry names are warnings (XDM-DOC-002);
- the KOS (a DocumentEntry of mimeType application/dicom): the KOS validator, its Study Instance UID against the
  entry's referenceIdList (XDM-KOS-001), and when the package holds DICOM images, each instance it lists must be
  one of them (XDM-KOS-002);
- a ZIP is read in memory, never extracted: member count, declared sizes and compression ratios are capped, and a
  member path that is absolute or climbs out (``..``) is refused (XDM-ZIP-*; PKWARE APPNOTE §4.4.17).

Public: :func:`is_xdm_package`, :func:`check_xdm` -> :class:`~harness.validators.rulesets.Checked` (kind ``xdm``),
:func:`unpack_xdm` (the same check, then the KOS and images copied out for an importer).
"""

from __future__ import annotations

import os
import posixpath
import re
import shutil
import stat
import struct
import warnings
import zipfile
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import BinaryIO
from urllib.parse import unquote

import pydicom
from lxml import etree

from harness.findings import Finding, Severity, error, warning
from harness.validators.dicom import check_dicom, read_dicom
from harness.validators.kos import KOS_SOP_CLASS, KosReadError, Refs, sop_location
from harness.validators.rulesets import Checked, RuleSet, ran, skipped
from harness.xds.ebrim import MetadataError, parse_pnr
from harness.xds.model import LCM_NS, REFERENCE_ID_LIST_SLOT, DocumentEntry
from harness.xmlsafe import UnsafeXmlError, parse_xml

MAX_MEMBERS = 20_000  # files (and folders) of a package: a 1300-image CT study is well below
MAX_MEMBER_BYTES = 1 << 30  # one file, as declared by the ZIP central directory or on disk
MAX_TOTAL_BYTES = 8 << 30  # the whole package, declared
MAX_RATIO = 200  # declared size / compressed size of a ZIP member above 1 MiB: DICOM and XML stay far below
MAX_DOCUMENT_BYTES = 256 << 20  # a document read whole for its hash (the KOS limit, kos.MAX_KOS_BYTES)
MAX_METADATA_BYTES = 64 << 20  # METADATA.XML (xmlsafe's default limit)
MAX_LISTED = 50  # findings of one kind listed one by one; the rest in one summary finding

LAYOUT = "ITI TF-2b §3.32.4.1.2.2"
ZIP_NAMES = "PKWARE APPNOTE §4.4.17: a relative path, forward slashes, no drive letter"
URI_RULE = "ITI TF-3 §4.2.3.2 DocumentEntry.URI, ITI TF-2b §3.32.4.1.2.2"
STUDY_REF = "urn:ihe:iti:xds:2016:studyInstanceUID"
DICOMDIR_CLASS = "1.2.840.10008.1.3.10"  # Media Storage Directory Storage (PS3.4 Annex F)
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")  # a URI scheme, or a drive letter (C:)
_SPLIT_URI = re.compile(r"^(\d+)\|(.*)$", re.S)  # a URI slot split over values "1|...", "2|..." (ITI TF-3 §4.2.3.2)
READ_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, OSError, NotImplementedError)  # a member that does not inflate


class PackageRefused(Exception):
    """The package cannot be read safely; ``finding`` says why (XDM-ZIP-001)."""

    def __init__(self, finding: Finding) -> None:
        super().__init__(finding.message)
        self.finding = finding


# ============================================================================ the package, folder or ZIP

@dataclass
class _Package:
    """Files of the package by POSIX path relative to the folder holding IHE_XDM/ (the media root)."""

    files: dict[str, int] = field(default_factory=dict)  # path -> size in bytes
    dirs: set[str] = field(default_factory=set)
    prefix: str = ""  # ZIP: the folder of the archive holding IHE_XDM/ ("" at the archive root)
    findings: list[Finding] = field(default_factory=list)  # members refused while listing (XDM-ZIP-002)

    def open(self, name: str) -> BinaryIO:
        raise NotImplementedError

    def read(self, name: str, limit: int) -> bytes:
        with self.open(name) as fh:
            data = fh.read(limit + 1)
        if len(data) > limit:
            raise PackageRefused(error("XDM-DOC-003", name, "file too large to read", f"<= {limit} bytes",
                                       self.files.get(name)))
        return data

    def head(self, name: str, size: int) -> bytes:
        with self.open(name) as fh:
            return fh.read(size)

    def find(self, name: str) -> str | None:
        """``name`` as stored, matched exactly, else ignoring letter case (FAT and ISO 9660 media)."""
        if name in self.files or name in self.dirs:
            return name
        low = name.lower()
        return next((n for n in (*self.files, *self.dirs) if n.lower() == low), None)


class _Folder(_Package):
    def __init__(self, root: Path) -> None:
        super().__init__()
        self.root = root.resolve()
        for dirpath, dirnames, filenames in os.walk(self.root, followlinks=False):
            here = Path(dirpath)
            for name in dirnames:
                self.dirs.add((here / name).relative_to(self.root).as_posix())
            for name in filenames:
                path = here / name
                rel = path.relative_to(self.root).as_posix()
                if len(self.files) + len(self.dirs) >= MAX_MEMBERS:
                    raise PackageRefused(error("XDM-ZIP-001", "(package)", "too many files", f"<= {MAX_MEMBERS}",
                                               f"more than {MAX_MEMBERS}"))
                if path.is_symlink() and not (path.exists() and path.resolve().is_relative_to(self.root)):
                    self.findings.append(error("XDM-ZIP-002", rel, "symbolic link to a file outside the package, or "
                                               "to none: not read", "a file inside the package", os.readlink(path)))
                    continue
                size = path.stat().st_size
                if size > MAX_MEMBER_BYTES:
                    raise PackageRefused(error("XDM-ZIP-001", rel, "file too large", f"<= {MAX_MEMBER_BYTES} bytes",
                                               size))
                self.files[rel] = size

    def open(self, name: str) -> BinaryIO:
        return (self.root / name).open("rb")


class _Zip(_Package):
    def __init__(self, zf: zipfile.ZipFile) -> None:
        super().__init__()
        self.zf = zf
        self.infos: dict[str, zipfile.ZipInfo] = {}  # path relative to the prefix -> member
        members: dict[str, zipfile.ZipInfo] = {}
        folders: set[str] = set()
        total = 0
        for info in zf.infolist():
            name = info.filename
            total += info.file_size
            _refuse_member(info, total)
            link = stat.S_ISLNK(info.external_attr >> 16)
            if link or _unsafe_member(name):
                what = "symbolic link" if link else "path outside the archive"
                self.findings.append(error("XDM-ZIP-002", name, f"member with a {what}: not read", ZIP_NAMES, name))
            elif info.is_dir():
                folders.add(name.rstrip("/"))
            else:
                members[name] = info
        self.prefix = _xdm_prefix([*members, *(d + "/" for d in folders)]) or ""
        cut = len(self.prefix)
        for name, info in members.items():
            if name.startswith(self.prefix):
                rel = name[cut:]
                self.infos[rel], self.files[rel] = info, info.file_size
                parts = rel.split("/")[:-1]
                self.dirs.update("/".join(parts[:i]) for i in range(1, len(parts) + 1))
        self.dirs.update(d[cut:] for d in folders if d.startswith(self.prefix) and len(d) > cut)

    def open(self, name: str) -> BinaryIO:
        return self.zf.open(self.infos[name])


def _refuse_member(info: zipfile.ZipInfo, total: int) -> None:
    """Zip-bomb guards on the declared sizes (the reader never yields more than a member declares)."""
    name = info.filename
    if info.flag_bits & 0x1:
        raise PackageRefused(error("XDM-ZIP-001", name, "encrypted member: the package cannot be read",
                                   "no encryption (DICOM PS3.12 Annex V)", "encrypted"))
    if info.file_size > MAX_MEMBER_BYTES:
        raise PackageRefused(error("XDM-ZIP-001", name, "member declares a size beyond the limit: refused unread "
                                   "(zip bomb?)", f"<= {MAX_MEMBER_BYTES} bytes", info.file_size))
    if info.file_size > 1 << 20 and info.file_size > MAX_RATIO * max(info.compress_size, 1):
        raise PackageRefused(error("XDM-ZIP-001", name, "compression ratio beyond the limit: refused unread "
                                   "(zip bomb?)", f"<= {MAX_RATIO}:1",
                                   f"{info.file_size} bytes from {info.compress_size}"))
    if total > MAX_TOTAL_BYTES:
        raise PackageRefused(error("XDM-ZIP-001", "(package)", "members declare more bytes than the limit: refused "
                                   "unread", f"<= {MAX_TOTAL_BYTES} bytes", f"more than {total}"))


def _unsafe_member(name: str) -> bool:
    parts = name.replace("\\", "/").split("/")
    return name.startswith(("/", "\\")) or "\\" in name or bool(_SCHEME.match(name)) or ".." in parts


def _xdm_prefix(names: Iterable[str]) -> str | None:
    """The folder holding IHE_XDM/: "" at the archive root, "TOP/" one level down (as the ANS demonstrator
    zips its KAyyyymm folder), None when there is no IHE_XDM/ folder."""
    found = set()
    for name in names:
        parts = name.split("/")
        for depth in (0, 1):
            if len(parts) > depth + 1 and parts[depth].upper() == "IHE_XDM":
                found.add("/".join(parts[:depth]) + ("/" if depth else ""))
    return "" if "" in found else min(found) if found else None


def _zip_entry_count(fh: BinaryIO) -> int | None:
    """Entries declared by the end of central directory record (APPNOTE §4.3.16, ZIP64 §4.3.14), read before the
    central directory itself: None when there is no such record."""
    fh.seek(0, os.SEEK_END)
    size = fh.tell()
    tail_len = min(size, 22 + 65535)
    fh.seek(size - tail_len)
    tail = fh.read(tail_len)
    pos = tail.rfind(b"PK\x05\x06")
    if pos < 0 or len(tail) - pos < 22:
        return None
    total = struct.unpack_from("<H", tail, pos + 10)[0]
    if total == 0xFFFF and pos >= 20 and tail[pos - 20:pos - 16] == b"PK\x06\x07":
        fh.seek(struct.unpack_from("<Q", tail, pos - 20 + 8)[0])
        record = fh.read(56)
        if record[:4] == b"PK\x06\x06":
            total = struct.unpack_from("<Q", record, 32)[0]
    return total


def is_xdm_package(path: Path) -> bool:
    """A folder holding IHE_XDM/, or a ZIP with IHE_XDM/ at its root or in its one top folder (a ``.zip`` too
    large or broken to list is one as well: :func:`check_xdm` says why it refuses it)."""
    path = Path(path)
    if path.is_dir():
        try:
            return any(p.name.upper() == "IHE_XDM" and p.is_dir() for p in path.iterdir())
        except OSError:
            return False
    if not path.is_file():
        return False
    with path.open("rb") as fh:
        if fh.read(4) not in (b"PK\x03\x04", b"PK\x05\x06"):
            return False
        count = _zip_entry_count(fh)
    is_zip_name = path.suffix.lower() == ".zip"
    if count is None or count > MAX_MEMBERS:
        return is_zip_name
    try:
        with zipfile.ZipFile(path) as zf:
            return _xdm_prefix(zf.namelist()) is not None
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        return is_zip_name


def _open(path: Path) -> tuple[_Package, zipfile.ZipFile | None]:
    if path.is_dir():
        return _Folder(path), None
    if path.stat().st_size > MAX_TOTAL_BYTES:
        raise PackageRefused(error("XDM-ZIP-001", "(package)", "archive too large", f"<= {MAX_TOTAL_BYTES} bytes",
                                   path.stat().st_size))
    with path.open("rb") as fh:
        count = _zip_entry_count(fh)
    if count is None:
        raise PackageRefused(error("XDM-ZIP-001", "(package)", "not a readable ZIP archive (no end of central "
                                   "directory record)", "a ZIP file (DICOM PS3.12 Annex V)", "unreadable"))
    if count > MAX_MEMBERS:
        raise PackageRefused(error("XDM-ZIP-001", "(package)", "archive declares too many members: refused unread",
                                   f"<= {MAX_MEMBERS}", count))
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, ValueError, EOFError) as exc:
        raise PackageRefused(error("XDM-ZIP-001", "(package)", f"not a readable ZIP archive: {exc}",
                                   "a ZIP file (DICOM PS3.12 Annex V)", "unreadable")) from None
    try:
        return _Zip(zf), zf
    except PackageRefused:
        zf.close()
        raise


# ============================================================================ checking

XDM_SET = RuleSet("IHE XDM media rules (ITI-32)")
KOS_IMAGES = "XDM KOS instances present in the package"


@dataclass
class _Run:
    pkg: _Package
    profile: str
    dciodvfy: bool | None
    findings: list[Finding] = field(default_factory=list)
    sets: dict[str, RuleSet] = field(default_factory=dict)
    consumed: set[str] = field(default_factory=set)  # files the metadata or the layout accounts for
    koses: list[tuple[str, pydicom.Dataset]] = field(default_factory=list)  # (file, dataset) of each KOS read
    images: dict[str, str] = field(default_factory=dict)  # SOP Instance UID -> file, DICOM objects beside the KOS

    def add_sets(self, sets: Iterable[RuleSet]) -> None:
        for s in sets:
            if s.ran or s.label not in self.sets:
                self.sets[s.label] = s


def check_xdm(path: Path, profile: str = "dmp", dciodvfy: bool | None = None) -> Checked:
    """Validate an XDM package (a folder holding IHE_XDM/, or a ZIP of one): see the module docstring."""
    return unpack_xdm(path, None, profile, dciodvfy).checked


@dataclass
class Unpacked:
    """What :func:`unpack_xdm` copied out of a package: its verdict, the KOS files and the DICOM instances."""

    checked: Checked
    koses: list[Path] = field(default_factory=list)  # each KOS a DocumentEntry names
    images: dict[str, Path] = field(default_factory=dict)  # SOP Instance UID -> file, the DICOM objects beside them


def unpack_xdm(path: Path, folder: Path | None, profile: str = "dmp", dciodvfy: bool | None = None, *,
               refuse_errors: bool = True) -> Unpacked:
    """:func:`check_xdm`, then (with ``folder``) the KOS and the DICOM instances beside it copied into ``folder``
    member by member through the same guarded reader (a ZIP is never extracted whole; ITI TF-2b §3.32.4.1.2).
    With ``refuse_errors`` a package with an error finding has nothing copied."""
    zf = None
    try:
        pkg, zf = _open(Path(path))
        run = _Run(pkg, profile, dciodvfy, list(pkg.findings))
        run.add_sets([XDM_SET])
        _layout(run)
        ihe_xdm = pkg.find("IHE_XDM")
        subsets = sorted(d for d in pkg.dirs if ihe_xdm and posixpath.dirname(d) == ihe_xdm)
        for subset in subsets:
            _check_subset(run, subset)
        _check_images(run)
        _unreferenced(run, subsets)
        out = Unpacked(Checked("xdm", run.findings, list(run.sets.values())))
        if folder is not None and not (refuse_errors and any(f.severity is Severity.ERROR for f in run.findings)):
            _copy_out(run, Path(folder), out)
        return out
    except PackageRefused as refused:
        return Unpacked(Checked("xdm", [refused.finding], [replace(XDM_SET, ran=False, reason="package refused: "
                                                                   + refused.finding.message)]))
    finally:
        if zf is not None:
            zf.close()


def _copy_out(run: _Run, folder: Path, out: Unpacked) -> None:
    """Copy the KOS files and the DICOM instances of ``run`` into ``folder`` under names of this function's
    making (never the member's path), streamed in bounded chunks."""
    folder.mkdir(parents=True, exist_ok=True)
    for i, (name, _ds) in enumerate(run.koses, 1):
        out.koses.append(_copy_member(run.pkg, name, folder / f"kos-{i:04d}.dcm"))
    for i, (uid, name) in enumerate(sorted(run.images.items()), 1):
        out.images[uid] = _copy_member(run.pkg, name, folder / f"instance-{i:06d}.dcm")


def _copy_member(pkg: _Package, name: str, target: Path) -> Path:
    with pkg.open(name) as src, target.open("wb") as dst:
        shutil.copyfileobj(src, dst, 1 << 20)
    return target


def _layout(run: _Run) -> None:
    """Root and subset layout (ITI TF-2b §3.32.4.1.2, §3.32.4.1.2.2)."""
    pkg, out = run.pkg, run.findings
    if pkg.prefix:
        out.append(warning("XDM-LAYOUT-006", pkg.prefix, "IHE_XDM/ is in a folder of the archive, not at its root: "
                           "importers that open IHE_XDM/ at the root of the media do not find it",
                           f"IHE_XDM/ at the root of the ZIP ({LAYOUT}, DICOM PS3.12 Annex V)",
                           f"{pkg.prefix}IHE_XDM/"))
    ihe_xdm = pkg.find("IHE_XDM")
    if ihe_xdm is None or ihe_xdm not in pkg.dirs:
        out.append(error("XDM-LAYOUT-001", "(package)", "no IHE_XDM folder at the root of the media",
                         f"IHE_XDM/ ({LAYOUT})", None))
    for name in ("README.TXT", "INDEX.HTM"):
        found = pkg.find(name)
        if found is None or found not in pkg.files:
            out.append(error("XDM-LAYOUT-004", "(package)", f"no {name} at the root of the media",
                             f"{name} (ITI TF-2b §3.32.4.1.2, {LAYOUT})", None))
        else:
            run.consumed.add(found)
    for name in pkg.files:
        if "/" not in name and name.upper() in ("AUTORUN.INF", "AUTORUN"):
            out.append(error("XDM-LAYOUT-005", name, "autorun file at the root of the media",
                             f"no autorun file ({LAYOUT})", name))
    if ihe_xdm in pkg.dirs and not any(posixpath.dirname(d) == ihe_xdm for d in pkg.dirs):
        out.append(error("XDM-LAYOUT-002", ihe_xdm, "IHE_XDM/ holds no submission set folder",
                         f"one folder per submission set ({LAYOUT})", None))


def _loc(prefix: str, finding: Finding) -> Finding:
    loc = finding.location
    return replace(finding, location=prefix if loc in ("(file)", "") else f"{prefix}: {loc}")


def _check_subset(run: _Run, subset: str) -> None:
    """One submission set folder: METADATA.XML through the XDS validator, then its documents."""
    from harness.xds.validate import validate_submission

    pkg, out = run.pkg, run.findings
    meta = pkg.find(f"{subset}/METADATA.XML")
    if meta is None or meta not in pkg.files:
        out.append(error("XDM-LAYOUT-003", subset, "submission set folder without METADATA.XML",
                         f"{subset}/METADATA.XML ({LAYOUT})", None))
        return
    run.consumed.add(meta)
    sor = _submit_objects(run, meta)
    if sor is None:
        run.add_sets([skipped("xds-xsd", f"{meta} not read"), skipped("xds-ihe", f"{meta} not read")])
        return
    base = validate_submission(sor, run.profile, check_documents=False)
    out.extend(_loc(meta, f) for f in base)
    try:
        sub = parse_pnr(sor)
    except MetadataError:
        run.add_sets([ran("xds-xsd"), skipped("xds-ihe", "the metadata could not be parsed")])
        return  # XDS-PNR-001 is already in base
    files = {}
    for doc in sub.documents:
        where = f"{meta}: ExtrinsicObject[@id='{doc.id}']"
        for attr in ("hash", "size"):
            if getattr(doc, attr) in (None, ""):
                out.append(error("XDM-META-003", where, f"DocumentEntry.{attr} missing: on media it is required",
                                 f"{attr} slot (ITI TF-3 §4.3.1, XDM)", None))
        name = _document_file(run, subset, where, doc.slots.get("URI", []))
        if name is None:
            continue
        run.consumed.add(name)
        try:
            sub.document_bytes[doc.id] = pkg.read(name, MAX_DOCUMENT_BYTES)
        except PackageRefused as refused:
            out.append(refused.finding)
            continue
        except READ_ERRORS as exc:
            out.append(error("XDM-ZIP-001", name, f"document cannot be read: {exc}", "a readable file", "unreadable"))
            continue
        files[doc.id] = name
    if sub.document_bytes:
        known = set(base)
        for f in validate_submission(sub, run.profile, check_documents=True):
            if f in known or f.rule in ("XDS-PNR-002", "XDS-PNR-003"):  # XDM-DOC-001 says which file is missing
                continue
            doc_id = next((i for i in files if f"'{i}'" in f.location), None)
            if f.rule in ("XDS-HASH-002", "XDS-SIZE-002") and doc_id:
                f = replace(f, message=f"{f.message}: {files[doc_id]}")
            out.append(_loc(meta, f))
    dmp = ran("xds-dmp") if run.profile == "dmp" else skipped("xds-dmp", "profile xds: IHE rules only")
    run.add_sets([ran("xds-xsd"), ran("xds-ihe"), ran("xds-content") if sub.document_bytes
                  else skipped("xds-content", "no document file found"), dmp])
    for doc in sub.documents:
        if doc.id in files and (doc.mimeType or "").lower() == "application/dicom":
            _check_kos(run, meta, doc, files[doc.id], sub.document_bytes[doc.id])


def _submit_objects(run: _Run, meta: str) -> etree._Element | None:
    """The lcm:SubmitObjectsRequest of METADATA.XML (ITI TF-2b §3.32.4.1.2.2), read safely."""
    out = run.findings
    if run.pkg.files[meta] > MAX_METADATA_BYTES:
        out.append(error("XDM-META-001", meta, "METADATA.XML too large: refused unread",
                         f"<= {MAX_METADATA_BYTES} bytes", run.pkg.files[meta]))
        return None
    try:
        root = parse_xml(run.pkg.read(meta, MAX_METADATA_BYTES), max_bytes=MAX_METADATA_BYTES)
    except UnsafeXmlError as exc:
        out.append(error("XDM-META-001", meta, f"METADATA.XML not read: {exc}",
                         "a well-formed lcm:SubmitObjectsRequest (ebRS 3.0)", exc.reason))
        return None
    except READ_ERRORS as exc:
        out.append(error("XDM-ZIP-001", meta, f"METADATA.XML cannot be read: {exc}", "a readable file", "unreadable"))
        return None
    tag = f"{{{LCM_NS}}}SubmitObjectsRequest"
    if root.tag == tag:
        return root
    sor = next(root.iter(tag), None)
    if sor is None:
        out.append(error("XDM-META-001", meta, "METADATA.XML holds no lcm:SubmitObjectsRequest",
                         f"lcm:SubmitObjectsRequest ({LAYOUT})", etree.QName(root).localname))
        return None
    held = "the SOAP envelope of an ITI-41 message as sent, its header and security token included" \
        if etree.QName(root).localname == "Envelope" else f"a {etree.QName(root).localname}"
    out.append(warning("XDM-META-002", meta, f"METADATA.XML wraps the SubmitObjectsRequest in {held}: read the "
                       "SubmitObjectsRequest inside; an importer expecting the ebRS request as root may not",
                       f"lcm:SubmitObjectsRequest as root ({LAYOUT})", etree.QName(root).localname))
    return sor


def _uri(values: list[str]) -> str | None:
    """The URI slot's value; a long URI split over values ``1|...``, ``2|...`` is joined (ITI TF-3 §4.2.3.2)."""
    if len(values) == 1:
        return values[0].strip()
    parts = [_SPLIT_URI.match(v) for v in values]
    if values and all(parts):
        return "".join(m.group(2) for m in sorted(parts, key=lambda m: int(m.group(1)))).strip()
    return None


def _document_file(run: _Run, subset: str, where: str, values: list[str]) -> str | None:
    """The file a DocumentEntry's URI names, relative to its submission set folder; findings when it is absent,
    unsafe, or found only elsewhere."""
    out, pkg = run.findings, run.pkg
    loc = f"{where}/Slot[@name='URI']"
    uri = _uri(values)
    if not uri:
        out.append(error("XDM-URI-001", loc, "DocumentEntry without a URI naming its file" if not values else
                         "URI slot with several values that are not n|part pieces",
                         f"one relative URI (ITI TF-3 §4.3.1, XDM; {URI_RULE})", values or None))
        return None
    path = unquote(uri)
    segments = path.replace("\\", "/").split("/")
    if path.startswith(("/", "\\")) or "\\" in path or _SCHEME.match(path) or ".." in segments:
        out.append(error("XDM-URI-002", loc, "URI is not a relative path inside the package (absolute, a scheme or "
                         "drive, a backslash, or a '..' segment): not followed",
                         f"a relative path in the submission set folder ({URI_RULE})", uri))
        return None
    ihe_xdm = posixpath.dirname(subset)
    tries = [(posixpath.normpath(f"{subset}/{path}"), None),
             (posixpath.normpath(f"{ihe_xdm}/{path}"), "relative to IHE_XDM/"),
             (posixpath.normpath(path), "relative to the root of the media")]
    name, how = next(((n, h) for n, h in tries if n in pkg.files), (None, None))
    if name is None:
        found = [(pkg.find(n), h) for n, h in tries]
        name, how = next(((n, (f"{h}, " if h else "") + "ignoring letter case") for n, h in found
                          if n in pkg.files), (None, None))
    if name is None:
        out.append(error("XDM-DOC-001", loc, "the file the URI names is not in the package",
                         f"{subset}/{path} ({URI_RULE})", "absent"))
        return None
    if how:
        out.append(warning("XDM-URI-003", loc, f"URI names its file {how}, not relative to the submission set "
                           "folder holding METADATA.XML: read from there; an importer resolving it from the folder "
                           "does not find it", f"{posixpath.relpath(name, subset)} ({URI_RULE})", uri))
    return name


def _check_kos(run: _Run, meta: str, doc: DocumentEntry, name: str, data: bytes) -> None:
    """The KOS of a DocumentEntry: the KOS validator, and its study against referenceIdList (ITI TF-3 §4.2.3.2
    referenceIdList; IHE RAD TF-3 §4.68, XDS-I.b)."""
    checked = check_dicom(data, run.profile, run.dciodvfy)
    run.findings.extend(_loc(name, f) for f in checked.findings)
    run.add_sets(checked.rule_sets)
    if checked.kind != "dicom":
        return
    try:
        ds = read_dicom(data)
    except KosReadError:
        return  # KOS-PARSE-001 already
    if str(ds.get("SOPClassUID", "") or "") != KOS_SOP_CLASS:
        return
    run.koses.append((name, ds))
    study = str(ds.get("StudyInstanceUID", "") or "")
    listed = [v.split("^", 1)[0] for v in doc.referenceIdList if v.rsplit("^", 1)[-1] == STUDY_REF]
    if listed and study not in listed:
        where = f"{meta}: ExtrinsicObject[@id='{doc.id}']/Slot[@name='{REFERENCE_ID_LIST_SLOT}']"
        run.findings.append(error(
            "XDM-KOS-001", where, f"the KOS {name} is of another study than the entry's referenceIdList names",
            f"{study} (StudyInstanceUID of the KOS; ITI TF-3 §4.2.3.2 referenceIdList)", listed))


def _sop_instance(pkg: _Package, name: str) -> tuple[str, str] | None:
    """(SOP Class, SOP Instance) of a DICOM Part 10 file of the package, read up to its pixel data."""
    try:
        if pkg.head(name, 132)[128:132] != b"DICM":
            return None
        with pkg.open(name) as fh, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = pydicom.dcmread(fh, stop_before_pixels=True, specific_tags=["SOPClassUID", "SOPInstanceUID"])
    except Exception:  # an unreadable DICOM file is not an image of the study; it stays unreferenced
        return None
    meta = getattr(ds, "file_meta", None)
    cls = str(ds.get("SOPClassUID", "") or getattr(meta, "MediaStorageSOPClassUID", "") or "")
    uid = str(ds.get("SOPInstanceUID", "") or getattr(meta, "MediaStorageSOPInstanceUID", "") or "")
    return (cls, uid) if uid else None


def _check_images(run: _Run) -> None:
    """When the package holds DICOM images, each instance a KOS lists is one of them (PS3.3 C.17.6 evidence)."""
    if not run.koses:
        run.add_sets([RuleSet(KOS_IMAGES, ran=False, reason="no KOS in the package")])
        return
    present: dict[str, str] = {}
    for name in sorted(set(run.pkg.files) - run.consumed):
        read = _sop_instance(run.pkg, name)
        if read and read[0] not in (DICOMDIR_CLASS, KOS_SOP_CLASS):
            present.setdefault(read[1], name)
    run.images = present
    if not present:
        run.add_sets([RuleSet(KOS_IMAGES, ran=False, reason="no DICOM image in the package")])
        return
    run.add_sets([RuleSet(KOS_IMAGES, None, True, f"{len(present)} DICOM instance(s) in the package")])
    missing = []
    for name, ds in run.koses:
        missing += [(name, i, j, k, uid) for i, j, k, _cls, uid in Refs(ds).sop_list if uid not in present]
    for name, i, j, k, uid in missing[:MAX_LISTED]:
        run.findings.append(error("XDM-KOS-002", f"{name}: {sop_location(i, j, k)}", "an instance the KOS lists is "
                                  "not among the DICOM files of the package", uid, "absent"))
    if len(missing) > MAX_LISTED:
        run.findings.append(error("XDM-KOS-002", missing[0][0], f"and {len(missing) - MAX_LISTED} more instances "
                                  "the KOS lists are absent", "every listed instance", f"{len(missing)} absent"))


def _unreferenced(run: _Run, subsets: list[str]) -> None:
    """Files of a submission set folder that no DocumentEntry names (ITI TF-2b §3.32.4.1.2: an importer ignores
    them); DICOM instances a KOS lists are accounted for."""
    listed = {uid for _name, ds in run.koses for *_r, uid in Refs(ds).sop_list}
    by_file = {name: uid for uid, name in run.images.items()}
    extra = [name for name in sorted(set(run.pkg.files) - run.consumed)
             if any(name.startswith(s + "/") for s in subsets) and by_file.get(name) not in listed]
    for name in extra[:MAX_LISTED]:
        run.findings.append(warning("XDM-DOC-002", name, "file in the submission set folder that no DocumentEntry "
                                    "names (URI): an importer ignores it", f"named by a URI ({LAYOUT})", None))
    if len(extra) > MAX_LISTED:
        run.findings.append(warning("XDM-DOC-002", posixpath.dirname(extra[0]), f"and {len(extra) - MAX_LISTED} "
                                    "more files no DocumentEntry names", None, len(extra)))

