"""pytest plugin of DRIMcheck: requirement markers, the SUT fixture, capture and raw results.

Loaded with ``-p harness.pytest_plugin`` (pyproject's addopts, and the campaign runner). In a
campaign (``--drimcheck-results``) it also installs a recorder that writes every captured
exchange to the evidence folder, prints live progress, and writes one raw-results file that
the report builders turn into the campaign's outputs.
"""

from __future__ import annotations

import gc
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from harness import capture
from harness.catalog import Catalog, CatalogError, load_catalog
from harness.checks import INCONCLUSIVE_PREFIX, NOT_APPLICABLE_PREFIX, ConformanceFailure, take_attached, take_checks
from harness.runner import DEFAULT_SUT, PLAN_ACTORS, TESTPLANS_DIR  # defined without pytest, for the runner
from harness.sut import ProfileError, SutProfile, load_profile


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("drimcheck")
    group.addoption("--sut", default=None, help="SUT profile: a YAML file or reference:ACTOR[?fault=NAME]")
    group.addoption("--drimcheck-catalog", default=None, help="catalog folder (default testplans/catalog)")
    group.addoption("--drimcheck-results", default=None, help="write raw campaign results to this JSON file")
    group.addoption("--drimcheck-evidence", default=None, help="folder for captured exchanges")
    group.addoption("--drimcheck-links", default=None, help="write {test: [requirement ids]} after collection")
    group.addoption("--drimcheck-progress", action="store_true", help="print one line per finished test")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "requirement(*ids): requirement ids this test verifies")
    config.addinivalue_line("markers", "slow: long-running integration test")
    state = _State(config)
    config.stash[STATE] = state
    config.pluginmanager.register(state, "drimcheck-state")


STATE = pytest.StashKey["_State"]()


def plan_of(path: Path) -> str | None:
    """The plan folder name (``dmp``, ``content``...) when ``path`` lies under testplans/."""
    try:
        rel = path.resolve().relative_to(TESTPLANS_DIR)
    except ValueError:
        return None
    return rel.parts[0] if len(rel.parts) > 1 else None


def requirement_ids(item: pytest.Item) -> list[str]:
    ids: list[str] = []
    for mark in item.iter_markers(name="requirement"):
        ids.extend(str(a) for a in mark.args)
    return list(dict.fromkeys(ids))


class _State:
    """Per-session bookkeeping; a plugin object so its hooks see the config."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.catalog: Catalog | None = None
        self.results: list[dict[str, Any]] = []
        self.by_id: dict[str, dict[str, Any]] = {}
        self.total = 0
        self.done = 0
        self.failures = 0
        self.started = time.time()
        self.recorder: capture.Recorder | None = None
        self.collect_errors: list[str] = []
        self.plans: set[str] = set()
        evidence = config.getoption("--drimcheck-evidence")
        if evidence:
            self.recorder = capture.Recorder(Path(evidence))
            capture.use_recorder(self.recorder)

    # -- catalog and collection ------------------------------------------------------------
    def load(self) -> Catalog:
        if self.catalog is None:
            folder = self.config.getoption("--drimcheck-catalog")
            self.catalog = load_catalog(Path(folder) if folder else None)
        return self.catalog

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, session: pytest.Session, config: pytest.Config,
                                      items: list[pytest.Item]) -> None:
        problems: list[str] = []
        try:
            catalog = self.load()
        except CatalogError as exc:
            raise pytest.UsageError(f"requirement catalog: {exc}") from None
        in_plan = bool(config.getoption("--drimcheck-catalog"))
        for item in items:
            ids = requirement_ids(item)
            unknown = catalog.unknown(ids)
            if unknown:
                problems.append(f"{item.nodeid}: unknown requirement id(s) {', '.join(unknown)}")
            if (plan_of(Path(str(item.path))) or in_plan) and not ids:
                problems.append(f"{item.nodeid}: a plan test must name the requirement(s) it verifies")
            for rid in ids:
                item.add_marker(pytest.mark.allure_label(rid, label_type="requirement"))
            plan = plan_of(Path(str(item.path)))
            if plan:
                item.add_marker(pytest.mark.allure_label(plan, label_type="parentSuite"))
        if problems:
            raise pytest.UsageError("requirement links:\n  " + "\n  ".join(problems))
        self.total = len(items)
        self.plans = {p for p in (plan_of(Path(str(i.path))) for i in items) if p in DEFAULT_SUT}
        self._check_actor(config)
        links = config.getoption("--drimcheck-links")
        if links:
            Path(links).write_text(json.dumps({i.nodeid: requirement_ids(i) for i in items}, indent=1))

    def _check_actor(self, config: pytest.Config) -> None:
        """A plan checks one actor: run against another, its verdicts would mean nothing (harness error)."""
        spec = config.getoption("--sut")
        if spec is None or not self.plans:
            return
        try:
            actor = load_profile(spec).actor
        except ProfileError as exc:
            raise pytest.UsageError(str(exc)) from None
        other = sorted(p for p in self.plans if PLAN_ACTORS[p] not in (None, actor))
        if other:
            fit = sorted(p for p, a in PLAN_ACTORS.items() if a == actor)
            raise pytest.UsageError(f"plan {', '.join(other)} checks another actor than {spec} ({actor}): "
                                    f"plans that fit: {', '.join(fit) or 'none'}")

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        """Collection imported the plan, its peers and their libraries, which live until the end: move them out
        of the cyclic GC's generations (gc.freeze), so its full collections scan only what the tests create."""
        gc.freeze()

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            self.collect_errors.append(f"{report.nodeid}: {report.longreprtext.strip().splitlines()[-1:]}")

    # -- running ---------------------------------------------------------------------------
    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        capture.set_current_test(item.nodeid)
        take_attached()
        take_checks()
        capture.take_cited()
        self.by_id[item.nodeid] = {
            "nodeid": item.nodeid, "name": item.name, "plan": plan_of(Path(str(item.path))),
            "requirements": requirement_ids(item), "outcome": None, "duration": 0.0,
            "started": time.time(), "failure": None, "message": None, "findings": [],
        }

    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo) -> None:
        rec = self.by_id.get(item.nodeid)
        if rec is None or call.excinfo is None:
            return
        exc = call.excinfo.value
        if isinstance(exc, ConformanceFailure) and rec["failure"] is None:
            rec["failure"] = exc.to_dict()

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        rec = self.by_id.get(report.nodeid)
        if rec is None:
            return
        rec["duration"] += report.duration
        outcome = _outcome(report)
        if outcome is None:
            return
        # the first non-pass phase decides; a teardown error after a pass is an error
        if rec["outcome"] in (None, "passed") and outcome != "passed":
            rec["outcome"] = outcome
            rec["message"] = _message(report)
        elif rec["outcome"] is None:
            rec["outcome"] = outcome

    @pytest.hookimpl(trylast=True)
    def pytest_runtest_teardown(self, item: pytest.Item) -> None:
        rec = self.by_id.get(item.nodeid)
        if rec is None:
            return
        rec["findings"] = [{"label": label, **f.to_dict()} for label, f in take_attached()]
        rec["checks"] = take_checks()
        rec["cited"] = capture.take_cited()

    def pytest_runtest_logfinish(self, nodeid: str, location: tuple) -> None:
        rec = self.by_id.get(nodeid)
        capture.set_current_test(None)
        if rec is None:
            return
        if self.recorder is not None:
            own = [e.id for e in self.recorder.exchanges(test=nodeid)]
            rec["exchanges"] = list(dict.fromkeys(rec.pop("cited", []) + own))
            _allure_attach(self.recorder.exchanges(test=nodeid))
        else:
            rec.pop("cited", None)
        self.results.append(rec)
        self.done += 1
        if rec["outcome"] in ("failed", "error"):
            self.failures += 1
        if self.config.getoption("--drimcheck-progress"):
            label = ",".join(rec["requirements"]) or "-"
            print(f"  [{self.done:>3}/{self.total}] {rec['outcome'].upper():<14} {label:<28} {nodeid}"
                  f"   (failures so far: {self.failures})", flush=True)

    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        out = self.config.getoption("--drimcheck-results")
        if not out:
            return
        sut = self.config.getoption("--sut")
        payload = {
            "sut": sut, "started": self.started, "finished": time.time(), "exitstatus": int(exitstatus),
            "catalog_hash": self.catalog.digest if self.catalog else None,
            "collect_errors": self.collect_errors, "tests": self.results,
            "python": sys.version.split()[0], "pid": os.getpid(),
        }
        Path(out).write_text(json.dumps(payload, indent=1, default=str), encoding="utf-8")


