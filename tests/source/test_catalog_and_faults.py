"""The SRC-* catalog loads, every fault names SRC requirements of the catalog, and every SRC requirement is
verified by a test of the source_drimbox plan (no requirement left without a test)."""

from __future__ import annotations

import ast
from pathlib import Path

from harness.catalog import load_catalog
from simulators.source import FAULTS

PLAN = Path(__file__).resolve().parents[2] / "testplans" / "source_drimbox"


def _plan_requirement_ids(plan: Path = PLAN) -> set[str]:
    ids: set[str] = set()
    for path in plan.glob("test_*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "requirement":
                ids |= {a.value for a in node.args if isinstance(a, ast.Constant)}
    return ids


def test_faults_break_known_source_requirements():
    catalog = load_catalog()
    for fault in FAULTS.values():
        assert fault.breaks, fault.name
        for rid in fault.breaks:
            assert rid in catalog and catalog[rid].actor == "source_drimbox", (fault.name, rid)


def test_every_source_requirement_is_verified_by_the_plan():
    catalog = load_catalog()
    source = {r.id for r in catalog.for_actor("source_drimbox") if not r.not_tested_reason}
    performance = {rid for rid in source if catalog[rid].file == "performance.yaml"}  # the performance plan's
    assert source - performance - _plan_requirement_ids() == set()
    assert performance - _plan_requirement_ids(PLAN.parent / "performance") == set()


def test_faults_break_distinct_requirements():
    """One fault per requirement, except the outcome requirements (tag ``outcome``: the DMP's answer and
    metadata rules), which every fault the DMP refuses breaks besides its own."""
    catalog = load_catalog()
    broken = [rid for f in FAULTS.values() for rid in f.breaks if "outcome" not in catalog[rid].tags]
    assert len(broken) == len(set(broken))
    assert all(len(f.breaks) > len([r for r in f.breaks if "outcome" in catalog[r].tags]) for f in FAULTS.values())


def test_every_fault_swaps_one_component():
    """Each named fault is in exactly one component's FAULTY table, and every table entry is a named fault; the
    PACS behind the Source (DB.SO.102) is one of the components."""
    from simulators.pacs import dimse
    from simulators.source import publish, rad107, reference, report

    tables = {"report": report.FAULTY, "rad107": rad107.FAULTY, "publish": publish.FAULTY,
              "reference": reference.FAULTY, "pacs": dimse.FAULTY}
    for name in FAULTS:
        assert len([m for m, t in tables.items() if name in t]) == 1, name
    assert {k for t in tables.values() for k in t} == set(FAULTS)


def test_without_a_fault_every_component_keeps_the_reference_behaviour():
    from simulators.source.rad107 import WadoBehaviour, wado_behaviour_for
    from simulators.source.report import ReportBehaviour, report_behaviour_for

    assert report_behaviour_for(None) == ReportBehaviour() and wado_behaviour_for(None) == WadoBehaviour()
    assert report_behaviour_for("no-token-check") == ReportBehaviour()  # another component's fault
