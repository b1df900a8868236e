"""End of plan: every request the Source sent the DMP during the whole run, and every report it refused.

The file name sorts last on purpose: by now the plan has made the Source publish, replace, delete and retry,
so these sweeps judge all of that traffic, not only the first publication (IHE ITI TF-2b §3.41.4.2: the
RegistryResponse says whether the submission was accepted). A report the Source refused (AE/AR) is watched
for as long as a good publication is waited for: if any RAD-68 request about its study reaches the DMP in
that time, the refusal was not honest.
"""

from __future__ import annotations

import time

import pytest

from harness import capture
from harness.checks import expect, fail, inconclusive, not_applicable
from testplans.source_drimbox.outcomes import expect_valid_request, expect_vihf
from testplans.source_drimbox.support import (
    DMP_ACTOR,
    Captured,
    Timing,
    decode,
    dmp_requests,
    is_pnr,
    is_source_request,
)

REFUSAL_RULES = ("SRC-ACK-MALFORMED", "SRC-ACK-ENVELOPE", "SRC-ACK-CDA", "SRC-ACK-CONSISTENCY", "SRC-ACK-STUDY")


def _sent_by_the_source() -> list[Captured]:
    got = [decode(e) for e in capture.recorder().exchanges(actor=DMP_ACTOR)]
    got = [c for c in got if is_source_request(c)]
    if not got:
        inconclusive("the Source sent the DMP no RAD-68 or ITI-57 request during the plan")
    for c in got:
        capture.cite(c.exchange)
    return got


def _when(c: Captured) -> str:
    return time.strftime("%H:%M:%S", time.localtime(c.exchange.started))


@pytest.mark.requirement("SRC-XDS-ACCEPTED")
def test_every_request_to_the_dmp_was_accepted():
    refused = [(c, c.answer()) for c in _sent_by_the_source()]
    refused = [(c, a) for c, a in refused if not a.accepted]
    expect(not refused, rule="SRC-XDS-ACCEPTED", location="RegistryResponse/@status",
           expected="Success for every RAD-68 and ITI-57 request of the plan",
           observed="; ".join(f"{c.exchange.summary} at {_when(c)}: {a.describe()}" for c, a in refused),
           message=f"the DMP refused {len(refused)} request(s) of the Source")


@pytest.mark.requirement("SRC-XDS-VALID")
def test_every_request_to_the_dmp_passes_the_metadata_rules():
    for c in _sent_by_the_source():
        expect_valid_request(c, label=f"XDS validator, dmp rules: {c.exchange.summary} at {_when(c)}")


@pytest.mark.requirement("SRC-XDS-VIHF")
def test_every_request_to_the_dmp_carries_a_valid_vihf(env):
    for c in _sent_by_the_source():
        expect_vihf(env, c)


@pytest.mark.parametrize("rule", [pytest.param(r, marks=pytest.mark.requirement(r), id=r) for r in REFUSAL_RULES])
def test_a_refused_report_is_never_published(env, rule):
    refused = env.refused.get(rule, [])
    if not refused:
        not_applicable("no report of this kind was refused in this run, so there is nothing to watch")
    wait = max(sent for _study, sent in refused) + Timing.publish - time.time()
    if wait > 0:
        time.sleep(wait)
    for study, sent in refused:
        # a later report of the same study that the Source acknowledged AA may be published: watch the
        # refused one until that report was sent
        until = min([t for t in env.acknowledged.get(study, []) if t > sent], default=float("inf"))
        got = [c for c in dmp_requests(study, since=sent) if is_pnr(c) and c.exchange.started < until]
        if got:
            fail(rule, "DMP repository", f"no RAD-68 request for study {study} (watched {Timing.publish:.0f} s)",
                 f"{len(got)} request(s), the first at {_when(got[0])}",
                 "the Source refused the report (AE/AR) and published it all the same")
