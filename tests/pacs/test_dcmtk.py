"""dcmtk as the third-party peer of the embedded PACS: storescu, findscu, movescu, getscu."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from fixtures.studies import InstanceRef
from simulators.pacs import EmbeddedPacs, start_pacs

pytestmark = pytest.mark.skipif(shutil.which("storescu") is None,
                                reason="dcmtk not installed: storescu missing (Debian package 'dcmtk')")


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(args, capture_output=True, text=True, timeout=60, check=False)


def test_storescu_stores_jpeg_ls_study(embedded: EmbeddedPacs, small_study: list[InstanceRef]) -> None:
    res = _run("storescu", "-xt", "-aec", embedded.aet, embedded.host, str(embedded.port),
               *[str(r.path) for r in small_study])
    assert res.returncode == 0, res.stderr
    assert embedded.store.count() == len(small_study)
    stored = embedded.store.records({"sop_instance_uid": [small_study[0].sop_instance_uid]})[0]
    assert stored.path.read_bytes()[132:] .endswith(small_study[0].path.read_bytes()[-64:])


def test_findscu_sees_the_study(loaded: EmbeddedPacs, small_study: list[InstanceRef]) -> None:
    res = _run("findscu", "-v", "-S", "-aec", loaded.aet, "-k", "QueryRetrieveLevel=SERIES",
               "-k", f"StudyInstanceUID={small_study[0].study_instance_uid}", "-k", "SeriesInstanceUID",
               "-k", "Modality", loaded.host, str(loaded.port))
    assert res.returncode == 0, res.stderr
    assert res.stderr.count("Find Response") == 3  # two pending + final
    assert small_study[0].series_instance_uid in res.stderr


def test_findscu_bad_level_gets_a900_and_pacs_keeps_serving(loaded: EmbeddedPacs) -> None:
    res = _run("findscu", "-v", "-S", "-aec", loaded.aet, "-k", "QueryRetrieveLevel=WRONG",
               loaded.host, str(loaded.port))
    assert "Final Find Response (Error: DataSetDoesNotMatchSOPClass)" in res.stderr  # dcmtk name of 0xA900
    assert _run("echoscu", "-aec", loaded.aet, loaded.host, str(loaded.port)).returncode == 0


def test_movescu_to_known_destination(loaded: EmbeddedPacs, small_study: list[InstanceRef],
                                      tmp_path: Path) -> None:
    with start_pacs(tmp_path / "dest", aet="DEST", dicomweb=False) as dest:
        loaded.dimse.config.known_aes["DEST"] = (dest.host, dest.port)
        res = _run("movescu", "-v", "-S", "-aec", loaded.aet, "-aem", "DEST", "-k", "QueryRetrieveLevel=STUDY",
                   "-k", f"StudyInstanceUID={small_study[0].study_instance_uid}", loaded.host, str(loaded.port))
        assert res.returncode == 0, res.stderr
        assert dest.store.count() == len(small_study)


def test_movescu_unknown_destination_a801(loaded: EmbeddedPacs, small_study: list[InstanceRef]) -> None:
    res = _run("movescu", "-v", "-S", "-aec", loaded.aet, "-aem", "NOWHERE", "-k", "QueryRetrieveLevel=STUDY",
               "-k", f"StudyInstanceUID={small_study[0].study_instance_uid}", loaded.host, str(loaded.port))
    assert "Final Move Response (Refused: MoveDestinationUnknown)" in res.stderr  # dcmtk name of 0xA801


def test_getscu_retrieves_series(loaded: EmbeddedPacs, small_study: list[InstanceRef], tmp_path: Path) -> None:
    out = tmp_path / "got"
    out.mkdir()
    res = _run("getscu", "-S", "+xt", "-aec", loaded.aet, "-k", "QueryRetrieveLevel=SERIES",
               "-k", f"StudyInstanceUID={small_study[0].study_instance_uid}",
               "-k", f"SeriesInstanceUID={small_study[0].series_instance_uid}", "-od", str(out),
               loaded.host, str(loaded.port))
    assert res.returncode == 0, res.stderr
    expected = [r for r in small_study if r.series_instance_uid == small_study[0].series_instance_uid]
    assert len(list(out.iterdir())) == len(expected)


def test_movescu_receiving_itself_gets_decompressed_copies(loaded: EmbeddedPacs, small_study: list[InstanceRef],
                                                           tmp_path: Path) -> None:
    """movescu's own store SCP accepts only uncompressed syntaxes by default: the PACS decompresses."""
    from harness.servers import free_port

    port = free_port()
    loaded.dimse.config.known_aes["MOVESCU"] = ("127.0.0.1", port)
    out = tmp_path / "moved"
    out.mkdir()
    res = _run("movescu", "-S", "-aet", "MOVESCU", "-aec", loaded.aet, "-aem", "MOVESCU", "+P", str(port),
               "-od", str(out), "-k", "QueryRetrieveLevel=STUDY",
               "-k", f"StudyInstanceUID={small_study[0].study_instance_uid}", loaded.host, str(loaded.port))
    assert res.returncode == 0, res.stderr
    received = sorted(out.iterdir())
    assert len(received) == len(small_study)
    from pydicom import dcmread

    ds = dcmread(received[0])
    assert not ds.file_meta.TransferSyntaxUID.is_compressed
    original = next(r for r in small_study if r.sop_instance_uid == ds.SOPInstanceUID)
    assert (ds.pixel_array == dcmread(original.path).pixel_array).all()


def test_findscu_patient_root(loaded: EmbeddedPacs) -> None:
    res = _run("findscu", "-v", "-P", "-aec", loaded.aet, "-k", "QueryRetrieveLevel=PATIENT", "-k", "PatientID",
               "-k", "PatientName", "-k", "NumberOfPatientRelatedInstances", loaded.host, str(loaded.port))
    assert res.returncode == 0, res.stderr
    assert "248098765432109" in res.stderr and res.stderr.count("Find Response") == 2
