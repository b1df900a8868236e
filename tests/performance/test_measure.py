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


def _refs(tmp_path, sizes):
    """Instance files of one study in two series (the Source serves them as they are: no DICOM parsing)."""
    from types import SimpleNamespace

    refs = []
    for i, size in enumerate(sizes):
        path = tmp_path / f"{i}.dcm"
        path.write_bytes(bytes([i + 1]) * size)
        refs.append(SimpleNamespace(path=path, study_instance_uid="1.2.3", series_instance_uid=f"1.2.3.{i % 2}"))
    return refs


def test_timed_source_serves_the_stored_syntax_and_notes_what_it_sent(tmp_path):
    from harness.servers import serve_wsgi
    from testplans.performance.consumer import TimedSource
    from testplans.performance.source import JPEG_LS

    source = TimedSource()
    source.serve_files(_refs(tmp_path, (1000, 2 * 1024 * 1024 + 3, 10)))
    server = serve_wsgi(source.wsgi, "timed-source")
    try:
        base = server.url + "/wado-rs/studies/1.2.3"
        jls = [("Accept", f'multipart/related; type="application/dicom"; transfer-syntax={JPEG_LS}')]
        study = fetch(base, jls)
        series = fetch(base + "/series/1.2.3.0", jls)
        explicit_only = fetch(base, [("Accept", 'multipart/related; type="application/dicom"')])  # PS3.18 default
        unknown = fetch(server.url + "/wado-rs/studies/9.9", jls)
    finally:
        server.stop()
    assert (study.status, study.parts, series.status, series.parts) == (200, 3, 200, 2)
    assert (explicit_only.status, unknown.status) == (406, 404)
    served = sorted(source.served, key=lambda s: s.received)
    assert [s.status for s in served] == [200, 200, 406, 404]
    first = served[0]
    assert (first.bytes, first.parts) == (study.bytes, 3)
    assert first.received <= first.first_byte <= first.first_part <= first.last_byte
    assert [r.path for r in source.seen()][-1].endswith("/studies/9.9")  # recorded as the consumer plan does
