"""harness.hl7: MLLP framing and ACK codec, table-driven (STYLE §2: one table drives encode and decode)."""

from __future__ import annotations

import pytest

from harness.hl7 import Ack, AckError, MllpDecoder, MllpError, build_ack, frame, parse_ack

ORU = b"MSH|^~\\&|RIS|CENTRE|DRIMBOX|CENTRE|20240105120000||ORU^R01^ORU_R01|MSG42|P|2.5\rPID|||1\r"

# (message, framed bytes)
CASES = [
    (b"MSH|^~\\&|A|B\r", b"\x0bMSH|^~\\&|A|B\r\x1c\r"),
    (ORU, b"\x0b" + ORU + b"\x1c\r"),
    (b"", b"\x0b\x1c\r"),
]


def byte_by_byte(decoder: MllpDecoder, data: bytes) -> list[bytes]:
    out: list[bytes] = []
    for i in range(len(data)):
        out.extend(decoder.feed(data[i:i + 1]))
    return out


@pytest.mark.parametrize(("message", "raw"), CASES)
def test_frame_and_decode(message, raw):
    assert frame(message) == raw
    assert MllpDecoder().feed(raw) == [message]
    assert byte_by_byte(MllpDecoder(), raw) == [message]


def test_several_blocks_in_one_read_and_whitespace_between():
    data = b"".join(raw for _, raw in CASES)
    assert MllpDecoder().feed(b"\r\n" + data.replace(b"\x1c\r\x0b", b"\x1c\r\n\x0b")) == [m for m, _ in CASES]


def test_partial_block_is_held():
    dec = MllpDecoder()
    assert dec.feed(b"\x0bMSH|partial") == []
    assert dec.pending > 0
    assert dec.feed(b"\x1c\r") == [b"MSH|partial"]


@pytest.mark.parametrize("garbage", [b"MSH|no start block\r", b"GET / HTTP/1.1\r\n\r\n"])
def test_data_outside_a_block_is_an_error(garbage):
    with pytest.raises(MllpError, match="outside an MLLP block"):
        MllpDecoder().feed(garbage)


def test_block_over_the_limit_is_an_error():
    with pytest.raises(MllpError, match="larger than"):
        MllpDecoder(max_message=10).feed(b"\x0b" + b"x" * 11)


def test_frame_refuses_control_bytes():
    with pytest.raises(MllpError):
        frame(b"MSH|\x1c")


# (code, text, error code) -> what parse_ack reads back
ACKS = [("AA", "", ""), ("AE", "patient id differs: report 1, images ['2']", "207"),
        ("AR", "unsupported message type ADT^A01", "200")]


@pytest.mark.parametrize(("code", "text", "err"), ACKS)
def test_ack_round_trip(code, text, err):
    raw = build_ack(ORU, code, text, err)
    ack = parse_ack(raw)
    escaped = text.replace("|", "\\F\\").replace("^", "\\S\\")
    assert ack == Ack(code, "MSG42", escaped, err, (AckError(err, "E", text=escaped),) if err else ())
    assert raw.startswith(b"MSH|^~\\&|DRIMBOX|SOURCE|RIS|CENTRE|")
    assert b"|ACK^R01^ACK|" in raw
    assert (b"\rERR|" in raw) == (code != "AA")


def test_ack_escapes_delimiters_in_text():
    ack = parse_ack(build_ack(ORU, "AE", "a|b^c&d~e\\f", "207"))
    assert ack.text == "a\\F\\b\\S\\c\\T\\d\\R\\e\\E\\f"


def test_ack_of_a_broken_message_has_empty_msa2():
    ack = parse_ack(build_ack(b"not hl7", "AR", "no MSH", "100"))
    assert (ack.code, ack.control_id, ack.error_code) == ("AR", "", "100")


@pytest.mark.parametrize("raw", [b"", b"PID|||1\r", b"MSH|^~\\&|A\rPID|1\r"])
def test_parse_ack_refuses_non_acks(raw):
    with pytest.raises(ValueError):
        parse_ack(raw)


def test_build_ack_refuses_unknown_code():
    with pytest.raises(ValueError):
        build_ack(ORU, "XX")


def test_one_err_segment_per_error_with_location_code_severity_and_rule():
    errors = [AckError("101", "E", "MSH^1^21", "HL7-MSH-002", "MSH-21: message profile identifier"),
              AckError("103", "E", "OBX^2^11", "HL7-OBX-001", "OBX[2]-11: result status X|Y")]
    raw = build_ack(ORU, "AE", "envelope invalid", "101", errors=errors)
    assert raw.count(b"\rERR|") == 2
    assert b"\rERR||MSH^1^21|101^Required field missing^HL70357|E|HL7-MSH-002^^L|||MSH-21: message" in raw
    ack = parse_ack(raw)
    assert ack.error_code == "101"
    assert ack.errors[1] == AckError("103", "E", "OBX^2^11", "HL7-OBX-001", "OBX[2]-11: result status X\\F\\Y")


def test_accepted_ack_may_carry_warnings():
    raw = build_ack(ORU, "AA", errors=[AckError("101", "W", "PRT^1^4", "HL7-PRT-001", "no PRT SB")])
    ack = parse_ack(raw)
    assert ack.accepted and [(e.severity, e.rule) for e in ack.errors] == [("W", "HL7-PRT-001")]
