"""simulators.source.mllp: a real MLLP client (python-hl7's MLLPClient) and scripted bad peers."""

from __future__ import annotations

import socket

import hl7.client
import pytest

from harness import capture
from harness.hl7 import build_ack, frame, parse_ack
from simulators.ris import messages as M
from simulators.ris import send
from simulators.source.mllp import MllpListener


@pytest.fixture
def listener():
    seen: list[bytes] = []

    def handler(raw: bytes) -> bytes:
        seen.append(raw)
        if b"BOOM" in raw:
            raise RuntimeError("handler crashed")
        return build_ack(raw, "AA")

    lst = MllpListener(handler)
    lst.seen = seen
    yield lst
    lst.stop()


def test_python_hl7_client_gets_an_aa(listener):
    message = M.oru(M.exam("unit-mllp"))
    client = hl7.client.MLLPClient(listener.host, listener.port)
    try:
        answer = client.send_message(message)
    finally:
        client.close()
    raw = answer.encode() if isinstance(answer, str) else answer
    ack = parse_ack(raw.strip(b"\x0b\x1c\r"))
    assert ack.code == "AA" and listener.seen == [message]


def test_two_messages_on_one_connection(listener):
    with socket.create_connection((listener.host, listener.port), timeout=10) as sock:
        head = b"MSH|^~\\&|A|B|C|D|1||ORU^R01|"
        sock.sendall(frame(head + b"1|P|2.5\r") + frame(head + b"2|P|2.5\r"))
        data = b""
        while data.count(b"\x1c\r") < 2:
            data += sock.recv(4096)
    assert [parse_ack(b.strip(b"\x0b")).control_id for b in data.split(b"\x1c\r")[:2]] == ["1", "2"]


def test_garbage_gets_an_ar_and_the_listener_keeps_serving(listener):
    with socket.create_connection((listener.host, listener.port), timeout=10) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\n\r\n")
        data = sock.recv(4096)
    assert parse_ack(data.strip(b"\x0b\x1c\r")).code == "AR"
    _raw, ack = send(listener.address, b"MSH|^~\\&|A|B|C|D|1||ORU^R01|3|P|2.5\r")
    assert ack.code == "AA"


def test_a_crashing_handler_still_answers_ae(listener):
    _raw, ack = send(listener.address, b"MSH|^~\\&|A|B|C|D|1||ORU^R01|BOOM|P|2.5\r")
    assert (ack.code, ack.control_id) == ("AE", "BOOM")


def test_exchanges_are_captured_raw(listener):
    message = b"MSH|^~\\&|A|B|C|D|1||ORU^R01|CAP1|P|2.5\r"
    send(listener.address, message)
    mine = [e for e in capture.recorder().exchanges(protocol="hl7") if e.request_body.read() == message]
    assert {e.actor for e in mine} >= {"harness:ris"}
