"""Table tests of the multipart/related codec (STYLE §2): each case encoded, decoded whole,
fed one byte at a time, and with trailing garbage after the close delimiter."""

from __future__ import annotations

import pytest

from harness.dicomweb.multipart import (
    Epilogue,
    MultipartError,
    MultipartParser,
    PartData,
    PartEnd,
    PartStart,
    boundary_from_content_type,
    content_type_header,
    encode_multipart,
    iter_multipart,
    new_boundary,
    parse_multipart,
)

B = "b0und"
DICOM = [("Content-Type", "application/dicom")]

# (parts, exact bytes on the wire with boundary B)
CASES = [
    ([(DICOM, b"DICM")],
     b"--b0und\r\nContent-Type: application/dicom\r\n\r\nDICM\r\n--b0und--\r\n"),
    ([(DICOM, b"")],
     b"--b0und\r\nContent-Type: application/dicom\r\n\r\n\r\n--b0und--\r\n"),
    ([([], b"no headers")],
     b"--b0und\r\n\r\nno headers\r\n--b0und--\r\n"),
    ([(DICOM, b"one"), ([("Content-Type", "application/octet-stream"), ("Content-Location", "/f/1")],
                        b"two")],
     b"--b0und\r\nContent-Type: application/dicom\r\n\r\none\r\n"
     b"--b0und\r\nContent-Type: application/octet-stream\r\nContent-Location: /f/1\r\n\r\n"
     b"two\r\n--b0und--\r\n"),
    # body bytes that look like a delimiter but are not (no CRLF before, or a longer line)
    ([(DICOM, b"--b0und inside\r\n-b0und\r\n--b0un")],
     b"--b0und\r\nContent-Type: application/dicom\r\n\r\n"
     b"--b0und inside\r\n-b0und\r\n--b0un\r\n--b0und--\r\n"),
    # CRLF and binary at the edges of a body are data
    ([(DICOM, b"\r\n\x00\xff\r\n")],
     b"--b0und\r\nContent-Type: application/dicom\r\n\r\n\r\n\x00\xff\r\n\r\n--b0und--\r\n"),
]


def _events_to_parts(events: list) -> tuple[list, bytes]:
    parts, epilogue, data = [], b"", []
    for ev in events:
        if isinstance(ev, PartStart):
            parts.append([ev.headers, None])
            data = []
        elif isinstance(ev, PartData):
            assert ev.data, "empty PartData events are noise"
            data.append(ev.data)
        elif isinstance(ev, PartEnd):
            parts[-1][1] = b"".join(data)
        elif isinstance(ev, Epilogue):
            epilogue += ev.data
    return [(h, b) for h, b in parts], epilogue


def _feed(raw: bytes, step: int) -> tuple[list, bytes]:
    parser = MultipartParser(B)
    events = []
    for i in range(0, len(raw), step):
        events += parser.feed(raw[i:i + step])
    events += parser.close()
    return _events_to_parts(events)


@pytest.mark.parametrize(("parts", "raw"), CASES)
def test_encode(parts, raw):
    assert encode_multipart(parts, B) == raw


@pytest.mark.parametrize(("parts", "raw"), CASES)
@pytest.mark.parametrize("step", [1, 2, 7, 1 << 20])
def test_decode_in_chunks(parts, raw, step):
    assert _feed(raw, step) == (parts, b"")


@pytest.mark.parametrize(("parts", "raw"), CASES)
def test_trailing_garbage_is_epilogue(parts, raw):
    garbage = b"garbage\r\n--b0und\r\nmore"
    assert _feed(raw + garbage, 1) == (parts, garbage)
    assert _feed(raw + garbage, 5) == (parts, garbage)


@pytest.mark.parametrize(("parts", "raw"), CASES)
def test_preamble_is_skipped(parts, raw):
    assert _feed(b"preamble --b0und text\r\n" + raw, 1) == (parts, b"")
    assert parse_multipart(f"multipart/related; boundary={B}", b"\r\n" + raw) == parts


def test_streamed_body_chunks_and_lazy_parts():
    pulled = []

    def parts():
        for i in range(3):
            pulled.append(i)
            yield DICOM, iter([b"a" * 10, b"", b"b" * 5])

    stream = iter_multipart(parts(), B)
    first = next(stream)
    assert first.startswith(b"--b0und\r\n") and pulled == [0]
    raw = first + b"".join(stream)
    assert parse_multipart(f"multipart/related; boundary={B}", [raw]) == [(DICOM, b"a" * 10 + b"b" * 5)] * 3


def test_large_part_is_streamed_in_bounded_events():
    body = bytes(range(256)) * 4096  # 1 MiB
    raw = encode_multipart([(DICOM, body)], B)
    parser = MultipartParser(B)
    sizes = []
    got = []
    for i in range(0, len(raw), 65536):
        for ev in parser.feed(raw[i:i + 65536]):
            if isinstance(ev, PartData):
                sizes.append(len(ev.data))
                got.append(ev.data)
    parser.close()
    assert b"".join(got) == body
    assert max(sizes) <= 65536


BAD = [
    ("truncated inside body", b"--b0und\r\n\r\nabc", "inside part 1"),
    ("truncated before close", b"--b0und\r\n\r\nabc\r\n--b0und", "after a delimiter"),
    ("truncated in headers", b"--b0und\r\nContent-Type: app", "headers of part 1"),
    ("wrong boundary", b"--other\r\n\r\nabc\r\n--other--\r\n", "wrong boundary"),
    ("empty body", b"", "wrong boundary"),
    ("garbage after delimiter", b"--b0und\r\n\r\nabc\r\n--b0undX\r\n", "followed by"),
    ("malformed header", b"--b0und\r\nno colon here\r\n\r\nabc\r\n--b0und--\r\n", "malformed header"),
]


