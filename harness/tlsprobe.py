"""One TLS handshake and one HTTP request against a product's endpoint, as any peer on the network could
make it: what the security plans (control point C17 of the DRIMbox label) decide from.

A :class:`Probe` is the HTTP status the endpoint answered, or why there was none (handshake refused,
connection closed). :func:`client_context` builds the client side: verified against a CA, with a client
certificate (mutual TLS), or deliberately weak (only TLS 1.0/1.1, only suites without forward secrecy) to
see whether the endpoint refuses it (RFC 8996, RFC 9325 §4.1-4.2).
"""

from __future__ import annotations

import socket
import ssl
import warnings
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

# TLS 1.2 suites RFC 9325 §4.1-4.2 rules out: static RSA key exchange (no forward secrecy), 3DES, RC4, NULL
WEAK_SUITES = "AES128-SHA:AES256-SHA:DES-CBC3-SHA:RC4-SHA:NULL-SHA:AES128-SHA256:AES256-SHA256"


@dataclass(frozen=True)
class Probe:
    """What one handshake + request gave: the HTTP status, or why there was none."""

    status: int | None
    reason: str = ""

    @property
    def refused(self) -> bool:
        return self.status is None or self.status == 403

    def __str__(self) -> str:
        return f"HTTP {self.status}" if self.status is not None else f"no HTTP answer ({self.reason})"


def probe(url: str, context: ssl.SSLContext | None, path: str = "", method: str = "GET",
          accept: str = "*/*") -> Probe:
    """One ``method`` of ``path`` under ``url``; TLS with ``context`` (None: plain HTTP on the same port)."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or (443 if parts.scheme == "https" else 80)
    target = (parts.path.rstrip("/") + path) if path else (parts.path or "/")
    request = (f"{method} {target} HTTP/1.1\r\nHost: {host}:{port}\r\nAccept: {accept}\r\n"
               f"Content-Length: 0\r\nConnection: close\r\n\r\n").encode()
    try:
        with socket.create_connection((host, port), timeout=15) as raw:
            sock = context.wrap_socket(raw, server_hostname=host) if context is not None else raw
            with sock:
                sock.sendall(request)
                answer = b""
                while b"\r\n" not in answer:
                    chunk = sock.recv(4096)
                    if not chunk:
                        break
                    answer += chunk
    except (ssl.SSLError, OSError) as exc:
        return Probe(None, str(exc) or type(exc).__name__)
    line = answer.split(b"\r\n", 1)[0].decode("latin-1")
    fields = line.split(" ", 2)
    if len(fields) >= 2 and fields[0].startswith("HTTP/") and fields[1].isdigit():
        return Probe(int(fields[1]))
    return Probe(None, f"connection closed after {line[:60]!r}" if line else "connection closed")


def client_context(ca: str | Path | None, cert: tuple[Path, Path] | None = None, *, legacy: bool = False,
                   ciphers: str | None = None) -> ssl.SSLContext:
    """A client verifying the server against ``ca`` (None: the system's CAs), presenting ``cert``; with
    ``legacy`` it offers TLS 1.0 and 1.1 only, with ``ciphers`` only those TLS 1.2 suites."""
    context = ssl.create_default_context(cafile=str(ca) if ca else None)
    if legacy or ciphers:
        context.set_ciphers((ciphers or "DEFAULT") + ":@SECLEVEL=0")
    if legacy:
        with warnings.catch_warnings():  # the deprecated versions are offered on purpose
            warnings.simplefilter("ignore", DeprecationWarning)
            context.minimum_version = ssl.TLSVersion.TLSv1
            context.maximum_version = ssl.TLSVersion.TLSv1_1
    elif ciphers:
        context.maximum_version = ssl.TLSVersion.TLSv1_2  # TLS 1.3 suites cannot be weakened
    if cert is not None:
        context.load_cert_chain(str(cert[0]), str(cert[1]))
    return context
