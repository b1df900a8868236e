"""IOCM in the reference Source: rejection notes parsed, KOS updated (RPLC) without the rejected instances, the
VIHF of an image-change update in the previous submission's name (FAQ 8801), the Storage SCP's statuses."""

from __future__ import annotations

import io

import pytest
from pydicom import dcmread
from pydicom.dataset import Dataset

from fixtures.iocm import rejection_note
from harness.dicom import Peer, store
from simulators.ris import messages as M
from simulators.source.iocm import NotARejection, RejectionListener, parse_rejection
from simulators.source.publish import Professional
from simulators.source.report import Rejection, report_professional
from simulators.source.store import CURRENT, DELETED, REPLACED
from tests.source.test_report import images_of, processor, queued_pnr

SECOND = ("899700000015", "Marie", "CURIE")


@pytest.fixture
def ex():
    return M.exam("unit-iocm", series=2, instances=2)


def headers(ex, pairs) -> list[Dataset]:
    """Instance headers of ``ex`` (series index, instance index) as the PACS holds them."""
    out = []
    for s, i in pairs:
        ds = Dataset()
        ds.StudyInstanceUID, ds.SeriesInstanceUID = ex.study_uid, ex.uid("series", s)
        ds.SOPClassUID, ds.SOPInstanceUID = "1.2.840.10008.5.1.4.1.1.2", ex.uid("image", s, i)
        ds.PatientID, ds.PatientName = ex.ins, f"{ex.birth_name}^{ex.given}"
        out.append(ds)
    return out


def recording(proc):
    seen: list[Professional | None] = []

    def security(patient, professional=None):
        seen.append(professional)
        return []

    proc.security = security
    return seen


def kos_sops(data: bytes) -> set[str]:
    ds = dcmread(io.BytesIO(data))
    return {str(r.ReferencedSOPInstanceUID) for st in ds.CurrentRequestedProcedureEvidenceSequence
            for se in st.ReferencedSeriesSequence for r in se.ReferencedSOPSequence}


def test_rejection_note_round_trip(ex):
    note = rejection_note(headers(ex, [(0, 1), (1, 0)]), reason="113037")
    parsed = parse_rejection(note)
    assert parsed.reason == "Rejected for Patient Safety Reasons"
    assert set(parsed.instances) == {(ex.study_uid, ex.uid("series", 0), ex.uid("image", 0, 1)),
                                     (ex.study_uid, ex.uid("series", 1), ex.uid("image", 1, 0))}


def test_a_kos_of_another_title_is_not_a_rejection(ex):
    note = rejection_note(headers(ex, [(0, 0)]))
    note.ConceptNameCodeSequence[0].CodeValue = "113000"  # Of Interest (key images)
    with pytest.raises(NotARejection):
        parse_rejection(note)
    note = rejection_note(headers(ex, [(0, 0)]))
    del note.CurrentRequestedProcedureEvidenceSequence
    with pytest.raises(ValueError, match="lists no instance"):
        parse_rejection(note)


def test_report_professional_is_the_reports_author(ex):
    from harness.validators.cda import parse_cda

    assert report_professional(parse_cda(M.replacement_cda(ex, author=SECOND))) == Professional(
        "899700000015", "Marie CURIE")


def test_rejection_republishes_without_the_rejected_instances(tmp_path, ex):
    images = images_of(ex)
    proc, st = processor(tmp_path, images)
    seen = recording(proc)
    assert proc.handle(M.oru(ex)).code == "AA"
    assert proc.handle(M.oru(ex, "C", cda=M.replacement_cda(ex, author=SECOND))).code == "AA"
    second = st.kos_of_study(ex.study_uid, CURRENT)[-1]
    gone = ex.uid("image", 0, 1)
    out = proc.reject(parse_rejection(rejection_note(headers(ex, [(0, 1)]))))
    assert out.fresh == 1 and "replaced" in out.actions[0]
    kos = st.kos_of_study(ex.study_uid)
    assert [k.status for k in kos] == [REPLACED, REPLACED, CURRENT]
    assert kos_sops(kos[-1].data) == {i.sop_instance_uid for i in images} - {gone}
    assert [a.target for a in queued_pnr(st).associations if a.short_type == "RPLC"] == [second.entry_uuid]
    # FAQ 8801: first report and its correction in their authors' names, the image change in the previous one's
    assert [p.id for p in seen] == ["801234567897", "899700000015", "899700000015"]
    # a later report never lists the rejected instance again
    assert proc.handle(M.oru(ex, cda=M.revised_cda(ex, version=3))).code == "AA"
    assert gone not in kos_sops(st.kos_of_study(ex.study_uid, CURRENT)[-1].data)


