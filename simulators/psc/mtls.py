"""HTTPS and mutual TLS for the PSC simulator (RFC 8705 §2.1 ``tls_client_auth``).

Calls to PSC go through mutual TLS from the "proxy e-santé" (ANS FAQ, RFC 8705). The simulator
serves HTTPS when given a certificate; with a client CA it asks for a client certificate
(``optional`` or ``required`` at the handshake), and a client configured with
``tls_client_subject`` may then authenticate by its certificate instead of a secret: the
subject DN of the verified peer certificate must equal the configured one (RFC 8705 §2.1.2).
A client registered for ``tls_client_auth`` only (``Client.tls_only``) that presents a secret anyway is
refused with 401 ``invalid_client`` (RFC 6749 §5.2), with or without its certificate.

Tokens issued to a client authenticated this way are bound to its certificate (RFC 8705 §3): the
``x5t#S256`` thumbprint of :func:`x5t_s256` goes into the ``cnf`` claim and the introspection answer.
"""

from __future__ import annotations

import base64
import hashlib
import ssl
from collections.abc import Callable
from typing import Any

from authlib.oauth2.rfc6749 import InvalidClientError
from authlib.oauth2.rfc6749.authenticate_client import (
    authenticate_client_secret_basic,
    authenticate_client_secret_post,
)
from authlib.oauth2.rfc6749.util import extract_basic_authorization
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from flask import request as flask_request

from harness import tls
from simulators.psc.config import TLS_CLIENT_AUTH

__all__ = ["TLS_CLIENT_AUTH", "authenticate_tls_client", "peer_subject", "peer_thumbprint", "same_dn",
           "secret_methods", "server_context", "x5t_s256"]


def server_context(cert: str, key: str, client_ca: str | None = None,
                   client_cert: str = "optional") -> ssl.SSLContext:
    """TLS server context; ``client_cert`` is ``none``, ``optional`` or ``required`` when ``client_ca`` is set."""
    return tls.server_context(cert, key, client_ca, client_cert)


def x5t_s256(cert: x509.Certificate) -> str:
    """RFC 8705 §3.1 ``x5t#S256``: base64url (no padding) of the SHA-256 of the certificate's DER."""
    digest = hashlib.sha256(cert.public_bytes(Encoding.DER)).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def peer_thumbprint(environ: dict[str, Any]) -> str | None:
    """``x5t#S256`` of the verified client certificate of this request, or None."""
    cert = tls.peer_certificate(environ)
    return None if cert is None else x5t_s256(cert)


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


def _refuse_secret(query_client: Any, client_id: str | None) -> None:
    """401 ``invalid_client`` (RFC 6749 §5.2) when ``client_id`` is registered for tls_client_auth only."""
    client = query_client(client_id) if client_id else None
    if client is not None and client.client.tls_only:
        raise InvalidClientError(
            status_code=401,  # error_description must stay ASCII (RFC 6749 section 5.2)
            description=f"client {client_id} is registered for tls_client_auth (RFC 8705 section 2.1): it "
                        "authenticates with its certificate only, a client secret is refused")


def _basic(query_client: Any, request: Any) -> Any:
    client_id, secret = extract_basic_authorization(request.headers)
    if client_id and secret:
        _refuse_secret(query_client, client_id)
    return authenticate_client_secret_basic(query_client, request)


def _post(query_client: Any, request: Any) -> Any:
    if request.form.get("client_secret"):
        _refuse_secret(query_client, request.form.get("client_id"))
    return authenticate_client_secret_post(query_client, request)


def secret_methods() -> dict[str, Callable[[Any, Any], Any]]:
    """authlib's ``client_secret_basic`` / ``client_secret_post``, refusing a tls_client_auth-only client's
    secret with 401 instead of trying its certificate next: a product still sending a secret is visibly refused."""
    return {"client_secret_basic": _basic, "client_secret_post": _post}


def client_credentials(args: Any, *, command: str, url: str, default_client: str, default_secret: str,
                       network_client: str) -> tuple[str, str, tuple[str, str] | None]:
    """(client_id, secret, (certificate, key) or None) a DRIMbox served by ``drimcheck serve`` authenticates
    with at PSC: the certificate of ``--psc-client-cert``/``--psc-client-key``, else in TLS mode (``args.tls``)
    for an https:// PSC ``url`` the network PKI's ``network_client`` certificate unless ``--psc-client
    ID:SECRET`` gives a secret; the secret only when no certificate is used (RFC 8705 §2.1: a client
    registered for tls_client_auth sends its client_id and no secret)."""
    given = getattr(args, "psc_client", None)
    client_id, colon, secret = (given or default_client).partition(":")
    client_id = client_id or default_client
    cert_file, key_file = getattr(args, "psc_client_cert", None), getattr(args, "psc_client_key", None)
    if bool(cert_file) != bool(key_file):
        raise SystemExit(f"{command}: --psc-client-cert and --psc-client-key go together")
    if cert_file and key_file:
        return client_id, "", (str(cert_file), str(key_file))
    network = getattr(args, "tls", None)
    if network is not None and str(url or "").lower().startswith("https://") and not colon:
        return client_id, "", network.client(network_client)
    return client_id, secret if colon else default_secret, None


def add_client_arguments(parser: Any, *, who: str, default_client: str, default_secret: str,
                         network_client: str) -> None:
    """``--psc-client``, ``--psc-client-cert`` and ``--psc-client-key`` of a DRIMbox served by ``drimcheck
    serve``, read back by :func:`client_credentials`."""
    from pathlib import Path

    parser.add_argument("--psc-client", default=None, metavar="CLIENT_ID[:SECRET]",
                        help=f"{who}'s client at Pro Santé Connect (default {default_client}); its SECRET is sent "
                             f"only without a client certificate (default secret: {default_secret})")
    parser.add_argument("--psc-client-cert", type=Path, default=None, metavar="PEM",
                        help=f"certificate (ORG AUTH CLI) {who} presents to PSC: mutual TLS, RFC 8705 "
                             "tls_client_auth, no secret (default in TLS mode for an https:// PSC: the network "
                             f"PKI's {network_client})")
    parser.add_argument("--psc-client-key", type=Path, default=None, metavar="PEM",
                        help="private key of --psc-client-cert")
