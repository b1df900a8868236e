"""harness.httpd on a loopback port: message syntax, persistent connections, bodies, errors, shutdown."""

from __future__ import annotations

import http.client
import socket
import threading
import time
from contextlib import contextmanager

import pytest

from harness.httpd import HttpServer, serve_wsgi


def echo(environ, start_response):
    """Answers what it received: method, path, query, peer port and the body, with a Content-Length."""
    body = environ["wsgi.input"].read()
    text = (f"{environ['REQUEST_METHOD']} {environ['PATH_INFO']}?{environ['QUERY_STRING']} "
            f"port={environ['REMOTE_PORT']} len={len(body)} "
            f"terminated={environ['wsgi.input_terminated']} x={environ.get('HTTP_X_THING', '')}\n").encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(text + body)))])
    return [text, body]


def streamed(environ, start_response):
    start_response("200 OK", [("Content-Type", "application/octet-stream")])
    return (bytes([i]) * 100_000 for i in range(5))


def ignores_body(environ, start_response):
    start_response("204 No Content", [])
    return []


@contextmanager
def sharing(apps, **options):
    """One HttpServer per app, all accepting on one listening socket (the DMP workers' layout); yields the port."""
    sock = socket.create_server(("127.0.0.1", 0))
    servers = [HttpServer(app, sock, name=f"shared-{i}", **options) for i, app in enumerate(apps)]
    threads = [threading.Thread(target=s.serve_forever, daemon=True) for s in servers]
    for t in threads:
        t.start()
    try:
        yield sock.getsockname()[1]
    finally:
        for s in servers:
            s.shutdown(grace=2)
        for t in threads:
            t.join(5)
        for s in servers:
            s.server_close()


@pytest.fixture
def server(request):
    app = getattr(request, "param", echo)
    running = serve_wsgi(app, "test-httpd")
    yield running
    running.stop()


def raw(server, data: bytes, read_until_close: bool = True) -> bytes:
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(data)
        if not read_until_close:
            return sock.recv(65536)
        out = b""
        while chunk := sock.recv(65536):
            out += chunk
        return out


def test_http11_connection_is_kept_for_the_next_request(server):
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    ports = []
    for i in range(3):
        conn.request("POST", f"/a%20b/{i}?q=1", body=b"x" * 100_000, headers={"X-Thing": "t"})
        resp = conn.getresponse()
        text = resp.read()
        assert resp.status == 200 and resp.getheader("Connection") is None and resp.getheader("Date")
        assert text.startswith(f"POST /a b/{i}?q=1 ".encode()) and b"len=100000" in text and b"x=t" in text
        ports.append(text.split(b"port=")[1].split()[0])
    conn.close()
    assert len(set(ports)) == 1, "each request came on a new connection"


def test_connection_close_and_http10_end_the_connection(server):
    answer = raw(server, b"GET /c HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 200 OK") and b"\r\nConnection: close\r\n" in answer
    answer = raw(server, b"GET /d HTTP/1.0\r\n\r\n")
    assert answer.startswith(b"HTTP/1.0 200 OK") and b"GET /d?" in answer


def test_chunked_request_body_is_decoded(server):
    body = b"5\r\nhello\r\n7;ext=1\r\n, world\r\n0\r\nTrailer: x\r\n\r\n"
    answer = raw(server, b"POST /e HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
                 + body)
    assert b"len=12 terminated=True" in answer and answer.endswith(b"hello, world")


def test_expect_100_continue_is_answered_before_the_body_is_read(server):
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(b"POST /f HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n")
        assert sock.recv(100) == b"HTTP/1.1 100 Continue\r\n\r\n"
        sock.sendall(b"abc")
        assert b"len=3" in sock.recv(65536)


