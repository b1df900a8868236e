"""Capture: raw bytes first, large bodies spilled and hashed, streams never held whole."""

from __future__ import annotations

import hashlib
import json
import time

import pytest
import requests
from flask import Flask, Response

from harness import capture
from harness.servers import serve_wsgi


def wait_for(probe, timeout=10.0):
    """The server thread records after the client returns: wait for it, bounded."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("exchange not recorded in time")


@pytest.fixture
def rec(tmp_path):
    recorder = capture.Recorder(tmp_path / "evidence")
    previous = capture.use_recorder(recorder)
    capture.set_current_test("tests::current")
    yield recorder
    capture.set_current_test(None)
    capture.use_recorder(previous)


def test_small_body_stays_inline_and_is_linked_to_the_test(rec):
    ex = capture.record("hl7", "harness:ris", "outbound", "ORU^R01", request_body=b"MSH|^~\\&|RIS\r",
                        response_body=b"MSH|^~\\&|DB\rMSA|AA|1\r", status="AA")
    assert ex.test == "tests::current"
    line = json.loads((rec.folder / "exchanges.jsonl").read_text().splitlines()[0])
    assert line["request"]["body"]["text"].startswith("MSH|")
    assert line["response"]["body"]["sha256"] == hashlib.sha256(b"MSH|^~\\&|DB\rMSA|AA|1\r").hexdigest()


def test_binary_body_is_base64(rec):
    capture.record("dimse", "pacs", "inbound", "C-STORE", request_body=b"\x00\xff\x80DICM")
    line = json.loads((rec.folder / "exchanges.jsonl").read_text().splitlines()[0])
    assert "base64" in line["request"]["body"]


def test_large_body_spills_to_a_hashed_file(rec):
    data = b"x" * (capture.INLINE_LIMIT + 10)
    ex = capture.record("http", "a", "inbound", "POST /big", request_body=data)
    assert ex.request_body.spilled
    assert ex.request_body.path.name == hashlib.sha256(data).hexdigest() + ".bin"
    assert ex.request_body.path.parent == rec.folder / "bodies"
    assert ex.request_body.read() == data
    line = json.loads((rec.folder / "exchanges.jsonl").read_text().splitlines()[0])
    assert line["request"]["body"]["file"].startswith("bodies/")


def test_spool_feeds_chunks_across_the_limit(tmp_path):
    spool = capture.BodySpool(tmp_path, limit=10)
    for chunk in (b"12345", b"67890", b"abc"):
        spool.write(chunk)
    body = spool.close()
    assert body.spilled and body.size == 13 and body.read() == b"1234567890abc"
    digest = hashlib.sha256(b"1234567890abc").hexdigest()  # the chunks written before the spill count
    assert body.sha256 == digest and body.path.name == digest + ".bin"


def test_spool_kept_in_memory_hashes_the_whole_body(tmp_path):
    spool = capture.BodySpool(tmp_path, limit=100)
    for chunk in (b"12345", b"67890"):
        spool.write(chunk)
    body = spool.close()
    assert not body.spilled and body.read() == b"1234567890"
    assert body.sha256 == hashlib.sha256(b"1234567890").hexdigest()


def test_middleware_records_request_and_streamed_response(rec):
    app = Flask("t")

    @app.post("/stream")
    def stream():
        from flask import request

        size = len(request.get_data())
        return Response((b"chunk%d;" % i for i in range(3)), headers={"X-Size": str(size)})

    with serve_wsgi(capture.CaptureMiddleware(app, actor="sim"), "t") as server:
        resp = requests.post(server.url + "/stream?x=1", data=b"hello", timeout=5)
    assert resp.content == b"chunk0;chunk1;chunk2;" and resp.headers["X-Size"] == "5"
    ex = wait_for(lambda: rec.exchanges(actor="sim"))[-1]
    assert ex.summary == "POST /stream?x=1" and ex.status == "200"
    assert ex.request_body.read() == b"hello"
    assert ex.response_body.read() == b"chunk0;chunk1;chunk2;"
    assert ex.test == "tests::current"


def test_middleware_records_a_broken_stream(rec):
    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        yield b"first"
        raise RuntimeError("PACS went away")

    with serve_wsgi(capture.CaptureMiddleware(app, actor="broken"), "b") as server:
        try:
            requests.get(server.url + "/", timeout=2)
        except requests.RequestException:
            pass
    ex = wait_for(lambda: [e for e in rec.exchanges(actor="broken") if e.error])[-1]
    assert ex.error and ("PACS went away" in ex.error or "closed before its end" in ex.error)
    assert ex.response_body.read() == b"first"


def test_capturing_session_records_outbound(rec):
    def app(environ, start_response):
        start_response("201 Created", [("Content-Type", "application/json")])
        return [b'{"ok": true}']

    with serve_wsgi(app, "j") as server:
        session = capture.capturing_session("harness:client")
        session.put(server.url + "/x", data=b"payload", timeout=5)
    ex = rec.exchanges(actor="harness:client")[-1]
    assert ex.direction == "outbound" and ex.status == "201"
    assert ex.request_body.read() == b"payload" and ex.response_body.read() == b'{"ok": true}'


def test_middleware_does_not_wait_for_a_body_that_was_not_announced(rec):
    """A GET has no Content-Length: the middleware must not read the socket for a body."""
    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]

    with serve_wsgi(capture.CaptureMiddleware(app, actor="get"), "g") as server:
        assert requests.get(server.url + "/x", timeout=5).content == b"ok"
        chunked = requests.post(server.url + "/c", data=iter([b"ab", b"cd"]), timeout=5)
        assert chunked.content == b"ok"
    bodies = [e.request_body.read() for e in wait_for(lambda: len(rec.exchanges(actor="get")) >= 2
                                                      and rec.exchanges(actor="get"))]
    assert bodies == [b"", b"abcd"]
