"""Consumer DRIMbox speed: contextual call -> first image in the local PACS -> full import, through the
reference Source DRIMbox in front of Orthanc, with the Consumer's peak RSS; beside it a direct dcmtk
``movescu`` of the same study from Orthanc to an embedded PACS (figures printed, never asserted).

The ANS performance reference is a 1300-image CT study, JPEG-LS lossless, ~200 MB
(ANS DRIM-M_DATA informatif/Performances/Readme.md).
Run: /work/venv/bin/python bench/bench_consumer.py [--instances 1300] [--rows 512] [--workdir DIR]
Needs Orthanc + its DICOMweb plugin and dcmtk (``movescu``); says so and exits 0 when absent.
"""

from __future__ import annotations

import argparse
import logging
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import requests

from fixtures.studies import write_study
from harness.orthanc import skip_reason, start_orthanc
from simulators.dmp.config import DmpConfig
from simulators.dmp.reference import start as start_dmp
from simulators.pacs import start_pacs
from simulators.psc import start_psc
from simulators.ris import messages as M
from simulators.ris import send
from simulators.source import start_reference as start_source
from testplans.consumer_drimbox.conftest import Browser, exam_path
from testplans.consumer_drimbox.exams import contextual_form

REPO = Path(__file__).resolve().parent.parent


