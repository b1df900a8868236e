"""The leak guard of the test suite sees each kind of leak, and lets go of what was stopped in time."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading

import pytest

from harness.leaks import leaks_since, snapshot

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")


def test_a_running_thread_is_reported_until_it_ends():
    before = snapshot()
    done = threading.Event()
    thread = threading.Thread(target=done.wait, name="probe-thread", daemon=True)
    thread.start()
    assert leaks_since(before, grace=0.1) == ["thread 'probe-thread'"]
    done.set()
    thread.join()
    assert leaks_since(before, grace=0.1) == []


@linux_only
def test_a_listening_socket_is_reported_until_closed():
    before = snapshot()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        leaked = leaks_since(before, grace=0.1)
        assert len(leaked) == 1 and leaked[0].startswith("listening socket 0100007F:")
    assert leaks_since(before, grace=0.1) == []


@linux_only
def test_a_child_process_is_reported_until_reaped():
    before = snapshot()
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        assert leaks_since(before, grace=0.1) == [f"child process {proc.pid}"]
    finally:
        proc.kill()
        proc.wait()
    assert leaks_since(before, grace=0.1) == []


def test_a_thread_that_ends_within_the_grace_is_not_a_leak():
    before = snapshot()
    stop = threading.Timer(0.2, lambda: None)
    stop.start()
    assert leaks_since(before, grace=2.0) == []
