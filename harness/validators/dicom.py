"""DICOM content files, Part 10 or written as XML: a KOS manifest gets the KOS rules, any other object
(an image of the exam, as the ANS cross-validator takes beside the KOS) is read and identified only.

Public: :func:`check_dicom` -> :class:`~harness.validators.rulesets.Checked`, :func:`read_dicom`
(Part 10 or XML bytes -> Dataset), :func:`is_xml`. Kinds: ``dicom`` (a KOS, or a file that cannot be
read: the KOS rules say why) and ``dicom-object`` (another SOP class; PS3.4 B.5 names it).
"""

from __future__ import annotations

import io
import warnings

from pydicom.dataset import Dataset
from pydicom.uid import UID

from harness.findings import Finding, Severity, error, info
from harness.validators.dciodvfy import available as dciodvfy_available
from harness.validators.dciodvfy import run_dciodvfy
from harness.validators.dicomxml import DicomXml, DicomXmlError, read_dicom_xml
from harness.validators.kos import KOS_SOP_CLASS, KosReadError, meta_sop_class, read_kos, validate_kos
from harness.validators.rulesets import Checked, RuleSet, ran, skipped

KIND_KOS, KIND_OBJECT = "dicom", "dicom-object"
_UNREADABLE = "the file could not be read as DICOM"


def is_xml(data: bytes) -> bool:
    """DICOM written as XML starts with markup; a Part 10 file with its 128-byte preamble."""
    return data[128:132] != b"DICM" and data.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] == b"<"


def read_dicom(data: bytes) -> Dataset:
    """A Part 10 file or DICOM-as-XML (PS3.19 Native DICOM Model, dcm2xml) -> Dataset; KosReadError."""
    if is_xml(data):
        try:
            return read_dicom_xml(data).dataset
        except DicomXmlError as exc:
            raise KosReadError(f"DICOM XML: {exc}") from None
    return read_kos(data)


def check_dicom(data: bytes, profile: str = "dmp", dciodvfy: bool | None = None) -> Checked:
    """Validate a DICOM file (``dciodvfy`` None: run it when installed)."""
    use_tool = dciodvfy_available() if dciodvfy is None else dciodvfy
    if is_xml(data):
        return _check_xml(data, profile, use_tool, dciodvfy)
    sop = meta_sop_class(data)
    if sop is not None and sop != KOS_SOP_CLASS:
        try:
            ds = read_kos(data)
        except KosReadError:
            ds = None
        if ds is not None and str(ds.get("SOPClassUID", "") or sop) != KOS_SOP_CLASS:
            return _object(str(ds.get("SOPClassUID", "") or sop), [ran("dicom-part10")],
                           _tool(data, use_tool, dciodvfy))
    findings = validate_kos(data, profile=profile, dciodvfy=use_tool)
    sets = [ran("dicom-part10"), *_kos_sets(profile, findings)]
    return Checked(KIND_KOS, findings, [*sets, _tool_set(use_tool, dciodvfy, findings)])


def _check_xml(data: bytes, profile: str, use_tool: bool, asked: bool | None) -> Checked:
    try:
        read = read_dicom_xml(data)
    except DicomXmlError as exc:
        reader = skipped("dicom-xml", str(exc))
        refused = error("KOS-PARSE-001", "(file)", f"DICOM XML: {exc}", "DICOM Part 10 file or DICOM XML (PS3.19 "
                        "Native DICOM Model, dcmtk dcm2xml)", "unreadable")
        return Checked(KIND_KOS, [refused], [reader, *_kos_sets(profile, None)])
    reader = ran("dicom-xml", _xml_note(read), name=f"DICOM XML reader ({read.form} form)")
    notes = [info("KOS-PARSE-001", "(file)", f"read from DICOM XML ({read.form}): {note}") for note in read.notes]
    ds = read.dataset
    sop = str(ds.get("SOPClassUID", "") or "")
    tool = _xml_tool(read, use_tool, asked)
    if sop and sop != KOS_SOP_CLASS:
        found = _object(sop, [reader], tool)
        found.findings[:0] = notes
        return found
    findings = notes + validate_kos(ds, profile=profile)
    tool_findings, tool_set = tool
    return Checked(KIND_KOS, findings + tool_findings, [reader, *_kos_sets(profile, findings), tool_set])


