"""simulators.source.relay: the fast splitter agrees with harness.dicomweb's parser whatever the chunking;
parts with a Content-Length are counted (and a wrong one fails); truncation and bad syntax fail;
coalescing keeps the bytes; the file meta reader answers only once it has what it needs."""

from __future__ import annotations

import io

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian

from harness.dicomweb.multipart import MultipartError, encode_multipart
from simulators.source.rad107 import file_meta
from simulators.source.relay import DATA, END, START, ChunkReader, coalesce, split_parts

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


def _counted(payloads: list[bytes], lengths: list[int] | None = None) -> bytes:
    """A multipart body whose parts declare their Content-Length (as Orthanc's do)."""
    out = b""
    for i, p in enumerate(payloads):
        n = len(p) if lengths is None else lengths[i]
        out += (f"--{BOUNDARY}\r\nContent-Type: application/dicom\r\nContent-Length: {n}\r\n"
                f"MIME-Version: 1.0\r\n\r\n").encode() + p + b"\r\n"
    return out + f"--{BOUNDARY}--\r\n".encode()


COUNTED = [("Content-Type", "application/dicom"), ("Content-Length", None), ("MIME-Version", "1.0")]


def _with_length(p: bytes) -> list[tuple[str, str]]:
    return [(k, str(len(p)) if v is None else v) for k, v in COUNTED]


@settings(max_examples=150, deadline=None)
@given(payloads=st.lists(st.binary(max_size=300), min_size=1, max_size=5),
       sizes=st.lists(st.integers(1, 97), max_size=40), read_size=st.integers(1, 64))
def test_counted_parts_any_chunking(payloads, sizes, read_size):
    """Parts with a Content-Length are counted, not searched: even a body holding the delimiter itself
    comes out whole, whatever the chunking and the read size."""
    payloads = [p + b"\r\n--" + BOUNDARY.encode() + b"\r\n" if i % 2 else p for i, p in enumerate(payloads)]
    chunks = _cut(_counted(payloads), sizes)
    out, headers, data = [], None, []
    for kind, value in split_parts(chunks, BOUNDARY, read_size):
        if kind == START:
            headers, data = value, []
        elif kind == DATA:
            assert len(value) <= max(read_size, 4096)
            data.append(value)
        elif kind == END:
            out.append((headers, b"".join(data)))
    assert out == [(_with_length(p), p) for p in payloads]


def test_counted_reads_stop_at_the_part_end():
    """Each read of a counted part asks no more than the part holds: the chunks are handed on whole."""
    payloads = [b"a" * 10_000, b"b" * 5_000]
    body = _counted(payloads)
    asked = []
    reader = ChunkReader([body])

    def read1(n: int) -> bytes:
        asked.append(n)
        return reader(n)

    datas = [v for k, v in split_parts(read1, BOUNDARY, 4096) if k == DATA]
    assert b"".join(datas) == b"".join(payloads)
    assert all(set(d) in ({ord("a")}, {ord("b")}) for d in datas)  # no chunk straddles two parts


@pytest.mark.parametrize("lengths", [[5, 3], [3, 3], [4, 2], [99, 3]])
def test_a_wrong_content_length_fails(lengths):
    with pytest.raises(MultipartError, match="Content-Length"):
        _parts([_counted([b"abcd", b"xyz"], lengths)])


@pytest.mark.parametrize("value", ["-1", "1e3", "", "0x10", "9" * 20])
def test_an_unreadable_content_length_is_searched_instead(value):
    body = (f"--{BOUNDARY}\r\nContent-Length: {value}\r\n\r\nabc\r\n--{BOUNDARY}--\r\n").encode()
    assert _parts([body]) == [([("Content-Length", value)], b"abc")]


def test_truncated_counted_part_fails():
    body = _counted([b"x" * 100])
    for cut in (120, len(body) - 30, len(body) - 5):
        with pytest.raises(MultipartError):
            _parts([body[:cut]])


def test_chunk_reader_hands_chunks_on_whole():
    first = b"abcdef"
    reader = ChunkReader([first, b"", b"gh"])
    assert reader(10) is first
    assert reader(1) == b"g" and reader(5) == b"h" and reader(5) == b""


def test_file_meta_at_every_cut():
    """None until the transfer syntax is in; then the same answer whatever follows."""
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
    ds.file_meta.MediaStorageSOPInstanceUID = "1.2.3.4.5"
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.ImplementationClassUID = "1.2.3"
    ds.file_meta.ImplementationVersionName = "X"
    ds.SOPInstanceUID = "1.2.3.4.5"
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    data = buf.getvalue()
    full = file_meta(data)
    assert full == ("1.2.3.4.5", str(ExplicitVRLittleEndian))
    answers = [file_meta(data[:k]) for k in range(len(data) + 1)]
    first = answers.index(full)
    assert all(a is None for a in answers[:first]) and all(a == full for a in answers[first:])
