"""harness.orthanc: generated configuration, skip reasons, start/stop on free loopback ports."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests

from harness import orthanc


def test_configuration_is_loopback_only_and_knows_destinations(tmp_path: Path) -> None:
    cfg = orthanc.configuration(tmp_path, "ORTHANC", 11112, 8043, {"DEST": ("127.0.0.1", 104)})
    assert cfg["RemoteAccessAllowed"] is False and cfg["AuthenticationEnabled"] is False
    assert cfg["DicomPort"] == 11112 and cfg["HttpPort"] == 8043
    assert cfg["DicomModalities"] == {"DEST": ["DEST", "127.0.0.1", 104]}
    assert cfg["StorageDirectory"].startswith(str(tmp_path))


def test_skip_reason_names_the_missing_binary(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(orthanc, "ORTHANC_BINARY", tmp_path / "no-orthanc")
    reason = orthanc.skip_reason()
    assert reason is not None and "no-orthanc" in reason and "'orthanc'" in reason
    with pytest.raises(RuntimeError, match="not installed"):
        orthanc.start_orthanc(tmp_path)


def test_skip_reason_names_the_missing_plugin(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(orthanc, "ORTHANC_BINARY", Path(__file__))  # any existing file
    monkeypatch.setattr(orthanc, "DICOMWEB_PLUGINS", (tmp_path / "libOrthancDicomWeb.so",))
    assert "orthanc-dicomweb" in (orthanc.skip_reason() or "")


def test_start_and_stop(tmp_path: Path) -> None:
    orthanc.require_orthanc()
    with orthanc.start_orthanc(tmp_path / "o") as server:
        assert requests.get(server.rest_url + "/plugins", timeout=5).json().count("dicom-web") == 1
        assert server.endpoints["dicomweb"].endswith("/dicom-web")
    assert server.process.poll() is not None
