"""A stand-in for ``drimcheck run`` in the console's job tests: the same command line, the same progress lines
and output files, no plan run (a real campaign costs 5-30 s of CPU; the suite runs two, in test_browser.py).

``FAKE_RUN_MODE``: ``pass`` (default) three tests then results.json, exit 0; ``slow`` one test then sleeps
(a campaign to cancel or interrupt); ``error`` a harness error, exit 2; ``operator`` a Consumer campaign's
operator steps (:func:`operator_steps`).
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path


def main(argv: list[str]) -> int:
    assert argv[0] == "run", argv
    out = Path(argv[argv.index("--out") + 1])
    mode = os.environ.get("FAKE_RUN_MODE", "pass")
    if mode == "error":
        print("drimcheck: error: SUT not reachable: endpoints.registry 127.0.0.1:1 (Connection refused)", flush=True)
        return 2
    out.mkdir(parents=True)
    if mode == "operator":
        return operator_steps(out)
    print("campaign fake: 1 plan run(s) on reference:content", flush=True)
    print("plan content on reference:content", flush=True)
    tests = [("PASSED", "KOS-PARSE-001"), ("FAILED", "KOS-PAT-001"), ("PASSED", "KOS-PAT-001,HL7-MSH-001")]
    for n, (outcome, reqs) in enumerate(tests, 1):
        print(f"  [{n:>3}/3] {outcome:<14} {reqs:<28} content/test_content.py::test_{n}   (failures so far: 0)",
              flush=True)
        if mode == "slow":
            time.sleep(60)
    results = {"summary": {"verdict": "fail", "exit_code": 1, "requirements": {"passed": 1, "failed": 1}},
               "requirements": [], "tests": []}
    (out / "results.json").write_text(json.dumps(results))
    (out / "report.html").write_text("<html><body><h1>fake report</h1></body></html>")
    return 1


def operator_steps(out: Path) -> int:
    """Two steps of a Consumer campaign with ``driver: operator``, answered through the channel the console names
    (``DRIMCHECK_OPERATOR_CHANNEL``): open the patient (its traffic "seen" at once), open an exam (the stand-in
    captures its ITI-43 a moment after the prompt, as a Consumer would, and waits for the person's "Done"), then
    the import, whose C-STOREs are "seen" after 0.3 s and whose per-series result is asked. The driver's
    findings are written to ``driver-findings.json``."""
    import threading

    import pytest

    from harness import capture
    from harness.checks import take_attached
    from harness.drivers import DriverContext, ExamRef, StepUnavailable
    from harness.operator import OperatorDriver

    capture.use_recorder(capture.Recorder(out / "evidence"))
    timeout = float(os.environ.get("FAKE_OPERATOR_TIMEOUT", "60"))
    context = DriverContext("https://consumer.test/context", "https://consumer.test", "https://psc.test/auth",
                            "10001000001", say=lambda text: print(f"  > {text}", flush=True),
                            options={"operator": {"timeout": timeout}})
    driver = OperatorDriver(context)
    exam = ExamRef("1.2.250.1.999.9.1", "1.2.250.1.999.9.2", "ACC0042", "Scanner thoracique ACC0042", "14/03/2025",
                   ("1.2.250.1.999.9.3", "1.2.250.1.999.9.4"))
    print("plan consumer_drimbox on operator stand-in", flush=True)

    def consumer_retrieves() -> None:  # once the person is asked to open the exam
        while (driver.channel.pending() or {}).get("step") != 2:
            time.sleep(0.05)
        time.sleep(0.3)
        capture.record("soap", "dmp-simulator", "inbound", "POST /repository ITI-43 1.2.250.1.999.9.1", status="200")

    threading.Thread(target=consumer_retrieves, daemon=True).start()
    stored = threading.Event()
    driver.open_patient({"Patient.name.family": "LEGRAND", "Patient.name.given": "Élodie",
                         "Patient.birthDate": "1948-09-15"}, until=lambda: True)  # its ITI-18 "seen" at once
    driver.open_exam(exam, until=lambda: False)
    threading.Timer(0.3, stored.set).start()
    outcome = "PASSED"
    try:
        statuses = driver.import_exam(exam, until=stored.is_set)
    except (StepUnavailable, pytest.skip.Exception) as exc:  # a step the operator did not perform: inconclusive
        statuses, outcome = {"not performed": str(exc)}, "INCONCLUSIVE"
    findings = [{"label": label, "location": f.location, "message": f.message, "found": f.found}
                for label, f in take_attached()]
    (out / "driver-findings.json").write_text(json.dumps({"statuses": statuses, "findings": findings}))
    print(f"  [  1/1] {outcome:<14} CON-IMP-COMPLETE             consumer_drimbox/test_import.py::test_import"
          "   (failures so far: 0)", flush=True)
    results = {"summary": {"verdict": "pass", "exit_code": 0, "requirements": {"passed": 1}},
               "requirements": [], "tests": []}
    (out / "results.json").write_text(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
