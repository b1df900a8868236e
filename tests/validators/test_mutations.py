"""Every named mutation of the good set triggers exactly the rules it names, and every SHALL rule of the
content catalog has a mutation that triggers it (the external checkers CDA-XSD-001 / CDA-SCH-001 are
proved on the CI-SIS samples in test_cda.py, and KOS-EVD-003, a profile-xds rule, in test_kos.py)."""

from __future__ import annotations

import pytest

from fixtures.mutations import MUTATIONS, mutated_set
from fixtures.mutations.goodset import write_files
from fixtures.reference_content import group_by_folder
from harness.catalog import load_catalog
from harness.findings import Severity
from harness.validators import validate_files

PROVED_ELSEWHERE = {"CDA-XSD-001", "CDA-SCH-001", "KOS-EVD-003"}
# mutations that leave a file of a cross group unreadable: the group's report says it could not compare it
UNREADABLE = {"cda-not-xml", "kos-not-dicom"}


def error_rules(files: dict[str, bytes], tmp_path) -> set[str]:
    paths = write_files(files, tmp_path)
    reports = validate_files(paths, cross_groups=[g for g in group_by_folder(paths) if len(g) > 1])
    return {f.rule for r in reports for f in r.findings if f.severity is Severity.ERROR}


def test_good_set_has_no_error(tmp_path):
    assert error_rules(mutated_set(None), tmp_path) == set()


@pytest.mark.parametrize("name", sorted(MUTATIONS))
def test_mutation_breaks_exactly_its_rules(name, tmp_path):
    expected = set(MUTATIONS[name].breaks) | ({"XVAL-INPUT-001"} if name in UNREADABLE else set())
    assert error_rules(mutated_set(name), tmp_path) == expected


def test_every_shall_rule_has_a_mutation():
    covered = {rid for m in MUTATIONS.values() for rid in m.breaks}
    shall = {r.id for r in load_catalog() if r.file == "content.yaml" and r.level == "SHALL"}
    assert shall - covered - PROVED_ELSEWHERE == set()


def test_importing_the_good_set_builders_reads_no_fixture():
    """A plan that imports only fixtures.mutations.goodset (the RIS messages, the Source plan) does not pay for
    the mutation registry, which reads the whole good set."""
    import subprocess
    import sys
    from pathlib import Path

    code = ("import sys, fixtures.mutations.goodset as g; import fixtures.mutations as m; "
            "sys.exit(m._exam1.cache_info().currsize + g._shared_good_set.cache_info().currsize)")
    repo = Path(__file__).resolve().parents[2]
    assert subprocess.run([sys.executable, "-c", code], cwd=repo, check=False).returncode == 0
