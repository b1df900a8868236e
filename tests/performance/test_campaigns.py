"""The performance plan through ``drimcheck run``, on the small study (the ANS-shaped one is for real campaigns;
``bench/bench_performance.py`` prints its figures). Verdicts only: the margins between the reference's figures
and the thresholds are wide (tens of ms against 1 s; 80+ MB/s against 10), and the faults are far on the other
side (2 s before any retrieve is answered; 2 MB/s).

- in process: ``reference:source`` passes every requirement; ``?fault=slow-first-byte`` fails exactly its latency
  requirements;
- black-box: the reference Source started as its own process (``drimcheck serve source``) and reached through a
  profile fails, with each performance fault, exactly what the fault names;
- the Consumer side the same way: ``reference:consumer`` passes its four requirements in process and
  ``?fault=slow-import`` fails exactly the import throughput; black-box, ``drimcheck serve consumer`` with each of
  its performance faults fails exactly what the fault names through the reference driver, the others measured
  and passed (the margins: 9 MB/s imports on the small study against 5; the fault holds it under 2).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from contextlib import ExitStack
from pathlib import Path

import pytest

from harness.faults import faults_of
from harness.servers import free_port
from simulators.source.faults import PACS_FAULTS
from tests.blackbox.products import campaign, serve, tls_profile, write_pki

REPO = Path(__file__).resolve().parents[2]
REALM = "/auth/realms/esante-wallet/protocol/openid-connect"
SMALL = {"DRIMCHECK_PERFORMANCE_STUDY": "small"}


def run_in_process(spec: str, out: Path) -> tuple[int, dict]:
    proc = subprocess.run([sys.executable, "-m", "harness.cli", "run", "--sut", spec, "--plan", "performance",
                           "--out", str(out), "--quiet"], capture_output=True, text=True, cwd=str(REPO),
                          env={**os.environ, **SMALL}, timeout=600, check=False)
    assert (out / "results.json").exists(), proc.stdout + proc.stderr
    return proc.returncode, json.loads((out / "results.json").read_text())


def verdicts(results: dict) -> dict[str, str]:
    return {r["id"]: r["verdict"] for r in results["requirements"]}


def expect_measured(results: dict, ids: tuple[str, ...] | set[str], breaks: tuple[str, ...] = (),
                    output: str = "") -> None:
    """Each figure the fault names does not pass, no other fails, every one in ``ids`` is decided. A machine
    loaded by other tests (2 cores, the rest of the suite beside) can limit the harness's own ceiling on the
    same bytes; the plan then says inconclusive, naming the limit, which is the honest verdict there and is
    accepted here on either side; a pass of a named figure, or a failure of another, never is."""
    got = verdicts(results)
    assert set(got) == set(ids), output
    for rid in ids:
        allowed = ("failed", "inconclusive") if rid in breaks else ("passed", "inconclusive")
        assert got[rid] in allowed, f"{rid}: {got[rid]}\n{output}"


SOURCE_IDS = ("PERF-SRC-WADO-LATENCY", "PERF-SRC-WADO-THROUGHPUT", "PERF-SRC-VIEW-LATENCY", "PERF-SRC-VIEW-THROUGHPUT",
              "PERF-SRC-PACS-LATENCY", "PERF-SRC-PACS-THROUGHPUT")


def test_reference_source_passes_the_performance_plan(tmp_path):
    code, results = run_in_process("reference:source", tmp_path / "out")
    assert code == 0
    expect_measured(results, SOURCE_IDS)
    book = json.loads((tmp_path / "out" / "evidence" / "performance.json").read_text())
    assert {v["requirement"] for v in book["verdicts"]} == set(verdicts(results))
    assert all(v["ceiling"] is not None for v in book["verdicts"])  # the harness's ceiling beside each figure
    assert "Performance" in (tmp_path / "out" / "report.html").read_text()


def test_slow_first_byte_fails_only_the_latency_requirements(tmp_path):
    code, results = run_in_process("reference:source?fault=slow-first-byte", tmp_path / "out")
    expect_measured(results, SOURCE_IDS, faults_of("source_drimbox")["slow-first-byte"].breaks)
    assert code == 0  # SHOULD requirements: reported, they do not fail the campaign


def _pacs_args(folder: Path, scp: int) -> list[str]:
    """``drimcheck serve pacs`` knowing the performance plan's Storage SCP as a move destination."""
    return ["pacs", "--port", "0", "--dicomweb-port", "0", "--storage", str(folder / "storage"),
            "--move-destination", f"STORESCP=127.0.0.1:{scp}"]


