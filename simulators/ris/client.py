"""MLLP client of the RIS simulator (IHE ITI TF-2x Appendix C): send one message, wait for its ACK.

Every exchange is captured (actor ``harness:ris``), the raw bytes both ways, even when the answer
never comes or does not parse.
"""

from __future__ import annotations

import socket
import time

from harness.capture import record
from harness.hl7 import Ack, MllpDecoder, MllpError, frame, parse_ack

ACTOR = "harness:ris"


class MllpClientError(RuntimeError):
    """No acknowledgement: connection refused, closed, timed out, or not MLLP."""


def _split(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host or "127.0.0.1", int(port)


def send(address: str, message: bytes, timeout: float = 30.0, *, raw: bool = False) -> tuple[bytes, Ack | None]:
    """Send ``message`` (framed unless ``raw``) to ``host:port``; return the ACK bytes and its parse."""
    host, port = _split(address)
    started, t0 = time.time(), time.perf_counter()
    answer = b""
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.sendall(message if raw else frame(message))
            decoder = MllpDecoder()
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    raise MllpClientError("connection closed before an acknowledgement")
                got = decoder.feed(chunk)
                if got:
                    answer = got[0]
                    break
    except (OSError, MllpError, MllpClientError) as exc:
        record("hl7", ACTOR, "outbound", _summary(message), peer=address, request_body=message,
               response_body=answer, started=started, elapsed=time.perf_counter() - t0, error=str(exc))
        raise MllpClientError(f"{address}: {exc}") from None
    try:
        ack: Ack | None = parse_ack(answer)
    except ValueError:
        ack = None
    record("hl7", ACTOR, "outbound", _summary(message), peer=address, request_body=message, response_body=answer,
           status=ack.code if ack else "unparseable", started=started, elapsed=time.perf_counter() - t0)
    return answer, ack


def _summary(message: bytes) -> str:
    first = message.lstrip(b"\x0b").split(b"\r", 1)[0].decode("latin-1", "replace").split("|")
    return first[8] if len(first) > 8 and first[0] == "MSH" else "HL7 (no MSH)"
