"""Verdict logic of the content plan, as plain functions: which files a requirement looks at, when it
does not apply, and which findings make it fail. The plan's tests call it; so does the fault proof
(``tests/content_plan``), which can then check every fault without one pytest session per fault.

A SHALL fails on an error finding of its rule, a SHOULD on an error or a warning, a MAY never.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from harness.catalog import Catalog, CatalogError, default_catalog
from harness.findings import Finding, Severity
from harness.validators import FileReport, ValidationOptions, validate_files

KOS_IOD = ["KOS-PARSE-001", "KOS-IOD-001", "KOS-IOD-002", "KOS-IOD-003", "KOS-SR-001", "KOS-SR-002"]
KOS_EVIDENCE = ["KOS-EVD-001", "KOS-EVD-002", "KOS-URL-001", "KOS-URL-002", "KOS-URL-003", "KOS-EVD-003"]
KOS_IDENTITY = ["KOS-PAT-001", "KOS-PAT-002", "KOS-PAT-003", "KOS-PAT-004", "KOS-REQ-001", "KOS-REQ-002",
                "KOS-DRIM-001", "KOS-DRIM-002", "KOS-DRIM-003"]
CDA_HEADER = ["CDA-XML-001", "CDA-HDR-001", "CDA-HDR-002", "CDA-HDR-003", "CDA-HDR-004", "CDA-PAT-001",
              "CDA-SEV-001", "CDA-SEV-002", "CDA-ORD-001", "CDA-ORD-002", "CDA-RPLC-001"]
CDA_EXTERNAL = ["CDA-XSD-001", "CDA-SCH-001"]
HL7_MESSAGE = ["HL7-ENC-001", "HL7-MSH-001", "HL7-MSH-002", "HL7-PID-001", "HL7-OBX-001", "HL7-OBX-002",
               "HL7-RPLC-001", "HL7-FLAG-001", "HL7-PRT-001", "HL7-IPC-001"]
CROSS = ["XVAL-PAT-001", "XVAL-PAT-002", "XVAL-PAT-003", "XVAL-PAT-004", "XVAL-STU-001", "XVAL-ACC-001",
         "XVAL-DOC-001", "XVAL-CONF-001", "XVAL-EVT-001"]
# KOS rules of the CI-SIS / DRIMbox layer, not checked under profile "xds" (IHE only)
DMP_ONLY = {"KOS-URL-001", "KOS-URL-002", "KOS-URL-003", *KOS_IDENTITY}
XDS_ONLY = {"KOS-EVD-003"}  # under dmp the Retrieve URL rules (KOS-URL-*) say where to retrieve
FAILING = {"SHALL": {Severity.ERROR}, "SHOULD": {Severity.ERROR, Severity.WARNING}, "MAY": set()}


def xds_ids() -> list[str]:
    """XDS-* requirements of the content actor (catalog of harness.xds.validate); none if unreadable."""
    try:
        return sorted(r.id for r in default_catalog() if r.id.startswith("XDS-") and r.actor == "content")
    except CatalogError:
        return []


def families() -> dict[str, tuple[list[str], tuple[str, ...]]]:
    """Family -> (requirement ids, kinds of file the family looks at)."""
    return {"kos_iod": (KOS_IOD, ("dicom",)), "kos_evidence": (KOS_EVIDENCE, ("dicom",)),
            "kos_identity": (KOS_IDENTITY, ("dicom",)), "cda_header": (CDA_HEADER, ("cda", "hl7")),
            "cda_external": (CDA_EXTERNAL, ("cda",)), "hl7": (HL7_MESSAGE, ("hl7",)),
            "xds": (xds_ids(), ("xds",)), "cross": (CROSS, ("cross",))}


@dataclass
class ContentRun:
    reports: list[FileReport]
    profile: str
    options: ValidationOptions

    def of_kind(self, *kinds: str) -> list[FileReport]:
        return [r for r in self.reports if r.kind in kinds]


def not_applicable_reason(run: ContentRun, rid: str, kinds: tuple[str, ...]) -> str | None:
    if run.profile == "xds" and rid in DMP_ONLY:
        return "CI-SIS / DRIMbox rule, not part of the xds (IHE only) profile"
    if run.profile != "xds" and rid in XDS_ONLY:
        return "superseded under the dmp profile by the Retrieve URL rules (KOS-URL-001/002)"
    if rid == "CDA-XSD-001" and run.options.cda_xsd is None:
        return "the SUT profile gives no options.cda_xsd (CI-SIS CDA_extended.xsd to check against)"
    if rid == "CDA-SCH-001" and run.options.schematron is None:
        return "the SUT profile gives no options.schematron (CI-SIS schematron to check against)"
    reports = run.of_kind(*kinds)
    if not reports:
        return f"the SUT profile lists no file of kind {' or '.join(kinds)}"
    if rid == "HL7-IPC-001" and not any(b"OMI^O23" in r.path.read_bytes()[:1024] for r in reports):
        return "no OMI^O23 exam-change message among the files"
    if rid.startswith("XDS-") and any(f.rule == "XDS-VALIDATOR" for r in reports for f in r.findings):
        return "the XDS metadata validator (harness.xds.validate) is not available"
    return None


def findings_of(run: ContentRun, rid: str, kinds: tuple[str, ...]) -> list[tuple[FileReport, Finding]]:
    """Findings of rule ``rid`` (plus dciodvfy's, attached to KOS-IOD-002) with the file they concern."""
    extra = {"DCIODVFY"} if rid == "KOS-IOD-002" else set()
    return [(r, f) for r in run.of_kind(*kinds) for f in r.findings if f.rule == rid or f.rule in extra]


def failing(run: ContentRun, level: str, rid: str, kinds: tuple[str, ...]) -> list[tuple[FileReport, Finding]]:
    return [(r, f) for r, f in findings_of(run, rid, kinds) if f.rule == rid and f.severity in FAILING[level]]


def failed_requirements(run: ContentRun, catalog: Catalog | None = None) -> set[str]:
    """What the plan fails on this run (same logic as its tests)."""
    catalog = catalog or default_catalog()
    failed = set()
    for ids, kinds in families().values():
        for rid in ids:
            level = catalog[rid].level if rid in catalog else "SHALL"
            if not_applicable_reason(run, rid, kinds) is None and failing(run, level, rid, kinds):
                failed.add(rid)
    return failed


def by_label(pairs: Iterable[tuple[FileReport, Finding]]) -> dict[str, list[Finding]]:
    out: dict[str, list[Finding]] = {}
    for report, finding in pairs:
        out.setdefault(str(report.path), []).append(finding)
    return out


def _path(base: Path, value: str | None) -> Path | None:
    if not value:
        return None
    path = Path(value)
    return path if path.is_absolute() else base / path


def run_content(sut: Any, workdir: Path) -> ContentRun:
    """Validate the SUT's files, or the reference set (with ``sut.fault``) written under ``workdir``.

    Profile ``options``: ``profile`` (``dmp`` default, or ``xds``), ``groups`` (lists of files checked
    together for cross-document consistency; default: the files of one folder form a group), ``cda_xsd``
    (CI-SIS CDA_extended.xsd), ``schematron`` (CI-SIS .sch or its folder), ``dciodvfy`` (false to skip
    dicom3tools; by default its messages are attached to KOS-IOD-002 when it is installed).
    """
    from fixtures.reference_content import group_by_folder, start_reference

    opts = dict(sut.options or {})
    base = Path(sut.source).resolve().parent if sut.source and not sut.reference else Path.cwd()
    if sut.reference:
        ref = start_reference(sut.fault, workdir)
        files, groups = ref.files, ref.groups
    else:
        files = [Path(f) for f in sut.files]
        if not files:
            pytest.fail(f"SUT profile {sut.name}: 'files' is required by the content plan (the files to check)")
        groups = ([[_path(base, f) for f in g] for g in opts["groups"]] if opts.get("groups")
                  else group_by_folder(files))
    options = ValidationOptions(dciodvfy=opts.get("dciodvfy"), cda_xsd=_path(base, opts.get("cda_xsd")),
                                schematron=_path(base, opts.get("schematron")))
    profile = opts.get("profile", "dmp")
    reports = validate_files(files, profile=profile, cross_groups=[g for g in groups if len(g) > 1],
                             options=options)
    return ContentRun(reports, profile, options)
