"""Replacement (RPLC), deletion (ITI-57), cancellation and 410 after deletion (ANS PoC, IG-hl7v2)."""

from __future__ import annotations

import time

import pytest

from harness.capture import capturing_session
from harness.checks import expect, expect_equal
from harness.xmlsafe import parse_xml
from simulators.ris import messages as M
from testplans.source_drimbox.conftest import published_kos
from testplans.source_drimbox.consumer import request
from testplans.source_drimbox.support import STATUS_DELETED, is_iti57, is_pnr, wait_dmp

RPLC = "urn:ihe:iti:2007:AssociationType:RPLC"
DEPRECATED = "urn:oasis:names:tc:ebxml-regrep:StatusType:Deprecated"  # ITI TF-3 §4.2.2.2 (replaced entry)


def _ack_aa(ack, rule: str, what: str) -> None:
    expect(ack is not None and ack.code == "AA", rule=rule, location="MSA-1", expected="AA",
           observed=None if ack is None else ack.code, message=what)


def _deleted(env, key: str, message: bytes, rule: str):
    """Publish exam ``key``, send ``message`` (delete or cancel) once, return (first PnR, ITI-57 requests)."""
    first = published_kos(env, key)
    entry_id = first.kos_entry().id
    state = env.published.setdefault(f"{key}:deleted", {})
    if "ack" not in state:
        _raw, state["ack"] = env.send(message)
    _ack_aa(state["ack"], rule, "the Source accepts the message")
    updates = wait_dmp(entry_id, predicate=is_iti57)
    return first, updates


@pytest.mark.requirement("SRC-RPLC")
def test_corrected_report_replaces_the_kos(env):
    ex = env.exams["replace"]
    first = published_kos(env, "replace")
    _raw, ack = env.send(M.oru(ex, "C"))
    _ack_aa(ack, "SRC-RPLC", "a corrected report is accepted")
    pnrs = wait_dmp(ex.study_uid, count=2, predicate=is_pnr)
    expect(len(pnrs) >= 2, rule="SRC-RPLC", location="DMP repository", expected="a second RAD-68 request",
           observed=f"{len(pnrs)} request(s)", message="the corrected report is published again")
    second = pnrs[-1]
    new_id = second.kos_entry().id
    rplc = [a for a in second.submission.associations if a.type == RPLC]
    expect(any(a.source == new_id and a.target == first.kos_entry().id for a in rplc), rule="SRC-RPLC",
           location="Association[@associationType='...:RPLC']", expected=f"{new_id} RPLC {first.kos_entry().id}",
           observed=[(a.source, a.target) for a in rplc] or "no RPLC association",
           message="the new KOS entry replaces the previous one")


@pytest.mark.requirement("SRC-RPLC-FINAL")
def test_second_final_report_replaces_the_kos(env):
    ex = env.exams["refinal"]
    first = published_kos(env, "refinal")
    first_id = first.kos_entry().id
    _raw, ack = env.send(M.oru(ex, cda=M.revised_cda(ex)))
    _ack_aa(ack, "SRC-RPLC-FINAL", "a report validated again (OBX-11 F) is accepted")
    pnrs = wait_dmp(ex.study_uid, count=2, predicate=is_pnr)
    expect(len(pnrs) >= 2, rule="SRC-RPLC-FINAL", location="DMP repository", expected="a second RAD-68 request",
           observed=f"{len(pnrs)} request(s)", message="the re-validated report is published again")
    second = pnrs[-1]
    new_id = second.kos_entry().id if second.kos_entry() is not None else "(no KOS entry)"
    rplc = [(a.source, a.target) for a in second.submission.associations if a.type == RPLC]
    expect((new_id, first_id) in rplc, rule="SRC-RPLC-FINAL", location="Association[@associationType='...:RPLC']",
           expected=f"{new_id} RPLC {first_id}", observed=rplc or "no RPLC association",
           message="one manifest per study: the new KOS entry replaces the one already published")
    status = _dmp_status(env, first_id)
    if status is not None:  # absent: the DMP refused the first KOS for a defect other requirements report
        expect_equal(status, DEPRECATED, rule="SRC-RPLC-FINAL", location=f"DMP registry {first_id}/@status",
                     message="the replaced KOS entry is Deprecated")


def _dmp_status(env, entry_id: str, until: str = DEPRECATED, timeout: float = 5.0) -> str | None:
    """The registry status of an entry, read from the DMP simulator's inspector (the harness plays the DMP);
    polled a little, as the registry commits the RAD-68 it just answered."""
    session = capturing_session("harness:dmp-inspector")
    deadline = time.monotonic() + timeout
    while True:
        reply = session.get(f"{env.dmp.endpoints['inspector']}/objects/{entry_id}", timeout=10)
        status = parse_xml(reply.content, max_bytes=1 << 20).get("status") if reply.status_code == 200 else None
        if status == until or time.monotonic() >= deadline:
            return status
        time.sleep(0.1)


@pytest.mark.requirement("SRC-DELETE")
def test_deleted_report_deletes_the_kos_at_the_dmp(env):
    first, updates = _deleted(env, "delete", M.oru(env.exams["delete"], "D"), "SRC-DELETE")
    _expect_deleted(first, updates, "SRC-DELETE")


@pytest.mark.requirement("SRC-CANCEL")
def test_cancelled_exam_deletes_the_kos_at_the_dmp(env):
    first, updates = _deleted(env, "cancel", M.omi_cancel(env.exams["cancel"]), "SRC-CANCEL")
    _expect_deleted(first, updates, "SRC-CANCEL")


def _expect_deleted(first, updates, rule: str) -> None:
    entry_id = first.kos_entry().id
    expect(bool(updates), rule=rule, location="DMP registry", expected=f"ITI-57 naming {entry_id}",
           observed="none", message="the KOS entry is deleted at the DMP")
    body = updates[0].body
    expect(STATUS_DELETED.encode() in body, rule=rule, location="Slot[@name='NewStatus']",
           expected=STATUS_DELETED, observed="another status", message="ITI-57 NewStatus is Deleted")


@pytest.mark.requirement("SRC-WADO-GONE")
def test_deleted_study_answers_410(env):
    first, _updates = _deleted(env, "delete", M.oru(env.exams["delete"], "D"), "SRC-WADO-GONE")
    kos = first.kos()
    reply = request(env.wado, f"/studies/{kos.StudyInstanceUID}", token=env.token(), kos=str(kos.SOPInstanceUID))
    expect_equal(reply.status, 410, rule="SRC-WADO-GONE", location=f"GET /studies/{kos.StudyInstanceUID}",
                 message="images of a deleted manifest are gone")
