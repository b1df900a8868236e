"""Campaigns as background jobs: queue -> run -> finish, a harness error, cancel, a console restart marking a
running campaign interrupted, live progress over Server-Sent Events, rerun of one requirement
(harness/console/jobs.py). ``drimcheck run`` is faked here (tests/console/fake_run.py)."""

from __future__ import annotations

import json
import os
import time

import pytest

from harness.console import ConsoleConfig, create_app, stop_app
from harness.console.jobs import parse_progress
from tests.console.conftest import FAKE_RUN

LINE = ("  [  3/119] FAILED         KOS-PAT-001,XVAL-PAT-001      content/test_content.py::test_kos[KOS-PAT-001]"
        "   (failures so far: 1)")


def test_a_progress_line_is_parsed():
    assert parse_progress(LINE) == {"done": 3, "total": 119, "outcome": "failed",
                                    "requirements": ["KOS-PAT-001", "XVAL-PAT-001"],
                                    "test": "content/test_content.py::test_kos[KOS-PAT-001]"}
    assert parse_progress("plan content on reference:content") is None


def _wait(store, cid: int, states: tuple[str, ...], timeout: float = 30.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        campaign = store.campaign(cid)
        if campaign["state"] in states:
            return campaign
        time.sleep(0.1)
    raise AssertionError(f"campaign {cid} still {store.campaign(cid)['state']}")


def _start(vendor, **form) -> int:
    response = vendor.post("/campaigns/new", {"sut": "reference:content", "plan": ["content"], **form})
    assert response.status_code == 302, response.text
    return int(response.location.rsplit("/", 1)[1])


@pytest.fixture
def worker(app):
    worker = app.extensions["console"].worker
    worker.poll = 0.05
    worker.start()
    yield worker
    worker.stop()


def test_queue_run_finish_with_live_events(app, vendor, worker):
    store = app.extensions["console"].store
    cid = _start(vendor)
    campaign = _wait(store, cid, ("finished", "failed"))
    assert (campaign["state"], campaign["verdict"], campaign["exit_code"]) == ("finished", "fail", 1)
    assert (campaign["done"], campaign["total"]) == (3, 3)
    stream = vendor.get(f"/campaigns/{cid}/events").get_data(as_text=True)
    progress = [json.loads(b.split("data: ", 1)[1]) for b in stream.split("\n\n") if "event: progress" in b]
    assert [p.get("outcome") for p in progress if "outcome" in p] == ["passed", "failed", "passed"]
    assert "event: state\ndata: {\"state\": \"finished\"}" in stream
    assert stream.rstrip().endswith('data: {"state": "finished"}') and "event: end" in stream
    resumed = vendor.get(f"/campaigns/{cid}/events", headers={"Last-Event-ID": "2"}).get_data(as_text=True)
    assert "id: 1\n" not in resumed and "id: 2\n" not in resumed
    page = vendor.get(f"/campaigns/{cid}")
    assert "finished" in page.text and "fake report" not in page.text  # the report is framed, not inlined
    assert vendor.get(f"/campaigns/{cid}/files/report.html").headers["Content-Security-Policy"].startswith("sandbox")


def test_a_harness_error_is_a_failed_campaign_with_its_reason(app, vendor, worker, monkeypatch):
    monkeypatch.setenv("FAKE_RUN_MODE", "error")
    store = app.extensions["console"].store
    campaign = _wait(store, _start(vendor), ("finished", "failed"))
    assert campaign["state"] == "failed" and campaign["verdict"] is None
    assert "SUT not reachable" in campaign["error"]


def test_cancel_stops_the_process_group_and_keeps_partial_outcomes(app, vendor, worker, monkeypatch):
    monkeypatch.setenv("FAKE_RUN_MODE", "slow")
    store = app.extensions["console"].store
    cid = _start(vendor)
    deadline = time.monotonic() + 30
    while store.campaign(cid)["done"] < 1 and time.monotonic() < deadline:
        time.sleep(0.1)
    pid = store.campaign(cid)["pid"]
    assert vendor.post(f"/campaigns/{cid}/cancel").status_code == 302
    campaign = _wait(store, cid, ("cancelled",))
    assert campaign["partial"] and campaign["verdict"] is None and campaign["done"] == 1
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    page = vendor.get(f"/campaigns/{cid}").text
    assert "Partial" in page and "not a verdict" in page
    time.sleep(0.3)  # the cancel's helper thread sees the group gone


def test_a_queued_campaign_is_cancelled_before_it_starts(app, vendor):
    store = app.extensions["console"].store
    cid = _start(vendor)
    assert vendor.post(f"/campaigns/{cid}/cancel").status_code == 302
    assert store.campaign(cid)["state"] == "cancelled"
    assert not app.extensions["console"].worker.cancel(cid)


def test_a_restart_marks_running_campaigns_interrupted_and_they_can_be_rerun(tmp_path, monkeypatch):
    """A console that stopped under a running campaign: the next start marks it interrupted (partial, no
    verdict), stops the process it left, and a rerun queues it again."""
    from harness.console.security import hash_password

    monkeypatch.setenv("FAKE_RUN_MODE", "slow")
    data = tmp_path / "data"
    first = create_app(ConsoleConfig(data=data, worker_command=FAKE_RUN))
    old = first.extensions["console"]
    uid = old.store.add_user("v", hash_password("0123456789"), "vendor")
    cid = old.store.add_campaign(sut="reference:content", plans=["content"], only=[], user_id=uid)
    _wait(old.store, cid, ("running",))
    deadline = time.monotonic() + 30
    while not old.store.campaign(cid)["pid"] and time.monotonic() < deadline:
        time.sleep(0.05)
    pid = old.store.campaign(cid)["pid"]
    old.worker._stop.set()  # as after a crash: nobody takes care of the running campaign any more
    second = create_app(ConsoleConfig(data=data, worker_command=FAKE_RUN))  # start: recover()
    try:
        campaign = second.extensions["console"].store.campaign(cid)
        assert campaign["state"] == "interrupted" and campaign["partial"] and campaign["verdict"] is None
        assert "rerun it" in campaign["error"]
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.1)
        else:
            pytest.fail("the interrupted campaign's process was left running")
        old.worker.stop()
        assert second.extensions["console"].store.campaign(cid)["state"] == "interrupted"
        second.extensions["console"].worker.cancel(cid)  # not running any more: nothing to cancel
        monkeypatch.setenv("FAKE_RUN_MODE", "pass")
        store = second.extensions["console"].store
        rerun = store.add_campaign(sut="reference:content", plans=["content"], only=[], user_id=uid, rerun_of=cid)
        assert _wait(store, rerun, ("finished",))["verdict"] == "fail"
    finally:
        old.worker.stop()
        old.store.close()
        stop_app(second)


def test_rerun_of_one_requirement_passes_only(app, vendor, worker):
    store = app.extensions["console"].store
    cid = _wait(store, _start(vendor), ("finished",))["id"]
    response = vendor.post(f"/campaigns/{cid}/rerun", {"only": "KOS-PAT-001"})
    rerun = int(response.location.rsplit("/", 1)[1])
    campaign = _wait(store, rerun, ("finished",))
    assert campaign["only"] == ["KOS-PAT-001"] and campaign["rerun_of"] == cid and campaign["partial"]
    assert worker.command_of(campaign, app.extensions["console"].data)[-2:] == ["--only", "KOS-PAT-001"]


def test_a_bad_campaign_request_is_refused_with_the_runners_words(vendor):
    response = vendor.post("/campaigns/new", {"sut": "reference:content?fault=nope", "plan": ["content"]})
    assert response.status_code == 422 and "unknown fault" in response.text
    response = vendor.post("/campaigns/new", {"sut": "reference:content", "plan": ["dmp"]})
    assert response.status_code == 422 and "plan dmp checks a dmp" in response.text
    response = vendor.post("/campaigns/new", {"sut": "/etc/passwd", "plan": ["content"]})
    assert response.status_code == 422