def _outcome(report: pytest.TestReport) -> str | None:
    if report.passed:
        return "passed" if report.when == "call" else None
    if report.skipped:
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        if INCONCLUSIVE_PREFIX in reason:
            return "inconclusive"
        return "not_applicable" if NOT_APPLICABLE_PREFIX in reason else "skipped"
    return "failed" if report.when == "call" else "error"


def _message(report: pytest.TestReport) -> str:
    if isinstance(report.longrepr, tuple):
        return str(report.longrepr[2]).removeprefix("Skipped: ")
    text = report.longreprtext or ""
    crash = getattr(getattr(report.longrepr, "reprcrash", None), "message", None)
    return (crash or text)[:4000]


def _allure_attach(exchanges: list[capture.Exchange]) -> None:
    try:
        import allure
    except ImportError:  # allure-pytest is a dependency; stay usable without it
        return
    for ex in exchanges[:50]:
        text = f"{ex.summary}  status={ex.status}  peer={ex.peer}\n\n"
        text += "\n".join(f"{k}: {v}" for k, v in ex.request_headers) + "\n\n"
        text += ex.request_body.read(64 * 1024).decode("utf-8", "replace")
        text += "\n\n--- response ---\n" + "\n".join(f"{k}: {v}" for k, v in ex.response_headers) + "\n\n"
        text += ex.response_body.read(64 * 1024).decode("utf-8", "replace")
        allure.attach(text, name=f"{ex.protocol} {ex.summary}"[:120], attachment_type=allure.attachment_type.TEXT)


# -- fixtures ------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def catalog(pytestconfig: pytest.Config) -> Catalog:
    return pytestconfig.stash[STATE].load()


@pytest.fixture(scope="session")
def sut(request: pytest.FixtureRequest) -> SutProfile:
    """The system under test: ``--sut`` or the reference implementation of the plan's actor."""
    spec = request.config.getoption("--sut")
    if spec is None:
        plans = request.config.stash[STATE].plans
        if len(plans) != 1:
            raise pytest.UsageError(f"tests of several plans ({', '.join(sorted(plans))}) were collected: "
                                    "give --sut")
        spec = DEFAULT_SUT[next(iter(plans))]
    try:
        profile = load_profile(spec)
    except ProfileError as exc:
        raise pytest.UsageError(str(exc)) from None
    if (profile.tls or {}).get("ca"):  # the harness's HTTP clients reach the SUT's https endpoints
        from harness.tls import add_trusted

        add_trusted(profile.tls["ca"])
    return profile


@pytest.fixture
def evidence() -> capture.Recorder:
    """The recorder of this session: tests read captured exchanges from it."""
    return capture.recorder()