def _serve_consumer(args: list[str]) -> tuple[subprocess.Popen, dict[str, str]]:
    """``drimcheck serve consumer`` in its own process, so its RSS is its own."""
    proc = subprocess.Popen([sys.executable, "-m", "harness.cli", "serve", "consumer", *args], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    endpoints: dict[str, str] = {}
    assert proc.stdout is not None
    for line in proc.stdout:
        parts = line.split()
        if len(parts) == 3 and parts[0] == "consumer":
            endpoints[parts[1]] = parts[2]
        if line.startswith("serving"):
            return proc, endpoints
    raise RuntimeError(f"the Consumer did not start (exit {proc.wait()})")


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _wait_for_kos(loader_url: str, ins: str, timeout: float = 120.0) -> None:
    from harness.xds.clients import XdsClient

    client = XdsClient(loader_url + "/registry", loader_url + "/repository")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        res = client.query("FindDocuments", {"$XDSDocumentEntryPatientId": f"{ins}^^^&1.2.250.1.213.1.4.10&ISO^NH",
                                             "$XDSDocumentEntryStatus": ["urn:oasis:names:tc:ebxml-regrep:"
                                                                         "StatusType:Approved"]})
        if res.query and any(o.get("mimeType") == "application/dicom" for o in res.query.objects):
            return
        time.sleep(0.2)
    raise RuntimeError("the Source did not publish the KOS")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--instances", type=int, default=1300)
    parser.add_argument("--series", type=int, default=1)
    parser.add_argument("--rows", type=int, default=512)
    parser.add_argument("--workdir", type=Path, default=None)
    opts = parser.parse_args()
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    reason = skip_reason() or (None if shutil.which("movescu") else "dcmtk movescu not installed")
    if reason:
        print(f"bench_consumer skipped: {reason}")
        return 0
    root = opts.workdir or Path(tempfile.mkdtemp(prefix="bench-consumer-"))
    stops = []
    try:
        return _run(opts, root, stops)
    finally:
        for stop in reversed(stops):
            stop()
        if opts.workdir is None:
            shutil.rmtree(root, ignore_errors=True)


def _run(opts: argparse.Namespace, root: Path, stops: list) -> int:
    ex = M.exam("bench-consumer", series=opts.series, instances=opts.instances // opts.series)
    t0 = time.perf_counter()
    refs = write_study(M.study_spec(ex, transfer_syntax="jpeg-ls", rows=opts.rows, columns=opts.rows),
                       root / "study")
    size = sum(r.size for r in refs)
    print(f"study: {len(refs)} JPEG-LS instances, {size / 1e6:.1f} MB, generated in {time.perf_counter() - t0:.1f} s")
    dst = start_pacs(root / "consumer-pacs", aet="DSTPACS", dicomweb=False)
    stops.append(dst.stop)
    direct = start_pacs(root / "movescu-pacs", aet="MOVEDST", dicomweb=False)
    stops.append(direct.stop)
    orthanc = start_orthanc(root / "orthanc", modalities={"MOVEDST": (direct.host, direct.port)})
    stops.append(orthanc.stop)
    http = requests.Session()
    t0 = time.perf_counter()
    for r in refs:
        http.post(orthanc.rest_url + "/instances", data=Path(r.path).read_bytes(), timeout=60).raise_for_status()
    print(f"loaded into Orthanc (REST) in {time.perf_counter() - t0:.1f} s")
    dmp = start_dmp(DmpConfig(workdir=root / "dmp"))
    stops.append(dmp.stop)
    psc = start_psc()
    stops.append(psc.stop)
    source = start_source(None, root / "source", pacs_host=orthanc.host, pacs_port=orthanc.port, pacs_aet=orthanc.aet,
                          pacs_dicomweb=orthanc.dicomweb_url, dmp_registry=dmp.endpoints["registry"],
                          dmp_repository=dmp.endpoints["repository"], psc_introspect=psc.endpoints["introspect"])
    stops.append(source.stop)
    _raw, ack = send(source.endpoints["mllp"], M.oru(ex))
    if ack is None or ack.code != "AA":
        raise RuntimeError(f"the Source refused the report: {ack}")
    _wait_for_kos(dmp.endpoints["base"], ex.ins)
    proc, endpoints = _serve_consumer([
        "--dmp-registry", dmp.endpoints["registry"], "--dmp-repository", dmp.endpoints["repository"],
        "--psc-issuer", psc.endpoints["issuer"], "--pacs", dst.endpoints["dimse"],
        "--allow-host", source.endpoints["base"].split("//", 1)[1], "--consumer-workdir", str(root / "consumer")])
    stops.append(lambda: (proc.terminate(), proc.wait(timeout=15)))
    browser = Browser(SimpleNamespace(contextual_call=endpoints["contextual_call"], consumer_base=endpoints["base"],
                                      psc_auth=psc.endpoints["authorization"]))
    first: dict[str, float] = {}
    done = threading.Event()

    def watch(start: float) -> None:
        while not done.is_set():
            if dst.store.count():
                first["t"] = time.perf_counter() - start
                return
            time.sleep(0.01)

    t0 = time.perf_counter()
    watcher = threading.Thread(target=watch, args=(t0,), daemon=True)
    watcher.start()
    patient = M.study_spec(ex).patient
    history = browser.call(contextual_form(patient))
    t_history = time.perf_counter() - t0
    uid = history.rows("exam")[0].get("data-unique-id")
    result = browser.post(exam_path(history, SimpleNamespace(unique_id=uid)) + "/import")
    t_import = time.perf_counter() - t0
    done.set()
    statuses = [r.get("data-status") for r in result.rows("series-result")]
    if any(st != "imported" for st in statuses):
        print("import problems:", [r.xpath("string(./td[2])") for r in result.rows("series-result")])
    rss = _peak_rss_mb(proc.pid)
    t0 = time.perf_counter()
    move = subprocess.run(["movescu", "-aet", "BENCH", "-aec", orthanc.aet, "-aem", "MOVEDST", "-S",
                           "-k", "QueryRetrieveLevel=STUDY", "-k", f"StudyInstanceUID={ex.study_uid}",
                           orthanc.host, str(orthanc.port)], capture_output=True, text=True, check=False)
    t_move = time.perf_counter() - t0
    print(f"{'path':<44} {'seconds':>8} {'images':>7} {'MB/s':>7}")
    print(f"{'Consumer: contextual call -> history':<44} {t_history:8.2f}")
    print(f"{'Consumer: contextual call -> first image':<44} {first.get('t', float('nan')):8.2f}")
    print(f"{'Consumer: contextual call -> full import':<44} {t_import:8.2f} {dst.store.count():7d} "
          f"{size / 1e6 / t_import:7.1f}   series: {statuses}")
    print(f"{'dcmtk movescu Orthanc -> PACS (direct)':<44} {t_move:8.2f} {direct.store.count():7d} "
          f"{size / 1e6 / t_move:7.1f}   exit {move.returncode}")
    print(f"Consumer peak RSS: {rss:.0f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
