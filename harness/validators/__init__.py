"""Content validators: KOS manifests, CR-IMG CDA, HL7 v2, XDS messages, and their cross-consistency.

Public surface (everything returns findings, nothing prints):
- :func:`detect_kind` (bytes -> ``dicom`` | ``xds`` | ``cda`` | ``hl7`` | ``unknown``)
- :func:`validate_file`, :func:`validate_files` -> :class:`FileReport` (kind, findings and the rule sets
  that ran or were skipped, :class:`RuleSet`); :func:`check_bytes`, :func:`validate_bytes` on bytes
- per kind: ``kos.validate_kos``, ``cda.validate_cda``, ``hl7v2.validate_hl7``, ``cross.cross_validate``;
  XDS messages go to ``harness.xds.validate.validate_message`` (its own package).

DICOM files are Part 10 or DICOM written as XML (PS3.19 Native DICOM Model, dcmtk dcm2xml); a DICOM file
that is not a KOS (an image of the exam) is of kind ``dicom-object``: identified, compared with the KOS of
its cross group, not held to the KOS rules.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from harness.findings import Finding, Severity, error, info, warning
from harness.validators.cda import MAX_CDA_BYTES, check_cda, validate_cda
from harness.validators.cross import cross_validate
from harness.validators.detect import detect_kind
from harness.validators.dicom import check_dicom
from harness.validators.hl7v2 import MAX_HL7_BYTES, check_hl7, validate_hl7
from harness.validators.kos import MAX_KOS_BYTES, validate_kos
from harness.validators.rulesets import Checked, RuleSet, ran, skipped
from harness.validators.xdm import check_xdm, is_xdm_package

__all__ = ["Checked", "FileReport", "RuleSet", "ValidationOptions", "check_bytes", "cross_validate", "detect_kind",
           "validate_bytes", "validate_cda", "validate_file", "validate_files", "validate_hl7", "validate_kos"]

MAX_FILE_BYTES = 256 * 1024 * 1024
HEAD_BYTES = 65536  # what detect_kind looks at
SIZE_LIMITS = {  # kind -> (largest accepted file, rule of the refusal)
    "dicom": (MAX_KOS_BYTES, "KOS-PARSE-001"),
    "cda": (MAX_CDA_BYTES, "CDA-XML-001"),
    "hl7": (MAX_HL7_BYTES, "HL7-ENC-001"),
    "xds": (64 * 1024 * 1024, "CONTENT-SIZE"),
}
KINDS = "DICOM Part 10 or XML | SOAP/ebRIM XML | MTOM | CDA | HL7 v2"


@dataclass
class FileReport:
    path: Path
    kind: str
    findings: list[Finding] = field(default_factory=list)
    rule_sets: list[RuleSet] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not any(f.severity is Severity.ERROR for f in self.findings)

    def to_dict(self) -> dict:
        return {"file": str(self.path), "kind": self.kind, "findings": [f.to_dict() for f in self.findings],
                "rule_sets": [r.to_dict() for r in self.rule_sets]}


@dataclass(frozen=True)
class ValidationOptions:
    """Optional external checkers: dciodvfy for KOS (None: when installed), CI-SIS XSD and schematron for CDA."""
    dciodvfy: bool | None = None
    cda_xsd: Path | None = None
    schematron: Path | None = None


def check_bytes(data: bytes, kind: str, profile: str = "dmp",
                options: ValidationOptions = ValidationOptions()) -> Checked:
    """Validate ``data`` as ``kind`` (see :func:`detect_kind`): findings, rule sets, and the kind refined by
    reading the file (``dicom-object`` for a DICOM file that is not a KOS)."""
    if kind in ("dicom", "dicom-object"):
        return check_dicom(data, profile, options.dciodvfy)
    if kind == "cda":
        return check_cda(data, xsd=options.cda_xsd, schematron=options.schematron)
    if kind == "hl7":
        return check_hl7(data)
    if kind == "xds":
        return _check_xds(data, profile)
    return Checked("unknown", [error("CONTENT-KIND", "(file)", "not a DICOM, XDS, CDA or HL7 v2 file", KINDS,
                                     "unknown")])


def validate_bytes(data: bytes, kind: str, profile: str = "dmp",
                   options: ValidationOptions = ValidationOptions()) -> list[Finding]:
    """The findings of :func:`check_bytes`."""
    return check_bytes(data, kind, profile, options).findings


def validate_file(path: Path, profile: str = "dmp", options: ValidationOptions = ValidationOptions()) -> FileReport:
    """Detect (from the first 64 KB) and validate one file; OSError when it cannot be read.

    A file larger than its kind allows is refused unread (a 200 MB "CDA" never reaches memory). An IHE XDM
    package (a folder holding IHE_XDM/, or a ZIP of one) is of kind ``xdm`` (:mod:`harness.validators.xdm`).
    """
    path = Path(path)
    if is_xdm_package(path):
        checked = check_xdm(path, profile, options.dciodvfy)
        return FileReport(path, checked.kind, checked.findings, checked.rule_sets)
    kind = detect_path(path)
    size = path.stat().st_size
    limit, rule = SIZE_LIMITS.get(kind, (MAX_FILE_BYTES, "CONTENT-SIZE"))
    if size > limit:
        return FileReport(path, kind, [error(rule, "(file)", f"file of {size} bytes is too large for a {kind} file",
                                             f"<= {limit} bytes", size)])
    checked = check_bytes(path.read_bytes(), kind, profile, options)
    return FileReport(path, checked.kind, checked.findings, checked.rule_sets)


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
        findings, sets = cross_group([(p, kinds[p.resolve()]) for p in group])
        reports.append(FileReport(group_path(group), "cross", findings, sets))
    return reports


def group_path(group: Sequence[Path]) -> Path:
    """A readable name for a cross group: ``<common folder>/a.dcm+b.xml+c.hl7``."""
    parents = {p.parent for p in group}
    folder = parents.pop() if len(parents) == 1 else Path()
    return folder / "+".join(p.name if folder != Path() else str(p) for p in group)


_CROSS_ARG = {"dicom": "kos", "dicom-object": "image", "cda": "cda", "xds": "xds", "hl7": "hl7"}


def cross_group(files: Sequence[tuple[Path, str]]) -> tuple[list[Finding], list[RuleSet]]:
    """Cross-validate a group: the first file of each kind, every image; a file of no known kind, or one that
    cannot be read, is an error (the group is never reported consistent on files it did not compare)."""
    args: dict[str, object] = {}
    findings: list[Finding] = []
    for path, kind in files:
        arg = _CROSS_ARG.get(kind)
        if arg is None:
            findings.append(error("XVAL-INPUT-001", str(path), "not a DICOM, XDS, CDA or HL7 v2 file: not compared",
                                  KINDS, kind))
        elif arg == "image":
            args.setdefault("image", []).append(path)
        elif arg in args:
            findings.append(warning("XVAL-INPUT-001", str(path), f"not compared: the group's {arg.upper()} is "
                                    f"{args[arg]} (one per group)", None, kind))
        else:
            args[arg] = path
    findings = cross_validate(**args) + findings
    compared = ", ".join(f"{k.upper()} {', '.join(p.name for p in v) if isinstance(v, list) else v.name}"
                         for k, v in args.items())
    if not args:
        return findings, [skipped("cross", "no readable document in the group")]
    unread = [f.location for f in findings if f.rule == "XVAL-INPUT-001" and f.severity is Severity.ERROR]
    note = f"compared: {compared}" + (f"; not read: {', '.join(unread)}" if unread else "")
    return findings, [ran("cross", note)]


def _check_xds(data: bytes, profile: str) -> Checked:
    try:
        from harness.validators.xdsfile import check_xds
    except ImportError:
        return Checked("xds", [info("XDS-VALIDATOR", "(file)", "harness.xds.validate is not available: XDS "
                                    "metadata not checked")], [skipped("xds-ihe", "harness.xds is not available")])
    return check_xds(data, profile)


def split_capture(data: bytes) -> tuple[str, bytes]:
    """A stored XDS message -> (Content-Type, body) as sent (see :mod:`harness.validators.capture`)."""
    from harness.validators.capture import read_capture

    cap = read_capture(data)
    return cap.content_type, cap.body
