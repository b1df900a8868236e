"""The campaign runner: SUT + plans -> pytest runs -> one campaign folder with every report.

Each plan runs in its own pytest process (``python -m pytest``) so the simulators, threads and
imported modules of one plan cannot leak into the next; the processes share the campaign's
evidence folder and each writes one raw-results file that :mod:`reports.build` merges.
"""

from __future__ import annotations

import datetime as _dt
import gc
import json
import os
import re
import socket
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

from harness.faults import REFERENCE_MODULES, reference_module
from harness.sut import PLAN_NEEDS, ProfileError, SutProfile, load_profile, missing_for_plan

EXIT_PASS, EXIT_FAIL, EXIT_HARNESS = 0, 1, 2
# plan folder under testplans/ -> actor it checks; None: a plan of several actors, each test for one of them
# (performance: Source and Consumer), run only when named, never by 'all' (it measures for minutes)
PLAN_ACTORS: dict[str, str | None] = {
    "content": "content",
    "dmp": "dmp",
    "source_drimbox": "source_drimbox",
    "consumer_drimbox": "consumer_drimbox",
    "performance": None,
}
DEFAULT_SUT = {
    "content": "reference:content",
    "dmp": "reference:dmp",
    "source_drimbox": "reference:source",
    "consumer_drimbox": "reference:consumer",
    "performance": "reference:source",
}
TESTPLANS_DIR = Path(__file__).resolve().parent.parent / "testplans"
REFERENCE_SPECS = {
    "content": "reference:content",
    "dmp": "reference:dmp",
    "source_drimbox": "reference:source",
    "consumer_drimbox": "reference:consumer",
}


class HarnessError(RuntimeError):
    """The campaign cannot run; the message names the cause and the fix (exit 2)."""


@dataclass
class PlanRun:
    profile: SutProfile
    plan: str
    path: Path
    raw: Path | None = None
    returncode: int | None = None
    stderr_tail: str = ""
    nodes: list[str] = field(default_factory=list)  # test node ids to run instead of the whole plan (--only)


@dataclass
class Campaign:
    id: str
    out: Path
    runs: list[PlanRun] = field(default_factory=list)
    catalog_dir: Path | None = None
    command: list[str] = field(default_factory=list)


def available_plans() -> dict[str, Path]:
    """Plans that exist in this checkout: a folder of testplans/ holding test files."""
    plans = {}
    for name in PLAN_ACTORS:
        folder = TESTPLANS_DIR / name
        if folder.is_dir() and any(folder.glob("test_*.py")):
            plans[name] = folder
    return plans


def reference_actors() -> list[str]:
    """Actors whose reference implementation is built (its module imports)."""
    actors = []
    for actor in REFERENCE_MODULES:
        try:
            module = reference_module(actor)
        except ImportError:
            continue
        if hasattr(module, "start_reference"):
            actors.append(actor)
    return actors


def resolve_profiles(spec: str) -> list[SutProfile]:
    if spec in ("reference", "reference:all"):
        actors = [a for a in reference_actors() if a in {PLAN_ACTORS[p] for p in available_plans()}]
        if not actors:
            raise HarnessError("no reference implementation with a plan is built yet")
        return [load_profile(REFERENCE_SPECS[a]) for a in actors]
    try:
        profile = load_profile(spec)
    except ProfileError as exc:
        raise HarnessError(str(exc)) from None
    if profile.reference and profile.actor not in reference_actors():
        raise HarnessError(f"the reference {profile.actor} is not built yet; built: "
                           f"{', '.join(reference_actors()) or 'none'}")
    return [profile]


