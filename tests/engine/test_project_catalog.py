"""The project's own catalog: it passes its checks and the committed coverage file is current.

The generated ``testplans/catalog/coverage.csv`` is committed so a reviewer sees coverage change
in the diff; regenerate it with ``drimcheck requirements --write``.
"""

from __future__ import annotations

from harness.catalog import load_catalog
from harness.coverage import COVERAGE_FILE, catalog_problems, collect_links, coverage_csv, coverage_rows


def test_catalog_check_passes_and_coverage_file_is_current():
    catalog = load_catalog()
    links = collect_links()
    assert catalog_problems(catalog, links) == []
    assert COVERAGE_FILE.read_text(encoding="utf-8") == coverage_csv(coverage_rows(catalog, links)), (
        "testplans/catalog/coverage.csv is stale: run `drimcheck requirements --write`")


def test_every_plan_test_names_a_known_requirement():
    catalog = load_catalog()
    links = collect_links()
    assert links, "no plan test collected"
    assert all(ids and not catalog.unknown(ids) for ids in links.values())
