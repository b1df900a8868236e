"""Requirement coverage: which tests verify which requirement, and what the catalog lacks.

Links come from pytest's own collection of testplans/ (markers as pytest sees them, including
parametrised and class-level ones), never from parsing source text.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from harness.catalog import Catalog
from harness.pytest_plugin import TESTPLANS_DIR
from harness.sources import source_problem

COVERAGE_FILE = TESTPLANS_DIR / "catalog" / "coverage.csv"


class CollectionError(RuntimeError):
    """pytest could not collect the plans (import error, unknown requirement id...)."""


def collect_links(plans_dir: Path = TESTPLANS_DIR, catalog_dir: Path | None = None) -> dict[str, list[str]]:
    """{test node id: [requirement ids]} for every test under ``plans_dir``."""
    root = Path(__file__).resolve().parent.parent
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "links.json"
        cmd = [sys.executable, "-m", "pytest", str(plans_dir), "--collect-only", "-q", "-o", "addopts=",
               "-p", "harness.pytest_plugin", "-p", "no:cacheprovider", "--rootdir", str(root),
               "--drimcheck-links", str(out)]
        if catalog_dir:
            cmd += ["--drimcheck-catalog", str(catalog_dir)]
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")]))}
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=str(root), env=env, check=False)
        if proc.returncode not in (0, 5) or not out.exists():
            tail = (proc.stdout + proc.stderr).strip().splitlines()[-15:]
            raise CollectionError("collecting the plans failed:\n" + "\n".join(tail))
        return json.loads(out.read_text())


@dataclass(frozen=True)
class CoverageRow:
    id: str
    level: str
    actor: str
    status: str  # verified | not_tested | missing
    tests: tuple[str, ...]
    reason: str
    source: str
    faults: tuple[str, ...] = ()  # named faults of the reference that must fail it: they prove it can fail


def fault_links() -> dict[str, list[str]]:
    """{requirement id: [actor:fault, ...]} from every reference actor's named faults (``breaks``)."""
    from harness.faults import REFERENCE_MODULES, faults_of

    out: dict[str, list[str]] = {}
    for actor in REFERENCE_MODULES:
        for name, fault in sorted(faults_of(actor).items()):
            for rid in fault.breaks:
                out.setdefault(rid, []).append(name)
    return out


def fault_ratio(rows: list[CoverageRow]) -> dict[str, tuple[int, int]]:
    """Per actor: (SHALL requirements proven by at least one fault, SHALL requirements)."""
    ratio: dict[str, tuple[int, int]] = {}
    for r in rows:
        if r.level == "SHALL":
            proven, total = ratio.get(r.actor, (0, 0))
            ratio[r.actor] = (proven + bool(r.faults), total + 1)
    return ratio


def coverage_rows(catalog: Catalog, links: dict[str, list[str]]) -> list[CoverageRow]:
    by_req: dict[str, list[str]] = {}
    for test, ids in links.items():
        for rid in ids:
            by_req.setdefault(rid, []).append(test)
    faults = fault_links()
    rows = []
    for req in sorted(catalog, key=lambda r: r.id):
        tests = tuple(sorted(by_req.get(req.id, [])))
        status = "verified" if tests else ("not_tested" if req.not_tested_reason else "missing")
        rows.append(CoverageRow(req.id, req.level, req.actor, status, tests, req.not_tested_reason or "",
                                req.source, tuple(faults.get(req.id, ()))))
    return rows


def catalog_problems(catalog: Catalog, links: dict[str, list[str]]) -> list[str]:
    """What ``drimcheck requirements --check`` refuses."""
    problems = list(catalog.problems) + (unquoted_comments(catalog.folder) if catalog.folder else [])
    for req in catalog:
        if not req.source.strip():
            problems.append(f"{req.id}: no source")
        elif (why := source_problem(req.source)) is not None:
            problems.append(f"{req.id}: source {why}")
    for row in coverage_rows(catalog, links):
        if row.status == "missing" and row.level == "SHALL":
            problems.append(f"{row.id}: SHALL requirement neither tested nor carrying a not_tested_reason")
    for test, ids in links.items():
        for rid in ids:
            if rid not in catalog:
                problems.append(f"{test}: unknown requirement id {rid}")
    return problems


def unquoted_comments(folder: Path | None = None) -> list[str]:
    """Catalog lines whose plain value holds ' #': YAML reads the rest as a comment, so a title or a source
    would silently stop there (quote the value)."""
    import re

    out = []
    for path in sorted((folder or COVERAGE_FILE.parent).glob("*.yaml")):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            match = re.match(r"^\s*-?\s*(title|source|description|not_tested_reason|not_applicable_when):\s+(.*)$",
                             line)
            if match and " #" in match[2] and not match[2].startswith(("'", '"')):
                out.append(f"{path.name}:{number}: the {match[1]} holds ' #', which YAML reads as a comment: "
                           f"quote the value")
    return out


def coverage_csv(rows: list[CoverageRow]) -> str:
    import csv
    import io

    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["requirement", "level", "actor", "status", "tests", "faults", "not_tested_reason", "source"])
    for r in rows:
        writer.writerow([r.id, r.level, r.actor, r.status, " ".join(r.tests), " ".join(r.faults), r.reason,
                         r.source])
    return buf.getvalue()