@pytest.fixture(scope="session")
def perf_pacs(tmp_path_factory: pytest.TempPathFactory):
    """The PACS behind the black-box Source, shared by the faults of the Source's own process."""
    folder = tmp_path_factory.mktemp("perf-pacs")
    scp = free_port()
    with serve(_pacs_args(folder, scp), folder) as p:
        yield p.endpoints["pacs"], scp


@pytest.mark.parametrize("fault", sorted(n for n, f in faults_of("source_drimbox").items() if f.plan == "performance"))
def test_each_performance_fault_black_box(fault, perf_pacs, tmp_path):
    """The Source's faults go to ``drimcheck serve source``; those of the PACS behind it (DB.SO.102) to a PACS
    of the fault's own, started with ``--pacs-fault``: each product process takes only its own."""
    with ExitStack() as stack:
        if fault in PACS_FAULTS:
            scp = free_port()
            own = stack.enter_context(serve([*_pacs_args(tmp_path / "pacs", scp), "--pacs-fault", fault], tmp_path))
            pacs, fault_args = own.endpoints["pacs"], []
        else:
            (pacs, scp), fault_args = perf_pacs, ["--source-fault", fault]
        _source_campaign(fault, pacs, scp, fault_args, tmp_path)


def _source_campaign(fault: str, pacs: dict, scp: int, fault_args: list[str], tmp_path: Path) -> None:
    pki = write_pki(tmp_path / "pki", "black-box Source VIHF")
    dmp, psc = free_port(), free_port()
    args = ["source", "--port", "0", "--mllp-port", "0", "--source-workdir", str(tmp_path / "source-data"),
            "--pacs", pacs["dimse"], "--pacs-dicomweb", pacs["dicomweb"], "--dmp", f"https://127.0.0.1:{dmp}",
            "--psc-introspect", f"https://127.0.0.1:{psc}{REALM}/token/introspect",
            "--vihf-key", str(pki / "vihf.key"), "--vihf-cert", str(pki / "vihf.pem"), *fault_args]
    with serve(args, tmp_path) as source:
        ep = source.endpoints["source"]
        profile = {"name": f"reference Source as a product ({fault})", "actor": "source_drimbox",
                   "endpoints": {"wado_rs": ep["wado_rs"], "mllp": ep["mllp"],
                                 "dicom": {"ae_title": pacs["aet"], "host": pacs["host"], "port": int(pacs["port"])}},
                   "options": {"ports": {"dmp": dmp, "psc": psc}, "publish_timeout": 10,
                               "performance": {"study": "small", "repeat": 1,
                                               "move_destination": {"ae_title": "STORESCP", "port": scp}}},
                   "credentials": {"vihf_ca": str(pki / "ca.pem")}, "tls": tls_profile(client=True)}
        code, results, output = campaign(profile, "performance", tmp_path / "campaign")
    expect_measured(results, SOURCE_IDS, faults_of("source_drimbox")[fault].breaks, output)
    assert code == 0, output


CONSUMER_IDS = ("PERF-CON-VIEW-LATENCY", "PERF-CON-VIEW-THROUGHPUT", "PERF-CON-IMPORT-THROUGHPUT",
                "PERF-CON-EXPORT-THROUGHPUT")


def test_reference_consumer_passes_the_performance_plan(tmp_path):
    code, results = run_in_process("reference:consumer", tmp_path / "out")
    assert code == 0
    expect_measured(results, CONSUMER_IDS)
    book = json.loads((tmp_path / "out" / "evidence" / "performance.json").read_text())
    consumer = book["figures"]["consumer"]
    assert len(consumer["run_samples"]) == 4 and all(r["stored"] == consumer["images"] for r in consumer["run_samples"])
    assert all(v["ceiling"] is not None for v in book["verdicts"])
    assert "Consumer workflow" in (tmp_path / "out" / "report.html").read_text()


def test_slow_import_fails_only_the_import_throughput(tmp_path):
    code, results = run_in_process("reference:consumer?fault=slow-import", tmp_path / "out")
    expect_measured(results, CONSUMER_IDS, faults_of("consumer_drimbox")["slow-import"].breaks)
    assert code == 0  # a SHOULD: reported, it does not fail the campaign


@pytest.mark.parametrize("fault", sorted(n for n, f in faults_of("consumer_drimbox").items()
                                         if f.plan == "performance"))
def test_each_consumer_performance_fault_black_box(fault, tmp_path):
    from tests.blackbox.test_consumer_blackbox import run_consumer

    vihf = write_pki(tmp_path / "pki", "black-box Consumer VIHF")
    code, results, output = run_consumer(fault, vihf, tmp_path, plan="performance",
                                         options={"performance": {"study": "small", "repeat": 1}})
    expect_measured(results, CONSUMER_IDS, faults_of("consumer_drimbox")[fault].breaks, output)
    assert code == 0, output

