"""Drivers: who performs the screen steps of a Consumer DRIMbox a test needs, and answers what only a screen shows.

A vendor's Consumer has its own screens. The standard parts (contextual call, Pro Santé Connect login,
ITI-18 / ITI-43 at the DMP, WADO-RS at the Source named in the KOS, C-STORE into the local PACS) are
observed at the harness's peers; the UI steps go through a driver named in the SUT profile
(``driver:``):

- ``reference``: page objects for the reference Consumer's pages (the plan's own proof);
- ``operator``: a person is prompted for each step in the terminal, the plan waiting for the traffic the
  step must cause (see :mod:`harness.operator`);
- ``path/to/module.py:Class``: a vendor's own class implementing :class:`ConsumerDriver` (Playwright in a
  real browser, or plain HTTP); ``examples/consumer_driver_playwright.py`` is a complete one.

The plan never reads a page itself: what only a screen shows is asked of the driver as data
(:meth:`ConsumerDriver.shown_patient`, :meth:`ConsumerDriver.listed_exams`, the statuses
:meth:`ConsumerDriver.import_exam` returns), and the report says who answered (``answered_by``).
A method a driver cannot perform raises :class:`StepUnavailable`: the test is then not run with that reason
(nothing was checked), so its requirement is not run even when its other tests passed, and for a SHALL the
campaign does not pass.
"""

from __future__ import annotations

import importlib.util
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# statuses a driver reports per series after an import (what the Consumer showed the professional)
SERIES_STATUSES = ("imported", "refused", "deleted", "not-found", "not-acceptable", "malformed", "incomplete",
                   "unauthorized", "error")


class StepUnavailable(RuntimeError):
    """The driver cannot perform this step or answer this question (the reason says why)."""


class DriverError(ValueError):
    """``driver:`` of a profile names nothing usable (bad path, no such class, not a ConsumerDriver)."""


@dataclass(frozen=True)
class PatientTraits:
    """The patient of a contextual call, as the professional's software knows it (INS traits, INS/va1.36)."""

    ins: str
    birth_name: str
    given: str
    birth_date: str  # YYYYMMDD
    sex: str  # F | M | U
    birthplace: str  # INSEE code

    def for_a_person(self) -> str:
        d = self.birth_date
        return f"{self.birth_name} {self.given}, born {d[6:8]}/{d[4:6]}/{d[0:4]} (INS {self.ins})"


@dataclass(frozen=True)
class ExamRef:
    """One exam the DMP lists for the patient: enough for a driver (or a person) to find it on screen."""

    unique_id: str  # XDS uniqueId of the KOS entry
    study_uid: str
    accession: str
    description: str  # what the history shows (the entry's comments)
    date: str = ""  # DD/MM/YYYY, as shown
    series: tuple[str, ...] = ()  # Series Instance UIDs the KOS references, in order

    def for_a_person(self) -> str:
        return f"the exam of {self.date or 'the study'} \"{self.description}\" (accession {self.accession})"


@dataclass
class DriverContext:
    """What the plan gives a driver: where the Consumer is, who logs in at PSC, how to print to the person."""

    contextual_call: str  # URL the professional's software posts the contextual call to
    base: str  # base URL of the Consumer's web application
    psc_authorize: str  # PSC authorization endpoint (a login page the driver may have to fill)
    professional: str  # RPPS of the test professional to log in as (PSC simulator users)
    say: Callable[[str], None] = print  # prints to the person running the campaign (operator prompts)
    options: dict[str, Any] = field(default_factory=dict)  # the profile's options (operator: options.operator)
    # CA files (PEM) the harness trusts beyond the system's: the profile's ``tls.ca`` and the campaign's test
    # PKI. A browser driver trusts them too, so a Consumer served over HTTPS from a test PKI is reached as
    # a professional's browser reaches it (C17), certificate checked.
    cas: tuple[str, ...] = ()
    verify: bool = True  # False only when the profile says ``tls.verify: false`` (certificate errors ignored)


