"""`drimcheck validate`: exit codes, text and JSON output, --with groups, --profile."""

from __future__ import annotations

import json

import pytest

from fixtures.mutations import MUTATIONS
from fixtures.mutations.goodset import write_files
from harness.validators.command import main


@pytest.fixture
def exam1(good, tmp_path):
    files = {k: v for k, v in good.items() if k.startswith("exam1/")}
    return sorted(write_files(files, tmp_path))


def test_good_files_exit_0(exam1, capsys):
    assert main([str(p) for p in exam1]) == 0
    out = capsys.readouterr().out
    assert out.count(" OK: ") == 4


def test_json_lists_files_kinds_findings_and_the_cross_group(exam1, capsys):
    kos, hl7, xds, cda = exam1[1], exam1[2], exam1[3], exam1[0]
    assert main([str(kos), "--with", str(cda), str(xds), str(hl7), "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [d["kind"] for d in data] == ["dicom", "cda", "xds", "hl7", "cross"]
    assert all(isinstance(d["findings"], list) for d in data)


def test_error_exit_1_with_rule_in_text(good, tmp_path, capsys):
    path = tmp_path / "kos.dcm"
    path.write_bytes(MUTATIONS["missing-retrieve-url"].apply(good["exam1/kos.dcm"]))
    assert main([str(path)]) == 1
    assert "[KOS-URL-001] (0040,A375)[0]>(0008,1115)[0]>(0008,1190)" in capsys.readouterr().out


def test_profile_xds(good, tmp_path):
    path = tmp_path / "kos.dcm"
    path.write_bytes(MUTATIONS["missing-retrieve-url"].apply(good["exam1/kos.dcm"]))
    assert main([str(path), "--profile", "xds"]) == 0


def test_cross_mismatch_exit_1(good, tmp_path, capsys):
    files = write_files({"a/kos.dcm": good["exam1/kos.dcm"], "b/cr.xml": good["exam2/cr-img.xml"]}, tmp_path)
    assert main([str(files[0]), "--with", str(files[1]), "--format", "json"]) == 1
    cross = json.loads(capsys.readouterr().out)[-1]
    assert cross["kind"] == "cross" and any(f["rule"] == "XVAL-PAT-001" for f in cross["findings"])


def test_unreadable_path_exit_2(tmp_path, capsys):
    assert main([str(tmp_path / "missing.dcm")]) == 2
    assert "missing.dcm" in capsys.readouterr().err
    assert main([str(tmp_path)]) == 2


def test_unknown_kind_is_an_error(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("hello")
    assert main([str(path)]) == 1


def test_dciodvfy_option(exam1, capsys):
    import shutil

    if shutil.which("dciodvfy") is None:
        pytest.skip("dicom3tools dciodvfy not installed")
    assert main([str(exam1[1]), "--dciodvfy"]) == 0
    assert "<dciodvfy>" in capsys.readouterr().out
