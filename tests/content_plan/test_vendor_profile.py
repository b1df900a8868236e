"""The content plan on a vendor's SUT profile: listed files, relative paths, groups, options."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from fixtures.mutations import MUTATIONS
from fixtures.mutations.goodset import good_set, write_files
from harness.sut import load_profile
from testplans.content.verdicts import failed_requirements, families, not_applicable_reason, run_content

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus"


def profile(tmp_path: Path, files: list[str], **options) -> Path:
    path = tmp_path / "sut.yaml"
    path.write_text(yaml.safe_dump({"name": "vendor", "actor": "content", "files": files, "options": options}))
    return path


def test_vendor_files_with_explicit_groups(tmp_path):
    good = good_set()
    good["exam1/kos.dcm"] = MUTATIONS["wrong-retrieve-url"].apply(good["exam1/kos.dcm"])
    flat = {k.replace("/", "-"): v for k, v in good.items()}  # all in one folder: groups must be given
    write_files(flat, tmp_path / "out")
    names = sorted(flat)
    groups = [[f"out/{n}" for n in names if n.startswith(e)] for e in ("exam1", "exam2")]
    sut = load_profile(str(profile(tmp_path, [f"out/{n}" for n in names], groups=groups)))
    assert failed_requirements(run_content(sut, tmp_path / "work")) == {"KOS-URL-002"}


def test_profile_xds_and_missing_kinds(tmp_path):
    write_files({"a/kos.dcm": good_set()["exam1/kos.dcm"]}, tmp_path)
    sut = load_profile(str(profile(tmp_path, ["a/kos.dcm"], profile="xds")))
    run = run_content(sut, tmp_path / "work")
    fams = families()
    assert "CI-SIS" in not_applicable_reason(run, "KOS-URL-001", fams["kos_evidence"][1])
    assert "no file of kind" in not_applicable_reason(run, "HL7-MSH-001", fams["hl7"][1])
    assert not_applicable_reason(run, "KOS-SR-001", fams["kos_iod"][1]) is None
    assert failed_requirements(run) == set()


def test_ci_sis_xsd_option_applies_cda_xsd(tmp_path):
    xsd = CORPUS / "xsd/cisis-cda-extended/infrastructure/cda/CDA_extended.xsd"
    if not xsd.exists():
        pytest.skip(f"corpus file missing: {xsd}")
    bad = good_set()["exam1/cr-img.xml"].replace(b"<title>", b"<titre>").replace(b"</title>", b"</titre>")
    write_files({"a/cr-img.xml": bad}, tmp_path)
    sut = load_profile(str(profile(tmp_path, ["a/cr-img.xml"], cda_xsd=str(xsd))))
    assert failed_requirements(run_content(sut, tmp_path / "work")) == {"CDA-XSD-001"}


def test_every_content_requirement_is_in_the_plan():
    from harness.catalog import load_catalog

    ids = {r.id for r in load_catalog() if r.file == "content.yaml"}
    assert ids - {rid for rids, _kinds in families().values() for rid in rids} == set()
