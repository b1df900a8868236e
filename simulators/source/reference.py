"""Wire the reference Source DRIMbox: SQLite store, outbox, MLLP listener, WADO-RS server."""

from __future__ import annotations

import io
import re
import socket
import threading
from pathlib import Path

from werkzeug.serving import WSGIRequestHandler, make_server

from harness.dicom import Peer, find, query
from harness.httpd import send_buffers
from harness.servers import RunningServer, check_port_free
from simulators.source.auth import Introspector
from simulators.source.config import SourceConfig
from simulators.source.faults import FAULTS
from simulators.source.kos import ImageRef
from simulators.source.mllp import MllpListener
from simulators.source.publish import Outbox, publish_behaviour_for, vihf_security
from simulators.source.rad107 import PacsWeb, Rad107App
from simulators.source.report import ReportProcessor, image_refs
from simulators.source.store import SourceStore

IMAGE_KEYS = dict(StudyInstanceUID="", SeriesInstanceUID="", SOPInstanceUID="", SOPClassUID="", InstanceNumber="",
                  Modality="", PatientID="", AccessionNumber="", StudyDate="", StudyTime="")


class GatherWriter(io.RawIOBase):
    """The response side of a connection: small writes wait and leave with the next one, in one ``sendmsg``.

    werkzeug writes each chunk of a chunked response (RFC 9112 §7.1) as four writes (size line, CRLF,
    data, CRLF) and flushes after each; with TCP_NODELAY each write would be a segment and a system
    call of its own. Here a write smaller than ``small`` is held and leaves with the next write in a
    single gathered send (no copy). A write ending in CRLF CRLF (the header block, the last chunk)
    leaves at once with what is held. ``flush`` sends what is held, except inside a chunked response,
    where the last-chunk is sure to come and carry it: so a multipart part (its delimiter, headers and
    first bytes, then its body) costs one system call.
    """

    def __init__(self, sock: socket.socket, small: int = 64 * 1024) -> None:
        super().__init__()
        self._sock, self._small = sock, small
        self._held: list[bytes] = []
        self._size = 0
        self._chunked = False

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:  # type: ignore[override]
        n = len(data)
        if n < self._small and self._size + n < self._small and not data.endswith(b"\r\n\r\n"):
            self._held.append(bytes(data))
            self._size += n
            return n
        if data.endswith(b"\r\n\r\n") and data[:5] == b"HTTP/":  # a header block: how will the body end?
            self._chunked = _CHUNKED.search(data) is not None
        self._send([*self._held, data])
        return n

    def flush(self) -> None:
        if self._held and not self._chunked:
            self._send(self._held)

    def drain(self) -> None:
        """Send whatever is held (end of the exchange)."""
        if self._held:
            self._send(self._held)

    def _send(self, buffers: list) -> None:
        self._held, self._size = [], 0
        send_buffers(self._sock, buffers)


_CHUNKED = re.compile(rb"\r\nTransfer-Encoding:[ \t]*chunked[ \t]*\r\n", re.IGNORECASE)


class _NoDelayHandler(WSGIRequestHandler):
    """Small writes (headers, chunk-size lines) leave at once: Nagle + delayed ACK would hold each ~40 ms;
    they are gathered with the data they frame instead (:class:`GatherWriter`)."""

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.wfile = GatherWriter(self.connection)

    def finish(self) -> None:
        try:
            self.wfile.drain()
        except OSError:  # the consumer went away
            pass
        super().finish()


def serve_nodelay(app, name: str, port: int = 0, host: str = "127.0.0.1") -> RunningServer:
    """Like ``harness.servers.serve_wsgi``, with TCP_NODELAY on each connection (WADO-RS streams)."""
    if port:
        check_port_free(port, host)
    server = make_server(host, port, app, threaded=True, request_handler=_NoDelayHandler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name=f"wsgi-{name}", daemon=True)
    thread.start()
    return RunningServer(name, host, server.server_port, server, thread)


