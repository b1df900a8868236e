"""The project's shared fixture set (fixtures/dataset.yaml, every exam and every document) is clean for the
content validators: no error and no warning per file, and each exam's documents agree with each other."""

from __future__ import annotations

import pytest

from harness.findings import Severity
from harness.validators import cross_validate, validate_file

dataset = pytest.importorskip("fixtures.dataset")


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    out = tmp_path_factory.mktemp("dataset")
    dataset.write_dataset(out)
    return out


def test_every_document_is_clean(written):
    problems = []
    for path in sorted(p for p in written.rglob("*") if p.is_file() and p.suffix in (".dcm", ".xml", ".hl7")):
        report = validate_file(path)
        problems += [f"{path.relative_to(written)}: {f}" for f in report.findings if f.severity is not Severity.INFO]
    assert problems == []


def test_each_exam_is_consistent(written):
    problems = []
    for exam in sorted(p for p in written.iterdir() if p.is_dir()):
        for kos, cda, pnr, hl7 in (("kos.dcm", "cr-img.xml", "pnr.xml", "oru-F.hl7"),
                                   ("kos-v2.dcm", "cr-img-v2.xml", "pnr-v2.xml", "oru-C.hl7"),
                                   ("kos.dcm", "cr-img.xml", "pnr.xml", "mdm-T02.hl7")):
            findings = cross_validate(kos=exam / kos, cda=exam / cda, xds=exam / pnr, hl7=exam / hl7)
            problems += [f"{exam.name}/{kos}: {f}" for f in findings]
    assert problems == []
