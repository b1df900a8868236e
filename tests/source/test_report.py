"""simulators.source.report: HL7 -> CR-IMG -> consistency -> KOS -> outbox, with a scripted PACS (no network)."""

from __future__ import annotations

import io
from dataclasses import replace

import pytest
from pydicom import dcmread

from fixtures.mutations.goodset import build_cda
from harness.findings import Severity
from harness.soap import decode_message
from harness.validators import validate_kos
from harness.xds import parse_pnr
from simulators.ris import messages as M
from simulators.source.kos import ImageRef
from simulators.source.publish import DELETED, DEPRECATED_KOS_FORMAT, Outbox
from simulators.source.report import ReportProcessor
from simulators.source.store import CURRENT, REPLACED, SourceStore

BASE = "http://source.test/wado-rs"


def images_of(ex, *, accession=None, ins=None) -> list[ImageRef]:
    refs = []
    for s in range(ex.series):
        for i in range(ex.instances):
            refs.append(ImageRef(ex.uid("series", s), "1.2.840.10008.5.1.4.1.1.2", ex.uid("image", s, i), i + 1,
                                 "CT", ins or ex.ins, accession or ex.accession, "20240105", "101500"))
    return refs


@pytest.fixture
def ex():
    return M.exam("unit-report", series=2, instances=2)


def processor(tmp_path, images, fault=None) -> tuple[ReportProcessor, SourceStore]:
    store = SourceStore(tmp_path / "source.sqlite")
    outbox = Outbox(store, initial=0.1, maximum=1, timeout=1)  # never started: items stay queued
    proc = ReportProcessor(store, outbox, lambda study: images, lambda: BASE, "http://dmp.test/registry",
                           "http://dmp.test/repository", "Centre^^^^^^^^^750803447", "1.2.250.1.999.1.1", fault)
    return proc, store


def queued_pnr(store: SourceStore, index: int = -1):
    item = [i for i in store.items() if i.kind == "pnr"][index]
    msg = decode_message(item.content_type, item.body)
    return parse_pnr(msg.envelope.body, msg.attachments)


def test_valid_report_builds_a_valid_kos_and_queues_it(tmp_path, ex):
    proc, store = processor(tmp_path, images_of(ex))
    out = proc.handle(M.oru(ex))
    assert out.code == "AA", out.text
    [kos] = store.kos_of_study(ex.study_uid)
    findings = [f for f in validate_kos(kos.data, profile="dmp") if f.severity is Severity.ERROR]
    assert findings == []
    ds = dcmread(io.BytesIO(kos.data))
    urls = {s.RetrieveURL for s in ds.CurrentRequestedProcedureEvidenceSequence[0].ReferencedSeriesSequence}
    assert urls == {f"{BASE}/studies/{ex.study_uid}/series/{ex.uid('series', s)}" for s in range(2)}
    sub = queued_pnr(store)
    entry = next(d for d in sub.documents if d.mimeType == "application/dicom")
    assert entry.id == kos.entry_uuid and sub.document_bytes[entry.id] == kos.data
    assert entry.patientId == f"{ex.ins}^^^&1.2.250.1.213.1.4.10&ISO^NH"


@pytest.mark.parametrize(("message", "code", "err"), [
    (b"garbage", "AR", "100"),
    (b"MSH|^~\\&|RIS|C|D|C|20240101||ADT^A01|1|P|2.5\r", "AR", "200"),
    (b"MSH|^~\\&|RIS|C|D|C|20240101||ORU^R01|1|P|2.5\rPID|||1\r", "AR", "101"),
])
def test_unusable_messages_are_rejected(tmp_path, ex, message, code, err):
    proc, store = processor(tmp_path, images_of(ex))
    out = proc.handle(message)
    assert (out.code, out.error_code) == (code, err)
    assert store.items() == []


def test_invalid_cda_is_refused_with_findings(tmp_path, ex):
    proc, store = processor(tmp_path, images_of(ex))
    cda = build_cda(ex).replace(b'code="18748-4"', b'code="11111-1"', 1)
    out = proc.handle(M.oru(ex, cda=cda))
    assert out.code == "AE" and "CR-IMG invalid" in out.text
    assert store.items() == []


@pytest.mark.parametrize(("kwargs", "why"), [({"accession": "1"}, "accession"),
                                             ({"ins": "274075176079430"}, "patient")])
def test_disagreeing_images_are_refused(tmp_path, ex, kwargs, why):
    proc, store = processor(tmp_path, images_of(ex, **kwargs))
    out = proc.handle(M.oru(ex))
    assert out.code == "AE" and why in out.text
    assert store.items() == []


def test_study_missing_from_the_pacs_is_refused(tmp_path, ex):
    proc, store = processor(tmp_path, [])
    assert proc.handle(M.oru(ex)).code == "AE"
    assert store.items() == []


def test_pacs_down_is_refused_not_lost(tmp_path, ex):
    def broken(study):
        raise ConnectionError("PACS down")

    proc, _store = processor(tmp_path, [])
    proc.find_images = broken
    out = proc.handle(M.oru(ex))
    assert out.code == "AE" and "PACS down" in out.text


