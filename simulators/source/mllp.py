"""MLLP listener (HL7 v2 over TCP, IHE ITI TF-2x Appendix C): one thread per connection, thin adapter
over the sans-IO codec of :mod:`harness.hl7`. Each message is captured raw before it is parsed."""

from __future__ import annotations

import logging
import socket
import socketserver
import threading
import time
from collections.abc import Callable

from harness.capture import record
from harness.hl7 import MllpDecoder, MllpError, build_ack, frame

log = logging.getLogger(__name__)
Handler = Callable[[bytes], bytes]  # raw HL7 message -> raw ACK


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


class MllpListener:
    """Serve ``handler`` on ``host:port`` (0 = free port) until ``stop()``."""

    def __init__(self, handler: Handler, host: str = "127.0.0.1", port: int = 0, actor: str = "source-drimbox",
                 idle_timeout: float = 300.0) -> None:
        outer = self

        class _Conn(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                outer._serve(self.request, f"{self.client_address[0]}:{self.client_address[1]}")

        self.handler, self.actor, self.idle_timeout = handler, actor, idle_timeout
        self._server = _Server((host, port), _Conn)
        self.host, self.port = self._server.server_address[0], self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, name="source-mllp", daemon=True)
        self._thread.start()

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def _serve(self, sock: socket.socket, peer: str) -> None:
        sock.settimeout(self.idle_timeout)
        decoder = MllpDecoder()
        while True:
            try:
                data = sock.recv(65536)
            except OSError:
                return
            if not data:
                return
            try:
                messages = decoder.feed(data)
            except MllpError as exc:  # not MLLP: say so once, then drop the connection
                nak = build_ack(b"", "AR", str(exc), "100")
                record("hl7", self.actor, "inbound", "MLLP framing error", peer=peer, request_body=data[:4096],
                       response_body=nak, status="AR", error=str(exc))
                self._send(sock, frame(nak))
                return
            for message in messages:
                t0 = time.perf_counter()
                try:
                    ack = self.handler(message)
                except Exception as exc:  # never leave the RIS without an answer
                    log.exception("HL7 handler failed")
                    ack = build_ack(message, "AE", f"internal error: {type(exc).__name__}", "207")
                record("hl7", self.actor, "inbound", _summary(message), peer=peer, request_body=message,
                       response_body=ack, status=_msa1(ack), elapsed=time.perf_counter() - t0)
                if not self._send(sock, frame(ack)):
                    return

    @staticmethod
    def _send(sock: socket.socket, data: bytes) -> bool:
        try:
            sock.sendall(data)
            return True
        except OSError:
            return False

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)


def _summary(message: bytes) -> str:
    first = message.split(b"\r", 1)[0].decode("latin-1", "replace")
    fields = first.split("|")
    return fields[8] if len(fields) > 8 and first.startswith("MSH") else "HL7 (no MSH)"


def _msa1(ack: bytes) -> str:
    for seg in ack.split(b"\r"):
        if seg.startswith(b"MSA|"):
            return seg.split(b"|")[1].decode("latin-1")
    return ""
