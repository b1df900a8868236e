"""The Consumer side of the plan: raw WADO-RS requests (http.client, so paths and repeated Accept lines
go out exactly as written), every exchange captured as evidence (actor ``harness:consumer``).

An ``https://`` WADO-RS base is reached with the TLS settings of the SUT profile (``tls.ca`` or
``tls.verify``, and ``tls.cert`` / ``tls.key`` as the Consumer's client certificate), see :func:`use_tls`.
"""

from __future__ import annotations

import http.client
import ssl
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from harness import capture

ACTOR = "harness:consumer"
ANY_DICOM = 'multipart/related; type="application/dicom"; transfer-syntax=*'
EXPLICIT = "1.2.840.10008.1.2.1"
JPEG_LS = "1.2.840.10008.1.2.4.80"


def dicom_accept(ts: str, q: str | None = None) -> str:
    return f'multipart/related; type="application/dicom"; transfer-syntax={ts}' + (f"; q={q}" if q else "")


_tls: ssl.SSLContext | None = None
_cert: tuple[str, str] | None = None  # the client certificate the requests present (mutual TLS)


def use_tls(verify: bool | str = True, cert: tuple[str, str] | None = None) -> None:
    """TLS of the requests to an ``https://`` SUT, from ``SutProfile.http_kwargs()``: the CA file to trust
    (or False: no verification, for a debugging session only) and the client certificate and key."""
    global _tls, _cert
    context = ssl.create_default_context(cafile=verify if isinstance(verify, str) else None)
    if verify is False:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if cert:
        context.load_cert_chain(*cert)
    _tls, _cert = context, (str(cert[0]), str(cert[1])) if cert else None


def client_certificate() -> Any:
    """The client certificate (cryptography x509) the requests present, or None."""
    if _cert is None:
        return None
    from cryptography import x509

    return x509.load_pem_x509_certificate(Path(_cert[0]).read_bytes())


def _connection(url) -> http.client.HTTPConnection:
    if url.scheme == "https":
        return http.client.HTTPSConnection(url.hostname, url.port or 443, timeout=60,
                                           context=_tls or ssl.create_default_context())
    return http.client.HTTPConnection(url.hostname, url.port or 80, timeout=60)


@dataclass
class Reply:
    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str:
        return next((v for k, v in self.headers if k.lower() == name.lower()), "")

    @property
    def content_type(self) -> str:
        return self.header("Content-Type")


def request(base: str, path: str, *, accept: list[str] | None = None, token: str | None = None,
            kos: str | None = None, method: str = "GET", extra: list[tuple[str, str]] = ()) -> Reply:
    """One request to ``base`` + ``path`` (path sent verbatim); ``accept`` lines each become a header."""
    url = urlsplit(base)
    headers: list[tuple[str, str]] = []
    for line in accept if accept is not None else [ANY_DICOM]:
        headers.append(("Accept", line))
    if token is not None:
        headers.append(("Authorization", f"Bearer {token}"))
    if kos is not None:
        headers.append(("KOS-SOPInstanceUID", kos))
    headers.extend(extra)
    conn = _connection(url)
    started, t0 = time.time(), time.perf_counter()
    try:
        conn.putrequest(method, url.path.rstrip("/") + path, skip_accept_encoding=True)
        for k, v in headers:
            conn.putheader(k, v)
        conn.endheaders()
        resp = conn.getresponse()
        body = resp.read()
        reply = Reply(resp.status, list(resp.getheaders()), body)
    finally:
        conn.close()
    capture.record("http", ACTOR, "outbound", f"{method} {url.path.rstrip('/') + path}", peer=base,
                   request_headers=headers, response_headers=reply.headers, response_body=reply.body,
                   status=reply.status, started=started, elapsed=time.perf_counter() - t0)
    return reply
