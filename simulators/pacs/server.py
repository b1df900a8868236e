"""The embedded PACS as one object: store, DIMSE server and (optional) DICOMweb server."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

from simulators.pacs.dimse import FAULTY, DimseConfig, DimseServer
from simulators.pacs.store import InstanceStore


class EmbeddedPacs:
    """Running PACS; ``endpoints`` = {"dimse": "DRIMPACS@127.0.0.1:port", "dicomweb": "http://..."}."""

    def __init__(self, store: InstanceStore, dimse: DimseServer, web: Any = None,
                 tmpdir: Path | None = None) -> None:
        self.store = store
        self.dimse = dimse
        self.web = web
        self._tmpdir = tmpdir

    @property
    def aet(self) -> str:
        return self.dimse.config.aet

    @property
    def host(self) -> str:
        return self.dimse.config.host

    @property
    def port(self) -> int:
        return self.dimse.port

    @property
    def dicomweb_url(self) -> str | None:
        return None if self.web is None else f"{self.web.url}/dicom-web"

    @property
    def endpoints(self) -> dict[str, str]:
        eps = {"dimse": f"{self.aet}@{self.host}:{self.port}", "aet": self.aet, "host": self.host,
               "port": str(self.port)}
        if self.dicomweb_url:
            eps["dicomweb"] = self.dicomweb_url
        return eps

    def stop(self) -> None:
        if self.web is not None:
            self.web.stop()
            self.web = None
        self.dimse.stop()
        self.store.close()
        if self._tmpdir is not None:
            shutil.rmtree(self._tmpdir, ignore_errors=True)
            self._tmpdir = None

    def __enter__(self) -> EmbeddedPacs:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_pacs(storage: Path | str | None = None, *, aet: str = "DRIMPACS", host: str = "127.0.0.1",
               port: int = 0, dicomweb: bool = True, dicomweb_port: int = 0,
               known_aes: dict[str, tuple[str, int]] | None = None, ssl_context: Any = None,
               fault: str | None = None) -> EmbeddedPacs:
    """Start the PACS on loopback (0 = free port); storage in a temporary folder when not given; its
    DICOMweb over HTTPS with ``ssl_context``; ``fault`` one of :data:`FAULTY` (KeyError naming them else)."""
    if fault is not None and fault not in FAULTY:
        raise KeyError(f"unknown PACS fault {fault!r}; known: {', '.join(sorted(FAULTY))}")
    tmpdir = None
    if storage is None:
        tmpdir = Path(tempfile.mkdtemp(prefix="drimpacs-"))
        storage = tmpdir
    store = InstanceStore(storage)
    dimse = DimseServer(store, DimseConfig(aet=aet, host=host, port=port, known_aes=dict(known_aes or {}),
                                           **FAULTY.get(fault or "", {})))
    dimse.start()
    web = None
    if dicomweb:
        from simulators.pacs.dicomweb import serve_dicomweb

        web = serve_dicomweb(store, host=host, port=dicomweb_port, aet=aet, ssl_context=ssl_context)
    return EmbeddedPacs(store, dimse, web, tmpdir)
