"""Publication retry while the DMP is down (retried with back-off and never lost).

The file name sorts last on purpose: the test stops the DMP simulator, and should bringing it back fail,
no other test of the plan is left without its DMP.
"""

from __future__ import annotations

import time

import pytest

from harness.checks import expect, fail
from simulators.ris import messages as M
from testplans.source_drimbox.support import is_pnr, wait_dmp


@pytest.mark.requirement("SRC-PUB-RETRY")
def test_publication_survives_a_dmp_outage(env):
    ex = env.exams["retry"]
    env.dmp.stop()
    try:
        _raw, ack = env.send(M.oru(ex))
        time.sleep(1.0)  # the Source tries, fails, backs off
    finally:
        back = time.time()
        env.dmp.restart()
    expect(ack is not None and ack.code in ("AA", "AE"), rule="SRC-PUB-RETRY", location="MSA-1",
           expected="an acknowledgement", observed=ack, message="the report is acknowledged while the DMP is down")
    if ack.code != "AA":
        fail("SRC-PUB-RETRY", "MSA-1", "AA (kept for later publication)", ack.code,
             "the Source refused the report instead of keeping it until the DMP is back")
    got = wait_dmp(ex.study_uid, predicate=is_pnr, since=back, timeout=30)
    expect(bool(got), rule="SRC-PUB-RETRY", location="DMP repository",
           expected="the RAD-68 request once the DMP is back",
           observed="none within 30 s", message="a failed publication is retried, never lost")
