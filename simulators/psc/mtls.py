"""HTTPS and mutual TLS for the PSC simulator (RFC 8705 §2.1 ``tls_client_auth``).

Calls to PSC go through mutual TLS from the "proxy e-santé" (ANS FAQ, RFC 8705). The simulator
serves HTTPS when given a certificate; with a client CA it asks for a client certificate
(``optional`` or ``required`` at the handshake), and a client configured with
``tls_client_subject`` may then authenticate by its certificate instead of a secret: the
subject DN of the verified peer certificate must equal the configured one (RFC 8705 §2.1.2).
"""

from __future__ import annotations

import ssl
from typing import Any

from flask import request as flask_request

from harness import tls

TLS_CLIENT_AUTH = "tls_client_auth"


def server_context(cert: str, key: str, client_ca: str | None = None,
                   client_cert: str = "optional") -> ssl.SSLContext:
    """TLS server context; ``client_cert`` is ``none``, ``optional`` or ``required`` when ``client_ca`` is set."""
    return tls.server_context(cert, key, client_ca, client_cert)


def peer_subject(environ: dict[str, Any]) -> str | None:
    """RFC 4514 subject of the verified client certificate of this request, or None."""
    cert = tls.peer_certificate(environ)
    return None if cert is None else cert.subject.rfc4514_string()


def same_dn(a: str, b: str) -> bool:
    """Compare two RFC 4514 DNs, ignoring spaces around separators and attribute-name case."""
    def norm(dn: str) -> list[str]:
        parts = [p.strip() for p in dn.split(",")]
        return sorted(f"{k.strip().upper()}={v.strip()}" for k, _, v in (p.partition("=") for p in parts))
    return norm(a) == norm(b)


def authenticate_tls_client(query_client: Any, request: Any) -> Any:
    """authlib client auth method: ``client_id`` in the form + a certificate with the registered subject."""
    client_id = request.payload.client_id if hasattr(request, "payload") else None
    if not client_id:
        return None
    client = query_client(client_id)
    if client is None or not client.client.tls_client_subject:
        return None
    subject = peer_subject(flask_request.environ)
    if subject is not None and same_dn(subject, client.client.tls_client_subject):
        return client
    return None
