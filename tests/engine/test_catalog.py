"""Catalog loading and checks: schema, duplicates, coverage rules."""

from __future__ import annotations

import pytest

from harness.catalog import CatalogError, load_catalog
from harness.coverage import catalog_problems, coverage_rows

GOOD = """
- id: ABC-ONE-001
  title: One thing
  level: SHALL
  actor: dmp
  source: IHE ITI TF-2b 3.41
- id: ABC-TWO-001
  title: Another thing
  level: SHALL
  actor: dmp
  source: IHE ITI TF-2b 3.43
  not_tested_reason: needs a national test environment
- id: ABC-THREE-001
  title: A third thing
  level: SHOULD
  actor: dmp
  source: IHE ITI TF-3 §4.2.3.2
"""


def write(tmp_path, text, name="a.yaml"):
    (tmp_path / name).write_text(text)
    return tmp_path


def test_loads_and_hashes(tmp_path):
    cat = load_catalog(write(tmp_path, GOOD))
    assert len(cat) == 3 and "ABC-ONE-001" in cat
    assert len(cat.digest) == 64
    assert load_catalog(tmp_path).digest == cat.digest
    write(tmp_path, GOOD.replace("One thing", "One thing changed"))
    assert load_catalog(tmp_path).digest != cat.digest


@pytest.mark.parametrize(("mutation", "message"), [
    (lambda t: t.replace("  source: IHE ITI TF-2b 3.41\n", ""), "'source' is a required property"),
    (lambda t: t.replace("level: SHOULD", "level: MUST"), "'MUST' is not one of"),
    (lambda t: t.replace("ABC-ONE-001", "abc one"), "does not match"),
    (lambda t: t + "  colour: blue\n", "Additional properties"),
    (lambda t: t + "- [unclosed\n", "not valid YAML"),
])
def test_bad_records_are_refused_with_their_place(tmp_path, mutation, message):
    with pytest.raises(CatalogError, match=message.replace("(", r"\(").replace("[", r"\[")):
        load_catalog(write(tmp_path, mutation(GOOD)))


def test_duplicate_ids_are_reported(tmp_path):
    write(tmp_path, GOOD)
    write(tmp_path, GOOD.split("- id: ABC-TWO-001")[0], "b.yaml")
    cat = load_catalog(tmp_path)
    assert any("duplicate id ABC-ONE-001" in p for p in cat.problems)
    assert any("duplicate" in p for p in catalog_problems(cat, {}))


def test_untested_shall_without_reason_is_a_problem(tmp_path):
    cat = load_catalog(write(tmp_path, GOOD))
    problems = catalog_problems(cat, {})
    assert problems == ["ABC-ONE-001: SHALL requirement neither tested nor carrying a not_tested_reason"]
    assert catalog_problems(cat, {"t.py::test_one": ["ABC-ONE-001"]}) == []
    rows = {r.id: r.status for r in coverage_rows(cat, {"t.py::test_one": ["ABC-ONE-001"]})}
    assert rows == {"ABC-ONE-001": "verified", "ABC-TWO-001": "not_tested", "ABC-THREE-001": "missing"}


@pytest.mark.parametrize(("source", "why"), [
    ("FACTS §3 (eventCodeList)", "cites a file outside the product"),
    ("IHE ITI TF-2b §3.41; issue 1234 (retry)", "cites a tracker issue"),
    ("Vendor white paper §2", "names no listed public document"),
])
def test_a_source_an_assessor_cannot_open_is_refused(tmp_path, source, why):
    cat = load_catalog(write(tmp_path, GOOD.replace("source: IHE ITI TF-2b 3.41", f"source: {source}")))
    problems = catalog_problems(cat, {"t.py::test_one": ["ABC-ONE-001"]})
    assert len(problems) == 1 and problems[0].startswith(f"ABC-ONE-001: source {why}")


def test_links_to_unknown_ids_are_problems(tmp_path):
    cat = load_catalog(write(tmp_path, GOOD))
    assert "t::x: unknown requirement id NOPE-1" in catalog_problems(cat, {"t::x": ["ABC-ONE-001", "NOPE-1"]})


def test_project_catalog_loads():
    cat = load_catalog()
    assert not cat.problems


def test_an_unquoted_hash_in_a_catalog_value_is_refused(tmp_path):
    """' #' in a plain YAML value starts a comment: the title would silently stop there."""
    from harness.coverage import unquoted_comments

    (tmp_path / "a.yaml").write_text("- id: X-A-1\n  title: verifies over #IHEManifest\n  source: 'quoted #ok'\n")
    assert unquoted_comments(tmp_path) == [
        "a.yaml:2: the title holds ' #', which YAML reads as a comment: quote the value"]


def test_coverage_names_the_faults_that_prove_a_requirement_and_the_ratio_per_actor():
    from harness.coverage import CoverageRow, fault_links, fault_ratio
    from harness.faults import faults_of

    links = fault_links()
    fault = faults_of("dmp")["wrong-hash"]
    assert all("wrong-hash" in links[rid] for rid in fault.breaks)
    rows = [CoverageRow("A-1", "SHALL", "dmp", "verified", ("t",), "", "s", ("f",)),
            CoverageRow("A-2", "SHALL", "dmp", "verified", ("t",), "", "s"),
            CoverageRow("A-3", "SHOULD", "dmp", "verified", ("t",), "", "s")]
    assert fault_ratio(rows) == {"dmp": (1, 2)}


def test_libyaml_reads_every_catalog_file_as_the_pure_loader_does():
    import yaml

    from harness.catalog import _yaml, catalog_files

    for path in catalog_files():
        raw = path.read_bytes()
        assert _yaml(raw) == yaml.safe_load(raw), path.name


def test_bad_yaml_keeps_the_pure_loaders_message_with_the_line(tmp_path):
    with pytest.raises(CatalogError, match=r"expected ',' or '\]', but got '<stream end>'"):
        load_catalog(write(tmp_path, GOOD + "- [unclosed\n"))
