"""The viewer's same-origin DICOMweb path: the browser's image requests go through RAD-107 unchanged in substance.

``GET /viewer/dicomweb/<KOS UID>/studies/...`` is handed, in process, to the Source's own WADO-RS
application (:class:`simulators.source.rad107.Rad107App`) with the session's PSC access token as
``Authorization: Bearer`` and the KOS UID as ``KOS-SOPInstanceUID`` (ANS DRIM-M_DATA Simulateur client
wadoRS), the browser's ``Accept`` kept: every RAD-107 check applies (token introspected at PSC, KOS of the
study, masking, only what the KOS references, 404 otherwise, Accept negotiation, PS3.18 §10.4). The raw
path is passed as received, so dot segments and encoded separators are refused there too. The token is
bound to the Source's ORG AUTH CLI certificate (RFC 8705 §3), the one the Source presented at PSC's token
endpoint: the in-process request carries that certificate as the connection's, as the holder of its key.
The token never reaches the browser; the Cookie never reaches RAD-107.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

KOS_HEADER_ENV = "HTTP_KOS_SOPINSTANCEUID"  # KOS-SOPInstanceUID as a WSGI environ key (PEP 3333)
KEPT = ("HTTP_ACCEPT", "HTTP_HOST", "HTTP_ACCEPT_ENCODING")
METADATA_LIMIT = 256 * 1024 * 1024  # a metadata answer larger than this is not rewritten (nor a real one)


def wado_environ(environ: dict, raw_rest: str, wado_path: str, token: str, kos: str,
                 certificate_pem: str | None) -> dict:
    """The WSGI environ of the RAD-107 request behind a viewer request: same method, host and Accept,
    the path under the WADO-RS base, our bearer token and KOS UID, no cookie, our client certificate."""
    env = {k: v for k, v in environ.items() if not k.startswith("HTTP_") and k not in (
        "SSL_CLIENT_CERT", "werkzeug.socket", "RAW_URI", "REQUEST_URI")}
    env.update({k: environ[k] for k in KEPT if k in environ})
    path = wado_path.rstrip("/") + raw_rest
    env.update({"PATH_INFO": path, "SCRIPT_NAME": "", "RAW_URI": path, "REQUEST_URI": path, "QUERY_STRING": "",
                "HTTP_AUTHORIZATION": f"Bearer {token}", KOS_HEADER_ENV: kos, "CONTENT_LENGTH": "0"})
    if certificate_pem:
        env["SSL_CLIENT_CERT"] = certificate_pem
    return env


def call(app: Callable, environ: dict) -> tuple[str, list[tuple[str, str]], Iterable[bytes]]:
    """Run a WSGI app in process: (status line, headers, body iterable)."""
    got: dict[str, object] = {}

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: object = None) -> Callable:
        got["status"], got["headers"] = status, headers
        return lambda data: None

    body = app(environ, start_response)
    return str(got["status"]), list(got["headers"]), body  # type: ignore[arg-type]


def rebased_metadata(body: Iterable[bytes], old: str, new: str) -> bytes:
    """A metadata answer (PS3.18 F.2) with its BulkDataURIs under ``old`` moved under ``new``: the
    viewer's path, the only one the browser can use."""
    data = b"".join(_bounded(body, METADATA_LIMIT))
    return data.replace(_json_string_prefix(old), _json_string_prefix(new))


def _json_string_prefix(url: str) -> bytes:
    return ('"' + url.rstrip("/") + "/").encode()


def _bounded(body: Iterable[bytes], limit: int) -> Iterator[bytes]:
    size = 0
    try:
        for chunk in body:
            size += len(chunk)
            if size > limit:
                raise ValueError(f"metadata answer larger than {limit} bytes")
            yield chunk
    finally:
        close = getattr(body, "close", None)
        if close is not None:
            close()
