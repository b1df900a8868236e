"""Fixtures of the content plan: the files under test, validated once per session.

With ``sut.reference`` (``reference:content[?fault=NAME]``) the good set of ``fixtures.reference_content``
is written to a temporary folder (with the fault's mutation applied). Otherwise the SUT profile lists
its files (``files:``) and may give ``options``: ``profile`` (``dmp`` default, or ``xds``),
``groups`` (lists of files checked together for cross-document consistency; default: files in the
same folder form a group), ``cda_xsd`` (path to CI-SIS CDA_extended.xsd), ``schematron`` (CI-SIS
.sch or its folder), ``dciodvfy`` (false to skip dicom3tools; by default its messages are merged when it is installed,
attached to KOS-IOD-002, never deciding a verdict).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from fixtures.reference_content import group_by_folder
from harness.validators import FileReport, ValidationOptions, validate_files


@dataclass
class ContentRun:
    reports: list[FileReport]
    profile: str
    options: ValidationOptions

    def of_kind(self, *kinds: str) -> list[FileReport]:
        return [r for r in self.reports if r.kind in kinds]


def _path(base: Path, value: str | None) -> Path | None:
    if not value:
        return None
    path = Path(value)
    return path if path.is_absolute() else base / path


@pytest.fixture(scope="session")
def content(sut: Any, tmp_path_factory: pytest.TempPathFactory) -> ContentRun:
    opts = dict(sut.options or {})
    base = Path(sut.source).resolve().parent if sut.source and not sut.reference else Path.cwd()
    if sut.reference:
        from fixtures.reference_content import start_reference

        ref = start_reference(sut.fault, tmp_path_factory.mktemp("content"))
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
