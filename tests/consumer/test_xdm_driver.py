"""The XDM steps of the drivers (harness.drivers): a driver that cannot export or import says so (the test is then
not run with that reason); the operator is prompted, gives the exported file's path and says whether the
Consumer imported or refused a package."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from harness.drivers import ConsumerDriver, DriverContext, ExamRef, StepUnavailable
from harness.operator import OperatorDriver

EXAM = ExamRef("1.2.3.4", "1.2.3", "ACC1", "Scanner thoracique ACC1", "14/03/2025", ("1.2.3.1",))


def _context(said: list[str]) -> DriverContext:
    return DriverContext("https://c/context", "https://c", "https://psc/auth", "10001000001", say=said.append,
                         options={"operator": {"timeout": 2}})


def _stdin(lines: list[str]):
    read, write = os.pipe()
    os.write(write, ("\n".join(lines) + "\n").encode())
    os.close(write)
    return os.fdopen(read, encoding="utf-8")


class _Minimal(ConsumerDriver):
    def open_patient(self, form, *, until=None): ...
    def open_exam(self, exam, *, until=None): ...
    def import_exam(self, exam, *, local_patient_id="", local_issuer="", until=None): return {}
    def shown_patient(self): return {}
    def listed_exams(self): return []


def test_a_driver_without_the_xdm_steps_says_so():
    driver = _Minimal(_context([]))
    with pytest.raises(StepUnavailable, match="cannot export an exam as XDM media"):
        driver.export_exam(EXAM)
    with pytest.raises(StepUnavailable, match="cannot import an XDM package"):
        driver.import_package(Path("x.zip"))


def test_the_operator_exports_and_gives_the_file(tmp_path):
    said: list[str] = []
    exported = tmp_path / "XDM export.zip"
    exported.write_bytes(b"PK\x03\x04 the package")
    with _stdin([f'"{exported}"']) as stdin:
        data = OperatorDriver(_context(said), stdin=stdin).export_exam(EXAM)
    assert data == b"PK\x03\x04 the package"
    assert any("export the exam of 14/03/2025" in line and "IHE XDM" in line for line in said)


def test_the_operator_naming_no_file_leaves_the_step_unavailable(tmp_path):
    with _stdin([str(tmp_path / "absent.zip")]) as stdin, pytest.raises(StepUnavailable, match="not a file"):
        OperatorDriver(_context([]), stdin=stdin).export_exam(EXAM)


@pytest.mark.parametrize(("answer", "status"), [("refused", "refused"), ("imported", "imported"), ("r", "refused")])
def test_the_operator_imports_and_says_what_the_consumer_did(tmp_path, answer, status):
    said: list[str] = []
    with _stdin(["", answer]) as stdin:
        outcome = OperatorDriver(_context(said), stdin=stdin).import_package(tmp_path / "pkg.zip",
                                                                             local_patient_id="LOC-1",
                                                                             local_issuer="CAB")
    assert outcome["status"] == status
    assert any(f"import the XDM package {tmp_path / 'pkg.zip'}" in line and "LOC-1" in line for line in said)


def test_a_step_the_driver_cannot_perform_leaves_the_test_not_run():
    """Not applicable would let the requirement pass on its other tests; nothing was checked, so not run."""
    from harness.checks import INCONCLUSIVE_PREFIX, NOT_APPLICABLE_PREFIX
    from testplans.consumer_drimbox.conftest import driver_step

    def unavailable():
        raise StepUnavailable("no export screen")

    with pytest.raises(pytest.skip.Exception) as skipped:
        driver_step(unavailable, "export the exam")
    reason = str(skipped.value)  # the plugin reads a skip without either prefix as skipped: not run
    assert NOT_APPLICABLE_PREFIX not in reason and INCONCLUSIVE_PREFIX not in reason
    assert "the driver cannot export the exam: no export screen" in reason
