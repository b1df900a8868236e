"""Bad input gets a clear error: random bytes and text never raise anything but the codec's error."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from harness.dicomweb.accept import AcceptError, parse_accept
from harness.dicomweb.multipart import MultipartError, MultipartParser
from harness.dicomweb.paths import parse_wado_path

FRAGMENTS = [b"--b", b"\r\n", b"--", b"Content-Type: a/b", b" ", b":", b"x", b"\r", b"\n", b"-"]


@settings(max_examples=200, deadline=None)
@given(pieces=st.lists(st.sampled_from(FRAGMENTS) | st.binary(max_size=8), max_size=30),
       step=st.integers(min_value=1, max_value=16))
def test_multipart_parser_fails_only_with_multipart_error(pieces, step):
    raw = b"".join(pieces)
    parser = MultipartParser("b", max_part_size=64, max_header_size=32, max_parts=4)
    try:
        for i in range(0, len(raw), step):
            parser.feed(raw[i:i + step])
        parser.close()
    except MultipartError:
        pass


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(alphabet='ab/*;=,"\\ q.0123456789-\t', max_size=40), max_size=4))
def test_parse_accept_fails_only_with_accept_error(values):
    try:
        ranges = parse_accept(values)
    except AcceptError:
        return
    assert all(0.0 <= r.q <= 1.0 for r in ranges)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="/studiesrnacfmt0123456789.,%2F", max_size=60))
def test_parse_wado_path_fails_only_with_value_error(path):
    try:
        parsed = parse_wado_path(path)
    except ValueError:
        return
    assert parsed.to_path() == path
