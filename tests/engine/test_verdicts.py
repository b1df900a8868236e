"""Pass semantics: a requirement passes only when every test of it passed; a campaign exits 0 only when
every SHALL in scope passed (or the catalog says why it is not tested or not applicable)."""

from __future__ import annotations

import pytest

from harness.runner import HarnessError, resolve_plans, resolve_profiles
from reports.results import requirement_verdict, shall_not_passed

VERDICT_CASES = [
    (["passed"], None, "passed"),
    (["passed", "passed"], None, "passed"),
    (["passed", "not_applicable"], None, "passed"),
    (["passed", "skipped"], None, "not_run"),  # partly skipped is not a pass
    (["passed", "skipped", "skipped"], None, "not_run"),
    (["passed", "inconclusive"], None, "inconclusive"),
    (["inconclusive", "skipped"], None, "inconclusive"),
    (["passed", "failed"], None, "failed"),
    (["inconclusive", "error"], None, "failed"),
    (["not_applicable", "not_applicable"], None, "not_applicable"),
    (["not_applicable", "skipped"], None, "not_run"),
    (["skipped"], None, "not_run"),
    ([], "needs a person", "not_tested"),
    ([], None, "not_run"),
]


@pytest.mark.parametrize(("outcomes", "reason", "verdict"), VERDICT_CASES)
def test_requirement_verdict(outcomes, reason, verdict):
    assert requirement_verdict(outcomes, reason) == verdict


def _req(verdict: str, level: str = "SHALL", **extra) -> dict:
    return {"id": "R-1", "level": level, "verdict": verdict, **extra}


@pytest.mark.parametrize(("record", "blocks"), [
    (_req("passed"), None),
    (_req("not_tested"), None),
    (_req("failed"), "failed"),
    (_req("inconclusive"), "inconclusive"),
    (_req("not_run"), "not run"),
    (_req("not_applicable"), "not applicable, but the catalog states no condition under which it may be"),
    (_req("not_applicable", not_applicable_when="the product omits the option"), None),
    (_req("failed", level="SHOULD"), None),
    (_req("not_run", level="MAY"), None),
])
def test_which_shall_keeps_a_campaign_from_passing(record, blocks):
    assert shall_not_passed(record) == blocks


def test_a_plan_of_another_actor_is_a_harness_error_naming_the_plans_that_fit():
    with pytest.raises(HarnessError, match=r"plan dmp checks a dmp.*plans that fit: source_drimbox"):
        resolve_plans(["dmp"], resolve_profiles("reference:source"))


def test_all_runs_each_actors_own_plans():
    runs = resolve_plans(["all"], resolve_profiles("reference:all"))
    assert {(r.profile.actor, r.plan) for r in runs} == {(r.plan if r.plan != "content" else "content", r.plan)
                                                         for r in runs}
    only = resolve_plans(["dmp"], resolve_profiles("reference:all"))
    assert [(r.profile.actor, r.plan) for r in only] == [("dmp", "dmp")]
