"""The CLI contract: subcommands, outputs, exit codes and one-line errors."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from harness.servers import free_port
from reports.build import verify_bundle
from reports.results import validate_results

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
PLAN = HERE / "plan"
CATALOG = HERE / "catalog"
PROFILE = HERE / "engine-sut.yaml"


def drimcheck(*args: str, env: dict | None = None, cwd: Path = REPO) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "harness.cli", *args], capture_output=True, text=True,
                          cwd=str(cwd), env={**os.environ, **(env or {})}, timeout=300, check=False)


def run_engine_plan(out: Path, fail: bool = False) -> subprocess.CompletedProcess:
    return drimcheck("run", "--sut", str(PROFILE), "--plan", str(PLAN), "--catalog", str(CATALOG),
                     "--out", str(out), env={"DRIMCHECK_ENGINE_FAIL": "1" if fail else "0"})


@pytest.fixture(scope="module")
def passing(tmp_path_factory) -> tuple[subprocess.CompletedProcess, Path]:
    out = tmp_path_factory.mktemp("campaign") / "pass"
    return run_engine_plan(out), out


@pytest.fixture(scope="module")
def failing(tmp_path_factory) -> tuple[subprocess.CompletedProcess, Path]:
    out = tmp_path_factory.mktemp("campaign") / "fail"
    return run_engine_plan(out, fail=True), out


def test_passing_campaign_exits_0_and_prints_report_path(passing):
    proc, out = passing
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"report: {out / 'report.html'}" in proc.stdout
    assert "[  4/4]" in proc.stdout  # live progress, one line per test


def test_failing_shall_exits_1_with_rule_expected_observed(failing):
    proc, out = failing
    assert proc.returncode == 1, proc.stdout + proc.stderr
    results = json.loads((out / "results.json").read_text())
    req = {r["id"]: r for r in results["requirements"]}
    assert req["ENG-FAIL-001"]["verdict"] == "failed"
    assert req["ENG-FAIL-001"]["failures"][0] == {
        "rule": "ENG-FAIL-001", "location": "(0008,0060)", "expected": "CT", "observed": "MR",
        "message": "modality differs"}
    assert results["summary"]["shall_failed"] == ["ENG-FAIL-001"]


def test_every_output_is_written(passing):
    _, out = passing
    for name in ("report.html", "junit.xml", "results.json", "coverage.csv", "evidence.zip"):
        assert (out / name).is_file(), name
    assert list((out / "allure-results").glob("*-result.json"))


def test_results_json_follows_its_schema_and_carries_provenance(passing, failing):
    for _, out in (passing, failing):
        results = json.loads((out / "results.json").read_text())
        validate_results(results)
        campaign = results["campaign"]
        assert campaign["tool_version"] and len(campaign["catalog_hash"]) == 64
        assert "git_revision" in campaign


def test_verdicts_cover_all_five_kinds(failing):
    _, out = failing
    verdicts = {r["id"]: r["verdict"] for r in json.loads((out / "results.json").read_text())["requirements"]}
    assert verdicts == {"ENG-PASS-001": "passed", "ENG-FAIL-001": "failed", "ENG-NA-001": "not_applicable",
                        "ENG-CAP-001": "passed", "ENG-NT-001": "not_tested"}


def test_traffic_is_captured_and_linked_to_its_test(passing):
    _, out = passing
    results = json.loads((out / "results.json").read_text())
    test = next(t for t in results["tests"] if t["nodeid"].endswith("test_traffic_is_captured"))
    linked = [e for e in results["exchanges"] if e["id"] in test["exchanges"]]
    assert {e["actor"] for e in linked} == {"echo-simulator", "harness:engine-client"}
    html = (out / "report.html").read_text()
    assert "POST /echo" in html
    block = html.split('<script id="bodies" type="application/json">', 1)[1].split("</script>", 1)[0]
    bodies = json.loads(block)  # rendered bodies, put in the page on demand (textContent: never parsed as HTML)
    assert any("<ping" in text for text in bodies.values())


def test_evidence_bundle_hashes_verify_and_detect_tampering(passing, tmp_path):
    _, out = passing
    bundle = out / "evidence.zip"
    assert verify_bundle(bundle) == []
    import zipfile

    tampered = tmp_path / "tampered.zip"
    with zipfile.ZipFile(bundle) as src, zipfile.ZipFile(tampered, "w") as dst:
        for item in src.infolist():
            data = src.read(item.filename)
            if item.filename == "results.json":
                data = data.replace(b'"passed"', b'"failed"', 1)
            dst.writestr(item, data)
    assert verify_bundle(tampered) == ["results.json"]


def test_junit_names_requirements_and_failures(failing):
    _, out = failing
    root = ET.parse(out / "junit.xml").getroot()
    cases = {c.get("name"): c for c in root.iter("testcase")}
    assert cases["test_failing_check"].find("failure") is not None
    props = [p.get("value") for p in cases["test_failing_check"].iter("property")]
    assert "ENG-FAIL-001" in props
    assert cases["test_not_applicable_check"].find("skipped") is not None


def test_report_rebuilds_from_results_json(failing, tmp_path):
    _, out = failing
    proc = drimcheck("report", str(out / "results.json"), "--out", str(tmp_path / "again"))
    assert proc.returncode == 1, proc.stderr
    assert (tmp_path / "again" / "report.html").read_text().count("ENG-FAIL-001") >= 2
    assert verify_bundle(tmp_path / "again" / "evidence.zip") == []


@pytest.mark.parametrize(("args", "needle"), [
    (("run", "--sut", "no/such/profile.yaml", "--plan", "all"), "not found"),
    (("run", "--sut", "reference:nothing", "--plan", "all"), "unknown reference actor"),
    (("run", "--sut", "reference:dmp?fault=no-such-fault", "--plan", "all"), "unknown fault"),
    (("run", "--sut", str(PROFILE), "--plan", "no-such-plan"), "unknown plan"),
    (("report", "no/such/results.json"), "not found"),
])
def test_harness_errors_are_one_line_and_exit_2(args, needle):
    proc = drimcheck(*args)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert needle in proc.stderr
    assert "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_bad_profile_field_is_named(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("actor: source_drimbox\nendpoints:\n  wado_rs: ftp://nowhere\n")
    proc = drimcheck("run", "--sut", str(bad), "--plan", "all")
    assert proc.returncode == 2
    assert "endpoints.wado_rs" in proc.stderr and "Traceback" not in proc.stderr
    bad.write_text("actor: [unclosed\n")
    proc = drimcheck("run", "--sut", str(bad), "--plan", "all")
    assert proc.returncode == 2 and "not readable YAML" in proc.stderr


def test_unreachable_sut_is_a_harness_error(tmp_path):
    port = free_port()
    profile = tmp_path / "down.yaml"
    profile.write_text(f"actor: content\nendpoints:\n  registry: http://127.0.0.1:{port}/registry\n")
    proc = drimcheck("run", "--sut", str(profile), "--plan", str(PLAN), "--catalog", str(CATALOG),
                     "--out", str(tmp_path / "out"))
    assert proc.returncode == 2
    assert "not reachable" in proc.stderr and f"127.0.0.1:{port}" in proc.stderr


def test_debug_shows_the_traceback():
    proc = drimcheck("--debug", "report", "no/such/results.json")
    assert proc.returncode == 2 and "Traceback" in proc.stderr


def test_unknown_requirement_id_fails_collection(tmp_path):
    plan = tmp_path / "plan"
    plan.mkdir()
    (plan / "test_x.py").write_text(
        "import pytest\n\n@pytest.mark.requirement('ENG-NOPE-999')\ndef test_x():\n    pass\n")
    proc = drimcheck("run", "--sut", str(PROFILE), "--plan", str(plan), "--catalog", str(CATALOG),
                     "--out", str(tmp_path / "out"))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "ENG-NOPE-999" in proc.stderr


def test_port_in_use_is_reported(tmp_path):
    from harness.servers import PortInUseError, check_port_free

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        with pytest.raises(PortInUseError, match="already in use"):
            check_port_free(sock.getsockname()[1])


def test_version_and_help():
    assert drimcheck("--version").stdout.startswith("drimcheck ")
    proc = drimcheck("--help")
    for name in ("run", "serve", "validate", "requirements", "report"):
        assert name in proc.stdout
