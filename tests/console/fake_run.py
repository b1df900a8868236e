"""A stand-in for ``drimcheck run`` in the console's job tests: the same command line, the same progress lines
and output files, no plan run (a real campaign costs 5-30 s of CPU; the suite runs two, in test_browser.py).

``FAKE_RUN_MODE``: ``pass`` (default) three tests then results.json, exit 0; ``slow`` one test then sleeps
(a campaign to cancel or interrupt); ``error`` a harness error, exit 2.
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


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