def _object(sop: str, sets: list[RuleSet], tool: tuple[list[Finding], RuleSet]) -> Checked:
    """Another SOP class than KOS: identified, its own IOD left to dciodvfy; the KOS rules do not apply."""
    name = UID(sop).name if sop else "(no SOP Class UID)"
    why = f"{name}, not a KOS"
    found = [info("CONTENT-KIND", "(0008,0016)", f"a DICOM {name} object, not a KOS manifest: the KOS rules do not "
                  "apply (it is compared with the KOS when given in a cross-document group)", KOS_SOP_CLASS, sop)]
    tool_findings, tool_set = tool
    return Checked(KIND_OBJECT, found + tool_findings, [*sets, skipped("kos-iod", why), skipped("kos-cisis", why),
                                                        tool_set])


def _kos_sets(profile: str, findings: list[Finding] | None) -> list[RuleSet]:
    """KOS rule sets: all skipped when the file could not be read (KOS-PARSE-001 at "(file)")."""
    if findings is None or _unreadable(findings):
        return [skipped("kos-iod", _UNREADABLE), skipped("kos-cisis", _UNREADABLE)]
    if profile == "dmp":
        return [ran("kos-iod"), ran("kos-cisis")]
    return [ran("kos-iod"), ran("kos-xdsi"), skipped("kos-cisis", "profile xds: IHE rules only")]


def _unreadable(findings: list[Finding]) -> bool:
    return any(f.rule == "KOS-PARSE-001" and f.location == "(file)" and f.severity is Severity.ERROR for f in findings)


def _tool(data: bytes, use_tool: bool, asked: bool | None) -> tuple[list[Finding], RuleSet]:
    found = run_dciodvfy(data) if use_tool else []
    return found, _tool_set(use_tool, asked, found)


def _tool_set(use_tool: bool, asked: bool | None, findings: list[Finding] | None = None) -> RuleSet:
    if not use_tool:
        return skipped("dciodvfy", "--no-dciodvfy" if asked is False else "not installed")
    if not dciodvfy_available():
        return skipped("dciodvfy", "not installed")
    if findings is not None and _unreadable(findings):
        return skipped("dciodvfy", _UNREADABLE)
    return ran("dciodvfy", "its messages are warnings and infos")


def _xml_tool(read: DicomXml, use_tool: bool, asked: bool | None) -> tuple[list[Finding], RuleSet]:
    """dciodvfy reads Part 10 only: run it on pydicom's Part 10 encoding of the XML, unless the XML hides
    values (the encoding would lack them and dciodvfy would report what the XML left out)."""
    hidden = [t for t in read.hidden if not t.startswith("(0002,")]
    if not use_tool or not dciodvfy_available():
        return [], _tool_set(use_tool, asked)
    if hidden:
        return [], skipped("dciodvfy", f"the XML leaves out the value of {', '.join(hidden[:5])}: no faithful "
                           "Part 10 encoding to check")
    try:
        buf = io.BytesIO()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            read.dataset.save_as(buf, enforce_file_format=True)
    except Exception as exc:  # a value pydicom cannot write: the KOS rules still ran on the dataset
        return [], skipped("dciodvfy", f"no Part 10 encoding of the XML ({exc.__class__.__name__}: {exc})")
    return run_dciodvfy(buf.getvalue()), ran("dciodvfy", "on pydicom's Part 10 encoding of the XML")


def _xml_note(read: DicomXml) -> str | None:
    hidden = [t for t in read.hidden if not t.startswith("(0002,")]
    parts = [f"values left out of the XML: {', '.join(hidden[:8])}" + (" ..." if len(hidden) > 8 else "")] \
        if hidden else []
    if not read.has_meta:
        parts.append("no File Meta Information: the transfer syntax is not checked")
    return "; ".join(parts) or None
