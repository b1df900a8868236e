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
RESULTS_SCHEMA_VERSION = "1.0"
VERDICTS = ("passed", "failed", "not_run", "not_applicable", "not_tested")


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

    A failure or error anywhere fails it; it passes when at least one test passed and none
    failed; all not-applicable -> not_applicable; no test at all -> not_tested when the catalog
    gives a reason, else not_run; skipped tests -> not_run.
    """
    if any(o in ("failed", "error") for o in outcomes):
        return "failed"
    if "passed" in outcomes:
        return "passed"
    if outcomes and all(o == "not_applicable" for o in outcomes):
        return "not_applicable"
    if not outcomes and reason:
        return "not_tested"
    return "not_run"


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
        if req.actor not in actors and req.id not in linked:
            continue
        ts = linked.get(req.id, [])
        verdict = requirement_verdict([t["outcome"] for t in ts], req.not_tested_reason)
        failures = [t["failure"] or {"message": t.get("message")} for t in ts
                    if t["outcome"] in ("failed", "error")]
        requirements.append({**req.to_dict(), "verdict": verdict, "tests": [t["nodeid"] for t in ts],
                             "failures": failures})
    counts = Counter(r["verdict"] for r in requirements)
    shall_failed = [r["id"] for r in requirements if r["verdict"] == "failed" and r["level"] == "SHALL"]
    exit_code = 2 if harness_error else (1 if shall_failed else 0)
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
            "exit_code": exit_code, "harness_error": harness_error,
            "verdict": "error" if harness_error else ("fail" if shall_failed else "pass"),
            "shall_failed": shall_failed,
            "tests": dict(Counter(t["outcome"] for t in tests)), "test_total": len(tests),
            "requirements": {v: counts.get(v, 0) for v in VERDICTS}, "requirement_total": len(requirements),
        },
        "requirements": requirements,
        "tests": tests,
        "exchanges": [exchange_index(e) for e in load_exchanges(evidence)],
    }


def validate_results(results: dict[str, Any]) -> None:
    """Raise jsonschema.ValidationError when ``results`` breaks its documented schema."""
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator(schema).validate(results)
