"""Content validators: KOS manifests, CR-IMG CDA, HL7 v2, XDS messages, and their cross-consistency.

Public surface (everything returns findings, nothing prints):
- :func:`detect_kind` (bytes -> ``dicom`` | ``xds`` | ``cda`` | ``hl7`` | ``unknown``)
- :func:`validate_file`, :func:`validate_files` -> :class:`FileReport`
- per kind: ``kos.validate_kos``, ``cda.validate_cda``, ``hl7v2.validate_hl7``, ``cross.cross_validate``;
  XDS messages go to ``harness.xds.validate.validate_message`` (its own package).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from harness.findings import Finding, Severity, error, info
from harness.validators.cda import MAX_CDA_BYTES, validate_cda
from harness.validators.cross import cross_validate
from harness.validators.dciodvfy import available as dciodvfy_available
from harness.validators.detect import detect_kind
from harness.validators.hl7v2 import MAX_HL7_BYTES, validate_hl7
from harness.validators.kos import MAX_KOS_BYTES, validate_kos

__all__ = ["FileReport", "ValidationOptions", "cross_validate", "detect_kind", "validate_cda", "validate_file",
           "validate_files", "validate_hl7", "validate_kos"]

MAX_FILE_BYTES = 256 * 1024 * 1024
HEAD_BYTES = 65536  # what detect_kind looks at
SIZE_LIMITS = {  # kind -> (largest accepted file, rule of the refusal)
    "dicom": (MAX_KOS_BYTES, "KOS-PARSE-001"),
    "cda": (MAX_CDA_BYTES, "CDA-XML-001"),
    "hl7": (MAX_HL7_BYTES, "HL7-ENC-001"),
    "xds": (64 * 1024 * 1024, "CONTENT-SIZE"),
}


@dataclass
class FileReport:
    path: Path
    kind: str
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not any(f.severity is Severity.ERROR for f in self.findings)

    def to_dict(self) -> dict:
        return {"file": str(self.path), "kind": self.kind, "findings": [f.to_dict() for f in self.findings]}


@dataclass(frozen=True)
class ValidationOptions:
    """Optional external checkers: dciodvfy for KOS (None: when installed), CI-SIS XSD and schematron for CDA."""
    dciodvfy: bool | None = None
    cda_xsd: Path | None = None
    schematron: Path | None = None


def validate_bytes(data: bytes, kind: str, profile: str = "dmp",
                   options: ValidationOptions = ValidationOptions()) -> list[Finding]:
    """Validate ``data`` as ``kind`` (see :func:`detect_kind`)."""
    if kind == "dicom":
        use = dciodvfy_available() if options.dciodvfy is None else options.dciodvfy
        return validate_kos(data, profile=profile, dciodvfy=use)
    if kind == "cda":
        return validate_cda(data, xsd=options.cda_xsd, schematron_dir=options.schematron)
    if kind == "hl7":
        return validate_hl7(data)
    if kind == "xds":
        return _validate_xds(data, profile)
    return [error("CONTENT-KIND", "(file)", "not a DICOM, XDS, CDA or HL7 v2 file",
                  "DICOM Part 10 | SOAP/ebRIM XML | MTOM | CDA | HL7 v2", "unknown")]


def validate_file(path: Path, profile: str = "dmp", options: ValidationOptions = ValidationOptions()) -> FileReport:
    """Detect (from the first 64 KB) and validate one file; OSError when it cannot be read.

    A file larger than its kind allows is refused unread (a 200 MB "CDA" never reaches memory).
    """
    path = Path(path)
    kind = detect_path(path)
    size = path.stat().st_size
    limit, rule = SIZE_LIMITS.get(kind, (MAX_FILE_BYTES, "CONTENT-SIZE"))
    if size > limit:
        return FileReport(path, kind, [error(rule, "(file)", f"file of {size} bytes is too large for a {kind} file",
                                             f"<= {limit} bytes", size)])
    return FileReport(path, kind, validate_bytes(path.read_bytes(), kind, profile, options))


def detect_path(path: Path) -> str:
    with Path(path).open("rb") as fh:
        return detect_kind(fh.read(HEAD_BYTES), Path(path).name)


def validate_files(paths: Iterable[Path], profile: str = "dmp",
                   cross_groups: Sequence[Sequence[Path]] | None = None,
                   options: ValidationOptions = ValidationOptions()) -> list[FileReport]:
    """Validate each file, then each cross group (one report of kind ``cross`` per group)."""
    reports = [validate_file(Path(p), profile, options) for p in paths]
    kinds = {r.path.resolve(): r.kind for r in reports}
    for group in cross_groups or ():
        group = [Path(p) for p in group]
        for p in group:
            if p.resolve() not in kinds:
                kinds[p.resolve()] = detect_path(p)
        reports.append(FileReport(group_path(group), "cross", cross_group([(p, kinds[p.resolve()]) for p in group])))
    return reports


def group_path(group: Sequence[Path]) -> Path:
    """A readable name for a cross group: ``<common folder>/a.dcm+b.xml+c.hl7``."""
    parents = {p.parent for p in group}
    folder = parents.pop() if len(parents) == 1 else Path()
    return folder / "+".join(p.name if folder != Path() else str(p) for p in group)


_CROSS_ARG = {"dicom": "kos", "cda": "cda", "xds": "xds", "hl7": "hl7"}


def cross_group(files: Sequence[tuple[Path, str]]) -> list[Finding]:
    """Cross-validate the first file of each kind in the group."""
    args: dict[str, Path] = {}
    for path, kind in files:
        if kind in _CROSS_ARG:
            args.setdefault(_CROSS_ARG[kind], path)
    return cross_validate(**args)


def _validate_xds(data: bytes, profile: str) -> list[Finding]:
    try:
        from harness.xds.validate import validate_message
    except ImportError:
        return [info("XDS-VALIDATOR", "(file)", "harness.xds.validate is not available: XDS metadata not checked")]
    content_type, body = split_capture(data)
    return validate_message(content_type, body, profile=profile)


def split_capture(data: bytes) -> tuple[str, bytes]:
    """A stored XDS message -> (Content-Type, body): plain SOAP, or MTOM with or without its header block."""
    head = data.lstrip()
    if head[:13].lower() == b"content-type:":
        header, sep, body = head.partition(b"\r\n\r\n")
        if not sep:
            header, _, body = head.partition(b"\n\n")
        first = header.split(b"\n")[0].decode("latin-1")
        return first.split(":", 1)[1].strip(), body
    if head.startswith(b"--"):
        boundary = head.split(b"\n", 1)[0].strip()[2:].decode("latin-1")
        return (f'multipart/related; type="application/xop+xml"; boundary="{boundary}"; '
                f'start-info="application/soap+xml"'), head
    return "application/soap+xml; charset=UTF-8", data