def test_correction_replaces_with_rplc(tmp_path, ex):
    proc, store = processor(tmp_path, images_of(ex))
    assert proc.handle(M.oru(ex)).code == "AA"
    first = store.kos_of_study(ex.study_uid)[0]
    assert proc.handle(M.oru(ex, "C")).code == "AA"
    statuses = [k.status for k in store.kos_of_study(ex.study_uid)]
    assert statuses == [REPLACED, CURRENT]
    rplc = [a for a in queued_pnr(store).associations if a.short_type == "RPLC"]
    assert [a.target for a in rplc] == [first.entry_uuid]


def test_no_replace_fault_drops_the_rplc(tmp_path, ex):
    proc, store = processor(tmp_path, images_of(ex), fault="no-replace-on-correction")
    proc.handle(M.oru(ex))
    proc.handle(M.oru(ex, "C"))
    assert not [a for a in queued_pnr(store).associations if a.short_type == "RPLC"]


@pytest.mark.parametrize("second", ["oru-f", "mdm-t02"])
def test_second_final_report_replaces_with_rplc(tmp_path, ex, second):
    proc, store = processor(tmp_path, images_of(ex))
    assert proc.handle(M.oru(ex)).code == "AA"
    first = store.kos_of_study(ex.study_uid)[0]
    again = M.oru(ex, cda=M.revised_cda(ex)) if second == "oru-f" else M.mdm(ex, "T02", cda=M.revised_cda(ex))
    out = proc.handle(again)
    assert out.code == "AA" and "replaced" in out.actions[0]
    assert [k.status for k in store.kos_of_study(ex.study_uid)] == [REPLACED, CURRENT]
    assert [a.target for a in queued_pnr(store).associations if a.short_type == "RPLC"] == [first.entry_uuid]


@pytest.mark.parametrize(("fault", "status", "rplc"), [
    ("no-replace-on-final", "F", False), ("no-replace-on-final", "C", True),
    ("no-replace-on-correction", "F", True), ("no-replace-on-correction", "C", False),
])
def test_replace_faults_touch_only_their_status(tmp_path, ex, fault, status, rplc):
    proc, store = processor(tmp_path, images_of(ex), fault=fault)
    assert proc.handle(M.oru(ex)).code == "AA"
    assert proc.handle(M.oru(ex, status, cda=M.revised_cda(ex) if status == "F" else None)).code == "AA"
    assert bool([a for a in queued_pnr(store).associations if a.short_type == "RPLC"]) is rplc
    statuses = [k.status for k in store.kos_of_study(ex.study_uid)]
    assert statuses == ([REPLACED, CURRENT] if rplc else [CURRENT, CURRENT])


@pytest.mark.parametrize("how", ["oru-d", "mdm-t04", "omi-cancel"])
def test_deletion_queues_iti57(tmp_path, ex, how):
    proc, store = processor(tmp_path, images_of(ex))
    proc.handle(M.oru(ex))
    message = {"oru-d": M.oru(ex, "D"), "mdm-t04": M.mdm(ex, "T04"), "omi-cancel": M.omi_cancel(ex)}[how]
    out = proc.handle(message)
    assert out.code == "AA", out.text
    [kos] = store.kos_of_study(ex.study_uid)
    assert kos.status == "deleted"
    delete = store.items()[-1]
    assert delete.kind == "delete" and DELETED.encode() in delete.body and kos.entry_uuid.encode() in delete.body


def test_deleting_an_unknown_study_is_refused(tmp_path, ex):
    proc, _store = processor(tmp_path, images_of(ex))
    assert proc.handle(M.oru(ex, "D")).code == "AE"


@pytest.mark.parametrize(("fault", "check"), [
    ("missing-retrieve-url", lambda ds, sub: "RetrieveURL" not in
     ds.CurrentRequestedProcedureEvidenceSequence[0].ReferencedSeriesSequence[0]),
    ("kos-patient-mismatch", lambda ds, sub: ds.PatientID.startswith("IPP-")),
    ("wrong-format-code", lambda ds, sub: sub.documents[0].formatCode.node == DEPRECATED_KOS_FORMAT),
])
def test_content_faults(tmp_path, ex, fault, check):
    proc, store = processor(tmp_path, images_of(ex), fault=fault)
    assert proc.handle(M.oru(ex)).code == "AA"
    ds = dcmread(io.BytesIO(store.kos_of_study(ex.study_uid)[0].data))
    sub = queued_pnr(store)
    sub.documents.sort(key=lambda d: d.mimeType != "application/dicom")
    assert check(ds, sub)


def test_masking_flags_become_confidentiality_codes(tmp_path, ex):
    flagged = replace(ex, flags=tuple((k, "Y" if k == "MASQUE_PS" else v) for k, v in ex.flags))
    proc, store = processor(tmp_path, images_of(flagged))
    assert proc.handle(M.oru(flagged)).code == "AA"
    entry = next(d for d in queued_pnr(store).documents if d.mimeType == "application/dicom")
    assert ("MASQUE_PS", "1.2.250.1.213.1.1.4.13") in [(c.node, c.coding_scheme) for c in entry.confidentialityCodes]
