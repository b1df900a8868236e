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
from dataclasses import dataclass
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


def trusted_cas() -> tuple[str, ...]:
    """The CA files added by :func:`add_trusted`, for clients that keep their own trust store (a browser)."""
    with _lock:
        return tuple(str(p) for p in _extra)


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


@dataclass(frozen=True)
class NetworkTls:
    """The TLS material of the simulators of one network or campaign: the test PKI
    (:func:`harness.pki.network_pki`), one server certificate per actor, the client certificates
    DRIMboxes authenticate to each other with (IGC-Santé ORG AUTH CLI shape)."""

    pki: Any  # harness.pki.Pki

    @property
    def ca(self) -> Path:
        return Path(self.pki.ca_path)

    @property
    def crl(self) -> Path:
        return Path(self.pki.folder) / "crl.pem"

    def context(self, name: str, client_auth: str = "none") -> ssl.SSLContext:
        """The server context of actor ``name``; with client certificates asked, they must chain to the
        PKI and not be revoked (its CRL, RFC 5280 §6.3)."""
        context = server_context(self.pki.cert_path(name), self.pki.key_path(name), self.ca, client_auth)
        if client_auth != "none":
            self.pki.crl()  # re-signed when close to its next update
            context.load_verify_locations(str(self.crl))
            context.verify_flags |= ssl.VERIFY_CRL_CHECK_LEAF
        return context

    def files(self, name: str) -> dict[str, str]:
        """Certificate (leaf + chain) and PKCS#8 key files of ``name``, for servers that take files."""
        return {"cert": str(self.pki.cert_path(name)), "key": str(self.pki.key_path(name))}

    def client(self, name: str) -> tuple[str, str]:
        """(certificate, key) files of a client certificate, as ``requests`` takes them (``cert=``)."""
        return str(self.pki.cert_path(name)), str(self.pki.key_path(name))


def network_tls(folder: str | Path | None = None, hosts: tuple[str, ...] = ("127.0.0.1", "localhost")) -> NetworkTls:
    """The network's PKI (made on first use in ``folder``, default :func:`harness.pki.default_folder`),
    its CA trusted by this process's HTTP clients."""
    from harness.pki import default_folder, network_pki

    pki = network_pki(Path(folder) if folder else default_folder(), hosts)
    security_certificates(pki)  # in the CRL before any product loads it
    add_trusted(pki.ca_path)
    return NetworkTls(pki)


_client_contexts: dict[tuple, ssl.SSLContext] = {}
_shared: set[int] = set()  # id() of the contexts above, kept for the life of the process


def _file_state(path: str) -> tuple:
    """What identifies a file's content cheaply: path, inode, size, modification time (a CA bundle or a key
    rewritten through os.replace gets a new inode)."""
    st = os.stat(path)
    return path, st.st_ino, st.st_size, st.st_mtime_ns


def _requests_context(ca_certs: str, cert_file: str | None, key_file: str | None) -> ssl.SSLContext | None:
    """The client context urllib3 would build for one connection (its defaults: TLS 1.2 or later, server
    certificate and host name checked, RFC 9325 §3-4), with ``ca_certs`` and the client chain loaded, made
    once per content of those files and shared by every connection of the process. None when a file cannot
    be read or its key is encrypted: the caller then leaves the connection to urllib3, errors included."""
    from urllib3.util.ssl_ import _is_key_file_encrypted, create_urllib3_context

    try:
        key = (_file_state(ca_certs), *(_file_state(f) if f else None for f in (cert_file, key_file)))
        if key_file and _is_key_file_encrypted(key_file):
            return None
    except OSError:
        return None
    with _lock:
        context = _client_contexts.get(key)
    if context is not None:
        return context
    context = create_urllib3_context(cert_reqs=ssl.CERT_REQUIRED)
    try:
        context.load_verify_locations(ca_certs)
        if cert_file:
            context.load_cert_chain(cert_file, key_file)
    except (OSError, ssl.SSLError):
        return None
    with _lock:
        context = _client_contexts.setdefault(key, context)
        _shared.add(id(context))
    return context


def _adapter() -> Any:
    """A requests adapter whose HTTPS connections share :func:`_requests_context`.

    requests hands urllib3 the CA bundle as a file path, and urllib3 then builds a new SSLContext and parses
    the whole bundle (the system's CAs plus the test PKI's, ~18 ms) for every new connection; the handshake,
    the certificates checked and the host name check stay exactly as before, only the parsing is done once."""
    from requests.adapters import HTTPAdapter

    class _SharedContextAdapter(HTTPAdapter):
        def build_connection_pool_key_attributes(self, request: Any, verify: Any, cert: Any = None) -> Any:
            host, pool = super().build_connection_pool_key_attributes(request, verify, cert)
            if host.get("scheme") == "https" and pool.get("ca_certs") and "ssl_context" not in pool:
                context = _requests_context(pool["ca_certs"], pool.get("cert_file"), pool.get("key_file"))
                if context is not None:
                    for name in ("ca_certs", "cert_file", "key_file"):
                        pool.pop(name, None)
                    pool["ssl_context"] = context
            return host, pool

        def cert_verify(self, conn: Any, url: str, verify: Any, cert: Any) -> None:
            super().cert_verify(conn, url, verify, cert)  # its checks and errors (a missing bundle or key file)
            if id(getattr(conn, "conn_kw", {}).get("ssl_context")) in _shared:
                conn.ca_certs = conn.cert_file = conn.key_file = None  # already in the shared context

    return _SharedContextAdapter()


