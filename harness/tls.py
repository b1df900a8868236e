"""TLS for every HTTP interface (control point C17 of the DRIMbox label: every flow is encrypted,
except ACME HTTP-01, CRL/CA downloads and OCSP).

Server side: :func:`server_context` builds the context a server is given (TLS 1.2 at least, RFC 9325
§4.1; no TLS compression, §3.3; client certificates checked against a CA when mutual TLS is asked,
as DRIMboxes authenticate each other with IGC-Santé certificates). :func:`peer_certificate` gives an
application the verified client certificate of its request.

Client side: :func:`trust` is the CA bundle the project's HTTP clients verify servers with: the
system's CAs plus the CAs configured here (the test PKI of a campaign, a vendor's own CA). It is a
file, as ``requests`` wants one, written once per set of CAs.
"""

from __future__ import annotations

import hashlib
import os
import ssl
import tempfile
import threading
from pathlib import Path
from typing import Any

from cryptography import x509

CLIENT_AUTH = {"none": ssl.CERT_NONE, "optional": ssl.CERT_OPTIONAL, "required": ssl.CERT_REQUIRED}


def server_context(cert: str | Path, key: str | Path, client_ca: str | Path | None = None,
                   client_auth: str = "none") -> ssl.SSLContext:
    """A TLS server context: ``cert`` holds the leaf then its intermediates (the chain sent to clients);
    with ``client_ca``, client certificates are asked (``optional``) or demanded (``required``)."""
    if client_auth not in CLIENT_AUTH:
        raise ValueError(f"client_auth must be one of {', '.join(CLIENT_AUTH)}, not {client_auth!r}")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.options |= ssl.OP_NO_COMPRESSION | ssl.OP_CIPHER_SERVER_PREFERENCE | ssl.OP_NO_RENEGOTIATION
    context.set_ciphers("ECDHE+AESGCM:ECDHE+CHACHA20:DHE+AESGCM:!aNULL:!eNULL:!MD5:!SHA1:!RC4:!3DES")
    context.load_cert_chain(str(cert), str(key))
    if client_ca and client_auth != "none":
        context.load_verify_locations(str(client_ca))
        context.verify_mode = CLIENT_AUTH[client_auth]
    return context


def peer_certificate(environ: dict[str, Any]) -> x509.Certificate | None:
    """The client certificate the TLS layer verified for this request, or None (no TLS, none sent).

    cheroot puts it in ``SSL_CLIENT_CERT`` (PEM, as mod_ssl does); werkzeug's development server
    exposes the socket instead."""
    pem = environ.get("SSL_CLIENT_CERT")
    if pem:
        return x509.load_pem_x509_certificate(pem.encode("ascii") if isinstance(pem, str) else pem)
    getpeercert = getattr(environ.get("werkzeug.socket"), "getpeercert", None)
    if getpeercert is None:
        return None
    try:
        der = getpeercert(binary_form=True)
    except (ValueError, OSError):
        return None
    return x509.load_der_x509_certificate(der) if der else None


_lock = threading.Lock()
_extra: list[Path] = []
_bundle: dict[tuple[str, ...], str] = {}


def add_trusted(*cas: str | Path) -> None:
    """Trust these CA files (PEM) in this process's HTTP clients, beside the system's CAs."""
    with _lock:
        for ca in cas:
            path = Path(ca).resolve()
            if path not in _extra:
                _extra.append(path)


def trust() -> str | bool:
    """What ``requests`` takes as ``verify``: True (system CAs) or a bundle with the added CAs."""
    with _lock:
        if not _extra:
            return True
        key = tuple(str(p) for p in _extra)
        cached = _bundle.get(key)
        if cached and os.path.exists(cached):
            return cached
        import certifi

        parts = [Path(certifi.where()).read_bytes()] + [p.read_bytes() for p in _extra]
        data = b"\n".join(parts)
        folder = Path(tempfile.gettempdir()) / "drimcheck-trust"
        folder.mkdir(exist_ok=True)
        path = folder / (hashlib.sha256(data).hexdigest()[:16] + ".pem")
        if not path.exists():
            tmp = path.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_bytes(data)
            os.replace(tmp, path)
        _bundle[key] = str(path)
        return str(path)


def client_context(ca: str | Path | None = None, cert: str | Path | None = None,
                   key: str | Path | None = None) -> ssl.SSLContext:
    """A client context for raw connections (http.client, DICOM): verifies the server against
    ``ca`` (else :func:`trust`), presents ``cert``/``key`` for mutual TLS."""
    verify = str(ca) if ca else trust()
    context = ssl.create_default_context(cafile=verify if isinstance(verify, str) else None)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if cert and key:
        context.load_cert_chain(str(cert), str(key))
    return context