def resolve_plans(names: list[str], profiles: list[SutProfile]) -> list[PlanRun]:
    """The plan runs of a campaign. A plan checks one actor: naming a plan of another actor than the
    SUT's is a harness error that lists the plans that fit (running it would only give not-applicable
    verdicts, which are not a result)."""
    plans = available_plans()
    runs: list[PlanRun] = []
    for name in names:
        if name == "all":
            chosen = [(profile, p, path) for profile in profiles for p, path in plans.items()
                      if PLAN_ACTORS[p] == profile.actor]
        elif name in plans or Path(name).is_dir():
            plan, path = (name, plans[name]) if name in plans else (Path(name).name, Path(name).resolve())
            actor = PLAN_ACTORS.get(plan)
            chosen = [(profile, plan, path) for profile in profiles if actor in (None, profile.actor)]
            if not chosen:
                raise HarnessError(f"plan {plan} checks a {actor}, and {_names(profiles)} is not one: "
                                   f"{_fitting(profiles, plans)}")
        else:
            known = ", ".join(sorted(plans)) or "none"
            raise HarnessError(f"unknown plan {name!r}: known plans are {known}, or 'all', or a folder path")
        runs.extend(PlanRun(profile, p, path) for profile, p, path in chosen)
    if not runs:
        raise HarnessError(f"no plan applies to {_names(profiles)}: {_fitting(profiles, plans)}")
    return runs


def _names(profiles: list[SutProfile]) -> str:
    return ", ".join(f"{p.name} ({p.actor})" for p in profiles)


def _fitting(profiles: list[SutProfile], plans: dict[str, Path]) -> str:
    fit = sorted(p for p in plans if PLAN_ACTORS[p] in {profile.actor for profile in profiles})
    return f"plans that fit: {', '.join(fit)}" if fit else f"available plans are {', '.join(sorted(plans))}"


def check_needs(runs: list[PlanRun]) -> None:
    """Refuse, before starting anything, a profile that lacks what its plans read, naming every gap."""
    gaps = [f"{run.plan}: {gap}" for run in runs if run.plan in PLAN_NEEDS
            for gap in missing_for_plan(run.profile, run.plan)]
    if gaps:
        raise HarnessError("the SUT profile lacks what the plan needs (drimcheck profile check FILE lists it):\n  "
                           + "\n  ".join(gaps))


def check_reachable(profile: SutProfile, timeout: float = 3.0) -> None:
    """Refuse to start a campaign against a SUT whose endpoints do not accept connections."""
    for key, value in profile.endpoints.items():
        if isinstance(value, dict):
            host, port = value.get("host"), value.get("port")
        elif isinstance(value, str) and "://" in value:
            url = urlparse(value)
            host, port = url.hostname, url.port or (443 if url.scheme == "https" else 80)
        elif isinstance(value, str) and re.match(r"^[^:]+:\d+$", value):
            host, port = value.rsplit(":", 1)
        else:
            continue
        try:
            with socket.create_connection((host, int(port)), timeout=timeout):
                pass
        except OSError as exc:
            raise HarnessError(f"SUT not reachable: endpoints.{key} {host}:{port} ({exc.strerror or exc}); "
                               f"start the SUT or fix the profile") from None


def new_campaign_id(profiles: list[SutProfile]) -> str:
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    actor = profiles[0].actor if len(profiles) == 1 else "all"
    return f"{stamp}-{actor}-{os.getpid()}"


def pytest_command(run: PlanRun, campaign: Campaign, index: int) -> list[str]:
    run.raw = campaign.out / "raw" / f"{index:02d}-{run.plan}.json"
    cmd = [sys.executable, "-m", "pytest", *(run.nodes or [str(run.path)]), "-o", "addopts=", "-p",
           "harness.pytest_plugin", "-p", "no:cacheprovider", "-p", "no:terminal", "--rootdir", str(run.path.parent),
           "--sut", run.profile.spec(), "--drimcheck-results", str(run.raw),
           "--drimcheck-evidence", str(campaign.out / "evidence"), "--drimcheck-progress",
           "--alluredir", str(campaign.out / "allure-results")]
    if campaign.catalog_dir:
        cmd += ["--drimcheck-catalog", str(campaign.catalog_dir)]
    if run.profile.driver == "operator":
        cmd += ["--capture=sys"]  # the operator answers on this process's standard input (fd 0 stays open)
    return cmd


