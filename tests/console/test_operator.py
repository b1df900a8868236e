"""Operator steps answered in the console (harness/operator.py ``OperatorChannel``, harness/console/operator.py):
the channel alone (a prompt and its answer, the traffic ending a wait, a timeout, malformed and late answers
refused, an answer taken at the deadline never lost), ``OperatorDriver`` through the channel with a scripted
person for the console, the campaign page and its event stream, and the console's job handing the channel to a
stand-in for ``drimcheck run`` (tests/console/fake_run.py ``operator``) whose prompts are answered on the page."""

from __future__ import annotations

import json
import re
import threading
import time
from pathlib import Path

import pytest

from harness.capture import Exchange
from harness.checks import take_attached
from harness.console import operator as op
from harness.console.jobs import campaign_dir
from harness.drivers import SERIES_STATUSES, DriverContext, ExamRef
from harness.operator import CHANNEL_ENV, AnswerRefused, Field, OperatorChannel, OperatorDriver
from tests.engine.test_capture import wait_for

STEP = {"step": 1, "kind": "step", "text": "in the exam list, open the exam", "patient": [], "exam": None,
        "fields": [], "exchanges_offset": None}
QUESTION = {**STEP, "kind": "question",
            "fields": [Field("1.2.3.1", "what the Consumer showed for series 1", SERIES_STATUSES).to_json(),
                       Field("count", "how many exams are listed", integer=True).to_json()]}
GOOD = {"action": "answer", "values": {"1.2.3.1": "imported", "count": "2"}}
EXAM = ExamRef("1.2.250.1.999.9.1", "1.2.250.1.999.9.2", "ACC0042", "Scanner thoracique ACC0042", "14/03/2025",
               ("1.2.250.1.999.9.3", "1.2.250.1.999.9.4"))


@pytest.fixture(autouse=True)
def _no_findings_left():
    take_attached()
    yield
    take_attached()


# ---------------------------------------------------------------- the channel alone
def test_a_step_answered_in_the_console_ends_the_wait_and_stays_as_evidence(tmp_path):
    channel = OperatorChannel(tmp_path / "operator")
    prompt = channel.post(STEP, timeout=10)
    assert prompt["id"] == 1 and channel.pending()["text"] == STEP["text"]
    assert [p.name for p in channel.folder.iterdir() if p.name.endswith(".tmp")] == []  # written whole
    threading.Timer(0.1, channel.answer, (1, {"action": "done", "text": ""}, "acme")).start()
    started = time.monotonic()
    outcome, answer = channel.wait(prompt, poll=0.02)
    assert (outcome, answer.action, answer.by) == ("answered", "done", "acme")
    assert time.monotonic() - started < 5
    assert channel.pending() is None
    kept = channel.prompt(1)
    assert kept["answer"]["by"] == "acme" and kept["closed"]["outcome"] == "answered"
    with pytest.raises(AnswerRefused, match="is over"):
        channel.answer(1, {"action": "done"}, "acme")
    assert channel.post(STEP, timeout=10)["id"] == 2  # the next prompt of the campaign


def test_the_traffic_the_step_causes_ends_the_wait_without_an_answer(tmp_path):
    channel = OperatorChannel(tmp_path / "operator")
    outcome, answer = channel.wait(channel.post(STEP, timeout=10), until=lambda: True, poll=0.02)
    assert (outcome, answer) == ("seen", None)
    assert channel.prompt(1)["closed"]["outcome"] == "seen"


def test_no_answer_in_time_closes_the_prompt_and_a_late_answer_is_refused(tmp_path):
    channel = OperatorChannel(tmp_path / "operator")
    outcome, answer = channel.wait(channel.post(STEP, timeout=0.2), poll=0.02)
    assert (outcome, answer) == ("timeout", None)
    with pytest.raises(AnswerRefused, match="no answer came in time"):
        channel.answer(1, {"action": "done"}, "acme")
    channel.post(STEP, timeout=0.05)  # past its deadline, its driver not yet back to close it
    time.sleep(0.1)
    with pytest.raises(AnswerRefused, match="too late: step 1 waited 0 s"):
        channel.answer(2, {"action": "done"}, "acme")
    assert channel.prompt(2)["answer"] is None


