"""The same DIMSE scenarios against the embedded PACS and Orthanc, then the embedded PACS's bad input."""

from __future__ import annotations

import logging
import struct
from pathlib import Path

import pytest
from pydicom import dcmread
from pydicom.filewriter import write_file_meta_info
from pynetdicom import AE

from fixtures.studies import InstanceRef
from harness.capture import recorder
from harness.dicom import DimseError, Peer, echo, find, get, load_study_into_pacs, move, query, store
from harness.orthanc import require_orthanc, start_orthanc
from simulators.pacs import EmbeddedPacs, start_pacs

CT = "1.2.840.10008.5.1.4.1.1.2"
JLS = "1.2.840.10008.1.2.4.80"


def test_echo_store_find_get(any_pacs: object, small_study: list[InstanceRef]) -> None:
    peer = Peer.of(any_pacs)
    assert echo(peer) == 0
    result = load_study_into_pacs([r.path for r in small_study], peer.host, peer.port, peer.aet)
    assert not result.failed and len(result.statuses) == len(small_study)
    study = small_study[0].study_instance_uid
    studies = find(peer, query("STUDY", StudyInstanceUID="", PatientID="248098765432109", PatientName="DUP*"))
    assert [s.StudyInstanceUID for s in studies] == [study]
    assert str(studies[0].PatientName) == "DUPONT^Hélène"
    series = find(peer, query("SERIES", StudyInstanceUID=study, SeriesInstanceUID="", Modality=""))
    assert sorted(s.SeriesInstanceUID for s in series) == sorted({r.series_instance_uid for r in small_study})
    images = find(peer, query("IMAGE", StudyInstanceUID=study, SeriesInstanceUID=small_study[0].series_instance_uid,
                              SOPInstanceUID="", SOPClassUID=""))
    assert {i.SOPClassUID for i in images} == {CT}
    got = get(peer, query("STUDY", StudyInstanceUID=study), [CT], [JLS])
    assert got.status == 0 and got.completed == len(small_study)
    assert sorted(d.SOPInstanceUID for d in got.datasets) == sorted(r.sop_instance_uid for r in small_study)


def test_invalid_level_is_refused_and_pacs_keeps_serving(any_pacs: object) -> None:
    peer = Peer.of(any_pacs)
    with pytest.raises(DimseError) as info:
        find(peer, query("NOT-A-LEVEL", StudyInstanceUID=""))
    assert info.value.status is not None and info.value.status >> 12 in (0xA, 0xC)  # a failure status
    if isinstance(any_pacs, EmbeddedPacs):
        assert info.value.status == 0xA900
    assert echo(peer) == 0


def test_unknown_move_destination_is_refused(any_pacs: object, small_study: list[InstanceRef]) -> None:
    peer = Peer.of(any_pacs)
    load_study_into_pacs([r.path for r in small_study], peer.host, peer.port, peer.aet)
    result = move(peer, query("STUDY", StudyInstanceUID=small_study[0].study_instance_uid), "NOWHERE")
    assert result.status >> 12 in (0xA, 0xC) and result.completed == 0
    if isinstance(any_pacs, EmbeddedPacs):
        assert result.status == 0xA801
    assert echo(peer) == 0


@pytest.mark.parametrize("source", ["embedded", "orthanc"])
def test_move_to_known_destination(source: str, small_study: list[InstanceRef], tmp_path: Path) -> None:
    with start_pacs(tmp_path / "dest", aet="DEST", dicomweb=False) as dest:
        known = {"DEST": (dest.host, dest.port)}
        if source == "orthanc":
            require_orthanc()
            pacs: object = start_orthanc(tmp_path / "orthanc", modalities=known)
        else:
            pacs = start_pacs(tmp_path / "src", known_aes=known, dicomweb=False)
        with pacs:  # type: ignore[attr-defined]
            peer = Peer.of(pacs)
            load_study_into_pacs([r.path for r in small_study], peer.host, peer.port, peer.aet)
            result = move(peer, query("STUDY", StudyInstanceUID=small_study[0].study_instance_uid), "DEST")
            assert result.status == 0 and result.completed == len(small_study)
        assert dest.store.count() == len(small_study)


