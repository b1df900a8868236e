"""simulators.source.report: HL7 -> CR-IMG -> consistency -> KOS -> outbox, with a scripted PACS (no network)."""

from __future__ import annotations

import io
import re
from dataclasses import replace

import pytest
from pydicom import dcmread

from fixtures.mutations.goodset import build_cda
from harness.findings import Severity, error, warning
from harness.hl7 import AckError, parse_ack
from harness.soap import decode_message
from harness.validators import validate_kos
from harness.xds import parse_pnr
from simulators.ris import messages as M
from simulators.source.kos import ImageRef
from simulators.source.publish import DELETED, DEPRECATED_KOS_FORMAT, Outbox
from simulators.source.report import ReportProcessor, ack_error, message_key
from simulators.source.store import ANSWER_RETENTION_S, CURRENT, REPLACED, SourceStore

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
    (b"MSH|^~\\&|RIS|C|D|C|20240101||ORU^R01|1|P|2.5\rPID|||1\r", "AE", "101"),  # IG-hl7v2: syntax errors: AE
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
    assert out.errors and {(e.location, e.severity) for e in out.errors} == {("OBX^1^5", "E")}
    assert all(e.rule.startswith("CDA-") for e in out.errors)
    assert store.items() == []


def _field(message: bytes, segment: bytes, n: int, value: bytes, *, where=lambda fields: True) -> bytes:
    """Set field ``n`` of the first ``segment`` matching ``where`` (MSH counted as in HL7: MSH-1 is '|')."""
    segs = message.split(b"\r")
    for i, seg in enumerate(segs):
        fields = seg.split(b"|")
        if fields[0] == segment and where(fields):
            k = n - 1 if segment == b"MSH" else n
            fields += [b""] * (k + 1 - len(fields))
            fields[k] = value
            segs[i] = b"|".join(fields)
            break
    return b"\r".join(segs)


# broken envelope -> (ERR-2 location, ERR-5 rule, ERR-3 code) of the first error
ENVELOPES = {
    "no MSH-21": (lambda m: _field(m, b"MSH", 21, b""), ("MSH^1^21", "HL7-MSH-002", "101")),
    "OBX-11 empty": (lambda m: _field(m, b"OBX", 11, b"", where=lambda f: f[2] == b"ED"),
                     ("OBX^1^11", "HL7-OBX-001", "101")),
    "OBX-11 X": (lambda m: _field(m, b"OBX", 11, b"X", where=lambda f: f[2] == b"ED"),
                 ("OBX^1^11", "HL7-OBX-001", "103")),
    "no INS in PID-3": (lambda m: re.sub(rb"\|[0-9]+\^\^\^ASIP-SANTE-INS-NIR[^~|]*~", b"|", m, count=1),
                        ("PID^1^3", "HL7-PID-001", "101")),
    "DMP flag not Y/N": (lambda m: m.replace(b"MASQUE_PS^MetaDMPMSS||N^", b"MASQUE_PS^MetaDMPMSS||maybe^", 1),
                         ("OBX^2^5", "HL7-FLAG-001", "103")),
}


@pytest.mark.parametrize("case", ENVELOPES)
def test_broken_envelope_is_refused_ae_with_one_err_per_error(tmp_path, ex, case):
    breaker, (location, rule, code) = ENVELOPES[case]
    message = breaker(M.oru(ex, control_id="BROKEN"))
    assert message != M.oru(ex, control_id="BROKEN")
    proc, store = processor(tmp_path, images_of(ex))
    out = proc.handle(message)
    assert (out.code, out.error_code) == ("AE", code), out.text
    assert out.errors[0] == AckError(code, "E", location, rule, out.errors[0].text)
    assert rule in out.text and store.items() == [] and store.kos_of_study(ex.study_uid) == []


def test_envelope_warnings_go_with_the_aa(tmp_path, ex):
    proc, store = processor(tmp_path, images_of(ex))
    out = proc.handle(_field(M.oru(ex), b"MSH", 21, b"2.0^CISIS_CDA_HL7_V2"))  # older profile version
    assert out.code == "AA" and len(store.items()) == 1
    assert [(e.severity, e.rule, e.location) for e in out.errors] == [("W", "HL7-MSH-002", "MSH^1^21")]


def test_skips_hl7_validation_fault_publishes_a_broken_envelope(tmp_path, ex):
    proc, store = processor(tmp_path, images_of(ex), fault="skips-hl7-validation")
    assert proc.handle(_field(M.oru(ex), b"MSH", 21, b"")).code == "AA"
    assert len(store.items()) == 1