@pytest.mark.parametrize("request_bytes, status", [
    (b"GARBAGE\r\n\r\n", 400),
    (b"GET / HTTP/2.0\r\n\r\n", 505),
    (b"GET / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
    (b"POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 400),
    (b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", 501),
    (b"GET / HTTP/1.1\r\nA: b\r\n folded\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nNo colon here\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\n" + b"".join(b"H%d: v\r\n" % i for i in range(200)) + b"\r\n", 431),
    (b"GET /" + b"a" * 70_000 + b" HTTP/1.1\r\n\r\n", 414),
])
def test_malformed_requests_get_a_status_and_the_connection_closes(server, request_bytes, status):
    answer = raw(server, request_bytes)
    assert answer.startswith(b"HTTP/1.1 %d " % status), answer[:80]
    assert b"Connection: close" in answer
    assert raw(server, b"GET /ok HTTP/1.1\r\nConnection: close\r\n\r\n").startswith(b"HTTP/1.1 200")


@pytest.mark.parametrize("server", [streamed], indirect=True)
def test_a_body_without_length_is_chunked_and_head_has_none(server):
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    conn.request("GET", "/s")
    resp = conn.getresponse()
    assert resp.getheader("Transfer-Encoding") == "chunked"
    assert resp.read() == b"".join(bytes([i]) * 100_000 for i in range(5))
    conn.request("HEAD", "/s")
    resp = conn.getresponse()
    assert resp.read() == b"" and resp.getheader("Transfer-Encoding") is None
    conn.request("GET", "/s")  # the connection still serves after HEAD
    assert len(conn.getresponse().read()) == 500_000
    conn.close()


@pytest.mark.parametrize("server", [ignores_body], indirect=True)
def test_an_unread_body_is_drained_so_the_connection_serves_again(server):
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    for _ in range(2):
        conn.request("POST", "/", body=b"z" * 300_000)
        resp = conn.getresponse()
        assert resp.status == 204 and resp.read() == b""
    conn.close()


def test_application_errors_give_500_before_the_status_and_a_cut_after():
    def broken_early(environ, start_response):
        raise RuntimeError("boom")

    def broken_late(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        yield b"first part"
        raise RuntimeError("boom")

    for app, check in ((broken_early, lambda a: a.startswith(b"HTTP/1.1 500 ")),
                       (broken_late, lambda a: a.startswith(b"HTTP/1.1 200 ") and not a.endswith(b"0\r\n\r\n"))):
        with serve_wsgi(app, "broken") as running:
            assert check(raw(running, b"GET / HTTP/1.1\r\n\r\n"))


def test_shutdown_closes_idle_connections_and_lets_a_request_finish():
    entered, release = threading.Event(), threading.Event()

    def slow(environ, start_response):
        if environ["PATH_INFO"] == "/slow":
            entered.set()
            release.wait(10)
        start_response("200 OK", [("Content-Length", "2")])
        return [b"ok"]

    running = serve_wsgi(slow, "slow")
    idle = http.client.HTTPConnection("127.0.0.1", running.port, timeout=10)
    idle.request("GET", "/quick")
    assert idle.getresponse().read() == b"ok"  # now idle, kept open by the client
    busy = http.client.HTTPConnection("127.0.0.1", running.port, timeout=10)
    answer: list[bytes] = []
    worker = threading.Thread(target=lambda: (busy.request("GET", "/slow"), answer.append(busy.getresponse().read())))
    worker.start()
    assert entered.wait(10)
    stopper = threading.Thread(target=running.stop)
    t0 = time.monotonic()
    stopper.start()
    time.sleep(0.3)
    assert stopper.is_alive(), "stop() did not wait for the request in flight"
    release.set()
    stopper.join(10)
    worker.join(10)
    assert answer == [b"ok"] and time.monotonic() - t0 < 5
    with pytest.raises((ConnectionError, http.client.HTTPException, OSError)):
        idle.request("GET", "/quick")
        idle.getresponse()
    idle.close()
    busy.close()


def test_a_connection_is_closed_after_max_requests_and_the_client_reconnects():
    with sharing([echo], max_requests=3) as port:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        seen = []
        for _ in range(6):
            conn.request("GET", "/")
            resp = conn.getresponse()
            seen.append((resp.read().split(b"port=")[1].split()[0], resp.getheader("Connection")))
        conn.close()
    assert [c for _, c in seen] == [None, None, "close"] * 2
    assert len({port for port, _ in seen[:3]}) == 1 and seen[3][0] != seen[0][0]


def test_servers_sharing_a_socket_take_turns_for_persistent_connections():
    """With ``accept_delay`` the server already holding a connection lets the idle one accept the next."""
    def named(i):
        def app(environ, start_response):
            start_response("200 OK", [("Content-Length", "1")])
            return [str(i).encode()]
        return app

    with sharing([named(0), named(1)], accept_delay=0.05) as port:
        conns = [http.client.HTTPConnection("127.0.0.1", port, timeout=5) for _ in range(2)]
        answers = []
        for conn in conns:  # each stays open: the first server keeps serving the first connection
            conn.request("GET", "/")
            answers.append(conn.getresponse().read())
        for conn in conns:
            conn.close()
    assert sorted(answers) == [b"0", b"1"]


def test_servers_of_several_processes_can_share_one_listening_socket():
    """Two servers accept on one socket (the DMP workers' layout): whichever loses the race for a
    connection waits for the next one instead of blocking in accept()."""
    with sharing([echo, echo]) as port:
        for _ in range(20):
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", "/")
            assert conn.getresponse().status == 200
            conn.close()