def test_pacs_faults_pace_the_move_and_nothing_else(small_study: list[InstanceRef], tmp_path: Path) -> None:
    """DB.SO.102's faults: ``pacs-late-move`` holds the first C-STORE sub-operation back, ``pacs-throttled-move``
    the bytes; the move still completes whole, and an unknown fault name is refused."""
    import time

    from simulators.pacs.dimse import FAULTY
    from simulators.source.faults import FAULTS, PACS_FAULTS

    assert set(FAULTY) == PACS_FAULTS <= set(FAULTS)
    with pytest.raises(KeyError, match="unknown PACS fault 'nope'"):
        start_pacs(tmp_path / "x", fault="nope")
    size = sum(r.path.stat().st_size for r in small_study)
    with start_pacs(tmp_path / "dest", aet="DEST", dicomweb=False) as dest:
        known = {"DEST": (dest.host, dest.port)}
        took = {}
        for fault in (None, "pacs-late-move", "pacs-throttled-move"):
            with start_pacs(tmp_path / f"src-{fault}", known_aes=known, dicomweb=False, fault=fault) as pacs:
                peer = Peer.of(pacs)
                load_study_into_pacs([r.path for r in small_study], peer.host, peer.port, peer.aet)
                t0 = time.perf_counter()
                result = move(peer, query("STUDY", StudyInstanceUID=small_study[0].study_instance_uid), "DEST")
                took[fault] = time.perf_counter() - t0
                assert result.status == 0 and result.completed == len(small_study)
    assert took["pacs-late-move"] >= FAULTY["pacs-late-move"]["move_delay"]
    # the last instance leaves once all before it would have at the rate
    last = small_study[-1].path.stat().st_size
    assert took["pacs-throttled-move"] >= (size - last) / FAULTY["pacs-throttled-move"]["move_rate"]


# --- bad input against the embedded PACS ------------------------------------------------------

def _assoc(pacs: EmbeddedPacs, sop: str = CT, ts: str = JLS):
    ae = AE("BADPEER")
    ae.add_requested_context(sop, [ts])
    assoc = ae.associate(pacs.host, pacs.port, ae_title=pacs.aet)
    assert assoc.is_established
    return assoc


