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


def test_every_verdict_lists_its_rule_sets(exam1, capsys):
    assert main([str(p) for p in exam1] + ["--no-dciodvfy"]) == 0
    out = capsys.readouterr().out
    assert out.count("\n  ran: ") == 4
    assert "skipped: dciodvfy (--no-dciodvfy)" in out
    assert "skipped: CI-SIS CDA_extended.xsd (no --cda-xsd given); CI-SIS IMG-CR-IMG schematron (no --schematron" \
           " given)" in out
    assert main([str(exam1[3]), "--format", "json", "--profile", "xds"]) == 0
    sets = {s["name"]: s for s in json.loads(capsys.readouterr().out)[0]["rule_sets"]}
    assert sets["ebRS 3.0 / IHE XDS.b XSD"]["status"] == "ran"
    assert sets["CI-SIS / DMP rules"] == {"name": "CI-SIS / DMP rules", "version": None, "status": "skipped",
                                          "reason": "profile xds: IHE rules only"}


def test_schematron_run_shows_in_the_verdict(corpus_file, capsys):
    """The same OK with and without --schematron is not the same verdict: the rule sets say which."""
    cda = str(corpus_file("cda/cisis/examples/IMG_CR_IMG_2024.01.xml"))
    assert main([cda]) == 0
    without = capsys.readouterr().out
    assert main([cda, "--schematron", str(corpus_file("cda/cisis/schematron")), "--format", "json"]) == 0
    sets = json.loads(capsys.readouterr().out)[0]["rule_sets"]
    assert "skipped: CI-SIS CDA_extended.xsd (no --cda-xsd given); CI-SIS IMG-CR-IMG schematron" in without
    assert {"name": "CI-SIS IMG-CR-IMG schematron", "version": "2024.01", "status": "ran"} in sets


def test_ans_cross_validator_inputs(corpus_file, capsys):
    """OK_Cas_Passant as the agency's cross-validator takes it: DICOM as dcm2xml dumps, an MR image and the KOS."""
    folder = "drim-m-data/test a blanc/Cross-validateur/OK_Cas_Passant"
    img, kos = (str(corpus_file(f"{folder}/{n}")) for n in ("IMG_OK.xml", "KOS_OK.xml"))
    assert main([img, "--with", kos, "--format", "json", "--no-dciodvfy"]) == 0
    reports = json.loads(capsys.readouterr().out)
    assert [r["kind"] for r in reports] == ["dicom-object", "dicom", "cross"]
    assert reports[-1]["rule_sets"][0]["reason"] == "compared: IMAGE IMG_OK.xml, KOS KOS_OK.xml"


def test_root_part_alone_is_a_warning_in_a_file_an_error_in_a_capture(tmp_path, capsys):
    """A file holding the MTOM root part without its parts is how the ANS samples are stored (warning);
    the same body after its HTTP headers is a message as sent, whose parts are missing (error)."""
    from harness.xds import build_pnr_message
    from tests.xds.xds_testdata import good_submission

    _ctype, body = build_pnr_message(good_submission(), mtom=True)
    root = body.split(b"\r\n\r\n", 1)[1].split(b"\r\n--", 1)[0]
    (tmp_path / "root.xml").write_bytes(root)
    (tmp_path / "capture.txt").write_bytes(b"Content-Type: application/soap+xml\r\n\r\n" + root)
    assert main([str(tmp_path / "root.xml"), "--format", "json"]) == 0
    [stored] = [f for f in json.loads(capsys.readouterr().out)[0]["findings"] if f["rule"] == "XDS-MTOM-001"]
    assert stored["severity"] == "warning"
    assert main([str(tmp_path / "capture.txt"), "--format", "json"]) == 1
    assert {f["severity"] for f in json.loads(capsys.readouterr().out)[0]["findings"]
            if f["rule"] == "XDS-MTOM-001"} == {"error"}
