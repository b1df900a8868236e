"""HL7 v2 validator: the RIS messages of the good set and of the ANS dataset, framing, encodings."""

from __future__ import annotations

import base64

import pytest

from harness.findings import Severity
from harness.validators.hl7v2 import Hl7Error, hl7_facts, parse_hl7, validate_hl7

HL7_DIR = "drim-m-data/Référencement DRIMBox/Jeux de données/HL7v2"


def rules(findings, severity=Severity.ERROR):
    return {f.rule for f in findings if f.severity is severity}


def test_good_messages_pass(good):
    for name in ("exam1/oru.hl7", "exam2/oru.hl7", "changes/omi.hl7"):
        assert validate_hl7(good[name]) == [], name


def test_mllp_framing_is_tolerated(good):
    assert validate_hl7(b"\x0b" + good["exam1/oru.hl7"] + b"\x1c\r") == []


def test_lf_terminators_are_a_warning(good):
    findings = validate_hl7(good["exam1/oru.hl7"].replace(b"\r", b"\n"))
    assert rules(findings) == set() and rules(findings, Severity.WARNING) == {"HL7-ENC-001"}


def test_wrong_separators_stop_the_checks(good):
    findings = validate_hl7(good["exam1/oru.hl7"].replace(b"MSH|^~\\&", b"MSH|^~\\#", 1))
    assert [(f.rule, f.location) for f in findings] == [("HL7-ENC-001", "MSH-1")]


def test_not_hl7():
    [f] = validate_hl7(b"PID|||123\r")
    assert f.rule == "HL7-ENC-001"
    with pytest.raises(Hl7Error):
        parse_hl7("")


def test_invalid_utf8_is_a_finding(good):
    data = good["exam1/oru.hl7"].replace(b"PAT-TROIS", b"PAT-TR\xffIS", 1)
    assert "HL7-ENC-001" in rules(validate_hl7(data))


def test_latin1_declared_in_msh18_is_decoded(good):
    data = good["exam1/oru.hl7"].replace(b"UNICODE UTF-8", b"8859/1").replace("é".encode(), b"\xe9")
    assert rules(validate_hl7(data)) == set()


def test_embedded_cda_findings_are_located_in_obx(good):
    msg = parse_hl7(good["exam1/oru.hl7"])
    obx = msg.all("OBX")[0]
    cda = base64.b64decode(msg.comps(obx.get(5))[4]).replace(b'code="18748-4"', b'code="11488-4"')
    data = good["exam1/oru.hl7"].replace(msg.comps(obx.get(5))[4].encode(), base64.b64encode(cda))
    [f] = [f for f in validate_hl7(data) if f.severity is Severity.ERROR]
    assert f.rule == "CDA-HDR-001" and f.location == "OBX[1]-5>/ClinicalDocument/code"


def test_facts(good):
    facts = hl7_facts(parse_hl7(good["exam2/oru.hl7"]))
    assert facts["ins"] == "274075176079430" and facts["flags"]["INVISIBLE_PATIENT"] == "Y"
    assert facts["birthplace"] == "63220" and facts["used_names"] == [("DUPONT", "FRANCE")]


def test_ans_omi_exam_change_passes(corpus_file):
    data = corpus_file(f"{HL7_DIR}/Examen W/CR_W_Suppression-OMI.hl7").read_bytes()
    assert rules(validate_hl7(data)) == set()


def test_new_order_is_not_an_exam_change(corpus_file):
    """The ANS OMI^O23 sample is a new order (ORC-1 NW): the exam-change rule does not apply to it
    (HL7 v2.5 §4.5.1.1 Table 0119; an exam change is a cancel/change order, IG-hl7v2)."""
    data = corpus_file("drim-m-data/informatif/HL7v2 OMI^O23 Sample/OMI^O23-ImagingOrder.hl7").read_bytes()
    findings = validate_hl7(data)
    assert [(f.rule, f.severity, f.found) for f in findings] == [("HL7-IPC-001", Severity.INFO, "NW")]


OMI = ("MSH|^~\\&|RIS|C|DRIMBOX|C|20240106080000||OMI^O23^OMI_O23|1|P|2.5.1\r"
       "PID|||279035121518989^^^ASIP-SANTE-INS-NIR&1.2.250.1.213.1.4.10&ISO^INS\r"
       "ORC|{orc}|984375862\r{ipc}")


@pytest.mark.parametrize(("orc", "ipc", "expected"), [
    ("CA", "IPC|ACN1|RP1|1.2.250.1.213.4.5.2.1.124|SPS1\r", set()),
    ("XO", "IPC|ACN1|RP1|1.2.250.1.213.4.5.2.1.124|SPS1\r", set()),  # change order: an exam change too
    ("CA", "", {"HL7-IPC-001"}),  # a cancellation that does not say which exam
    ("DC", "IPC|ACN1|RP1|not-a-uid\r", {"HL7-IPC-001"}),
    ("NW", "", set()),  # a new order: no exam to name yet
    ("ZZ", "IPC|ACN1|RP1|1.2.250.1.213.4.5.2.1.124\r", {"HL7-IPC-001"}),  # not an order control code
])
def test_omi_order_control(orc, ipc, expected):
    assert rules(validate_hl7(OMI.format(orc=orc, ipc=ipc))) == expected


def test_ans_oru_and_mdm_heads_and_tails(corpus_file):
    """The ANS files are head/tail slices (MANIFEST): joined, only the cut base64 in OBX-5 is wrong."""
    for stem in ("CR_C-ORU", "CR_C-MDM"):
        head = corpus_file(f"{HL7_DIR}/Examen C/{stem}.hl7.head").read_bytes()
        tail = corpus_file(f"{HL7_DIR}/Examen C/{stem}.hl7.tail").read_bytes()
        assert rules(validate_hl7(head + tail)) == {"HL7-OBX-002"}, stem


def test_poc_oru_findings_are_explained(corpus_file):
    """The demonstrator's ORU predates the IG: no PID, no MSH-21, no OBX-11, older flag names."""
    found = rules(validate_hl7(corpus_file("drimbox/patient1_oru_r01.hl7").read_bytes()))
    assert {"HL7-PID-001", "HL7-MSH-002", "HL7-OBX-001", "HL7-FLAG-001"} <= found


def test_replacement_with_rplc_passes(good):
    """OBX-11 C with a CR-IMG that names its parent document (relatedDocument RPLC): no finding."""
    msg = parse_hl7(good["exam1/oru.hl7"])
    b64 = msg.comps(msg.all("OBX")[0].get(5))[4]
    cda = base64.b64decode(b64).replace(
        b"  <component>\n    <structuredBody>",
        b'  <relatedDocument typeCode="RPLC"><parentDocument><id root="1.2.250.1.999.7"/></parentDocument>'
        b"</relatedDocument>\n  <component>\n    <structuredBody>")
    data = good["exam1/oru.hl7"].replace(b64.encode(), base64.b64encode(cda))
    data = data.replace(b"||||||F\rPRT", b"||||||C\rPRT")
    assert validate_hl7(data) == []
