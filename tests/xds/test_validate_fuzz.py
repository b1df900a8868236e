"""Bad input never crashes the validator: random corruptions of good messages give findings only."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from xds_testdata import good_submission

from harness.findings import Finding
from harness.soap import ITI41_ACTION
from harness.xds.builder import build_pnr_message
from harness.xds.validate import validate_message

_SUB = good_submission()
MTOM = build_pnr_message(_SUB, message_id="urn:uuid:1")
INLINE = build_pnr_message(_SUB, mtom=False, message_id="urn:uuid:1")


def _corrupt(body: bytes, edits: list[tuple[int, int, bytes]]) -> bytes:
    data = bytearray(body)
    for pos, length, repl in edits:
        pos %= max(len(data), 1)
        data[pos:pos + length] = repl
    return bytes(data)


edits = st.lists(st.tuples(st.integers(min_value=0), st.integers(min_value=0, max_value=40),
                           st.binary(max_size=12) | st.sampled_from([b"<", b">", b"\"", b"&", b"--", b"\r\n", b""])),
                 min_size=1, max_size=6)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from([MTOM, INLINE]), edits, st.sampled_from(["xds", "dmp"]))
def test_corrupted_message_gives_findings_not_exceptions(message, changes, profile):
    ctype, body = message
    findings = validate_message(ctype, _corrupt(body, changes), profile, ITI41_ACTION)
    assert isinstance(findings, list) and all(isinstance(f, Finding) for f in findings)


@settings(max_examples=100, deadline=None)
@given(st.integers(min_value=0, max_value=len(MTOM[1])))
def test_truncated_message_gives_findings(cut):
    findings = validate_message(MTOM[0], MTOM[1][:cut], "dmp", ITI41_ACTION)
    complete = len(MTOM[1]) - 2  # the close delimiter "--b--" is whole; the final CRLF is optional
    assert (cut >= complete) == (findings == [])
