"""``driver: operator``: a person performs each screen step of a Consumer DRIMbox, prompted in the terminal.

Each step is printed with the patient's traits and the exam as a person finds them on screen; the plan
then waits for Enter, or for the traffic the step must cause (the ITI-43 of an opened exam, the C-STORE
of an import), whichever comes first, up to a timeout (``options.operator.timeout``, default 300 s). A
question about what the screen shows is asked field by field and the answers are recorded as the
operator's. STYLE §16: a step the person did not perform in time leaves its test inconclusive.

Unattended runs (CI) give a step file, ``options.operator.steps``:

    perform_with: reference   # the driver that performs each printed step (reference or path.py:Class)

Every step and question is still printed as a person would see it, then performed by that driver, and
the report says so ("operator (unattended, steps performed by ...)").

Under ``drimcheck console`` the campaign has no terminal (its standard input is closed): the console names a
per-campaign folder in :data:`CHANNEL_ENV` and each step or question goes through an :class:`OperatorChannel`
instead. A folder of JSON files rather than an HTTP call back to the console: it needs no address, port, TLS
or token that the plan process would have to be given and the console to check, it survives a restart of
the console, and the prompts and answers stay in the campaign's folder as evidence. The driver writes one
prompt file per step or question; the console writes the answer file; one ``flock`` on the folder orders the
console's answer against the driver's closing of a prompt at its deadline, so an answer the console took is
never lost and a late one is refused, never half-taken. The wait and its timeout are those of the terminal;
a step not performed in time leaves its test inconclusive (the plan finds no traffic), and so does a question
the person did not answer in time or answered with a problem (on the terminal an unanswered question is a
step the driver could not perform).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import select
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import yaml

from harness.drivers import (
    SERIES_STATUSES,
    ConsumerDriver,
    DriverContext,
    DriverError,
    ExamRef,
    StepUnavailable,
    load_driver,
)

TRAITS = (("birth-name", "birth name (nom de naissance)"), ("first-given-name", "first given name"),
          ("birth-date", "birth date (DD/MM/YYYY)"), ("sex", "sex (F/M)"), ("birthplace", "birthplace (INSEE code)"))
EXTENDED_TRAITS = (("ins", "INS number (matricule INS)"), ("ins-oid", "OID of the INS"),
                   ("given-names", "given names, in order, separated by a space"),
                   ("used-name", "used name (nom utilisé), empty if none is shown"),
                   ("used-given-name", "used first name (prénom utilisé), empty if none is shown"))
LIST_FIELDS = ("date", "modality", "region", "description", "source")
CHANNEL_ENV = "DRIMCHECK_OPERATOR_CHANNEL"  # the folder of the campaign's prompts and answers (the console sets it)
POLL_SECONDS = 0.2
MAX_TEXT = 4000  # characters of one answered value or problem report
MAX_ROWS = 200  # exam list rows an answer may announce
MAX_RECORD_BYTES = 256 * 1024  # a prompt or answer file larger than this is not read
ACTIONS = {"step": ("done", "problem"), "question": ("answer", "problem")}
_NAME = re.compile(r"^(\d{4,9})\.(prompt|answer|closed)\.json$")


class AnswerRefused(ValueError):
    """An answer the channel does not take (malformed, for an unknown or closed prompt, or after its deadline);
    the message says why, for the person who gave it."""


@dataclass(frozen=True)
class Field:
    """One value a question asks for: its key in the answer, the question as printed, and, when the value is one
    of a list (the statuses of :data:`SERIES_STATUSES`), that list; ``integer`` for a count."""

    name: str
    label: str
    choices: tuple[str, ...] = ()
    integer: bool = False

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "label": self.label, "choices": list(self.choices), "integer": self.integer}


@dataclass(frozen=True)
class Answer:
    """What the person answered a prompt: ``done`` (a step performed), ``problem`` (with their text) or
    ``answer`` (the values of a question's fields); who and when."""

    action: str
    text: str = ""
    values: tuple[tuple[str, str], ...] = ()
    by: str = ""
    at: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {"action": self.action, "text": self.text, "values": dict(self.values), "by": self.by, "at": self.at}

    def describe(self) -> str:
        if self.action == "done":
            return "confirmed done"
        if self.action == "problem":
            return f"problem reported: {self.text}"
        return "; ".join(f"{k}: {v}" for k, v in self.values) or "(no value)"


def check_answer(prompt: dict[str, Any], sent: Any, *, by: str = "", at: float | None = None) -> Answer:
    """The answer ``sent`` (``{action, text, values}``) to ``prompt`` once checked, or :class:`AnswerRefused`
    naming every fault: the action fits the prompt's kind, a problem carries its text, a question's values are
    exactly its fields, each within :data:`MAX_TEXT` characters, one of its choices or a count when it says so."""
    if not isinstance(sent, dict):
        raise AnswerRefused("an answer is an object with action, text and values")
    kind = prompt.get("kind")
    action = sent.get("action")
    allowed = ACTIONS.get(str(kind), ())
    if action not in allowed:
        raise AnswerRefused(f"a {kind} is answered with {' or '.join(allowed)}, not {action!r}")
    text = sent.get("text", "")
    if not isinstance(text, str) or len(text) > MAX_TEXT:
        raise AnswerRefused(f"the text is a string of at most {MAX_TEXT} characters")
    text = text.strip()
    if action == "problem":
        if not text:
            raise AnswerRefused("say what the problem is: a problem report carries the person's text")
        return Answer("problem", text, (), by, time.time() if at is None else at)
    values: tuple[tuple[str, str], ...] = ()
    if action == "answer":
        values = _check_values(prompt.get("fields") or [], sent.get("values"))
    return Answer(str(action), text, values, by, time.time() if at is None else at)


def _check_values(fields: list[dict[str, Any]], given: Any) -> tuple[tuple[str, str], ...]:
    if not isinstance(given, dict):
        raise AnswerRefused("a question is answered with a value for each of its fields")
    names = [f["name"] for f in fields]
    problems = [f"{n}: no value given" for n in names if n not in given]
    problems += [f"{n}: not a field of this question" for n in given if n not in names]
    out = []
    for f in fields:
        value = given.get(f["name"], "")
        if not isinstance(value, str) or len(value) > MAX_TEXT:
            problems.append(f"{f['name']}: a text of at most {MAX_TEXT} characters")
            continue
        value = value.strip()
        if f.get("choices") and value not in f["choices"]:
            problems.append(f"{f['name']}: one of {', '.join(f['choices'])}, not {value!r}")
        if f.get("integer") and not (value.isdigit() and int(value) <= MAX_ROWS):
            problems.append(f"{f['name']}: a whole number from 0 to {MAX_ROWS}, not {value!r}")
        out.append((f["name"], value))
    if problems:
        raise AnswerRefused("; ".join(problems))
    return tuple(out)


class OperatorChannel:
    """A campaign's prompts and answers in one folder: ``NNNN.prompt.json`` (written by the driver),
    ``NNNN.answer.json`` (by the console), ``NNNN.closed.json`` (by the driver, when the prompt ends: answered,
    the traffic seen, or timed out). Every file is written whole under a temporary name, then renamed."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)

    # -- files -----------------------------------------------------------------------------------
    def _path(self, prompt_id: int, what: str) -> Path:
        return self.folder / f"{prompt_id:04d}.{what}.json"

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.folder.mkdir(parents=True, exist_ok=True)
        with open(self.folder / ".lock", "a+b") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def _write(self, path: Path, record: dict[str, Any]) -> None:
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(record, fh, ensure_ascii=False, indent=1)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)

    def _read(self, path: Path) -> dict[str, Any] | None:
        try:
            if path.stat().st_size > MAX_RECORD_BYTES:
                return None
            record = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return record if isinstance(record, dict) else None

    def ids(self) -> list[int]:
        if not self.folder.is_dir():
            return []
        return sorted({int(m.group(1)) for p in self.folder.iterdir() if (m := _NAME.match(p.name))
                       and m.group(2) == "prompt"})

    # -- the driver's side -------------------------------------------------------------------------
    def post(self, record: dict[str, Any], timeout: float) -> dict[str, Any]:
        """Write a prompt (its id the next free one) with its deadline; returns the record as written."""
        with self._locked():
            prompt_id = max(self.ids(), default=0) + 1
            now = time.time()
            record = {**record, "id": prompt_id, "written": now, "timeout": timeout, "deadline": now + timeout}
            self._write(self._path(prompt_id, "prompt"), record)
        return record

    def wait(self, prompt: dict[str, Any], until: Callable[[], bool] | None = None,
             poll: float = POLL_SECONDS) -> tuple[str, Answer | None]:
        """Until the console's answer, the traffic ``until`` looks for, or the prompt's timeout: returns
        (``answered`` | ``seen`` | ``timeout``, the answer) once the prompt is closed. An answer file that does
        not check is set aside (``NNNN.refused-T.json``, kept as evidence) and the wait goes on."""
        deadline = time.monotonic() + float(prompt["timeout"])
        while True:
            seen = until is not None and until()
            answer = self._answer_of(prompt)
            if seen or answer is not None or time.monotonic() >= deadline:
                return self._close(prompt, "seen" if seen and answer is None else "answered" if answer else "timeout")
            time.sleep(poll)

    def _answer_of(self, prompt: dict[str, Any]) -> Answer | None:
        path = self._path(prompt["id"], "answer")
        if not path.exists():
            return None
        record = self._read(path)
        try:
            if record is None:
                raise AnswerRefused("not a readable JSON object")
            return check_answer(prompt, record, by=str(record.get("by", ""))[:200], at=float(record.get("at", 0)))
        except (AnswerRefused, TypeError, ValueError) as exc:
            with contextlib.suppress(OSError):
                os.replace(path, path.with_name(f"{prompt['id']:04d}.refused-{time.time():.3f}.json"))
            self._write(self._path(prompt["id"], "refusal"), {"reason": str(exc), "at": time.time()})
            return None

    def _close(self, prompt: dict[str, Any], outcome: str) -> tuple[str, Answer | None]:
        with self._locked():  # the console takes no answer past this point (it checks for the closed file)
            answer = self._answer_of(prompt)
            if answer is not None and outcome == "timeout":
                outcome = "answered"  # taken by the console before the deadline, read here at the deadline
            self._write(self._path(prompt["id"], "closed"),
                        {"outcome": outcome, "at": time.time(), "answer": answer.to_json() if answer else None})
        return outcome, answer

    # -- the console's side ------------------------------------------------------------------------
    def prompt(self, prompt_id: int) -> dict[str, Any] | None:
        """A prompt with its ``answer`` and ``closed`` records (None when not there yet)."""
        record = self._read(self._path(prompt_id, "prompt"))
        if record is None:
            return None
        return {**record, "answer": self._read(self._path(prompt_id, "answer")),
                "closed": self._read(self._path(prompt_id, "closed"))}

    def prompts(self) -> list[dict[str, Any]]:
        return [p for p in (self.prompt(i) for i in self.ids()) if p is not None]

    def pending(self) -> dict[str, Any] | None:
        """The newest prompt not closed yet (a plan asks one thing at a time)."""
        for prompt_id in reversed(self.ids()):
            record = self.prompt(prompt_id)
            if record is not None:
                return None if record["closed"] else record
        return None

    def answer(self, prompt_id: int, sent: Any, by: str) -> Answer:
        """Take the person's answer to prompt ``prompt_id``, or refuse it (:class:`AnswerRefused`, saying why):
        malformed, for no such prompt, for a prompt already answered or closed, or after its deadline."""
        if not self._path(prompt_id, "prompt").is_file():  # nothing made for a campaign that asked nothing
            raise AnswerRefused(f"there is no prompt {prompt_id} in this campaign")
        with self._locked():
            record = self.prompt(prompt_id)
            if record is None:
                raise AnswerRefused(f"there is no prompt {prompt_id} in this campaign")
            if record["closed"] is not None:
                raise AnswerRefused(f"step {record.get('step')} is over ({_over(record['closed'])}): "
                                    "this answer was not taken")
            if record["answer"] is not None:
                raise AnswerRefused(f"step {record.get('step')} was already answered by {record['answer'].get('by')}")
            now = time.time()
            if now > float(record["deadline"]):
                raise AnswerRefused(f"too late: step {record.get('step')} waited {float(record['timeout']):.0f} s, "
                                    f"until {time.strftime('%H:%M:%S', time.localtime(record['deadline']))}, and "
                                    "the plan went on without an answer")
            answer = check_answer(record, sent, by=by, at=now)
            self._write(self._path(prompt_id, "answer"), answer.to_json())
        return answer


def _over(closed: dict[str, Any]) -> str:
    return {"answered": "answered", "seen": "the plan saw the traffic the step causes",
            "timeout": "no answer came in time"}.get(str(closed.get("outcome")), str(closed.get("outcome")))



class OperatorDriver(ConsumerDriver):
    answered_by = "the operator"

    def __init__(self, context: DriverContext, stdin: Any = None, channel: Path | str | None = None) -> None:
        """``channel``: the folder of an :class:`OperatorChannel` (default: :data:`CHANNEL_ENV`, set by the
        console); without one the person answers on ``stdin``, the terminal."""
        super().__init__(context)
        options = dict(context.options.get("operator") or {})
        self.timeout = float(options.get("timeout", 300))
        self.stdin = stdin or sys.__stdin__  # pytest replaces sys.stdin while it captures
        self.delegate: ConsumerDriver | None = None
        self.step = 0
        self.extended = False  # the professional's extended INS display, as the person was last asked to set it
        self.text = ""  # the step printed last
        self.patient: list[list[str]] = []  # the traits of the patient opened last, as the contextual call sent them
        self.exam: ExamRef | None = None  # the exam of the step printed last
        steps = options.get("steps")
        if steps:
            plan = yaml.safe_load(Path(steps).read_text(encoding="utf-8")) or {}
            perform = plan.get("perform_with") if isinstance(plan, dict) else None
            if not perform or perform == "operator":
                raise DriverError(f"operator step file {steps}: perform_with must name reference or path.py:Class")
            self.delegate = load_driver(str(perform), context)
            self.answered_by = f"the operator (unattended, steps performed by {self.delegate.answered_by})"
        folder = channel if channel is not None else os.environ.get(CHANNEL_ENV)
        self.channel = OperatorChannel(Path(folder)) if folder and self.delegate is None else None
        if self.channel is not None:
            self.answered_by = "the operator (in the console)"

    # -- what the person sees ------------------------------------------------------------------
    def _prompt(self, text: str) -> None:
        self.step += 1
        self.text = text
        self.context.say(f"step {self.step}: {text}")

    def _wait(self, until: Callable[[], bool] | None) -> None:
        """Until the person presses Enter (or answers in the console), the expected traffic is seen, or the
        timeout."""
        if self.delegate is not None:
            return
        if self.channel is not None:
            self._through_channel("step", until)
            return
        self.context.say("  press Enter when done" + (" (the plan goes on by itself once it sees the traffic)"
                                                       if until else ""))
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            if until is not None and until():
                self.context.say("  seen, thank you")
                return
            ready, _, _ = select.select([self.stdin], [], [], 0.2)
            if ready:
                self.stdin.readline()
                return
        self.context.say(f"  no answer within {self.timeout:.0f} s: going on")

    def _ask(self, question: str) -> str:
        self.context.say(f"  {question}: ")
        ready, _, _ = select.select([self.stdin], [], [], self.timeout)
        if not ready:  # STYLE §16: not answered in time is inconclusive, as in the console (never not applicable)
            _inconclusive(f"step {self.step} not performed in time: the operator gave no answer to \"{question}\" "
                          f"within {self.timeout:.0f} s")
        return self.stdin.readline().strip()

    def _ask_fields(self, fields: list[Field]) -> dict[str, str]:
        """The values of ``fields``: asked one by one on the terminal, together in one form in the console."""
        if self.channel is None:
            return {f.name: self._ask(f.label) for f in fields}
        answer = self._through_channel("question", None, fields)
        assert answer is not None  # _through_channel raises for a question left without values
        return dict(answer.values)

    def _through_channel(self, kind: str, until: Callable[[], bool] | None,
                         fields: list[Field] | None = None) -> Answer | None:
        """One prompt in the console: written, waited for as on the terminal, its answer attached to the test as
        the driver's (the report shows it beside the verdict). A step not confirmed in time goes on, as on the
        terminal (the plan then judges the traffic it finds); a question not answered in time, or answered with a
        problem, leaves the test inconclusive with the step named (STYLE §16): the step was not performed, which
        says nothing of the Consumer."""
        assert self.channel is not None
        exam = self.exam
        record = {"step": self.step, "kind": kind, "text": self.text, "patient": self.patient,
                  "exam": None if exam is None else {"date": exam.date, "description": exam.description,
                                                     "accession": exam.accession, "study_uid": exam.study_uid,
                                                     "unique_id": exam.unique_id},
                  "fields": [f.to_json() for f in fields or []], "exchanges_offset": _exchanges_size()}
        prompt = self.channel.post(record, self.timeout)
        self.context.say(f"  answer in the console (prompt {prompt['id']})" + (
            ", or the plan goes on by itself once it sees the traffic" if until else ""))
        outcome, answer = self.channel.wait(prompt, until)
        if outcome == "seen":
            self.context.say("  seen, thank you")
            return None
        asked = f'"{fields[0].label}"' + (f" and {len(fields) - 1} more" if len(fields) > 1 else "") if fields else ""
        if answer is None:
            _attach(prompt, f"no answer within {self.timeout:.0f} s", None)
            if kind == "question":
                _inconclusive(f"step {self.step} not performed in time: the operator gave no answer to {asked} "
                              f"within {self.timeout:.0f} s")
            self.context.say(f"  no answer within {self.timeout:.0f} s: going on")
            return None
        self.context.say(f"  answered in the console by {answer.by}: {answer.describe()}")
        _attach(prompt, f"answered in the console by {answer.by}", answer)
        if kind == "question" and answer.action == "problem":
            _inconclusive(f"step {self.step}: the operator could not answer {asked} and reported a problem: "
                          f"{answer.text}")
        return answer

    # -- steps ------------------------------------------------------------------------------------
    def open_patient(self, form: dict[str, Any], *, until: Callable[[], bool] | None = None) -> None:
        pairs = [(k, x) for k, v in form.items() for x in (v if isinstance(v, list) else [v])]
        traits = "; ".join(f"{k}={v}" for k, v in pairs)
        given = next((v for k, v in pairs if k == "Patient.name.given"), "")
        self.patient, self.exam = [[k, str(v)] for k, v in pairs], None
        self._prompt(f"from the professional's software, open the patient {form.get('Patient.name.family', '')} "
                     f"{given} born {form.get('Patient.birthDate', '')} in your Consumer "
                     f"(contextual call to {self.context.contextual_call} with {traits}); log in at Pro Santé "
                     f"Connect as professional {self.context.professional} when asked")
        if self.delegate is not None:
            self.delegate.open_patient(form, until=until)
        self._wait(until)

    def open_exam(self, exam: ExamRef, *, until: Callable[[], bool] | None = None) -> None:
        self.exam = exam
        self._prompt(f"in the exam list, open {exam.for_a_person()}")
        if self.delegate is not None:
            self.delegate.open_exam(exam, until=until)
        self._wait(until)

    def import_exam(self, exam: ExamRef, *, local_patient_id: str = "", local_issuer: str = "",
                    until: Callable[[], bool] | None = None) -> dict[str, str]:
        local = f", giving the local patient id {local_patient_id} ({local_issuer})" if local_patient_id else ""
        self.exam = exam
        self._prompt(f"import {exam.for_a_person()} into the local PACS{local}")
        if self.delegate is not None:
            return self.delegate.import_exam(exam, local_patient_id=local_patient_id, local_issuer=local_issuer,
                                             until=until)
        self._wait(until)
        choices = "/".join(SERIES_STATUSES)
        return self._ask_fields([Field(uid, f"what the Consumer showed for series {i} of {len(exam.series)} ({uid}): "
                                            f"{choices}", SERIES_STATUSES) for i, uid in enumerate(exam.series, 1)])

    def shown_patient(self) -> dict[str, str]:
        self._prompt("read the patient's identity shown on the exam list" if self.extended else
                     "read the patient's identity shown by default on the exam list")
        if self.delegate is not None:
            return self.delegate.shown_patient()
        asked = TRAITS + (EXTENDED_TRAITS if self.extended else ())
        answers = self._ask_fields([Field(key, f"the {label} shown") for key, label in asked])
        return {key: value for key, value in answers.items() if value}

    def set_extended_ins_display(self, on: bool) -> None:
        self._prompt(f"in your Consumer's settings, as professional {self.context.professional}, switch "
                     f"{'on' if on else 'off'} the display of the INS number with its OID, the list of given names "
                     "and the used names (INS/va1.36)")
        if self.delegate is not None:
            self.delegate.set_extended_ins_display(on)
        else:
            self._wait(None)
        self.extended = on

    def listed_exams(self) -> list[dict[str, str]]:
        self._prompt("read the exam list: for each row, its date, modality, region, description and source")
        if self.delegate is not None:
            return self.delegate.listed_exams()
        count = int(self._ask_fields([Field("count", "how many exams are listed", integer=True)])["count"] or "0")
        if not count:
            return []
        values = self._ask_fields([Field(f"row-{i + 1}-{name}", f"row {i + 1}: {name}")
                                   for i in range(count) for name in LIST_FIELDS])
        return [{name: values[f"row-{i + 1}-{name}"] for name in LIST_FIELDS} for i in range(count)]

    def shown_exam(self) -> dict[str, Any]:
        self._prompt("read the exam page: its series, its links to the Source's viewer, its import action")
        if self.delegate is not None:
            return self.delegate.shown_exam()
        values = self._ask_fields([Field("series", "the series listed, separated by spaces"),
                                   Field("viewer_links", "the viewer links, separated by spaces"),
                                   Field("can_import", "is an import offered (y/n)", ("y", "n"))])
        return {"series": values["series"].split(), "viewer_links": values["viewer_links"].split(),
                "can_import": values["can_import"].lower().startswith(("y", "o"))}

    def kpi_records(self) -> list[dict[str, Any]]:
        if self.delegate is not None:
            return self.delegate.kpi_records()
        raise StepUnavailable("the operator reports the ModelStat KPI file by hand, outside the plan")

    def export_exam(self, exam: ExamRef, *, until: Callable[[], bool] | None = None) -> bytes:
        self.exam = exam
        self._prompt(f"export {exam.for_a_person()} as IHE XDM media (a ZIP file) and save the file")
        if self.delegate is not None:
            return self.delegate.export_exam(exam, until=until)
        path = Path(self._ask_fields([Field("path", "the path of the saved ZIP file")])["path"].strip().strip('"'))
        if not path.is_file():
            raise StepUnavailable(f"the operator gave {path}, which is not a file")
        return path.read_bytes()

    def import_package(self, path: Path, *, local_patient_id: str = "", local_issuer: str = "",
                       until: Callable[[], bool] | None = None) -> dict[str, Any]:
        local = f", giving the local patient id {local_patient_id} ({local_issuer})" if local_patient_id else ""
        self._prompt(f"for the patient opened last, import the XDM package {path} into the local PACS{local}")
        if self.delegate is not None:
            return self.delegate.import_package(path, local_patient_id=local_patient_id, local_issuer=local_issuer,
                                                until=until)
        self._wait(until)
        status = self._ask_fields([Field("status", "did the Consumer import the package or refuse it "
                                                   "(imported/refused)", ("imported", "refused"))])["status"].lower()
        return {"status": "refused" if status.startswith(("r", "n")) else "imported", "message": "", "errors": []}

    def close(self) -> None:
        if self.delegate is not None:
            self.delegate.close()


def _exchanges_size() -> int | None:
    """Where the campaign's capture file ends now: the console lists the exchanges appended after it as the
    traffic a prompt's step caused (None when this process records to no campaign folder)."""
    from harness import capture

    folder = capture.recorder().folder
    if folder is None:
        return None
    try:
        return (folder / "exchanges.jsonl").stat().st_size
    except OSError:
        return 0


def _attach(prompt: dict[str, Any], what: str, answer: Answer | None) -> None:
    """The console prompt and its answer as the driver's finding on the running test, as the plan records every
    answer about the screen (``testplans/consumer_drimbox/conftest.py`` ``answered``)."""
    from harness.checks import attach_findings
    from harness.findings import info

    found = None if answer is None else answer.describe()
    attach_findings([info("DRIVER", f"console prompt {prompt['id']} (step {prompt['step']}, {prompt['kind']})",
                          f"{prompt['text']}: {what}", found=found)], label="driver")


def _inconclusive(reason: str) -> NoReturn:
    from harness.checks import inconclusive

    inconclusive(reason)
