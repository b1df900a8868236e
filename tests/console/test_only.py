"""``drimcheck run --only``, which the console's rerun uses: a requirement id selects the tests that declare it,
a node id (as results.json writes it) that test, an id selecting nothing is a harness error (harness/runner.py)."""

from __future__ import annotations

import pytest

from harness import runner


def _runs():
    return runner.resolve_plans(["content"], runner.resolve_profiles("reference:content"))


def test_only_selects_by_requirement_and_by_node_id():
    node = "content/test_content.py::test_kos_iod_and_sr_structure[KOS-PARSE-001]"
    [run] = runner.select_only(_runs(), ["HL7-MSH-001", node])
    assert [n.split("testplans/", 1)[1] for n in run.nodes] == [
        "content/test_content.py::test_hl7_message[HL7-MSH-001]", node]
    campaign = runner.Campaign("c", run.path, [run])
    command = runner.pytest_command(run, campaign, 0)
    assert command[3:5] == run.nodes and str(run.path) not in command


def test_an_id_that_selects_nothing_is_a_harness_error():
    with pytest.raises(runner.HarnessError, match=r"--only NOPE-001, dmp/test_x\.py::test_y: no test of plan"):
        runner.select_only(_runs(), ["NOPE-001", "dmp/test_x.py::test_y"])
