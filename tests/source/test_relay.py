"""simulators.source.relay: the fast splitter agrees with harness.dicomweb's parser whatever the chunking;
truncation and bad syntax fail; read-ahead hands errors over and stops; coalescing keeps the bytes."""

from __future__ import annotations

import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.dicomweb.multipart import MultipartError, encode_multipart
from simulators.source.relay import DATA, END, START, coalesce, read_ahead, split_parts

BOUNDARY = "relay-test-boundary"


def _parts(chunks, boundary=BOUNDARY):
    out, headers, data = [], None, []
    for kind, value in split_parts(chunks, boundary):
        if kind == START:
            headers, data = value, []
        elif kind == DATA:
            data.append(value)
        elif kind == END:
            out.append((headers, b"".join(data)))
    return out


def _cut(body: bytes, sizes: list[int]) -> list[bytes]:
    chunks, pos = [], 0
    for size in sizes:
        chunks.append(body[pos:pos + size])
        pos += size
    return [*chunks, body[pos:]]


PAYLOADS = st.lists(st.binary(max_size=300).map(lambda b: b.replace(b"--relay", b"--relaX")), min_size=1,
                    max_size=5)


@settings(max_examples=150, deadline=None)
@given(payloads=PAYLOADS, sizes=st.lists(st.integers(1, 97), max_size=40))
def test_any_chunking_gives_the_parts(payloads, sizes):
    parts = [([("Content-Type", "application/dicom")], p) for p in payloads]
    body = b"preamble\r\n" + encode_multipart(parts, BOUNDARY) + b"epilogue"
    assert _parts(_cut(body, sizes)) == [([("Content-Type", "application/dicom")], p) for p in payloads]


def test_body_starting_with_the_delimiter_and_padding():
    body = b"--b  \r\nA: 1\r\n\r\nxy\r\n--b\r\n\r\nz\r\n--b--\r\n"
    assert _parts([body], "b") == [([("A", "1")], b"xy"), ([], b"z")]


@pytest.mark.parametrize("body", [b"--b\r\nA: 1\r\n\r\nxy", b"--b\r\nA: 1", b"no delimiter at all",
                                  b"--b\r\nno colon\r\n\r\nx\r\n--b--", b"--bXX\r\n\r\nx\r\n--b--"])
def test_truncated_or_malformed_bodies_fail(body):
    with pytest.raises(MultipartError):
        _parts([body], "b")


def test_read_ahead_passes_chunks_and_errors():
    assert list(read_ahead(iter([b"a", b"b"]), 1)) == [b"a", b"b"]

    def broken():
        yield b"a"
        raise OSError("PACS connection reset")

    gen = read_ahead(broken(), 2)
    assert next(gen) == b"a"
    with pytest.raises(OSError):
        next(gen)


def test_read_ahead_stops_its_thread_when_closed():
    closed = threading.Event()

    def endless():
        while True:
            yield b"x" * 10

    before = set(threading.enumerate())
    gen = read_ahead(endless(), 2, on_close=closed.set)
    assert next(gen) == b"x" * 10
    [pump] = [t for t in threading.enumerate() if t not in before]
    gen.close()
    assert closed.is_set()
    pump.join(timeout=5)
    assert not pump.is_alive()


def test_coalesce_keeps_bytes_and_order():
    pieces = [b"h", b"ab", b"c" * 10, b"d", b"e", b"f" * 3]
    out = list(coalesce(pieces, 4))
    assert b"".join(out) == b"".join(pieces)
    assert out[0] == b"h" and b"c" * 10 in out


def test_near_delimiters_at_every_cut():
    """Body bytes that start like the delimiter, cut anywhere into two or three chunks."""
    payloads = [b"a\r\n--relay-test-boundarZ\r\n--relay-test-bound", b"\r\n--relay-test-boundar", b"\r\n"]
    parts = [([("Content-Type", "application/dicom")], p) for p in payloads]
    body = encode_multipart(parts, BOUNDARY)
    for i in range(1, len(body)):
        for j in range(i, len(body), 7):
            assert _parts([body[:i], body[i:j], body[j:]]) == parts, (i, j)