def session() -> Any:
    """A ``requests.Session`` verifying servers with :func:`trust`.

    requests lets ``REQUESTS_CA_BUNDLE`` / ``CURL_CA_BUNDLE`` replace a session's ``verify`` (its
    ``merge_environment_settings``); here the session's own trust wins, as a machine-wide bundle
    knows nothing of the campaign's test PKI."""
    import requests

    class _Session(requests.Session):
        def merge_environment_settings(self, url: Any, proxies: Any, stream: Any, verify: Any, cert: Any) -> Any:
            settings = super().merge_environment_settings(url, proxies, stream, verify, cert)
            if verify is None:
                settings["verify"] = self.verify
            return settings

    http = _Session()
    http.mount("https://", _adapter())
    http.verify = trust()
    return http


class ClientGate:
    """WSGI middleware of a DRIMbox's WADO-RS under mutual TLS: the TLS layer has verified the client
    certificate's chain, validity and revocation; here its subject must be a DRIMbox operator the
    whitelist names (``DNCertificatOperateur``, ANS DRIM-M_DATA Liste blanche TEST/Readme.md), else 403
    with the reason. ``allowed`` is a
    callable giving the DNs allowed now (the whitelist in force may change), None allows any
    certificate the TLS layer accepted."""

    def __init__(self, app: Any, allowed: Any = None, *, required: bool = True) -> None:
        self.app, self.allowed, self.required = app, allowed, required

    def __call__(self, environ: dict, start_response: Any) -> Any:
        cert = peer_certificate(environ)
        problem = None
        if cert is None:
            if self.required and environ.get("wsgi.url_scheme") == "https":
                problem = "no client certificate: a DRIMbox presents its ORG AUTH CLI certificate (mutual TLS)"
        elif self.allowed is not None:
            from harness.whitelist import same_dn

            subject = cert.subject
            if not any(same_dn(subject, dn) for dn in self.allowed()):
                problem = (f"client certificate {subject.rfc4514_string()} is not the operator certificate of "
                           f"any DRIMbox of the whitelist")
        if problem is None:
            return self.app(environ, start_response)
        body = (problem + "\n").encode()
        start_response("403 Forbidden", [("Content-Type", "text/plain; charset=utf-8"),
                                         ("Content-Length", str(len(body)))])
        return [body]


SECURITY_CERTIFICATES = ("consumer-client-expired", "consumer-client-revoked", "outsider-client")


def security_certificates(pki: Any) -> dict[str, tuple[Path, Path]]:
    """Client certificates a DRIMbox's WADO-RS must refuse, issued once in ``pki`` (before the products
    that load its CRL start): the Consumer's ORG AUTH CLI subject expired, the same subject revoked (in the
    CRL), and a valid certificate of a structure the whitelist does not name. Each as (certificate, key)."""
    import datetime as dt

    from harness.pki import structure_ou

    current = pki.current()
    good = pki.certificate("consumer-client").subject
    cn = good.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value
    ou = good.get_attributes_for_oid(x509.NameOID.ORGANIZATIONAL_UNIT_NAME)[0].value
    if "consumer-client-expired" not in current:
        now = dt.datetime.now(dt.UTC)
        pki.issue("consumer-client-expired", cn=cn, ou=ou, usage="client",
                  not_before=now - dt.timedelta(days=30), not_after=now - dt.timedelta(days=1))
    revoked = current.get("consumer-client-revoked")
    if revoked is None:
        pki.issue("consumer-client-revoked", cn=cn, ou=ou, usage="client")
    if revoked is None or not revoked.get("revoked_at"):
        pki.revoke("consumer-client-revoked")
    if "outsider-client" not in current:
        pki.issue("outsider-client", cn=cn, ou=structure_ou("99999999900028"), usage="client")
    return {name: (pki.cert_path(name), pki.key_path(name)) for name in SECURITY_CERTIFICATES}


def plan_peers_tls(sut: Any, reference_folder: str | Path) -> NetworkTls | None:
    """TLS of the peers a plan starts itself (the DMP, PSC, a recording Source): control point C17 wants
    every flow encrypted, the SUT's outgoing ones included, so they serve HTTPS from the campaign's test
    PKI: the profile's ``tls.pki``, else the default PKI that ``drimcheck serve`` uses (the product under
    test trusts its ``ca.pem``); the reference run in process gets a PKI of its own in ``reference_folder``.
    None when the profile sets ``tls.peers: http``, the explicit debugging exception."""
    from harness.pki import default_folder

    settings = getattr(sut, "tls", None) or {}
    if settings.get("peers") == "http":
        return None
    if getattr(sut, "reference", False):
        return network_tls(reference_folder)
    return network_tls(settings.get("pki") or default_folder())