@pytest.mark.parametrize(("name", "raw", "message"), BAD, ids=[c[0] for c in BAD])
@pytest.mark.parametrize("step", [1, 1 << 20])
def test_bad_input_raises(name, raw, message, step):
    with pytest.raises(MultipartError, match=message):
        _feed(raw, step)


def test_part_size_limit():
    raw = encode_multipart([(DICOM, b"x" * 100)], B)
    assert parse_multipart(f"multipart/related; boundary={B}", raw, max_part_size=100)
    with pytest.raises(MultipartError, match="larger than 99"):
        parse_multipart(f"multipart/related; boundary={B}", raw, max_part_size=99)


def test_header_size_and_part_count_limits():
    raw = encode_multipart([([("X-Big", "v" * 200)], b"")], B)
    with pytest.raises(MultipartError, match="headers longer"):
        p = MultipartParser(B, max_header_size=64)
        p.feed(raw)
    raw = encode_multipart([(DICOM, b"1"), (DICOM, b"2")], B)
    with pytest.raises(MultipartError, match="more than 1 parts"):
        parse_multipart(f"multipart/related; boundary={B}", raw, max_parts=1)


def test_feed_after_close_refused():
    p = MultipartParser(B)
    p.feed(encode_multipart([(DICOM, b"")], B))
    assert p.finished
    p.close()
    with pytest.raises(MultipartError):
        p.feed(b"x")


@pytest.mark.parametrize("value", ["bad\r\nX-Injected: 1", "nul\0"])
def test_writer_refuses_header_injection(value):
    with pytest.raises(MultipartError):
        encode_multipart([([("Content-Type", value)], b"")], B)


@pytest.mark.parametrize("boundary", ["", "x" * 71, "ends with space ", "semi;colon", "quo\"te"])
def test_invalid_boundaries(boundary):
    with pytest.raises(MultipartError):
        MultipartParser(boundary)
    with pytest.raises(MultipartError):
        encode_multipart([], boundary)


def test_new_boundary_is_valid_and_unique():
    a, b = new_boundary(), new_boundary()
    assert a != b
    assert boundary_from_content_type(content_type_header("multipart/related", a)) == a


CONTENT_TYPES = [
    ('multipart/related; type="application/dicom"; boundary=abc', "abc"),
    ('Multipart/Related; BOUNDARY="a b:c"; type="application/dicom"', "a b:c"),
    ('multipart/related;type="application/dicom;x=1";boundary=q', "q"),
    ("multipart/related; boundary=x.y;", "x.y"),
]


@pytest.mark.parametrize(("ct", "boundary"), CONTENT_TYPES)
def test_boundary_from_content_type(ct, boundary):
    assert boundary_from_content_type(ct) == boundary


@pytest.mark.parametrize("ct", ["application/dicom; boundary=x", "multipart/related; type=a",
                                "multipart/related; boundary=\"unterminated", "garbage"])
def test_boundary_from_bad_content_type(ct):
    with pytest.raises(MultipartError):
        boundary_from_content_type(ct)


def test_content_type_header_dicomweb_shape():
    ct = content_type_header("multipart/related", "abc", type="application/dicom",
                             transfer_syntax="1.2.840.10008.1.2.4.80")
    assert ct == ('multipart/related; type="application/dicom"; '
                  "transfer-syntax=1.2.840.10008.1.2.4.80; boundary=abc")


try:
    from hypothesis import given, settings
    from hypothesis import strategies as st
except ImportError:  # pragma: no cover - hypothesis is a test extra
    given = None

if given is not None:
    @settings(max_examples=200, deadline=None)
    @given(bodies=st.lists(st.binary(max_size=64) | st.sampled_from([b"\r\n--b0und", b"--b0und--", b"\r\n"]),
                           max_size=5),
           step=st.integers(min_value=1, max_value=40))
    def test_round_trip_any_bodies_any_chunking(bodies, step):
        parts = [(DICOM, body) for body in bodies if b"\r\n--b0und" not in body] or [(DICOM, b"")]
        raw = encode_multipart(parts, B)
        assert _feed(raw, step) == (parts, b"")


def test_one_big_feed_spanning_slices_with_long_epilogue():
    big = b"\x00\r\n-" * 100_000  # 400 kB per part: more than one internal slice
    parts = [(DICOM, big), (DICOM, b"small"), (DICOM, big)]
    epilogue = b"E" * 600_000
    assert _feed(encode_multipart(parts, B) + epilogue, 1 << 30) == (parts, epilogue)


def test_iter_parts_yields_each_part_before_the_stream_ends():
    from harness.dicomweb.multipart import iter_parts

    raw = encode_multipart([(DICOM, b"first"), (DICOM, b"second")], B)
    cut = raw.index(b"second") + len(b"second") + 2  # first part complete, second not yet closed
    fed = []

    def chunks():
        fed.append(1)
        yield raw[:cut]
        fed.append(2)
        yield raw[cut:]

    parts = iter_parts(f"multipart/related; boundary={B}", chunks())
    assert next(parts) == (DICOM, b"first") and fed == [1]
    assert list(parts) == [(DICOM, b"second")] and fed == [1, 2]


def test_iter_parts_reports_truncation_after_good_parts():
    from harness.dicomweb.multipart import iter_parts

    raw = encode_multipart([(DICOM, b"first"), (DICOM, b"second")], B)[:-12]
    got = []
    with pytest.raises(MultipartError, match="truncated"):
        for part in iter_parts(f"multipart/related; boundary={B}", [raw]):
            got.append(part)
    assert got == [(DICOM, b"first")]
