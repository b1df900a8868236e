"""Orthanc as the real PACS: start it on free loopback ports with a generated configuration.

Debian packages ``orthanc`` and ``orthanc-dicomweb`` (installed by ``.ci/run``). Tests that need
it call :func:`skip_reason` (or :func:`require_orthanc` under pytest) and skip with that reason
when Orthanc or its DICOMweb plugin is not installed. The configuration turns off what a test bed
does not want (remote access, authentication, the Explorer, compression) and accepts any SOP
class so the same scenarios run against the embedded PACS and Orthanc.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests

from harness.servers import LOOPBACK, free_port

ORTHANC_BINARY = Path(os.environ.get("DRIMCHECK_ORTHANC", "/usr/sbin/Orthanc"))
DICOMWEB_PLUGINS = (  # dpkg -L orthanc-dicomweb
    Path("/usr/share/orthanc/plugins/libOrthancDicomWeb.so"),
    Path("/usr/lib/orthanc/libOrthancDicomWeb.so.1.7"),
)


def dicomweb_plugin() -> Path | None:
    return next((p for p in DICOMWEB_PLUGINS if p.exists()), None)


def skip_reason() -> str | None:
    """Why Orthanc cannot run here, or None when it can."""
    if not ORTHANC_BINARY.exists():
        return f"Orthanc not installed: {ORTHANC_BINARY} missing (Debian package 'orthanc')"
    if dicomweb_plugin() is None:
        return ("Orthanc DICOMweb plugin not installed: none of "
                f"{', '.join(map(str, DICOMWEB_PLUGINS))} (Debian package 'orthanc-dicomweb')")
    return None


def require_orthanc() -> None:
    """pytest.skip with the reason when Orthanc cannot run."""
    reason = skip_reason()
    if reason:
        import pytest

        pytest.skip(reason)


@dataclass
class Orthanc:
    """A running Orthanc; ``endpoints`` like the embedded PACS (dimse, dicomweb, rest)."""

    aet: str
    host: str
    port: int
    http_port: int
    workdir: Path
    process: subprocess.Popen
    modalities: dict[str, tuple[str, int]] = field(default_factory=dict)
    _own_workdir: bool = False

    @property
    def rest_url(self) -> str:
        return f"http://{self.host}:{self.http_port}"

    @property
    def dicomweb_url(self) -> str:
        return f"{self.rest_url}/dicom-web"

    @property
    def endpoints(self) -> dict[str, str]:
        return {"dimse": f"{self.aet}@{self.host}:{self.port}", "aet": self.aet, "host": self.host,
                "port": str(self.port), "dicomweb": self.dicomweb_url, "rest": self.rest_url}

    def log(self) -> str:
        path = self.workdir / "orthanc.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> Orthanc:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def configuration(workdir: Path, aet: str, port: int, http_port: int,
                  modalities: dict[str, tuple[str, int]]) -> dict:
    """The generated orthanc.json (Orthanc Book, "Configuration of Orthanc")."""
    return {
        "Name": "DRIMcheck-Orthanc",
        "StorageDirectory": str(workdir / "storage"),
        "IndexDirectory": str(workdir / "storage"),
        "Plugins": [str(dicomweb_plugin())],
        "HttpServerEnabled": True,
        "HttpPort": http_port,
        "RemoteAccessAllowed": False,
        "AuthenticationEnabled": False,
        "OrthancExplorerEnabled": False,
        "HttpCompressionEnabled": False,
        "WebDavEnabled": False,
        "DicomServerEnabled": True,
        "DicomAet": aet,
        "DicomPort": port,
        "DicomCheckCalledAet": False,
        "UnknownSopClassAccepted": True,
        "DefaultEncoding": "Utf8",
        "DicomModalities": {name: [name, host, p] for name, (host, p) in modalities.items()},
        "DicomAlwaysAllowEcho": True,
        "DicomAlwaysAllowStore": True,
        "DicomAlwaysAllowFind": True,
        "DicomAlwaysAllowGet": True,
        "DicomAlwaysAllowMove": True,
        "StableAge": 1,
        "DicomWeb": {"Enable": True, "Root": "/dicom-web/", "EnableWado": False, "StudiesMetadata": "Full",
                     "SeriesMetadata": "Full"},
    }


def start_orthanc(workdir: Path | None = None, *, aet: str = "ORTHANC",
                  modalities: dict[str, tuple[str, int]] | None = None, timeout: float = 30.0) -> Orthanc:
    """Start Orthanc on free loopback ports; wait until REST and DICOM answer. RuntimeError if not."""
    reason = skip_reason()
    if reason:
        raise RuntimeError(reason)
    own = workdir is None
    workdir = Path(tempfile.mkdtemp(prefix="drimcheck-orthanc-")) if workdir is None else Path(workdir)
    (workdir / "storage").mkdir(parents=True, exist_ok=True)
    port, http_port = free_port(), free_port()
    modalities = dict(modalities or {})
    config = workdir / "orthanc.json"
    config.write_text(json.dumps(configuration(workdir, aet, port, http_port, modalities), indent=2))
    log = open(workdir / "orthanc.log", "wb")  # handed to the child process
    process = subprocess.Popen([str(ORTHANC_BINARY), str(config)], stdout=log, stderr=subprocess.STDOUT,
                               cwd=workdir)
    log.close()
    orthanc = Orthanc(aet, LOOPBACK, port, http_port, workdir, process, modalities, own)
    try:
        _wait_ready(orthanc, timeout)
    except BaseException:
        orthanc.stop()
        raise
    return orthanc


def _wait_ready(orthanc: Orthanc, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if orthanc.process.poll() is not None:
            raise RuntimeError(f"Orthanc exited with {orthanc.process.returncode}:\n{orthanc.log()[-2000:]}")
        try:
            if requests.get(orthanc.rest_url + "/system", timeout=1).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"Orthanc not ready after {timeout} s:\n{orthanc.log()[-2000:]}")
