"""The timed client's byte-level bookkeeping: multipart delimiters counted however the body is cut, and the
harness's ceiling server answering the same bytes as one well-formed multipart body. No timed assertion."""

from __future__ import annotations

import pytest

from harness.dicomweb import iter_multipart
from testplans.performance.measure import CeilingServer, PartCounter, fetch

BOUNDARY = "b0undary"


def _body(parts: list[bytes]) -> bytes:
    return b"".join(iter_multipart((([("Content-Type", "application/dicom")], p) for p in parts), BOUNDARY))


CASES = [([b"x" * 10], 1), ([b"a", b"bb", b"ccc"], 3), ([b"--b0undar", b"\r\n--b0undarx"], 2), ([], 0)]


@pytest.mark.parametrize(("parts", "count"), CASES)
def test_part_counter_whole_and_byte_by_byte(parts, count):
    body = _body(parts) if parts else b""
    whole = PartCounter(BOUNDARY)
    whole.feed(body)
    assert whole.parts == count
    single = PartCounter(BOUNDARY)
    for i in range(len(body)):
        single.feed(body[i:i + 1])
    assert single.parts == count


def test_ceiling_server_sends_the_files_as_one_multipart_body(tmp_path):
    files = []
    for i, size in enumerate((1000, 3 * 1024 * 1024 + 7, 1)):
        path = tmp_path / f"{i}.dcm"
        path.write_bytes(bytes([i + 1]) * size)
        files.append(path)
    with CeilingServer(files) as server:
        sample = fetch(server.url, [("Accept", "multipart/related")])
    assert sample.status == 200
    assert sample.parts == 3
    assert sample.bytes == server.length
    assert sample.ttfb_ms is not None and sample.first_part_ms is not None
    assert sample.first_part_ms >= sample.ttfb_ms and sample.total_ms >= sample.first_part_ms