def test_an_answer_taken_before_the_deadline_is_not_lost_when_the_driver_closes_at_it(tmp_path):
    channel = OperatorChannel(tmp_path / "operator")
    prompt = channel.post(STEP, timeout=10)
    channel.answer(1, {"action": "problem", "text": "the exam list is empty"}, "acme")
    outcome, answer = channel._close(prompt, "timeout")  # the driver's deadline, its last look under the lock
    assert outcome == "answered" and answer.describe() == "problem reported: the exam list is empty"


@pytest.mark.parametrize(("sent", "reason"), [
    ({"action": "done"}, "a question is answered with answer or problem, not 'done'"),
    ({"action": "problem", "text": "  "}, "say what the problem is"),
    ({"action": "answer", "values": {"1.2.3.1": "imported"}}, "count: no value given"),
    ({"action": "answer", "values": {"1.2.3.1": "fine", "count": "2"}}, "1.2.3.1: one of imported, refused"),
    ({"action": "answer", "values": {"1.2.3.1": "imported", "count": "two"}}, "count: a whole number from 0 to 200"),
    ({"action": "answer", "values": {**GOOD["values"], "extra": ""}}, "extra: not a field of this question"),
    ({**GOOD, "text": "x" * 4001}, "at most 4000 characters"),
    ({"action": "answer", "values": ["imported", "2"]}, "a value for each of its fields"),
    ("imported", "an answer is an object"),
])
def test_a_malformed_answer_is_refused_naming_the_fault_and_nothing_is_kept(tmp_path, sent, reason):
    channel = OperatorChannel(tmp_path / "operator")
    channel.post(QUESTION, timeout=10)
    with pytest.raises(AnswerRefused, match=re.escape(reason)):
        channel.answer(1, sent, "acme")
    assert channel.prompt(1)["answer"] is None and channel.pending()["id"] == 1
    assert dict(channel.answer(1, GOOD, "acme").values) == GOOD["values"]


def test_an_answer_for_no_prompt_is_refused_and_makes_nothing(tmp_path):
    with pytest.raises(AnswerRefused, match="there is no prompt 7"):
        OperatorChannel(tmp_path / "operator").answer(7, {"action": "done"}, "acme")
    assert not (tmp_path / "operator").exists()


def test_an_answer_file_written_around_the_console_is_set_aside_with_its_reason(tmp_path):
    channel = OperatorChannel(tmp_path / "operator")
    prompt = channel.post(QUESTION, timeout=0.3)
    (channel.folder / "0001.answer.json").write_text('{"action": "answer", "values": {"count": "-1"}}')
    assert channel.wait(prompt, poll=0.02) == ("timeout", None)
    assert len(list(channel.folder.glob("0001.refused-*.json"))) == 1
    assert "no value given" in json.loads((channel.folder / "0001.refusal.json").read_text())["reason"]


# ---------------------------------------------------------------- the driver through the channel
class Person:
    """A stand-in for the person at the console: answers prompt N with ``answers[N]`` as soon as it is pending (a
    prompt not in ``answers`` is left to time out, or to its traffic), as the campaign page would."""

    def __init__(self, channel: OperatorChannel, answers: dict[int, dict], by: str = "acme") -> None:
        self.channel, self.answers, self.by = channel, dict(answers), by
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Person:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            pending = self.channel.pending()
            if pending is not None and pending["id"] in self.answers:
                self.channel.answer(pending["id"], self.answers.pop(pending["id"]), self.by)


def _driver(folder: Path, said: list[str], timeout: float = 10) -> OperatorDriver:
    context = DriverContext("https://c/context", "https://c", "https://psc/auth", "10001000001", say=said.append,
                            options={"operator": {"timeout": timeout}})
    return OperatorDriver(context, channel=folder)


