"""Kill the DMP server process in the middle of a large submission; after a restart the submission
is wholly absent (or, when the kill lands after the commit, wholly present: never in part).
With ``--workers 2`` the workers die with the killed server (none keeps serving)."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path
from urllib.parse import urlparse

import pytest
import requests

from harness.xds import Association, build_pnr_message, fill_hash_size
from harness.xds.clients import XdsClient

from .dmp_testing import find, kos_sub, new_patient

REPO = Path(__file__).resolve().parents[2]
HAS_MEMBER = "urn:oasis:names:tc:ebxml-regrep:AssociationType:HasMember"
ALL = ["urn:oasis:names:tc:ebxml-regrep:StatusType:Approved"]


def start_server(db: Path, workers: int = 1) -> tuple[subprocess.Popen, dict[str, str]]:
    proc = subprocess.Popen([sys.executable, "-m", "harness.cli", "serve", "dmp", "--port", "0", "--vihf", "off",
                             "--db", f"sqlite:///{db}", "--profile", "xds", "--workers", str(workers),
                             "--plain-http"],  # raw-socket uploads cut mid-body; TLS is proven elsewhere
                            cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    endpoints: dict[str, str] = {}
    deadline = time.time() + 60
    while time.time() < deadline:
        line = proc.stdout.readline()
        if not line or line.startswith("serving"):
            break
        m = re.match(r"dmp\s+(\S+)\s+(\S+)", line)
        if m:
            endpoints[m.group(1)] = m.group(2)
    assert "repository" in endpoints, f"server did not start: {endpoints}"
    return proc, endpoints


def children(pid: int) -> list[int]:
    """Processes whose parent is ``pid`` (scanning /proc: the per-task children file is not always built)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def descendants(pid: int) -> list[int]:
    found, todo = [], [pid]
    while todo:
        kids = children(todo.pop())
        found += kids
        todo += kids
    return found


def kill(proc: subprocess.Popen) -> None:
    """SIGKILL the server; its worker processes (--workers N) must die with it."""
    workers = descendants(proc.pid)
    assert len(workers) == expected_workers(proc), f"server {proc.pid} has workers {workers}"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    deadline = time.time() + 10
    while any(Path(f"/proc/{w}").exists() and "Z" not in _state(w) for w in workers) and time.time() < deadline:
        time.sleep(0.05)
    alive = [w for w in workers if Path(f"/proc/{w}").exists() and "Z" not in _state(w)]
    assert not alive, f"workers {alive} survived the server"


def expected_workers(proc: subprocess.Popen) -> int:
    """The processes a server started with ``--workers N`` has under it: granian's supervisor and its N
    workers when N > 1, else none."""
    args = proc.args
    workers = int(args[args.index("--workers") + 1])
    return workers + 1 if workers > 1 else 0


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return "Z"


def large_submission(patient: str, documents: int = 40):
    """One submission set with ``documents`` KOS entries of 400 references each (same bytes, own uniqueIds)."""
    sub = kos_sub(patient, references=400, signature=False)
    first = sub.documents[0]
    for i in range(1, documents):
        entry = replace(first, id=f"Doc{i}", uniqueId=f"{first.uniqueId}.{i}")
        sub.documents.append(entry)
        sub.document_bytes[entry.id] = sub.document_bytes[first.id]
        sub.associations.append(Association(f"hm{i}", HAS_MEMBER, sub.submission_set.id, entry.id,
                                            {"SubmissionSetStatus": ["Original"]}))
    return fill_hash_size(sub)


def _client(endpoints: dict[str, str]) -> XdsClient:
    return XdsClient(endpoints["registry"], endpoints["repository"], actor="test:dmp-restart")


@pytest.mark.parametrize("workers", [1, 2])
def test_kill_during_upload_leaves_nothing(tmp_path, workers):
    db = tmp_path / "dmp.sqlite"
    proc, endpoints = start_server(db, workers)
    patient = new_patient()
    ctype, body = build_pnr_message(large_submission(patient), mtom=True)
    url = urlparse(endpoints["repository"])
    try:
        with socket.create_connection((url.hostname, url.port), timeout=10) as sock:
            head = (f"POST {url.path} HTTP/1.1\r\nHost: {url.netloc}\r\nContent-Type: {ctype}\r\n"
                    f"Content-Length: {len(body)}\r\n\r\n").encode()
            sock.sendall(head + body[: len(body) // 2])
            time.sleep(0.3)
            kill(proc)
    finally:
        if proc.poll() is None:
            kill(proc)
    proc, endpoints = start_server(db, workers)
    try:
        assert find(_client(endpoints), patient, ALL) == []
        assert _client(endpoints).provide_and_register(large_submission(patient, 3)).success
    finally:
        kill(proc)


@pytest.mark.parametrize("workers", [1, 2])
def test_kill_while_registering_is_all_or_nothing(tmp_path, workers):
    db = tmp_path / "dmp.sqlite"
    outcomes = []
    for delay in (0.05, 0.2, 0.6):
        proc, endpoints = start_server(db, workers)
        patient = new_patient()
        sub = large_submission(patient)
        ctype, body = build_pnr_message(sub, mtom=True)
        sent = threading.Event()

        def post(endpoints=endpoints, ctype=ctype, body=body, sent=sent):
            try:
                sent.set()
                requests.post(endpoints["repository"], data=body, headers={"Content-Type": ctype}, timeout=30)
            except requests.RequestException:
                pass

        thread = threading.Thread(target=post)
        thread.start()
        sent.wait()
        time.sleep(delay)
        kill(proc)
        thread.join()
        proc, endpoints = start_server(db, workers)
        try:
            count = len(find(_client(endpoints), patient, ALL))
        finally:
            kill(proc)
        assert count in (0, len(sub.documents)), f"partial submission after a kill at {delay}s: {count}"
        outcomes.append(count)
    assert os.path.exists(db)