def execute(campaign: Campaign, echo: bool = True) -> None:
    gc.freeze()  # the modules and catalog loaded so far stay to the end: out of the cyclic GC's way (reports)
    (campaign.out / "raw").mkdir(parents=True, exist_ok=True)
    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")]))}
    for index, run in enumerate(campaign.runs):
        if echo:
            print(f"plan {run.plan} on {run.profile.name}", flush=True)
        proc = subprocess.Popen(pytest_command(run, campaign, index), stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, env=env, cwd=str(root))
        lines: list[str] = []
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if echo and line.startswith(("  [", "  > ")):  # progress, and the operator's prompts
                print(line, end="", flush=True)
        run.returncode = proc.wait()
        run.stderr_tail = "".join(lines[-40:])


def harness_problem(campaign: Campaign) -> str | None:
    """A one-line reason when a plan process could not run its tests (exit 2)."""
    for run in campaign.runs:
        raw = json.loads(run.raw.read_text()) if run.raw and run.raw.exists() else None
        if run.returncode in (2, 3, 4) or raw is None:
            tail = [ln for ln in run.stderr_tail.strip().splitlines() if ln.strip()]
            reason = next((ln for ln in reversed(tail) if "Error" in ln or "error" in ln), tail[-1] if tail else "")
            return f"plan {run.plan} could not run ({reason.strip()[:300]})"
        if raw.get("collect_errors"):
            return f"plan {run.plan}: collection failed: {raw['collect_errors'][0]}"
        tests = raw.get("tests", [])
        if tests and all(t.get("outcome") == "error" for t in tests):
            first = (tests[0].get("message") or "").strip().splitlines()
            return f"plan {run.plan}: every test failed to set up ({first[-1][:300] if first else 'no message'})"
    return None


def select_only(runs: list[PlanRun], only: list[str]) -> list[PlanRun]:
    """The plan runs narrowed to the tests ``only`` names (``drimcheck run --only``): a requirement id selects
    every test that declares it, a node id (``dmp/test_iti41.py::test_x``, as results.json writes it) that test.
    A run left with no test is dropped; an id that selects nothing anywhere is a harness error, so a rerun never
    reports on less than was asked. Requirements are matched by collecting the plan (``--drimcheck-links``)."""
    wanted_reqs = {o for o in only if "::" not in o}
    matched: set[str] = set()
    kept = []
    for run in runs:
        links = _collect_links(run) if wanted_reqs else {}
        nodes = [n for n, ids in links.items() if wanted_reqs & set(ids)]
        matched |= {r for ids in (links[n] for n in nodes) for r in ids} & wanted_reqs
        for node in (o for o in only if "::" in o and o.split("/", 1)[0] == run.plan):
            nodes.append(node)
            matched.add(node)
        run.nodes = [str(run.path.parent / n) for n in dict.fromkeys(nodes)]
        if run.nodes:
            kept.append(run)
    missing = [o for o in only if o not in matched]
    if missing:
        raise HarnessError(f"--only {', '.join(missing)}: no test of plan(s) {', '.join(r.plan for r in runs)} "
                           "verifies or is named so (a requirement id, or a node id as results.json writes it)")
    return kept


def _collect_links(run: PlanRun) -> dict[str, list[str]]:
    """{node id: requirement ids} of the plan's tests, from a collection-only pytest process."""
    import tempfile

    root = Path(__file__).resolve().parent.parent
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "links.json"
        proc = subprocess.run([sys.executable, "-m", "pytest", str(run.path), "--collect-only", "-o", "addopts=",
                               "-p", "harness.pytest_plugin", "-p", "no:cacheprovider", "-p", "no:terminal",
                               "--rootdir", str(run.path.parent), "--sut", run.profile.spec(),
                               "--drimcheck-links", str(out)], capture_output=True, text=True, cwd=str(root))
        if not out.exists():
            raise HarnessError(f"plan {run.plan} could not be collected to select tests: "
                               f"{(proc.stdout + proc.stderr).strip().splitlines()[-1:] or proc.returncode}")
        return json.loads(out.read_text(encoding="utf-8"))