def test_the_driver_finds_the_channel_the_console_names(tmp_path, monkeypatch):
    context = DriverContext("https://c/context", "https://c", "https://psc/auth", "10001000001")
    monkeypatch.setenv(CHANNEL_ENV, str(tmp_path / "operator"))
    assert OperatorDriver(context).channel.folder == tmp_path / "operator"
    monkeypatch.delenv(CHANNEL_ENV)
    assert OperatorDriver(context).channel is None  # the terminal, as before


def test_steps_and_a_question_answered_in_the_console(tmp_path):
    said: list[str] = []
    driver = _driver(tmp_path / "operator", said)
    statuses = {"1.2.250.1.999.9.3": "imported", "1.2.250.1.999.9.4": "refused"}
    with Person(driver.channel, {2: {"action": "done"}, 4: {"action": "answer", "values": statuses}}):
        driver.open_patient({"Patient.name.family": "LEGRAND", "Patient.name.given": "Élodie"}, until=lambda: True)
        driver.open_exam(EXAM, until=lambda: False)
        got = driver.import_exam(EXAM, until=lambda: True)
    assert got == statuses
    opened, question = driver.channel.prompt(2), driver.channel.prompt(4)
    assert opened["kind"] == "step" and opened["step"] == 2 and opened["text"].startswith("in the exam list, open")
    assert opened["patient"] == [["Patient.name.family", "LEGRAND"], ["Patient.name.given", "Élodie"]]
    assert opened["exam"] == {"date": "14/03/2025", "description": "Scanner thoracique ACC0042", "accession": "ACC0042",
                              "study_uid": "1.2.250.1.999.9.2", "unique_id": "1.2.250.1.999.9.1"}
    assert question["kind"] == "question" and question["step"] == 3
    assert [f["name"] for f in question["fields"]] == list(EXAM.series)
    assert question["fields"][0]["choices"] == list(SERIES_STATUSES)
    assert [p["closed"]["outcome"] for p in driver.channel.prompts()] == ["seen", "answered", "seen", "answered"]
    findings = take_attached()
    assert [label for label, _ in findings] == ["driver", "driver"]
    assert findings[0][1].rule == "DRIVER" and "answered in the console by acme" in findings[0][1].message
    assert findings[1][1].found == "1.2.250.1.999.9.3: imported; 1.2.250.1.999.9.4: refused"
    assert "  answered in the console by acme: confirmed done" in said
    assert driver.answered_by == "the operator (in the console)"


def test_the_exam_list_is_asked_as_a_count_then_its_rows(tmp_path):
    driver = _driver(tmp_path / "operator", [])
    row = {"date": "14/03/2025", "modality": "CT", "region": "Thorax", "description": "Scanner", "source": "CHU"}
    with Person(driver.channel, {1: {"action": "answer", "values": {"count": "1"}},
                                 2: {"action": "answer", "values": {f"row-1-{k}": v for k, v in row.items()}}}):
        assert driver.listed_exams() == [row]


def test_a_question_not_answered_in_time_leaves_the_test_inconclusive(tmp_path):
    said: list[str] = []
    driver = _driver(tmp_path / "operator", said, timeout=0.3)
    with Person(driver.channel, {}), pytest.raises(pytest.skip.Exception, match="inconclusive: step 1 not performed "
                                                   'in time: the operator gave no answer to "the birth name'):
        driver.shown_patient()
    assert driver.channel.prompt(1)["closed"]["outcome"] == "timeout"
    assert "no answer within" in take_attached()[0][1].message


def test_a_step_not_done_in_time_goes_on_as_on_the_terminal(tmp_path):
    said: list[str] = []
    driver = _driver(tmp_path / "operator", said, timeout=0.3)
    with Person(driver.channel, {}):
        driver.open_exam(EXAM, until=lambda: False)
    assert said[-1] == "  no answer within 0 s: going on"  # the plan then finds no ITI-43: inconclusive


def test_a_problem_reported_is_evidence_and_leaves_a_question_inconclusive(tmp_path):
    driver = _driver(tmp_path / "operator", [])
    with Person(driver.channel, {1: {"action": "problem", "text": "the Consumer shows an error page"},
                                 2: {"action": "problem", "text": "no exam page"}}):
        driver.open_exam(EXAM, until=lambda: False)
        with pytest.raises(pytest.skip.Exception, match=r"inconclusive: step 2: .* reported a problem: no exam page"):
            driver.shown_exam()
    assert take_attached()[0][1].found == "problem reported: the Consumer shows an error page"