def test_the_named_fault_sends_the_image_change_in_the_first_reports_name(tmp_path, ex):
    proc, _st = processor(tmp_path, images_of(ex), fault="vihf-from-report-on-image-change")
    seen = recording(proc)
    proc.handle(M.oru(ex))
    proc.handle(M.oru(ex, "C", cda=M.replacement_cda(ex, author=SECOND)))
    proc.reject(parse_rejection(rejection_note(headers(ex, [(0, 1)]))))
    assert [p.id for p in seen] == ["801234567897", "899700000015", "801234567897"]


def test_cancel_is_sent_in_the_previous_submissions_name(tmp_path, ex):
    proc, _st = processor(tmp_path, images_of(ex))
    seen = recording(proc)
    proc.handle(M.oru(ex))
    proc.handle(M.oru(ex, "C", cda=M.replacement_cda(ex, author=SECOND)))
    assert proc.handle(M.omi_cancel(ex)).code == "AA"
    assert seen[-1].id == "899700000015"


def test_rejecting_every_instance_deletes_the_kos(tmp_path, ex):
    proc, st = processor(tmp_path, images_of(ex))
    proc.handle(M.oru(ex))
    everything = [(s, i) for s in range(2) for i in range(2)]
    out = proc.reject(parse_rejection(rejection_note(headers(ex, everything))))
    assert "deleted" in out.actions[0]
    assert [k.status for k in st.kos_of_study(ex.study_uid)] == [DELETED]
    assert st.items()[-1].kind == "delete"


def test_ignores_iocm_fault_changes_nothing(tmp_path, ex):
    proc, st = processor(tmp_path, images_of(ex), fault="ignores-iocm")
    proc.handle(M.oru(ex))
    out = proc.reject(parse_rejection(rejection_note(headers(ex, [(0, 1)]))))
    assert out.fresh == 0 and not st.rejected(ex.study_uid)
    assert len(st.kos_of_study(ex.study_uid)) == 1


def test_rejection_before_any_report_is_kept_for_the_report(tmp_path, ex):
    images = images_of(ex)
    proc, st = processor(tmp_path, images)
    out = proc.reject(parse_rejection(rejection_note(headers(ex, [(1, 1)]))))
    assert "kept for a later report" in out.actions[0]
    proc.handle(M.oru(ex))
    assert ex.uid("image", 1, 1) not in kos_sops(st.kos_of_study(ex.study_uid, CURRENT)[-1].data)


def test_storage_scp_statuses(ex):
    taken: list[Rejection] = []

    def on_rejection(rejection):
        taken.append(rejection)
        from simulators.source.report import RejectionOutcome

        return RejectionOutcome(rejection.note_uid, len(rejection.instances), [])

    listener = RejectionListener(on_rejection, ae_title="SRC-IOCM")
    try:
        peer = Peer(listener.host, listener.port, "SRC-IOCM", "TESTER")
        good = rejection_note(headers(ex, [(0, 0)]))
        assert list(store(peer, [good]).statuses.values()) == [0x0000]
        other = rejection_note(headers(ex, [(0, 0)]))
        other.ConceptNameCodeSequence[0].CodeValue = "113000"
        empty = rejection_note(headers(ex, [(0, 0)]))
        del empty.CurrentRequestedProcedureEvidenceSequence
        assert list(store(peer, [other, empty]).statuses.values()) == [0xC001, 0xA900]
        assert [t.note_uid for t in taken] == [str(good.SOPInstanceUID)]
    finally:
        listener.stop()