def test_malformed_dataset_gets_c210_and_nothing_is_stored(embedded: EmbeddedPacs, small_study: list[InstanceRef],
                                                          tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    good = dcmread(small_study[0].path)
    broken = tmp_path / "broken.dcm"
    with open(broken, "wb") as fh:  # valid file meta and UIDs, then an element whose length runs past the end
        fh.write(b"\x00" * 128 + b"DICM")
        write_file_meta_info(fh, good.file_meta)
        for tag in ((0x0008, 0x0016, good.SOPClassUID), (0x0008, 0x0018, good.SOPInstanceUID)):
            value = tag[2].encode() + (b"\x00" if len(tag[2]) % 2 else b"")
            fh.write(struct.pack("<HH2sH", tag[0], tag[1], b"UI", len(value)) + value)
        fh.write(struct.pack("<HH2sH", 0x0010, 0x0010, b"PN", 0x4000) + b"DUPONT")
    assoc = _assoc(embedded)
    with caplog.at_level(logging.WARNING, logger="drimcheck.pacs"):
        status = assoc.send_c_store(broken)
    assoc.release()
    assert status.Status == 0xC210
    assert "C-STORE refused (0xC210)" in caplog.text
    assert embedded.store.count() == 0
    assert not list((embedded.store.root / "files").rglob("*.part")) if (embedded.store.root / "files").exists() \
        else True
    assert echo(Peer.of(embedded)) == 0


def test_conflicting_patient_gets_0110_and_store_is_unchanged(loaded: EmbeddedPacs,
                                                              small_study: list[InstanceRef],
                                                              caplog: pytest.LogCaptureFixture) -> None:
    rec = loaded.store.records({"sop_instance_uid": [small_study[0].sop_instance_uid]})[0]
    before = rec.path.read_bytes()
    other = dcmread(small_study[0].path)
    other.PatientID = "199999999999999"
    assoc = _assoc(loaded)
    with caplog.at_level(logging.WARNING, logger="drimcheck.pacs"):
        status = assoc.send_c_store(other)
    assoc.release()
    assert status.Status == 0x0110
    assert "conflicts" in caplog.text or "is stored for patient" in caplog.text
    assert rec.path.read_bytes() == before
    assert loaded.store.count() == len(small_study)
    assert {r["PatientID"] for r in loaded.store.records()} == {"248098765432109"}
    assert echo(Peer.of(loaded)) == 0


def test_dataset_without_study_uid_is_refused(embedded: EmbeddedPacs, small_study: list[InstanceRef]) -> None:
    ds = dcmread(small_study[0].path)
    del ds.StudyInstanceUID
    assoc = _assoc(embedded)
    status = assoc.send_c_store(ds)
    assoc.release()
    assert status.Status == 0xC210
    assert embedded.store.count() == 0


def test_store_result_names_refused_instances(loaded: EmbeddedPacs, small_study: list[InstanceRef]) -> None:
    other = dcmread(small_study[1].path)
    other.PatientID = "188888888888888"
    result = store(Peer(loaded.host, loaded.port, loaded.aet), [other])
    assert result.failed == {small_study[1].sop_instance_uid: 0x0110}
    with pytest.raises(DimseError):
        load_study_into_pacs([small_study[1].path, _write(other, small_study[1].path.parent.parent / "x.dcm")],
                             loaded.host, loaded.port, loaded.aet)


def _write(ds: object, path: Path) -> Path:
    ds.save_as(path, enforce_file_format=True)  # type: ignore[attr-defined]
    return path


def test_every_exchange_is_captured(loaded: EmbeddedPacs, small_study: list[InstanceRef]) -> None:
    find(Peer.of(loaded), query("STUDY", StudyInstanceUID=""))
    dimse = recorder().exchanges(protocol="dimse")
    finds = {e.actor for e in dimse if e.summary.startswith("C-FIND STUDY")}
    assert {"pacs-simulator", "harness:dicom-client"} <= finds
    assert sum(1 for e in dimse if e.summary.startswith("C-STORE") and e.actor == "pacs-simulator") >= len(small_study)


def test_kos_built_from_a_cfind_of_the_pacs(loaded: EmbeddedPacs, small_study: list[InstanceRef]) -> None:
    """The Source DRIMbox flow: IMAGE-level C-FIND of the study, then the KOS from the answers."""
    from dataclasses import replace

    from fixtures.dataset import load_dataset
    from fixtures.documents import build_kos
    from harness.dicom import find_study_instances

    answers = find_study_instances(Peer.of(loaded), small_study[0].study_instance_uid)
    assert {a.PatientID for a in answers} == {"248098765432109"}
    report = replace(load_dataset().exam("e1").report, study_uid=small_study[0].study_instance_uid)
    kos = build_kos(answers, report=report, retrieve_base="https://src.example/wado-rs")
    series = kos.CurrentRequestedProcedureEvidenceSequence[0].ReferencedSeriesSequence
    referenced = {sop.ReferencedSOPInstanceUID for item in series for sop in item.ReferencedSOPSequence}
    assert referenced == {r.sop_instance_uid for r in small_study}
    assert len(series) == len({r.series_instance_uid for r in small_study})


def test_one_study_in_two_syntaxes_of_one_sop_class_is_stored_whole(embedded: EmbeddedPacs,
                                                                     tmp_path: Path) -> None:
    """An SCP accepts one transfer syntax per presentation context: the store proposes one context per
    (SOP class, syntax) pair, so a CT series in JPEG-LS beside one in explicit VR both get through."""
    from fixtures.studies import StudySpec, write_study

    jls = write_study(StudySpec(modality="CT", instances=2, series=1, rows=16, columns=16,
                                transfer_syntax="jpeg-ls", seed=41), tmp_path / "jls")
    explicit = write_study(StudySpec(modality="CT", instances=2, series=1, rows=16, columns=16,
                                     transfer_syntax="explicit", seed=42), tmp_path / "explicit")
    refs = jls + explicit
    result = store(Peer.of(embedded), [r.path for r in refs])
    assert result.failed == {}
    assert sorted(result.statuses) == sorted(r.sop_instance_uid for r in refs)


def test_each_association_negotiates_on_its_own_copy_of_the_contexts(embedded: EmbeddedPacs) -> None:
    """pynetdicom gives every accepted association a deep copy of the server's contexts: the copy shares
    the (immutable) UIDs and nothing the negotiation writes (result, roles, transfer syntax list)."""
    import copy

    server = embedded.dimse._server.contexts
    first, second = copy.deepcopy(server), copy.deepcopy(server)
    assert type(first) is list and len(first) == len(server)
    assert [vars(c) for c in first] == [vars(c) for c in server]
    first[0].result = 0x03
    first[0]._transfer_syntax.append("1.2.3")
    assert second[0].result == server[0].result and "1.2.3" not in server[0].transfer_syntax
    assert first[1].abstract_syntax is server[1].abstract_syntax