class ConsumerDriver(ABC):
    """The screen steps of a Consumer DRIMbox a test needs. Subclass it, implement each method with the
    vendor's own screens, and name the class in the profile (``driver: drivers/acme.py:AcmeDriver``)."""

    answered_by = "a driver"  # written in the report beside every answer the driver gives

    def __init__(self, context: DriverContext) -> None:
        self.context = context

    @abstractmethod
    def open_patient(self, form: dict[str, Any], *, until: Callable[[], bool] | None = None) -> None:
        """Send the contextual call with ``form`` (POST, as the professional's software does), log in at
        Pro Santé Connect when asked, and end on the patient's exam list (the Consumer queries ITI-18).
        A value is a string, or a list of strings sent as the parameter repeated in order (several
        ``Patient.name.given``: the list of given names, the first one first).
        ``until``: a predicate on the traffic the step must cause; a driver that waits (the operator) may
        stop waiting as soon as it holds."""

    @abstractmethod
    def open_exam(self, exam: ExamRef, *, until: Callable[[], bool] | None = None) -> None:
        """Open ``exam`` from the list opened last (the Consumer retrieves its KOS by ITI-43)."""

    @abstractmethod
    def import_exam(self, exam: ExamRef, *, local_patient_id: str = "", local_issuer: str = "",
                    until: Callable[[], bool] | None = None) -> dict[str, str]:
        """Ask for ``exam`` to be imported into the local PACS (WADO-RS, then C-STORE), with the local
        patient id when given; return what the Consumer showed for each series of ``exam.series``:
        ``{series uid: status}`` with a status of :data:`SERIES_STATUSES` (``{}`` when the Consumer refused
        the whole import and showed no per-series result)."""

    @abstractmethod
    def shown_patient(self) -> dict[str, str]:
        """The patient traits the Consumer shows for the patient of the last contextual call: by default
        ``birth-name``, ``first-given-name``, ``birth-date`` (DD/MM/YYYY), ``sex``, ``birthplace``; with the
        extended display on (:meth:`set_extended_ins_display`) also ``ins``, ``ins-oid`` (the OID of the INS),
        ``given-names`` (the list of given names, separated by a space), ``used-name`` and ``used-given-name``
        (when the call gave them). A trait the screen does not show is left out."""

    def set_extended_ins_display(self, on: bool) -> None:
        """Switch the logged-in professional's setting that shows, beyond the default traits, the INS with its
        OID, the list of given names and the used names (INS/va1.36: "on a user setting"), on or off."""
        raise StepUnavailable(f"{self.answered_by} cannot change the professional's INS display setting")

    @abstractmethod
    def listed_exams(self) -> list[dict[str, str]]:
        """The rows of the exam list shown last: ``date`` (DD/MM/YYYY), ``modality``, ``region``,
        ``description``, ``source``, and ``unique_id`` when the screen carries it."""

    def shown_exam(self) -> dict[str, Any]:
        """The exam page opened last: ``series`` (the Series Instance UIDs or series listed, in order),
        ``viewer_links`` (URLs of the Source's viewer), ``can_import`` (an import action is offered)."""
        raise StepUnavailable(f"{self.answered_by} cannot describe the exam page")

    def kpi_records(self) -> list[dict[str, Any]]:
        """The ModelStat KPI records the Consumer wrote so far (one per contextual call: ``Nombre_Appel``,
        ``Statut_Appel``), oldest first."""
        raise StepUnavailable(f"{self.answered_by} cannot read the Consumer's ModelStat KPI records")

    def export_exam(self, exam: ExamRef, *, until: Callable[[], bool] | None = None) -> bytes:
        """Export ``exam`` (of the exam list opened last) as IHE XDM media and return the ZIP file's bytes
        (ITI-32 on ZIP media, ITI TF-2b §3.32.4.1; DICOM PS3.12 Annex V)."""
        raise StepUnavailable(f"{self.answered_by} cannot export an exam as XDM media")

    def import_package(self, path: Path, *, local_patient_id: str = "", local_issuer: str = "",
                       until: Callable[[], bool] | None = None) -> dict[str, Any]:
        """Import the XDM ZIP at ``path`` into the local PACS, for the patient of the exam list opened last, with
        the local patient id when given; return what the Consumer showed: ``status`` (``imported`` or
        ``refused``), ``message``, and ``errors`` (the rules it named, when it shows them)."""
        raise StepUnavailable(f"{self.answered_by} cannot import an XDM package")

    def close(self) -> None:  # noqa: B027 (optional hook: most drivers hold nothing)
        """Release what the driver holds (a browser); called once at the end of the plan."""


def load_driver(spec: str, context: DriverContext) -> ConsumerDriver:
    """The driver a profile names: ``reference``, ``operator`` or ``/path/module.py:Class``."""
    if spec == "reference":
        from testplans.consumer_drimbox.reference_driver import ReferenceDriver

        return ReferenceDriver(context)
    if spec == "operator":
        from harness.operator import OperatorDriver

        return OperatorDriver(context)
    path, sep, name = spec.rpartition(":")
    if not sep or not path.endswith(".py"):
        raise DriverError(f"driver {spec!r}: expected reference, operator or path/to/module.py:Class")
    if not Path(path).is_file():
        raise DriverError(f"driver {spec!r}: {path} does not exist")
    module_spec = importlib.util.spec_from_file_location(f"drimcheck_driver_{Path(path).stem}", path)
    if module_spec is None or module_spec.loader is None:
        raise DriverError(f"driver {spec!r}: {path} cannot be imported")
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    cls = getattr(module, name, None)
    if not (isinstance(cls, type) and issubclass(cls, ConsumerDriver)):
        raise DriverError(f"driver {spec!r}: {name} is not a subclass of harness.drivers.ConsumerDriver")
    return cls(context)