@pytest.mark.parametrize(("finding", "expected"), [
    (error("HL7-MSH-002", "MSH-21", "profile", "2.1^CISIS_CDA_HL7_V2", ""), ("101", "E", "MSH^1^21")),
    (error("HL7-OBX-001", "OBX[3]-11", "status", "F | C | D", "Z"), ("103", "E", "OBX^3^11")),
    (error("HL7-OBX-002", "OBX[1]-5", "not base64", "^TEXT^XML^Base64^<CDA>", "%%"), ("102", "E", "OBX^1^5")),
    (error("HL7-ENC-001", "(message)", "invalid UTF-8", "UTF-8", "ff"), ("102", "E", "")),
    (error("HL7-IPC-001", "IPC[1]", "IPC-3 required", "IPC|..", None), ("101", "E", "IPC^1")),
    (warning("HL7-PRT-001", "PRT-4", "no SB", "SB^Send by", []), ("101", "W", "PRT^1^4")),
])
def test_findings_map_to_err_segments(finding, expected):
    err = ack_error(finding)
    assert (err.code, err.severity, err.location) == expected and err.rule == finding.rule


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


def test_a_resent_accepted_message_gets_the_same_ack_and_is_not_processed_again(tmp_path, ex):
    proc, store = processor(tmp_path, images_of(ex))
    message = M.oru(ex)
    first = proc.acknowledge(message)
    assert parse_ack(first).code == "AA"
    assert proc.acknowledge(message) == first
    assert len(store.items()) == 1 and len(store.kos_of_study(ex.study_uid)) == 1
    assert parse_ack(proc.acknowledge(M.oru(ex))).code == "AA"  # another control id: a new report, a replacement
    assert len(store.items()) == 2


def test_answers_are_kept_for_the_retention_period_only(tmp_path, monkeypatch):
    store = SourceStore(tmp_path / "source.sqlite")
    clock = [1_000_000.0]
    monkeypatch.setattr("simulators.source.store.time.time", lambda: clock[0])
    store.remember_answer("RIS^CENTRE", "OLD", b"ack-old")
    clock[0] += ANSWER_RETENTION_S - 1
    store.remember_answer("RIS^CENTRE", "MID", b"ack-mid")
    assert store.answered("RIS^CENTRE", "OLD") == b"ack-old"  # a resend within the period: same ACK
    clock[0] += 2
    store.remember_answer("RIS^CENTRE", "NEW", b"ack-new")
    assert store.answered("RIS^CENTRE", "OLD") is None
    assert store.answered("RIS^CENTRE", "MID") == b"ack-mid" and store.answered("RIS^CENTRE", "NEW") == b"ack-new"
    store.close()


def test_a_resent_refused_message_is_processed_again(tmp_path, ex):
    def down(study):
        raise ConnectionError("PACS down")

    proc, store = processor(tmp_path, images_of(ex))
    proc.find_images = down
    message = M.oru(ex)
    assert parse_ack(proc.acknowledge(message)).code == "AE"
    proc.find_images = lambda study: images_of(ex)
    assert parse_ack(proc.acknowledge(message)).code == "AA"
    assert len(store.items()) == 1


@pytest.mark.parametrize(("raw", "key"), [
    (b"\x0bMSH|^~\\&|RIS|CENTRE|D|C|2024||ORU^R01|ID42|P|2.5\rPID|||1\r", ("RIS^CENTRE", "ID42")),
    (b"MSH|^~\\&|RIS|CENTRE|D|C|2024||ORU^R01||P|2.5\n", None),  # no control id: never deduplicated
    (b"garbage", None),
])
def test_message_key(raw, key):
    assert message_key(raw) == key


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
    ("kos-missing-instance", lambda ds, sub: sum(len(s.ReferencedSOPSequence) for s in
                                                 ds.CurrentRequestedProcedureEvidenceSequence[0]
                                                 .ReferencedSeriesSequence) == 3 and len(ds.ContentSequence) == 3),
    ("kos-without-content-date", lambda ds, sub: "ContentDate" not in ds and "ContentTime" not in ds),
    ("kos-without-order-issuer", lambda ds, sub: "OrderPlacerIdentifierSequence" not in
     ds.ReferencedRequestSequence[0] and ds.ReferencedRequestSequence[0].PlacerOrderNumberImagingServiceRequest),
    ("no-modality-event-code", lambda ds, sub: [c.coding_scheme for c in sub.documents[0].eventCodes
                                                if c.coding_scheme == "1.2.250.1.213.1.1.5.618"] == []),
    ("refid-without-study", lambda ds, sub: [v.rsplit("^", 1)[1] for v in sub.documents[0].referenceIdList] ==
     ["urn:ihe:iti:xds:2013:accession", "urn:ihe:iti:xds:2013:order"]),
    ("language-code-fr", lambda ds, sub: sub.documents[0].languageCode == "fr"),
    ("patient-id-without-type-code", lambda ds, sub: {d.patientId for d in sub.documents} ==
     {sub.submission_set.patientId} and not sub.submission_set.patientId.endswith("^NH")),
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


