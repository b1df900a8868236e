"""Campaigns as background jobs: a worker thread runs each queued campaign as ``drimcheck run`` in a process of
its own (its own process group, so a cancel reaches the plans' pytest processes and their peers too).

The database is the queue, so a campaign outlives the console: on start, a campaign still marked running
(the console stopped or crashed under it) is marked interrupted, the process it left is stopped when it is
still there, and it can be rerun. While a campaign runs, each ``--drimcheck-progress`` line (one per finished
test, written by :mod:`harness.pytest_plugin`) becomes an event the campaign page streams live; the verdict is
read from the campaign's own ``results.json`` at the end. A cancelled or interrupted campaign is partial: its
outcomes so far are shown as such and it has no verdict (never a pass).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from harness.console.storage import Store
from harness.operator import CHANNEL_ENV

PROGRESS = re.compile(r"^\s+\[\s*(\d+)/(\d+)\]\s+(\S+)\s+(\S+)\s+(.+?)\s+\(failures so far: \d+\)\s*$")
PLAN_LINE = re.compile(r"^plan (\S+) on (.+)$")
KILL_GRACE = 5.0  # seconds between SIGTERM and SIGKILL of a cancelled campaign's process group
REPO = Path(__file__).resolve().parents[2]


def campaign_dir(data: Path, campaign_id: int) -> Path:
    return data / "campaigns" / str(campaign_id)


def profile_file(data: Path, profile_id: int, version: int) -> Path:
    """Where version ``version`` of a stored profile is written for ``drimcheck run``: in ``DATA/files/``, the
    folder relative paths inside a console profile are read from (certificates, content files put there)."""
    return data / "files" / f"profile-{profile_id}-v{version}.yaml"


def parse_progress(line: str) -> dict[str, Any] | None:
    """One ``--drimcheck-progress`` line as {done, total, outcome, requirements, test}; None for other lines."""
    m = PROGRESS.match(line)
    if not m:
        return None
    reqs = [] if m.group(4) == "-" else m.group(4).split(",")
    return {"done": int(m.group(1)), "total": int(m.group(2)), "outcome": m.group(3).lower(),
            "requirements": reqs, "test": m.group(5)}


class Worker:
    """Runs queued campaigns, ``jobs`` at a time, until :meth:`stop`."""

    def __init__(self, store: Store, data: Path, jobs: int = 1, poll: float = 0.5,
                 command: list[str] | None = None) -> None:
        self.store = store
        self.data = data
        self.jobs = jobs
        self.poll = poll
        self.command = command or [sys.executable, "-m", "harness.cli"]
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._procs: dict[int, subprocess.Popen[str]] = {}
        self._lock = threading.Lock()

    # -- life --------------------------------------------------------------------------------
    def start(self) -> None:
        self.recover()
        for n in range(self.jobs):
            thread = threading.Thread(target=self._loop, name=f"console-worker-{n}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        """Stop taking jobs; a campaign still running is stopped and marked interrupted (rerunnable)."""
        self._stop.set()
        with self._lock:
            procs = dict(self._procs)
        for cid, proc in procs.items():
            self.store.update_campaign(cid, error="the console stopped while the campaign ran")
            _kill_group(proc.pid)
        for thread in self._threads:
            thread.join(timeout=KILL_GRACE + 5)
        self._threads.clear()

    def recover(self) -> list[int]:
        """Mark interrupted every campaign left running by a console that stopped; stop its process when it is
        still there (found by its campaign folder on its command line, never by its pid alone)."""
        ids = []
        for campaign in self.store.running_campaigns():
            pid, out = campaign.get("pid"), campaign.get("out_dir")
            if pid and out and _is_our_process(pid, out):
                _kill_group(pid)
            self.store.set_state(campaign["id"], "interrupted", only_from=("running",), partial=True,
                                 finished=time.time(), verdict=None,
                                 error=campaign.get("error") or "the console stopped while the campaign ran: rerun it")
            ids.append(campaign["id"])
        return ids

    # -- cancel ------------------------------------------------------------------------------
    def cancel(self, campaign_id: int) -> bool:
        """Cancel a queued or running campaign; False when it had already ended."""
        if self.store.set_state(campaign_id, "cancelled", only_from=("queued",), finished=time.time(),
                                partial=False, verdict=None, error="cancelled before it started"):
            return True
        campaign = self.store.campaign(campaign_id)
        if campaign is None or campaign["state"] != "running":
            return False
        self.store.update_campaign(campaign_id, cancel_requested=True)
        with self._lock:
            proc = self._procs.get(campaign_id)
        pid = proc.pid if proc else campaign.get("pid")
        if pid:
            threading.Thread(target=_terminate_group, args=(pid, proc), daemon=True,
                             name=f"console-cancel-{campaign_id}").start()
        return True

    # -- running -----------------------------------------------------------------------------
    def _loop(self) -> None:
        while not self._stop.is_set():
            campaign = self.store.claim_next()
            if campaign is None:
                self._stop.wait(self.poll)
                continue
            try:
                self.run(campaign)
            except Exception as exc:  # the worker goes on with the next campaign; this one says why it failed
                self.store.set_state(campaign["id"], "failed", only_from=("running",), finished=time.time(),
                                     error=f"the console could not run the campaign: {exc}")

    def command_of(self, campaign: dict[str, Any], out: Path) -> list[str]:
        if campaign["profile_id"]:
            sut = str(profile_file(self.data, campaign["profile_id"], campaign["profile_version"]))
        else:
            sut = campaign["sut"]
        cmd = [*self.command, "run", "--sut", sut, "--out", str(out)]
        for plan in campaign["plans"]:
            cmd += ["--plan", plan]
        for item in campaign["only"]:
            cmd += ["--only", item]
        return cmd

    def run(self, campaign: dict[str, Any]) -> None:
        cid = campaign["id"]
        folder = campaign_dir(self.data, cid)
        out = folder / "out"
        folder.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
               "DRIMCHECK_OPERATOR": campaign.get("by") or "", "PYTHONUNBUFFERED": "1",
               # a plan's operator steps are answered on the campaign page, not on the closed stdin (harness.operator)
               CHANNEL_ENV: str(folder / "operator")}
        with open(folder / "run.log", "w", encoding="utf-8") as log:
            proc = subprocess.Popen(self.command_of(campaign, out), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, text=True, env=env, cwd=str(folder),
                                    start_new_session=True)
            with self._lock:
                self._procs[cid] = proc
            self.store.update_campaign(cid, pid=proc.pid, out_dir=str(out))
            tail = self._follow(cid, proc, log)
        returncode = proc.wait()
        with self._lock:
            self._procs.pop(cid, None)
        self._finish(cid, returncode, out, tail)

    def _follow(self, cid: int, proc: subprocess.Popen[str], log: Any) -> list[str]:
        tail: list[str] = []
        done = total = 0
        plan_total = 0
        assert proc.stdout is not None
        for line in proc.stdout:
            log.write(line)
            log.flush()
            tail = [*tail[-39:], line.rstrip("\n")]
            plan = PLAN_LINE.match(line.strip())
            if plan:
                self.store.add_event(cid, "progress", {"plan": plan.group(1)})
                total += plan_total
                plan_total = 0
                continue
            item = parse_progress(line)
            if item is None:
                continue
            done += 1
            plan_total = item["total"]
            self.store.add_event(cid, "progress", item | {"done": done, "total": total + plan_total})
            self.store.update_campaign(cid, done=done, total=total + plan_total)
        return tail

    def _finish(self, cid: int, returncode: int, out: Path, tail: list[str]) -> None:
        campaign = self.store.campaign(cid) or {}
        results = out / "results.json"
        now = time.time()
        if campaign.get("cancel_requested"):
            self.store.set_state(cid, "cancelled", only_from=("running",), finished=now, partial=True, verdict=None,
                                 exit_code=returncode, error="cancelled while running: the outcomes shown are partial")
            return
        if self._stop.is_set():
            self.store.set_state(cid, "interrupted", only_from=("running",), finished=now, partial=True,
                                 verdict=None, exit_code=returncode,
                                 error="the console stopped while the campaign ran: rerun it")
            return
        if returncode in (0, 1) and results.is_file():
            summary = json.loads(results.read_text(encoding="utf-8"))["summary"]
            self.store.set_state(cid, "finished", only_from=("running",), finished=now, exit_code=returncode,
                                 verdict=summary["verdict"], partial=bool(campaign.get("only")))
            return
        reason = next((ln for ln in reversed(tail) if "error" in ln.lower()), tail[-1] if tail else "no output")
        self.store.set_state(cid, "failed", only_from=("running",), finished=now, exit_code=returncode,
                             verdict=None, error=reason.strip()[:1000])


def _kill_group(pid: int, sig: int = signal.SIGTERM) -> None:
    try:
        os.killpg(pid, sig)  # the campaign's process was started as the leader of its own group
    except (ProcessLookupError, PermissionError):
        pass


def _terminate_group(pid: int, proc: subprocess.Popen[str] | None) -> None:
    """SIGTERM to the group, SIGKILL after :data:`KILL_GRACE` seconds if its leader is still there."""
    _kill_group(pid, signal.SIGTERM)
    deadline = time.monotonic() + KILL_GRACE
    while time.monotonic() < deadline:
        if (proc.poll() is not None) if proc else not _alive(pid):
            break
        time.sleep(0.1)
    _kill_group(pid, signal.SIGKILL)  # stragglers of the group (peers a plan started) go too


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _is_our_process(pid: int, out_dir: str) -> bool:
    """Whether ``pid`` is still the campaign's ``drimcheck run`` (its command line names the campaign folder)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return out_dir.encode() in cmdline