# ---------------------------------------------------------------- the campaign page
def _running(app, session) -> int:
    response = session.post("/campaigns/new", {"sut": "reference:content", "plan": ["content"]})
    assert response.status_code == 302, response.text
    cid = int(response.location.rsplit("/", 1)[1])
    assert app.extensions["console"].store.claim_next()["id"] == cid
    return cid


def _capture(app, cid: int, summary: str) -> int:
    """Append one exchange to the campaign's capture file, as a plan process does; returns the file's size."""
    evidence = campaign_dir(app.extensions["console"].data, cid) / "out" / "evidence"
    evidence.mkdir(parents=True, exist_ok=True)
    with open(evidence / "exchanges.jsonl", "a", encoding="utf-8") as fh:
        fh.write(json.dumps(Exchange("soap", "dmp-simulator", "inbound", summary).to_json()) + "\n")
    return (evidence / "exchanges.jsonl").stat().st_size


def _prompt(app, cid: int, record: dict, timeout: float = 30) -> OperatorChannel:
    channel = op.channel_of(app.extensions["console"].data, cid)
    channel.post(record, timeout)
    return channel


def test_the_page_shows_the_prompt_with_its_traffic_and_takes_the_answer(app, vendor):
    cid = _running(app, vendor)
    offset = _capture(app, cid, "POST /registry ITI-18 before the prompt")
    exam = {"date": "14/03/2025", "description": "Scanner thoracique ACC0042", "accession": "ACC0042",
            "study_uid": "1.2.250.1.999.9.2", "unique_id": "1.2.250.1.999.9.1"}
    channel = _prompt(app, cid, {**STEP, "patient": [["Patient.name.family", "LEGRAND"]], "exam": exam,
                                 "exchanges_offset": offset})
    _capture(app, cid, "POST /repository ITI-43 after the prompt")
    page = vendor.get(f"/campaigns/{cid}").text
    assert "in the exam list, open the exam" in page and "LEGRAND" in page and "1.2.250.1.999.9.2" in page
    assert "ITI-43 after the prompt" in page and "ITI-18 before the prompt" not in page
    assert 'name="action" value="done"' in page and 'value="problem"' in page
    assert vendor.get(f"/campaigns/{cid}/operator").text.count('id="answer-form"') == 1
    response = vendor.post(f"/campaigns/{cid}/operator/1", {"action": "done"})
    assert response.status_code == 303 and response.location.endswith(f"/campaigns/{cid}#operator")
    assert "answer taken (confirmed done)" in vendor.get(f"/campaigns/{cid}").text
    assert channel.prompt(1)["answer"]["by"] == "vendor"
    vendor.post(f"/campaigns/{cid}/operator/1", {"action": "problem", "text": "again"})
    assert "answer refused: step 1 was already answered by vendor" in vendor.get(f"/campaigns/{cid}").text


def test_a_question_is_answered_field_by_field_by_an_assessor_not_by_another_vendor(app, vendor, assessor):
    from tests.console.conftest import Session

    cid = _running(app, vendor)
    channel = _prompt(app, cid, QUESTION)
    page = vendor.get(f"/campaigns/{cid}").text
    assert 'name="value.1.2.3.1"' in page and "<option>not-acceptable</option>" in page
    assert 'name="value.count" type="number"' in page
    other = Session(app, "other")
    assert other.post(f"/campaigns/{cid}/operator/1", {"action": "answer"}).status_code == 404
    assert vendor.client.post(f"/campaigns/{cid}/operator/1", data=GOOD).status_code == 400  # no CSRF token
    assessor.post(f"/campaigns/{cid}/operator/1", {"action": "answer", "value.1.2.3.1": "imported"})
    assert "answer refused: count: no value given" in assessor.get(f"/campaigns/{cid}").text
    assessor.post(f"/campaigns/{cid}/operator/1", {"action": "answer", "value.1.2.3.1": "imported",
                                                   "value.count": "2"})
    assert channel.prompt(1)["answer"] == {**GOOD, "text": "", "by": "assessor",
                                           "at": channel.prompt(1)["answer"]["at"]}


