"""Report trigger: HL7 v2 messages from the RIS and the Source's acknowledgements (IG-hl7v2, HL7 v2.5 §2.9)."""

from __future__ import annotations

import pytest

from fixtures.mutations.goodset import build_cda
from harness.checks import expect, expect_equal
from harness.hl7.ack import ERROR_CODES
from simulators.ris import messages as M
from testplans.source_drimbox.conftest import publish
from testplans.source_drimbox.support import is_pnr, wait_dmp

REFUSED = ("AE", "AR")
QUIET = 0.5  # a first look; the end-of-plan sweep watches each refused report for the whole publication wait


def _nothing_published(env, study_uid: str, rule: str) -> None:
    got = wait_dmp(study_uid, timeout=QUIET, predicate=is_pnr)
    expect(not got, rule=rule, location="DMP repository", expected="no RAD-68 request for the study",
           observed=f"{len(got)} request(s)", message="a refused report must not be published")


def _refused(ack, rule: str, what: str) -> None:
    expect(ack is not None and ack.code in REFUSED, rule=rule, location="MSA-1", expected="AE or AR",
           observed=None if ack is None else ack.code, message=f"{what} must be refused")


@pytest.mark.requirement("SRC-ACK-AA")
def test_valid_oru_is_acknowledged_aa(env):
    pub = publish(env, "main")
    expect(pub.ack is not None, rule="SRC-ACK-AA", location="MLLP", expected="an ACK", observed=None,
           message="the Source sent no parseable acknowledgement")
    expect_equal(pub.ack.code, "AA", rule="SRC-ACK-AA", location="MSA-1", message="a valid report is accepted")
    expect_equal(pub.ack.control_id, pub.control_id, rule="SRC-ACK-AA", location="MSA-2",
                 message="MSA-2 echoes MSH-10 of the message acknowledged")


@pytest.mark.requirement("SRC-ACK-MALFORMED")
def test_text_that_is_not_hl7_is_refused(env):
    _raw, ack = env.send(b"this is not an HL7 message\r")
    _refused(ack, "SRC-ACK-MALFORMED", "a message without MSH")


@pytest.mark.requirement("SRC-ACK-MALFORMED")
def test_undecodable_obx5_is_refused_and_nothing_published(env):
    ex = env.exams["badcda"]
    msg = M.oru(ex).replace(b"^TEXT^XML^Base64^", b"^TEXT^XML^Base64^%%%not-base64%%%", 1)
    _raw, ack = env.send(msg)
    _refused(ack, "SRC-ACK-MALFORMED", "an OBX-5 that is not base64")
    _nothing_published(env, ex.study_uid, "SRC-ACK-MALFORMED")


def _without_msh21(message: bytes) -> bytes:
    segments = message.split(b"\r")
    segments[0] = b"|".join(segments[0].split(b"|")[:20])  # MSH-1..20: the profile (MSH-21) is gone
    return b"\r".join(segments)


def _without_obx11(message: bytes) -> bytes:
    """The CR-IMG OBX (value type ED) loses its result status (OBX-11)."""
    segments = message.split(b"\r")
    for i, seg in enumerate(segments):
        fields = seg.split(b"|")
        if fields[0] == b"OBX" and len(fields) > 11 and fields[2] == b"ED":
            segments[i] = b"|".join([*fields[:11], b"", *fields[12:]])
    return b"\r".join(segments)


@pytest.mark.requirement("SRC-ACK-ENVELOPE")
@pytest.mark.parametrize("broken", [_without_msh21, _without_obx11], ids=["no MSH-21", "no OBX-11"])
def test_report_with_a_broken_envelope_is_refused(env, broken):
    ex = env.exams["envelope"]
    message = broken(M.oru(ex))
    _raw, ack = env.send(message)
    expect(ack is not None and ack.code == "AE", rule="SRC-ACK-ENVELOPE", location="MSA-1", expected="AE",
           observed=None if ack is None else ack.code,
           message="a message with syntax errors is refused AE (IG-hl7v2 ACK, HL7 v2.5 Table 0008)")
    expect(ack.error_code in ERROR_CODES, rule="SRC-ACK-ENVELOPE", location="ERR-3",
           expected="an HL7 Table 0357 error code", observed=ack.error_code or "no ERR segment",
           message="the refusal says what is wrong (ERR-3 is required by IG-hl7v2)")
    _nothing_published(env, ex.study_uid, "SRC-ACK-ENVELOPE")


@pytest.mark.requirement("SRC-ACK-CDA")
def test_invalid_cda_is_refused_with_reason(env):
    ex = env.exams["badcda"]
    cda = build_cda(ex).replace(b'code="18748-4"', b'code="11111-1"', 1)  # not a CR-IMG document code
    _raw, ack = env.send(M.oru(ex, cda=cda))
    _refused(ack, "SRC-ACK-CDA", "a report whose CR-IMG is invalid")
    expect(bool(ack.text or ack.error_code), rule="SRC-ACK-CDA", location="MSA-3 / ERR", expected="a reason",
           observed=repr(ack.text), message="the refusal says why")
    _nothing_published(env, ex.study_uid, "SRC-ACK-CDA")


@pytest.mark.requirement("SRC-ACK-CONSISTENCY")
@pytest.mark.parametrize("key", ["accmismatch", "patmismatch"])
def test_report_and_images_that_disagree_are_refused(env, key):
    ex = env.exams[key]
    _raw, ack = env.send(M.oru(ex))
    expect(ack is not None and ack.code == "AE", rule="SRC-ACK-CONSISTENCY", location="MSA-1", expected="AE",
           observed=None if ack is None else ack.code,
           message=f"{'accession number' if key == 'accmismatch' else 'patient id'} differs between CDA and images")
    _nothing_published(env, ex.study_uid, "SRC-ACK-CONSISTENCY")


@pytest.mark.requirement("SRC-ACK-STUDY")
def test_report_of_a_study_the_pacs_lacks_is_refused(env):
    ex = M.exam("src-plan-absent", series=1, instances=1)
    _raw, ack = env.send(M.oru(ex))
    expect(ack is not None and ack.code == "AE", rule="SRC-ACK-STUDY", location="MSA-1", expected="AE",
           observed=None if ack is None else ack.code, message="the PACS holds no image of this study")
    _nothing_published(env, ex.study_uid, "SRC-ACK-STUDY")


@pytest.mark.requirement("SRC-MDM")
def test_mdm_t02_is_published(env):
    ex = env.exams["mdm"]
    pub = publish(env, "mdm", M.mdm(ex, "T02"))
    expect(pub.ack is not None and pub.ack.code == "AA", rule="SRC-MDM", location="MSA-1", expected="AA",
           observed=None if pub.ack is None else pub.ack.code, message="MDM^T02 is a new report")
    expect(pub.pnr is not None, rule="SRC-MDM", location="DMP repository", expected="a RAD-68 request",
           observed=None, message="the KOS of the MDM report reaches the DMP")
