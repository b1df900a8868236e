"""The performance plan through ``drimcheck run``, on the small study (the ANS-shaped one is for real campaigns;
``bench/bench_performance.py`` prints its figures against the defaults). Verdicts only, judged against the proofs'
thresholds (``PROOF_THRESHOLDS``): the faults are far on one side (seconds before an answer; 0.5–2 MB/s),
the reference on the other even with the rest of the suite on the same cores.

- in process: ``reference:source`` passes every requirement (the faults are proved black-box only);
- black-box: the reference Source started as its own process (``drimcheck serve source``) and reached through a
  profile fails, with each performance fault, exactly what the fault names; the PACS's faults (DB.SO.102) with a
  ``drimcheck serve pacs --pacs-fault`` of their own;
- the Consumer side the same way: ``reference:consumer`` passes its four requirements in process; black-box,
  ``drimcheck serve consumer`` with each of its performance faults fails exactly what the fault names through the
  reference driver, the others measured and passed.
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


def run_in_process(spec: str, out: Path) -> tuple[int, dict]:
    proc = subprocess.run([sys.executable, "-m", "harness.cli", "run", "--sut", spec, "--plan", "performance",
                           "--out", str(out), "--quiet"], capture_output=True, text=True, cwd=str(REPO),
                          env={**os.environ, **SMALL}, timeout=600, check=False)  # SMALL: below
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


# The proofs judge with thresholds of their own (options.performance.thresholds, as a vendor's profile may; the
# environment's DRIMCHECK_PERFORMANCE_THRESHOLDS for reference:SPEC), between the faults' figures and what the
# reference reaches on the small study with the rest of the suite on the same 2 cores. The faults: 2 s before an
# answer, 3 s before a C-MOVE's first image, 12 s before an import, 2 MB/s for the Source's WADO-RS, 0.5 MB/s for
# its PACS's C-MOVE and for the Consumer's reads, imports and exports (a Consumer that reads two series at 0.5 MB/s
# shows at most 1 MB/s between its first request and its last byte). The reference, worst seen under load: a
# C-MOVE at 9.9 MB/s and an import at 2.3 MB/s (the small study's 2 MB are mostly association set-up), against
# the defaults' 10 and 5. Its figures against the defaults are benchmarks (bench/bench_performance.py), not tests:
# a loaded machine is not the product's speed.
PROOF_THRESHOLDS = {"PERF-SRC-PACS-THROUGHPUT": 1.25, "PERF-SRC-WADO-THROUGHPUT": 5.0,
                    "PERF-CON-VIEW-THROUGHPUT": 1.25, "PERF-CON-IMPORT-THROUGHPUT": 1.25,
                    "PERF-CON-EXPORT-THROUGHPUT": 1.25}
# reference:SPEC profiles set no options: the study and the thresholds come from the environment
SMALL = {"DRIMCHECK_PERFORMANCE_STUDY": "small",
         "DRIMCHECK_PERFORMANCE_THRESHOLDS": ",".join(f"{k}={v}" for k, v in PROOF_THRESHOLDS.items())}
SOURCE_IDS = ("PERF-SRC-WADO-LATENCY", "PERF-SRC-WADO-THROUGHPUT", "PERF-SRC-VIEW-LATENCY", "PERF-SRC-VIEW-THROUGHPUT",
              "PERF-SRC-PACS-LATENCY", "PERF-SRC-PACS-THROUGHPUT")


def test_reference_source_passes_the_performance_plan(tmp_path):
    code, results = run_in_process("reference:source", tmp_path / "out")
    assert code == 0
    expect_measured(results, SOURCE_IDS)
    book = json.loads((tmp_path / "out" / "evidence" / "performance.json").read_text())
    assert {v["requirement"] for v in book["verdicts"]} == set(verdicts(results))
    assert all(v["ceiling"] is not None for v in book["verdicts"])  # the harness's ceiling beside each figure
    origins = {v["requirement"]: v["origin"] for v in book["verdicts"]}
    assert origins["PERF-SRC-PACS-THROUGHPUT"] == "environment DRIMCHECK_PERFORMANCE_THRESHOLDS"
    assert origins["PERF-SRC-WADO-LATENCY"].startswith("default of testplans/catalog/performance.yaml")
    assert "Performance" in (tmp_path / "out" / "report.html").read_text()


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
                               "performance": {"study": "small", "repeat": 1, "thresholds": PROOF_THRESHOLDS,
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


@pytest.mark.parametrize("fault", sorted(n for n, f in faults_of("consumer_drimbox").items()
                                         if f.plan == "performance"))
def test_each_consumer_performance_fault_black_box(fault, tmp_path):
    from tests.blackbox.test_consumer_blackbox import run_consumer

    vihf = write_pki(tmp_path / "pki", "black-box Consumer VIHF")
    code, results, output = run_consumer(fault, vihf, tmp_path, plan="performance",
                                         options={"performance": {"study": "small", "repeat": 1,
                                                                  "thresholds": PROOF_THRESHOLDS}})
    expect_measured(results, CONSUMER_IDS, faults_of("consumer_drimbox")[fault].breaks, output)
    assert code == 0, output