def test_an_answer_after_the_timeout_is_refused_with_a_message(app, vendor):
    cid = _running(app, vendor)
    channel = _prompt(app, cid, STEP, timeout=0.05)
    time.sleep(0.1)
    vendor.post(f"/campaigns/{cid}/operator/1", {"action": "done"})
    assert "answer refused: too late: step 1 waited 0 s" in vendor.get(f"/campaigns/{cid}").text
    assert channel.prompt(1)["answer"] is None
    app.extensions["console"].store.set_state(cid, "cancelled")
    vendor.post(f"/campaigns/{cid}/operator/1", {"action": "done"})
    page = vendor.get(f"/campaigns/{cid}").text
    assert "the campaign is cancelled: it waits for no answer" in page
    assert "The campaign ended before this prompt was answered" in page


def test_the_event_stream_tells_the_prompt_and_its_traffic(app, vendor):
    cid = _running(app, vendor)
    _prompt(app, cid, {**STEP, "exchanges_offset": _capture(app, cid, "ITI-18 before")})
    _capture(app, cid, "POST /repository ITI-43")
    app.extensions["console"].store.set_state(cid, "finished")  # the stream then ends after one look
    stream = vendor.get(f"/campaigns/{cid}/events").get_data(as_text=True)
    blocks = {b.split("\n")[0]: json.loads(b.split("data: ", 1)[1]) for b in stream.split("\n\n")
              if b.startswith("event: operator") or b.startswith("event: traffic")}
    assert blocks["event: operator"] == {"id": 1}
    assert [ex["summary"] for ex in blocks["event: traffic"]["exchanges"]] == ["POST /repository ITI-43"]


# ---------------------------------------------------------------- the console's job and a stand-in campaign
def _until(check):
    return wait_for(check, timeout=30.0)


def test_a_campaign_run_by_the_console_is_answered_on_its_page(app, vendor, monkeypatch):
    monkeypatch.setenv("FAKE_RUN_MODE", "operator")
    console = app.extensions["console"]
    console.worker.poll = 0.05
    console.worker.start()
    try:
        cid = vendor.post("/campaigns/new", {"sut": "reference:content", "plan": ["content"]}).location
        cid = int(cid.rsplit("/", 1)[1])
        channel = op.channel_of(console.data, cid)
        _until(lambda: (channel.pending() or {}).get("step") == 2)
        _until(lambda: "ITI-43 1.2.250.1.999.9.1" in vendor.get(f"/campaigns/{cid}").text)  # the step's traffic
        vendor.post(f"/campaigns/{cid}/operator/2", {"action": "done"})
        question = _until(lambda: (channel.pending() or {}).get("kind") == "question" and channel.pending())
        vendor.post(f"/campaigns/{cid}/operator/{question['id']}",
                    {"action": "answer", "value.1.2.250.1.999.9.3": "imported", "value.1.2.250.1.999.9.4": "refused"})
        campaign = _until(lambda: console.store.campaign(cid)["state"] in ("finished", "failed")
                          and console.store.campaign(cid))
    finally:
        console.worker.stop()
    assert campaign["state"] == "finished", campaign["error"]
    out = json.loads((campaign_dir(console.data, cid) / "out" / "driver-findings.json").read_text())
    assert out["statuses"] == {"1.2.250.1.999.9.3": "imported", "1.2.250.1.999.9.4": "refused"}
    assert [f["found"] for f in out["findings"]] == ["confirmed done",
                                                     "1.2.250.1.999.9.3: imported; 1.2.250.1.999.9.4: refused"]
    assert [p["closed"]["outcome"] for p in channel.prompts()] == ["seen", "answered", "seen", "answered"]
    history = vendor.get(f"/campaigns/{cid}").text
    assert 'id="operator-history"' in history and "problem:" not in history
