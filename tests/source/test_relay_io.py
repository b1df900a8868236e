"""The Source's socket path: ``relay.body_reader`` reads a close-delimited PACS body straight from its
socket (and falls back to urllib3 otherwise)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest
import requests

from simulators.source.relay import body_reader

BODY = bytes(range(256)) * 4096  # 1 MiB


class _OneShot:
    """A server that answers one GET with ``head`` then ``body`` (then closes, unless ``hold``)."""

    def __init__(self, head: bytes, body: bytes, hold: threading.Event | None = None) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/x"
        self.head, self.body, self.hold = head, body, hold
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        conn, _ = self.sock.accept()
        with conn:
            conn.recv(65536)
            conn.sendall(self.head + self.body)
            if self.hold is not None:
                self.hold.wait(10)

    def close(self) -> None:
        if self.hold is not None:
            self.hold.set()
        self.thread.join(10)
        self.sock.close()


@pytest.fixture
def one_shot() -> Iterator[list[_OneShot]]:
    servers: list[_OneShot] = []
    yield servers
    for s in servers:
        s.close()


def _read_all(read1, n: int) -> bytes:
    out = []
    while True:
        data = read1(n)
        if not data:
            return b"".join(out)
        assert len(data) <= n
        out.append(data)


def test_close_delimited_body_is_read_from_the_socket(one_shot):
    one_shot.append(_OneShot(b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Type: x/y\r\n\r\n", BODY))
    with requests.get(one_shot[0].url, stream=True, timeout=10) as resp:
        read1 = body_reader(resp)
        assert read1 != resp.raw.read1  # the direct path
        assert _read_all(read1, 100_000) == BODY


@pytest.mark.parametrize("head", [
    b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(BODY),
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
])
def test_other_bodies_go_through_urllib3(one_shot, head):
    body = b"%x\r\n%s\r\n0\r\n\r\n" % (len(BODY), BODY) if b"chunked" in head else BODY
    one_shot.append(_OneShot(head, body))
    with requests.get(one_shot[0].url, stream=True, timeout=10) as resp:
        read1 = body_reader(resp)
        assert read1 == resp.raw.read1
        assert _read_all(read1, 100_000) == BODY


def test_a_silent_pacs_times_out(one_shot):
    hold = threading.Event()
    one_shot.append(_OneShot(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n", b"abc", hold))
    with requests.get(one_shot[0].url, stream=True, timeout=0.3) as resp:
        read1 = body_reader(resp)
        assert read1(3) == b"abc"
        with pytest.raises(TimeoutError):
            read1(10)
