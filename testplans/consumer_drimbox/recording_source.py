"""A recording WADO-RS server that plays the Source DRIMbox for the consumer_drimbox plan.

It serves the fixture studies (IHE RAD-107 / DICOM PS3.18 §10.4, study and series levels) as
``multipart/related; type="application/dicom"`` and records every request's headers, so tests
assert on what the Consumer sent (STYLE.md §10). It never refuses a request for a missing header, nor
one at another root than ``base_path`` (whatever comes before ``/studies/``): checking headers and URLs
against the KOS is the tests' job, and a refusal would hide which rule was broken. On demand, per
series, it misbehaves once or always: an HTTP status (401, 404, 406, 410, 500...), a missing or an
extra instance, or a malformed multipart (truncated, wrong boundary, part longer than announced).
"""

from __future__ import annotations

import io
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pydicom

from harness.dicomweb.accept import AcceptError, dicom_offers, negotiate, parse_accept
from harness.dicomweb.multipart import iter_multipart, new_boundary
from harness.dicomweb.paths import parse_wado_path
from harness.tls import peer_certificate
from simulators.consumer.wsgi import captured

EXPLICIT = "1.2.840.10008.1.2.1"
STATUS_ACTIONS = {"401": 401, "403": 403, "404": 404, "406": 406, "410": 410, "500": 500, "503": 503}
BODY_ACTIONS = ("missing", "extra", "truncate", "wrong-boundary", "bad-length")


@dataclass
class SeenRequest:
    method: str
    path: str
    headers: list[tuple[str, str]]
    status: int = 0
    action: str = ""
    scheme: str = "http"  # https when the request came over TLS
    client_subject: str | None = None  # RFC 4514 subject of the client certificate the TLS layer verified

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k.lower() == name.lower()), None)

    def header_lines(self, name: str) -> list[str]:
        return [v for k, v in self.headers if k.lower() == name.lower()]


@dataclass
class _Series:
    study_uid: str
    files: list[bytes] = field(default_factory=list)


class RecordingSource:
    """WSGI app; ``base_path`` is the WADO-RS root the KOS names (``/wado-rs``); others are served too."""

    def __init__(self, base_path: str = "/wado-rs") -> None:
        self.base_path = base_path
        self.series: dict[str, _Series] = {}
        self.requests: list[SeenRequest] = []
        self._once: dict[str, list[str]] = {}
        self._always: dict[str, str] = {}
        self._lock = threading.Lock()
        self.wsgi = captured(self._app, "recording-source")

    # -- configuration ---------------------------------------------------------------------
    def add_files(self, paths: list[Path]) -> None:
        for path in paths:
            data = Path(path).read_bytes()
            ds = pydicom.dcmread(io.BytesIO(data), stop_before_pixels=True)
            entry = self.series.setdefault(str(ds.SeriesInstanceUID), _Series(str(ds.StudyInstanceUID)))
            entry.files.append(data)

    def reject(self, sop_uid: str) -> None:
        """Stop serving one instance, as a Source does once an IOCM rejection note named it."""
        with self._lock:
            for entry in self.series.values():
                entry.files = [f for f in entry.files if _sop_of(f) != sop_uid]

    def misbehave(self, series_uid: str, *once: str, always: str | None = None) -> None:
        """Answer the next requests for ``series_uid`` with ``once`` actions in turn, then ``always``."""
        for action in [*once, *([always] if always else [])]:
            if action not in STATUS_ACTIONS and action not in BODY_ACTIONS:
                raise ValueError(f"unknown action {action!r}")
        with self._lock:
            self._once[series_uid] = list(once)
            if always:
                self._always[series_uid] = always
            else:
                self._always.pop(series_uid, None)

    def seen(self, series_uid: str | None = None) -> list[SeenRequest]:
        with self._lock:
            items = list(self.requests)
        return [r for r in items if series_uid is None or f"/series/{series_uid}" in r.path]

    def _action(self, series_uids: list[str]) -> str:
        with self._lock:
            for uid in series_uids:
                if self._once.get(uid):
                    return self._once[uid].pop(0)
            return next((self._always[u] for u in series_uids if u in self._always), "")

    # -- serving ---------------------------------------------------------------------------
    def _app(self, environ: dict, start_response: Any) -> Iterator[bytes]:
        path = environ.get("PATH_INFO", "")
        headers = [(k[5:].replace("_", "-").title(), v) for k, v in environ.items() if k.startswith("HTTP_")]
        cert = peer_certificate(environ)
        seen = SeenRequest(environ.get("REQUEST_METHOD", ""), path, headers,
                           scheme=environ.get("wsgi.url_scheme", "http"),
                           client_subject=cert.subject.rfc4514_string() if cert is not None else None)
        with self._lock:
            self.requests.append(seen)
        status, resp_headers, body = self._answer(environ, path, seen)
        seen.status = status
        start_response(f"{status} {'OK' if status == 200 else 'ERR'}", resp_headers)
        return body

    def _answer(self, environ: dict, path: str, seen: SeenRequest) -> tuple[int, list, Any]:
        root = path.find("/studies/")
        if root < 0:
            return _text(404, "not a WADO-RS path")
        try:
            wado = parse_wado_path(path[root:])
        except ValueError as exc:
            return _text(400, str(exc))
        uids = [u for u, s in self.series.items() if s.study_uid == wado.study
                and (wado.series is None or u == wado.series)]
        if not uids or wado.instance or wado.frames or wado.metadata:
            return _text(404, "no such study or series here")
        seen.action = action = self._action(uids)
        if action in STATUS_ACTIONS:
            return _text(STATUS_ACTIONS[action], f"answer {action} on demand")
        try:
            ranges = parse_accept(environ.get("HTTP_ACCEPT", ""))
        except AcceptError as exc:
            return _text(400, str(exc))
        offer = negotiate(ranges, dicom_offers([EXPLICIT])) if ranges else dicom_offers([EXPLICIT])[0]
        if offer is None:
            return _text(406, "only Explicit VR Little Endian is available here")
        files = [f for u in uids for f in self.series[u].files]
        return _multipart(files, offer, action)


def _sop_of(data: bytes) -> str:
    return str(pydicom.dcmread(io.BytesIO(data), stop_before_pixels=True).SOPInstanceUID)


def _text(status: int, message: str) -> tuple[int, list, list[bytes]]:
    return status, [("Content-Type", "text/plain; charset=utf-8")], [message.encode()]


def _extra_instance(data: bytes) -> bytes:
    ds = pydicom.dcmread(io.BytesIO(data))
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = f"2.25.{uuid.uuid4().int}"
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def _multipart(files: list[bytes], offer: Any, action: str) -> tuple[int, list, Any]:
    boundary = new_boundary()
    if action == "missing":
        files = files[:-1]
    elif action == "extra":
        files = [*files, _extra_instance(files[0])]
    parts = []
    for i, data in enumerate(files):
        headers = [("Content-Type", f"application/dicom; transfer-syntax={offer.transfer_syntax}")]
        if action == "bad-length" and i == len(files) - 1:
            headers.append(("Content-Length", str(len(data) - 100)))
        parts.append((headers, data))
    body = b"".join(iter_multipart(parts, boundary))
    if action == "truncate":
        body = body[: len(body) - len(files[-1]) // 2]
    announced = "other-" + boundary if action == "wrong-boundary" else boundary
    return 200, [("Content-Type", offer.content_type(announced))], [body]
