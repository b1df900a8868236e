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
"""

from __future__ import annotations

import select
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

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


class OperatorDriver(ConsumerDriver):
    answered_by = "the operator"

    def __init__(self, context: DriverContext, stdin: Any = None) -> None:
        super().__init__(context)
        options = dict(context.options.get("operator") or {})
        self.timeout = float(options.get("timeout", 300))
        self.stdin = stdin or sys.__stdin__  # pytest replaces sys.stdin while it captures
        self.delegate: ConsumerDriver | None = None
        self.step = 0
        self.extended = False  # the professional's extended INS display, as the person was last asked to set it
        steps = options.get("steps")
        if steps:
            plan = yaml.safe_load(Path(steps).read_text(encoding="utf-8")) or {}
            perform = plan.get("perform_with") if isinstance(plan, dict) else None
            if not perform or perform == "operator":
                raise DriverError(f"operator step file {steps}: perform_with must name reference or path.py:Class")
            self.delegate = load_driver(str(perform), context)
            self.answered_by = f"the operator (unattended, steps performed by {self.delegate.answered_by})"

    # -- what the person sees ------------------------------------------------------------------
    def _prompt(self, text: str) -> None:
        self.step += 1
        self.context.say(f"step {self.step}: {text}")

    def _wait(self, until: Callable[[], bool] | None) -> None:
        """Until the person presses Enter, the expected traffic is seen, or the timeout."""
        if self.delegate is not None:
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
        if not ready:
            raise StepUnavailable(f"the operator gave no answer to \"{question}\" within {self.timeout:.0f} s")
        return self.stdin.readline().strip()

    # -- steps ------------------------------------------------------------------------------------
    def open_patient(self, form: dict[str, Any], *, until: Callable[[], bool] | None = None) -> None:
        pairs = [(k, x) for k, v in form.items() for x in (v if isinstance(v, list) else [v])]
        traits = "; ".join(f"{k}={v}" for k, v in pairs)
        given = next((v for k, v in pairs if k == "Patient.name.given"), "")
        self._prompt(f"from the professional's software, open the patient {form.get('Patient.name.family', '')} "
                     f"{given} born {form.get('Patient.birthDate', '')} in your Consumer "
                     f"(contextual call to {self.context.contextual_call} with {traits}); log in at Pro Santé "
                     f"Connect as professional {self.context.professional} when asked")
        if self.delegate is not None:
            self.delegate.open_patient(form, until=until)
        self._wait(until)

    def open_exam(self, exam: ExamRef, *, until: Callable[[], bool] | None = None) -> None:
        self._prompt(f"in the exam list, open {exam.for_a_person()}")
        if self.delegate is not None:
            self.delegate.open_exam(exam, until=until)
        self._wait(until)

    def import_exam(self, exam: ExamRef, *, local_patient_id: str = "", local_issuer: str = "",
                    until: Callable[[], bool] | None = None) -> dict[str, str]:
        local = f", giving the local patient id {local_patient_id} ({local_issuer})" if local_patient_id else ""
        self._prompt(f"import {exam.for_a_person()} into the local PACS{local}")
        if self.delegate is not None:
            return self.delegate.import_exam(exam, local_patient_id=local_patient_id, local_issuer=local_issuer,
                                             until=until)
        self._wait(until)
        choices = "/".join(SERIES_STATUSES)
        return {uid: self._ask(f"what the Consumer showed for series {i} of {len(exam.series)} ({uid}): {choices}")
                for i, uid in enumerate(exam.series, 1)}

    def shown_patient(self) -> dict[str, str]:
        self._prompt("read the patient's identity shown on the exam list" if self.extended else
                     "read the patient's identity shown by default on the exam list")
        if self.delegate is not None:
            return self.delegate.shown_patient()
        asked = TRAITS + (EXTENDED_TRAITS if self.extended else ())
        answers = {key: self._ask(f"the {label} shown") for key, label in asked}
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
        rows = []
        count = int(self._ask("how many exams are listed") or "0")
        for i in range(count):
            rows.append({name: self._ask(f"row {i + 1}: {name}") for name in LIST_FIELDS})
        return rows

    def shown_exam(self) -> dict[str, Any]:
        self._prompt("read the exam page: its series, its links to the Source's viewer, its import action")
        if self.delegate is not None:
            return self.delegate.shown_exam()
        series = [s for s in self._ask("the series listed, separated by spaces").split() if s]
        links = [s for s in self._ask("the viewer links, separated by spaces").split() if s]
        return {"series": series, "viewer_links": links,
                "can_import": self._ask("is an import offered (y/n)").lower().startswith(("y", "o"))}

    def kpi_records(self) -> list[dict[str, Any]]:
        if self.delegate is not None:
            return self.delegate.kpi_records()
        raise StepUnavailable("the operator reports the ModelStat KPI file by hand, outside the plan")

    def export_exam(self, exam: ExamRef, *, until: Callable[[], bool] | None = None) -> bytes:
        self._prompt(f"export {exam.for_a_person()} as IHE XDM media (a ZIP file) and save the file")
        if self.delegate is not None:
            return self.delegate.export_exam(exam, until=until)
        path = Path(self._ask("the path of the saved ZIP file").strip().strip('"'))
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
        status = self._ask("did the Consumer import the package or refuse it (imported/refused)").lower()
        return {"status": "refused" if status.startswith(("r", "n")) else "imported", "message": "", "errors": []}

    def close(self) -> None:
        if self.delegate is not None:
            self.delegate.close()
