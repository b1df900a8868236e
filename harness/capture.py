"""Traffic capture: every message that crosses a simulator or a harness client is evidence.

Simulators and clients call :func:`record` (or use :class:`CaptureMiddleware` /
:func:`capturing_session`) for each exchange; the pytest plugin links each record to the test
that was running and writes it under the campaign's evidence folder. Raw bytes are captured
before anything parses them, so a message that fails to parse is still evidence
(pynetdicom records EVT_DATA_RECV before EVT_PDU_RECV for the same reason).

Bodies up to :data:`INLINE_LIMIT` stay inline; larger ones spill to ``bodies/<sha256>.bin``
while they stream, so a 1 GB WADO-RS response is hashed and stored, never held in memory.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

INLINE_LIMIT = 1024 * 1024
_MEMORY_KEEP = 2000  # exchanges kept in memory when no campaign folder is active

_lock = threading.RLock()
_current_test: str | None = None


def set_current_test(test_id: str | None) -> None:
    """Called by the pytest plugin around each test; simulator threads read it at record time."""
    global _current_test
    with _lock:
        _current_test = test_id


def current_test() -> str | None:
    return _current_test


_cited: list[str] = []  # ids of earlier exchanges the running test relied on


def cite(exchange: Exchange) -> None:
    """Link an exchange captured earlier (in another test, or in a fixture) to the running test, whose
    verdict rests on it: the report shows it with the test (e.g. the publication a KOS check reads)."""
    with _lock:
        if exchange.id not in _cited:
            _cited.append(exchange.id)


def take_cited() -> list[str]:
    with _lock:
        items = list(_cited)
        _cited.clear()
    return items


class Body:
    """A message body: bytes in memory, or a spilled file with its hash and size.

    The SHA-256 of an in-memory body is computed when first asked for (the campaign's evidence
    files): a simulator serving without a campaign folder never needs it, and a KOS submission's
    body costs about 60 µs to hash."""

    def __init__(self, data: bytes = b"", path: Path | None = None, sha256: str | None = None,
                 size: int | None = None) -> None:
        self._data = data
        self.path = path
        self._sha256 = sha256
        self.size = len(data) if size is None else size

    @property
    def sha256(self) -> str:
        if self._sha256 is None:
            self._sha256 = hashlib.sha256(self._data).hexdigest()
        return self._sha256

    @property
    def spilled(self) -> bool:
        return self.path is not None

    def read(self, limit: int | None = None) -> bytes:
        if self.path is None:
            return self._data if limit is None else self._data[:limit]
        with open(self.path, "rb") as fh:
            return fh.read() if limit is None else fh.read(limit)

    def to_json(self, root: Path | None) -> dict[str, Any]:
        if self.path is not None:
            rel = os.path.relpath(self.path, root) if root else str(self.path)
            return {"file": rel, "sha256": self.sha256, "size": self.size}
        try:
            return {"text": self._data.decode("utf-8"), "sha256": self.sha256, "size": self.size}
        except UnicodeDecodeError:
            return {"base64": base64.b64encode(self._data).decode("ascii"), "sha256": self.sha256,
                    "size": self.size}


EMPTY = Body(b"")


class BodySpool:
    """Accumulates a body chunk by chunk; past INLINE_LIMIT it writes to the bodies folder."""

    def __init__(self, folder: Path | None = None, limit: int = INLINE_LIMIT) -> None:
        self._folder = folder
        self._limit = limit
        self._buf = io.BytesIO()
        self._file: Any = None
        self._tmp_path: Path | None = None
        self._hash: Any = None  # SHA-256 so far, once spilled (the file is named by it)
        self._size = 0

    def write(self, chunk: bytes) -> None:
        if not chunk:
            return
        self._size += len(chunk)
        if self._file is not None:
            self._hash.update(chunk)
            self._file.write(chunk)
            return
        self._buf.write(chunk)
        if self._size > self._limit:
            folder = self._folder or Path(tempfile.gettempdir()) / "drimcheck-bodies"
            folder.mkdir(parents=True, exist_ok=True)
            fd, name = tempfile.mkstemp(dir=folder, suffix=".part")
            self._tmp_path = Path(name)
            self._file = os.fdopen(fd, "wb")
            held = self._buf.getvalue()
            self._hash = hashlib.sha256(held)
            self._file.write(held)
            self._buf = io.BytesIO()

    def close(self) -> Body:
        if self._file is None:
            return Body(self._buf.getvalue())
        digest = self._hash.hexdigest()
        self._file.close()
        assert self._tmp_path is not None
        final = self._tmp_path.with_name(f"{digest}.bin")
        os.replace(self._tmp_path, final)
        return Body(path=final, sha256=digest, size=self._size)


@dataclass
class Exchange:
    """One request/response (or one-way message) seen on the wire."""

    protocol: str  # http | soap | dimse | hl7 | oidc
    actor: str  # who recorded it: "dmp-simulator", "harness:wado-client"...
    direction: str  # inbound (received by the recorder) | outbound (sent by the recorder)
    summary: str  # "POST /repository ITI-41", "C-STORE CT 1.2.3", "ORU^R01"
    peer: str = ""
    request_headers: list[tuple[str, str]] = field(default_factory=list)
    request_body: Body = EMPTY
    response_headers: list[tuple[str, str]] = field(default_factory=list)
    response_body: Body = EMPTY
    status: str | None = None
    started: float = field(default_factory=time.time)
    elapsed: float | None = None
    error: str | None = None
    test: str | None = None
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    # RFC 4514 subject of the client certificate the TLS layer verified for this request ("" = none, or not
    # known to the recorder): how a plan tells a mutual-TLS client (RFC 8705 §2.1) from traffic
    tls_client: str = ""

    def to_json(self, root: Path | None = None) -> dict[str, Any]:
        out = {
            "id": self.id, "test": self.test, "protocol": self.protocol, "actor": self.actor,
            "direction": self.direction, "summary": self.summary, "peer": self.peer,
            "status": self.status, "started": self.started, "elapsed": self.elapsed, "error": self.error,
            "request": {"headers": self.request_headers, "body": self.request_body.to_json(root)},
            "response": {"headers": self.response_headers, "body": self.response_body.to_json(root)},
        }
        if self.tls_client:  # only when known: earlier readers see the records they always saw
            out["tls_client"] = self.tls_client
        return out


class Recorder:
    """Keeps exchanges in memory and, when given a folder, appends them to exchanges.jsonl."""

    def __init__(self, folder: Path | None = None) -> None:
        self.folder = folder
        self._items: list[Exchange] = []
        self._listeners: list[Callable[[Exchange], None]] = []
        if folder is not None:
            (folder / "bodies").mkdir(parents=True, exist_ok=True)

    @property
    def bodies_folder(self) -> Path | None:
        return None if self.folder is None else self.folder / "bodies"

    def add(self, exchange: Exchange) -> None:
        with _lock:
            self._items.append(exchange)
            if self.folder is None and len(self._items) > _MEMORY_KEEP:
                del self._items[: len(self._items) - _MEMORY_KEEP]
            if self.folder is not None:
                with open(self.folder / "exchanges.jsonl", "a", encoding="utf-8") as fh:
                    fh.write(json.dumps(exchange.to_json(self.folder)) + "\n")
            listeners = list(self._listeners)
        for listener in listeners:
            listener(exchange)

    def exchanges(self, test: str | None = None, protocol: str | None = None,
                  actor: str | None = None) -> list[Exchange]:
        with _lock:
            items = list(self._items)
        return [e for e in items if (test is None or e.test == test)
                and (protocol is None or e.protocol == protocol) and (actor is None or e.actor == actor)]

    def wait_for(self, timeout: float = 10.0, **filters: str | None) -> list[Exchange]:
        """Exchanges matching ``filters``, waiting (bounded) for at least one.

        A simulator records an exchange once its response is fully sent, which can be a moment
        after the client has read it; tests that inspect what a simulator saw wait here.
        """
        deadline = time.monotonic() + timeout
        while True:
            found = self.exchanges(**filters)
            if found or time.monotonic() >= deadline:
                return found
            time.sleep(0.02)

    def subscribe(self, listener: Callable[[Exchange], None]) -> None:
        with _lock:
            self._listeners.append(listener)

    def unsubscribe(self, listener: Callable[[Exchange], None]) -> None:
        with _lock:
            if listener in self._listeners:
                self._listeners.remove(listener)


_recorder = Recorder()


def recorder() -> Recorder:
    return _recorder


def use_recorder(rec: Recorder) -> Recorder:
    """Install ``rec`` as the process-wide recorder; returns the previous one."""
    global _recorder
    with _lock:
        previous, _recorder = _recorder, rec
    return previous


def spool() -> BodySpool:
    return BodySpool(_recorder.bodies_folder)


def as_body(data: bytes | Body | None) -> Body:
    if data is None:
        return EMPTY
    if isinstance(data, Body):
        return data
    if len(data) <= INLINE_LIMIT:
        return Body(bytes(data))
    sp = spool()
    sp.write(bytes(data))
    return sp.close()


def record(protocol: str, actor: str, direction: str, summary: str, *, peer: str = "",
           request_headers: Iterable[tuple[str, str]] = (), request_body: bytes | Body | None = None,
           response_headers: Iterable[tuple[str, str]] = (), response_body: bytes | Body | None = None,
           status: object = None, started: float | None = None, elapsed: float | None = None,
           error: str | None = None, tls_client: str = "") -> Exchange:
    """Record one exchange, linked to the running test. Never raises on odd input.

    ``tls_client``: subject DN of the verified client certificate the request came with (mutual TLS)."""
    exchange = Exchange(
        protocol=protocol, actor=actor, direction=direction, summary=summary, peer=peer,
        request_headers=[(str(k), str(v)) for k, v in request_headers],
        request_body=as_body(request_body),
        response_headers=[(str(k), str(v)) for k, v in response_headers],
        response_body=as_body(response_body),
        status=None if status is None else str(status),
        started=time.time() if started is None else started, elapsed=elapsed, error=error,
        test=_current_test, tls_client=str(tls_client or ""),
    )
    _recorder.add(exchange)
    return exchange


class CaptureMiddleware:
    """WSGI middleware that records every request and response of a simulator.

    The request body is read once, spooled (memory up to 1 MB, then file) and handed on to the
    application; the response is teed chunk by chunk so streamed bodies are never held whole.
    """

    def __init__(self, app: Callable, actor: str, protocol: str = "http") -> None:
        self.app = app
        self.actor = actor
        self.protocol = protocol

    def __call__(self, environ: dict, start_response: Callable) -> Iterator[bytes]:
        started = time.time()
        t0 = time.perf_counter()
        req_spool = spool()
        length = environ.get("CONTENT_LENGTH") or ""
        stream = environ["wsgi.input"]
        remaining = int(length) if length.isdigit() else None
        if remaining is None and not environ.get("wsgi.input_terminated"):
            # no Content-Length and not chunked: the request has no body (RFC 9112 §6.3);
            # reading the raw socket here would wait forever
            remaining = 0
        chunks: list[bytes] = []  # held until INLINE_LIMIT is passed, for the application's spill file
        in_memory = 0
        spilled_file = None
        while remaining is None or remaining > 0:
            chunk = stream.read(65536 if remaining is None else min(65536, remaining))
            if not chunk:
                break
            if remaining is not None:
                remaining -= len(chunk)
            req_spool.write(chunk)
            if spilled_file is None:
                chunks.append(chunk)
                in_memory += len(chunk)
                if in_memory > INLINE_LIMIT:
                    spilled_file = tempfile.TemporaryFile()
                    for c in chunks:
                        spilled_file.write(c)
                    chunks = []
            else:
                spilled_file.write(chunk)
        request_body = req_spool.close()
        if spilled_file is not None:
            spilled_file.seek(0)
            environ["wsgi.input"] = spilled_file
        else:  # the captured bytes themselves (BytesIO shares them until written to)
            environ["wsgi.input"] = io.BytesIO(request_body.read())
        environ["CONTENT_LENGTH"] = str(request_body.size)
        request_headers = [(k[5:].replace("_", "-").title(), v) for k, v in environ.items()
                           if k.startswith("HTTP_")]
        if environ.get("CONTENT_TYPE"):
            request_headers.append(("Content-Type", environ["CONTENT_TYPE"]))
        path = environ.get("PATH_INFO", "")
        if environ.get("QUERY_STRING"):
            path += "?" + environ["QUERY_STRING"]
        summary = f"{environ.get('REQUEST_METHOD', '?')} {path}"
        peer = f"{environ.get('REMOTE_ADDR', '')}:{environ.get('REMOTE_PORT', '')}"
        tls_client = client_subject(environ)
        state: dict[str, Any] = {}

        def _start(status: str, headers: list, exc_info: Any = None) -> Callable:
            state["status"], state["headers"] = status, headers
            return start_response(status, headers, exc_info) if exc_info else start_response(status, headers)

        result = self.app(environ, _start)
        return self._tee(result, state, summary, peer, request_headers, request_body, started, t0, tls_client)

    def _tee(self, result: Iterable[bytes], state: dict, summary: str, peer: str, request_headers: list,
             request_body: Body, started: float, t0: float, tls_client: str = "") -> Iterator[bytes]:
        resp_spool = spool()
        error = None
        try:
            for chunk in result:
                resp_spool.write(chunk)
                yield chunk
        except GeneratorExit:
            error = "stream closed before its end (client gone or server aborted)"
            raise
        except BaseException as exc:  # recorded, then re-raised: the evidence shows the broken stream
            error = f"{type(exc).__name__}: {exc}"
            raise
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
            status = state.get("status", "")
            record(self.protocol, self.actor, "inbound", summary, peer=peer,
                   request_headers=request_headers, request_body=request_body,
                   response_headers=state.get("headers", []), response_body=resp_spool.close(),
                   status=status.split(" ", 1)[0] if status else None, started=started,
                   elapsed=time.perf_counter() - t0, error=error, tls_client=tls_client)


def client_subject(environ: dict) -> str:
    """RFC 4514 subject of the client certificate verified for a WSGI request over TLS, "" without one."""
    if environ.get("wsgi.url_scheme") != "https":
        return ""
    from harness.tls import peer_certificate

    try:
        cert = peer_certificate(environ)
    except ValueError:  # not a certificate: nothing verified to report
        return ""
    return "" if cert is None else cert.subject.rfc4514_string()


def capturing_session(actor: str, protocol: str = "http") -> Any:
    """A ``requests.Session`` whose non-streamed exchanges are recorded as outbound evidence.

    For ``stream=True`` requests only headers are known when the hook runs; the caller records
    the body it consumed with :func:`record` if it matters.
    """
    from harness.tls import session as trusting_session

    session = trusting_session()  # verifies with the system's CAs and the campaign's test PKI

    def _hook(response: Any, *args: Any, **kwargs: Any) -> Any:
        req = response.request
        body = req.body if isinstance(req.body, bytes) else (req.body or "").encode()
        streamed = not response._content_consumed and kwargs.get("stream")
        record(protocol, actor, "outbound", f"{req.method} {req.url}",
               peer=response.url, request_headers=list(req.headers.items()), request_body=body,
               response_headers=list(response.headers.items()),
               response_body=None if streamed else response.content, status=response.status_code,
               elapsed=response.elapsed.total_seconds())
        return response

    session.hooks["response"].append(_hook)
    return session