# -- named faults of the report trigger: each swaps one choice, and only that one --------------------------
def test_ack_own_control_id_fault_breaks_msa2_only(tmp_path, ex):
    message = M.oru(ex, control_id="CTRL42")
    (tmp_path / "good").mkdir()
    (tmp_path / "bad").mkdir()
    good, _ = processor(tmp_path / "good", images_of(ex))
    assert parse_ack(good.acknowledge(message)).control_id == "CTRL42"
    proc, _ = processor(tmp_path / "bad", images_of(ex), fault="ack-own-control-id")
    ack = parse_ack(proc.acknowledge(message))
    assert ack.code == "AA" and ack.control_id.startswith("ACK") and ack.control_id != "CTRL42"


def test_acks_unreadable_message_fault(tmp_path, ex):
    proc, store = processor(tmp_path, images_of(ex), fault="acks-unreadable-message")
    assert proc.handle(b"this is not an HL7 message\r").code == "AA"
    assert proc.handle(_field(M.oru(ex), b"MSH", 21, b"")).code == "AE"  # a readable message is still checked
    assert store.items() == []


def test_accepts_invalid_cda_fault_publishes_it(tmp_path, ex):
    proc, store = processor(tmp_path, images_of(ex), fault="accepts-invalid-cda")
    cda = build_cda(ex).replace(b'code="18748-4"', b'code="11111-1"', 1)
    assert proc.handle(M.oru(ex, cda=cda)).code == "AA"
    assert len(store.items()) == 1


@pytest.mark.parametrize(("kwargs", "code"), [({"accession": "1"}, "AA"), ({"ins": "274075176079430"}, "AE")])
def test_no_accession_check_fault_compares_the_patient_only(tmp_path, ex, kwargs, code):
    proc, _store = processor(tmp_path, images_of(ex, **kwargs), fault="no-accession-check")
    assert proc.handle(M.oru(ex)).code == code


def test_acks_study_not_in_pacs_fault(tmp_path, ex):
    proc, store = processor(tmp_path, [], fault="acks-study-not-in-pacs")
    assert proc.handle(M.oru(ex)).code == "AA"
    assert store.items() == [] and store.kos_of_study(ex.study_uid) == []


def test_mdm_unsupported_fault(tmp_path, ex):
    proc, store = processor(tmp_path, images_of(ex), fault="mdm-unsupported")
    out = proc.handle(M.mdm(ex, "T02"))
    assert (out.code, out.error_code) == ("AR", "200") and store.items() == []
    assert proc.handle(M.oru(ex)).code == "AA"


@pytest.mark.parametrize(("fault", "how", "deleted", "iti57"), [
    ("delete-not-sent-to-dmp", "oru-d", True, False), ("delete-not-sent-to-dmp", "omi-cancel", True, True),
    ("ignores-cancel", "omi-cancel", False, False), ("ignores-cancel", "oru-d", True, True),
])
def test_lifecycle_faults_touch_only_their_message(tmp_path, ex, fault, how, deleted, iti57):
    proc, store = processor(tmp_path, images_of(ex), fault=fault)
    assert proc.handle(M.oru(ex)).code == "AA"
    assert proc.handle(M.oru(ex, "D") if how == "oru-d" else M.omi_cancel(ex)).code == "AA"
    [kos] = store.kos_of_study(ex.study_uid)
    assert (kos.status == "deleted") is deleted
    assert any(i.kind == "delete" for i in store.items()) is iti57


def test_kos_changed_after_signing_fault_keeps_hash_and_size_true_but_not_the_signature(tmp_path, ex):
    import base64
    import hashlib

    proc, store = processor(tmp_path, images_of(ex), fault="kos-changed-after-signing")
    assert proc.handle(M.oru(ex)).code == "AA"
    sub = queued_pnr(store)
    kos = next(d for d in sub.documents if d.mimeType == "application/dicom")
    data = sub.document_bytes[kos.id]
    assert kos.hash == hashlib.sha1(data).hexdigest() and int(kos.size) == len(data)
    signature = next(v for k, v in sub.document_bytes.items() if k != kos.id)
    assert base64.b64encode(hashlib.sha1(data).digest()) not in signature


@pytest.mark.parametrize(("control", "code"), [("NW", "AA"), ("SC", "AA"), ("OC", "AA"), ("XO", "AR")])
def test_omi_orders_that_are_not_cancellations(tmp_path, ex, control, code):
    """A new order (ORC-1 NW, as the ANS OMI^O23 sample) or a status change is acknowledged with nothing
    done; OC cancels like CA; a change order the Source does not handle is refused, never guessed."""
    proc, store = processor(tmp_path, images_of(ex))
    assert proc.handle(M.oru(ex)).code == "AA"
    out = proc.handle(M.omi_cancel(ex).replace(b"ORC|CA|", f"ORC|{control}|".encode()))
    assert out.code == code, out.text
    [kos] = store.kos_of_study(ex.study_uid)
    assert kos.status == ("deleted" if control == "OC" else CURRENT)
