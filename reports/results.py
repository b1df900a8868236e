"""results.json: the campaign's one machine-readable record, and the verdict rules.

Everything else (HTML, JUnit, coverage, bundle) is rendered from this document plus the
evidence folder beside it, so ``drimcheck report results.json`` rebuilds any report.
"""

from __future__ import annotations

import json
import subprocess
from collections import Counter
from pathlib import Path
from typing import Any

import jsonschema

from harness import __version__
from harness.catalog import Catalog

SCHEMA_PATH = Path(__file__).resolve().parent.parent / "schemas" / "results.schema.json"
RESULTS_SCHEMA_VERSION = "1.1"
VERDICTS = ("passed", "failed", "inconclusive", "not_run", "not_applicable", "not_tested")
# catalog file -> the one plan its requirements belong to: they are in a campaign's scope only when that plan ran,
# and the other files' only when another plan ran (a conformance campaign does not list the performance figures
# as not run, nor a performance campaign every conformance requirement)
PLAN_CATALOGS = {"performance.yaml": "performance"}


def git_revision() -> str | None:
    root = Path(__file__).resolve().parent.parent
    try:
        out = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True,
                             timeout=5, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    rev = out.stdout.strip()
    if not rev:
        return None
    dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True, timeout=5, check=False).stdout.strip()
    return rev + ("-dirty" if dirty else "")


def requirement_verdict(outcomes: list[str], reason: str | None) -> str:
    """Verdict of one requirement from the outcomes of the tests that verify it.

    Never pass what was not checked: a failure or error anywhere fails it; otherwise an inconclusive
    test (a precondition failed) makes it inconclusive; a test that was skipped or deselected makes it
    not_run, even when others passed; it passes when at least one test passed and every other test
    passed or was not applicable; all not-applicable -> not_applicable; no test at all ->
    not_tested when the catalog gives a reason, else not_run.
    """
    if any(o in ("failed", "error") for o in outcomes):
        return "failed"
    if "inconclusive" in outcomes:
        return "inconclusive"
    if any(o not in ("passed", "not_applicable") for o in outcomes):
        return "not_run"
    if "passed" in outcomes:
        return "passed"
    if outcomes:
        return "not_applicable"
    return "not_tested" if reason else "not_run"


def shall_not_passed(requirement: dict[str, Any]) -> str | None:
    """Why a SHALL requirement keeps the campaign from passing, or None when it does not.

    A SHALL passes the campaign when it passed, when the catalog says why it is not tested, or when it
    is not applicable for the reason the catalog states (``not_applicable_when``); anything else
    (failed, inconclusive, not run, not applicable without a stated reason) is named.
    """
    if requirement["level"] != "SHALL":
        return None
    verdict = requirement["verdict"]
    if verdict in ("passed", "not_tested"):
        return None
    if verdict == "not_applicable" and requirement.get("not_applicable_when"):
        return None
    if verdict == "not_applicable":
        return "not applicable, but the catalog states no condition under which it may be"
    return verdict.replace("_", " ")


def _why(tests: list[dict[str, Any]], outcome: str) -> list[str]:
    """The messages of the tests with ``outcome`` (skip reasons, inconclusive preconditions)."""
    return list(dict.fromkeys((t.get("message") or "").strip() or t["nodeid"] for t in tests
                              if t["outcome"] == outcome))


def load_exchanges(evidence: Path) -> list[dict[str, Any]]:
    path = evidence / "exchanges.jsonl"
    if not path.exists():
        return []
    items = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            items.append(json.loads(line))
    return items


def exchange_index(ex: dict[str, Any]) -> dict[str, Any]:
    """The exchange without inline bodies: results.json points into evidence/ for those."""
    def body_ref(body: dict) -> dict:
        return {k: body[k] for k in ("file", "sha256", "size") if k in body}
    return {k: ex[k] for k in ("id", "test", "protocol", "actor", "direction", "summary", "peer", "status",
                               "started", "elapsed", "error")} | {
        "request_body": body_ref(ex["request"]["body"]), "response_body": body_ref(ex["response"]["body"])}


def build_results(*, campaign_id: str, raws: list[dict[str, Any]], suts: list[dict[str, Any]],
                  plans: list[str], catalog: Catalog, evidence: Path, command: list[str],
                  harness_error: str | None = None) -> dict[str, Any]:
    tests = [t for raw in raws for t in raw.get("tests", [])]
    for t in tests:
        t["outcome"] = t.get("outcome") or "error"
    linked: dict[str, list[dict]] = {}
    for t in tests:
        for rid in t["requirements"]:
            linked.setdefault(rid, []).append(t)
    actors = {s["actor"] for s in suts} | {catalog[rid].actor for rid in linked if rid in catalog}
    requirements = []
    for req in catalog:
        if req.id not in linked and (req.actor not in actors or not in_plans(req.file, plans)):
            continue
        ts = linked.get(req.id, [])
        verdict = requirement_verdict([t["outcome"] for t in ts], req.not_tested_reason)
        failures = [t["failure"] or {"message": t.get("message")} for t in ts
                    if t["outcome"] in ("failed", "error")]
        record = {**req.to_dict(), "verdict": verdict, "tests": [t["nodeid"] for t in ts], "failures": failures}
        reasons = {"inconclusive": _why(ts, "inconclusive"), "not_run": _why(ts, "skipped"),
                   "not_applicable": _why(ts, "not_applicable")}.get(verdict)
        if reasons:
            record["reasons"] = reasons
        requirements.append(record)
    counts = Counter(r["verdict"] for r in requirements)
    blocking = {r["id"]: why for r in requirements if (why := shall_not_passed(r))}
    shall_failed = [rid for rid, why in blocking.items() if why == "failed"]
    exit_code = 2 if harness_error else (1 if blocking else 0)
    verdict = ("error" if harness_error else "fail" if shall_failed
               else "inconclusive" if blocking else "pass")
    started = min((raw["started"] for raw in raws), default=None)
    finished = max((raw["finished"] for raw in raws), default=None)
    return {
        "schema_version": RESULTS_SCHEMA_VERSION,
        "campaign": {
            "id": campaign_id, "started": started, "finished": finished, "tool": "drimcheck",
            "tool_version": __version__, "git_revision": git_revision(), "catalog_hash": catalog.digest,
            "suts": suts, "plans": plans, "command": command,
        },
        "summary": {
            "exit_code": exit_code, "harness_error": harness_error, "verdict": verdict,
            "shall_failed": shall_failed, "shall_not_passed": blocking,
            "tests": dict(Counter(t["outcome"] for t in tests)), "test_total": len(tests),
            "requirements": {v: counts.get(v, 0) for v in VERDICTS}, "requirement_total": len(requirements),
        },
        "requirements": requirements,
        "tests": tests,
        "exchanges": [exchange_index(e) for e in load_exchanges(evidence)],
    }


def in_plans(catalog_file: str, plans: list[str]) -> bool:
    """Whether the requirements of ``catalog_file`` are in the scope of a campaign of ``plans``."""
    own = PLAN_CATALOGS.get(catalog_file)
    return own in plans if own else any(p not in PLAN_CATALOGS.values() for p in plans) or not plans


def validate_results(results: dict[str, Any]) -> None:
    """Raise jsonschema.ValidationError when ``results`` breaks its documented schema."""
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator(schema).validate(results)
