"""What a piece of code left running: threads, listening sockets, child processes.

A test that leaves a server thread, a listening socket or a child process behind makes later tests
flaky (ports taken, CPU stolen) and hides a missing ``stop()`` in the code under test; the project's
test suite fails such a test (``tests/conftest.py``). Sockets and children are read from Linux
``/proc``; elsewhere only threads are compared.
"""

from __future__ import annotations

import gc
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

LISTEN = "0A"  # TCP state code in /proc/net/tcp


@dataclass(frozen=True)
class Snapshot:
    threads: frozenset[threading.Thread]
    sockets: frozenset[str]
    children: frozenset[int]


def _socket_inodes() -> set[str]:
    fd_dir = Path("/proc/self/fd")
    inodes = set()
    for fd in fd_dir.iterdir() if fd_dir.is_dir() else ():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    return inodes


def listening_sockets() -> set[str]:
    """This process's TCP sockets in LISTEN state, as ``address:port inode N`` (hex, as /proc shows)."""
    mine = _socket_inodes()
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            cols = line.split()
            if len(cols) > 9 and cols[3] == LISTEN and cols[9] in mine:
                found.add(f"{cols[1]} inode {cols[9]}")
    return found


def children() -> set[int]:
    """Process ids of this process's children (any thread's)."""
    pids: set[int] = set()
    tasks = Path("/proc/self/task")
    for task in tasks.glob("*/children") if tasks.is_dir() else ():
        try:
            pids.update(int(p) for p in task.read_text().split())
        except OSError:
            continue
    return pids


def snapshot() -> Snapshot:
    return Snapshot(frozenset(threading.enumerate()), frozenset(listening_sockets()), frozenset(children()))


def _owner_running(thread: threading.Thread) -> bool:
    """A pooled server thread (harness.servers) whose server still runs: reused by the server, not left
    behind by the test (a fixture may keep one server across tests)."""
    owner_running = getattr(thread, "owner_running", None)
    return bool(owner_running and owner_running())


def leaks_since(before: Snapshot, grace: float = 3.0) -> list[str]:
    """What is alive now and was not in ``before``, after letting it stop for up to ``grace`` seconds
    (servers close their sockets and threads end a little after ``stop()`` returns)."""
    deadline = time.monotonic() + grace
    while True:
        now = snapshot()
        found = ([f"thread {t.name!r}" for t in now.threads - before.threads if t.is_alive() and not _owner_running(t)]
                 + [f"listening socket {s}" for s in now.sockets - before.sockets]
                 + [f"child process {pid}" for pid in now.children - before.children])
        if not found or time.monotonic() > deadline:
            return found
        gc.collect()  # a server referenced only by a cycle closes its socket when collected
        time.sleep(0.05)