def pacs_finder(config: SourceConfig):
    """IMAGE-level C-FIND on the study (PoC flow, FACTS §4)."""
    peer = Peer(config.pacs_host, config.pacs_port, config.pacs_aet, config.calling_aet)

    def find_images(study_uid: str) -> list[ImageRef]:
        return image_refs(find(peer, query("IMAGE", **{**IMAGE_KEYS, "StudyInstanceUID": study_uid})))

    return find_images


class Reference:
    """A running Source: ``endpoints`` (wado_rs, mllp, base), ``store``, ``stop()``; a context manager."""

    def __init__(self, config: SourceConfig, host: str = "127.0.0.1", http_port: int = 0, mllp_port: int = 0) -> None:
        if config.fault is not None and config.fault not in FAULTS:
            raise KeyError(f"unknown Source fault {config.fault!r}; known: {', '.join(sorted(FAULTS))}")
        config.workdir.mkdir(parents=True, exist_ok=True)
        self.config = config
        self.store = SourceStore(config.workdir / "source.sqlite")
        publishing = publish_behaviour_for(config.fault)
        self.outbox = Outbox(self.store, initial=config.retry_initial, maximum=config.retry_max,
                             timeout=config.http_timeout, retry=publishing.retry, mtom=publishing.mtom)
        introspector = Introspector(config.psc_introspect, config.psc_client_id, config.psc_client_secret) \
            if config.psc_introspect else None
        if config.pacs_retrieve not in ("dicomweb", "cget"):
            raise ValueError(f"pacs_retrieve must be dicomweb or cget, not {config.pacs_retrieve!r}")
        dimse = None
        if config.pacs_retrieve == "cget":
            from simulators.source.cget import PacsDimse

            dimse = PacsDimse(config.pacs_host, config.pacs_port, config.pacs_aet, config.calling_aet)
        app = Rad107App(self.store, PacsWeb(config.pacs_dicomweb), introspector, config.wado_path, config.fault,
                        dimse)
        self.http: RunningServer | None = None
        self.mllp: MllpListener | None = None
        try:
            self.http = serve_nodelay(app, "source-wado-rs", port=http_port, host=host)
            config.public_base = config.public_base or self.http.url + config.wado_path
            self.processor = ReportProcessor(
                self.store, self.outbox, pacs_finder(config), lambda: config.public_base, config.dmp_registry,
                config.dmp_repository, config.institution, config.source_id, config.fault,
                vihf_security(config.vihf_key, config.vihf_cert, publishing.vihf_patient), config.signer())
            self.mllp = MllpListener(lambda raw: self._on_message(raw), host=host, port=mllp_port)
            self.outbox.start()
        except BaseException:
            self.stop()
            raise
        self.endpoints = {"wado_rs": config.public_base, "mllp": self.mllp.address, "base": self.http.url}

    def _on_message(self, raw: bytes) -> bytes:
        return self.processor.acknowledge(raw)

    def stop(self) -> None:
        if self.mllp is not None:
            self.mllp.stop()
            self.mllp = None
        if self.http is not None:
            self.http.stop()
            self.http = None
        self.outbox.stop()
        self.store.close()

    def __enter__(self) -> Reference:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start(config: SourceConfig, host: str = "127.0.0.1", http_port: int = 0, mllp_port: int = 0) -> Reference:
    return Reference(config, host, http_port, mllp_port)


def start_reference(fault: str | None, workdir: Path, **peers: str) -> Reference:
    """The reference Source for plans; ``peers`` fill :class:`SourceConfig` (PACS, DMP, PSC endpoints).

    Without peers it starts with none configured: the plan's conftest passes them (it starts the
    PACS, DMP and PSC simulators first).
    """
    config = SourceConfig(workdir=Path(workdir), fault=fault)
    for key, value in peers.items():
        if not hasattr(config, key):
            raise TypeError(f"unknown Source setting {key!r}")
        setattr(config, key, type(getattr(config, key))(value) if getattr(config, key) is not None else value)
    return start(config)
