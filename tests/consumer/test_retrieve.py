"""simulators.consumer.retrieve against scripted Source answers (no network): headers, statuses,
retries, reference check, and malicious multipart bodies."""

from __future__ import annotations

import io
from pathlib import Path

import pydicom
import pytest

from harness.dicomweb.accept import parse_accept
from harness.dicomweb.multipart import encode_multipart
from simulators.consumer.config import DEFAULT_ACCEPT
from simulators.consumer.manifest import SeriesRef
from simulators.consumer.retrieve import RetrieveOptions, SeriesRetriever, accept_header
from testplans.consumer_drimbox.exams import new_patient, write_fixture_study

BOUNDARY = "b0undary"
CTYPE = f'multipart/related; type="application/dicom"; transfer-syntax=1.2.840.10008.1.2.1; boundary={BOUNDARY}'


class FakeResponse:
    def __init__(self, status: int, body: bytes = b"", ctype: str = CTYPE, chunk: int = 7):
        self.status_code, self.body, self.chunk = status, body, chunk
        self.headers = {"Content-Type": ctype}

    def iter_content(self, chunk_size: int = 0):
        for i in range(0, len(self.body), self.chunk):
            yield self.body[i:i + self.chunk]

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


class FakeHttp:
    """Answers scripted responses in turn and remembers the request headers."""

    def __init__(self, *answers):
        self.answers = list(answers)
        self.calls: list[dict] = []

    def get(self, url, headers, stream, timeout):
        self.calls.append(dict(headers))
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        return answer


@pytest.fixture(scope="module")
def series(tmp_path_factory):
    refs = write_fixture_study(tmp_path_factory.mktemp("src"), new_patient(), series=1, instances=3)
    ref = SeriesRef(refs[0].study_instance_uid, refs[0].series_instance_uid, "http://src/wado-rs/x",
                    {r.sop_instance_uid: r.sop_class_uid for r in refs})
    return ref, [Path(r.path).read_bytes() for r in refs]


def body(files: list[bytes], lengths: bool = False) -> bytes:
    parts = []
    for f in files:
        headers = [("Content-Type", "application/dicom")]
        if lengths:
            headers.append(("Content-Length", str(len(f))))
        parts.append((headers, f))
    return encode_multipart(parts, BOUNDARY)


def retriever(http, tmp_path, reauth=lambda: True, **options):
    tokens = iter(["t1", "t2", "t3"])
    state = {"token": next(tokens)}

    def renew():
        ok = reauth()
        if ok:
            state["token"] = next(tokens)
        return ok
    return SeriesRetriever(http, token=lambda: state["token"], reauth=renew, kos_uid="1.2.3.4", accept=DEFAULT_ACCEPT,
                           folder=tmp_path, retries=2, retry_delay=0, options=RetrieveOptions(**options))


def test_accept_header_has_every_syntax_with_q():
    ranges = parse_accept(accept_header(DEFAULT_ACCEPT))
    assert [(r.transfer_syntax, r.q) for r in ranges] == [(ts, q) for ts, q in DEFAULT_ACCEPT]
    assert all(r.related_type == "application/dicom" for r in ranges)
    assert "q=" not in accept_header(DEFAULT_ACCEPT, with_q=False)


def test_complete_series(series, tmp_path):
    ref, files = series
    http = FakeHttp(FakeResponse(200, body(files, lengths=True)))
    result = retriever(http, tmp_path).retrieve(ref)
    assert result.status == "complete" and set(result.files) == set(ref.instances)
    for uid, path in result.files.items():
        assert str(pydicom.dcmread(path).SOPInstanceUID) == uid
    assert http.calls[0]["Authorization"] == "Bearer t1" and http.calls[0]["KOS-SOPInstanceUID"] == "1.2.3.4"


@pytest.mark.parametrize(("options", "absent"), [({"bearer": False}, "Authorization"),
                                                 ({"kos_uid_header": False}, "KOS-SOPInstanceUID")])
def test_fault_switches_drop_headers(series, tmp_path, options, absent):
    ref, files = series
    http = FakeHttp(FakeResponse(200, body(files)))
    retriever(http, tmp_path, **options).retrieve(ref)
    assert absent not in http.calls[0]


def test_missing_instance_is_reported(series, tmp_path):
    ref, files = series
    result = retriever(FakeHttp(FakeResponse(200, body(files[:-1]))), tmp_path).retrieve(ref)
    assert result.status == "incomplete" and len(result.missing) == 1 and not result.extra


def test_extra_instance_is_reported(series, tmp_path):
    ref, files = series
    ds = pydicom.dcmread(io.BytesIO(files[0]))
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = "1.2.3.999"
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    result = retriever(FakeHttp(FakeResponse(200, body([*files, buf.getvalue()]))), tmp_path).retrieve(ref)
    assert result.status == "incomplete" and result.extra == ["1.2.3.999"]


def test_skipping_the_check_accepts_an_incomplete_series(series, tmp_path):
    ref, files = series
    result = retriever(FakeHttp(FakeResponse(200, body(files[:-1]))), tmp_path,
                       check_references=False).retrieve(ref)
    assert result.status == "complete" and len(result.missing) == 1


@pytest.mark.parametrize("mangle", [
    lambda b: b[: len(b) // 2],  # truncated inside a part
    lambda b: b.replace(BOUNDARY.encode(), b"other"),  # body boundary differs from the header's
    lambda b: b"",  # empty body
    lambda b: b.replace(b"Content-Type: application/dicom", b"Content-Type: text/html", 1),  # not DICOM
    lambda b: b.replace(b"DICM", b"XXXX", 1),  # unreadable DICOM part
], ids=["truncated", "wrong-boundary", "empty", "not-dicom", "corrupt-part"])
def test_malformed_multipart_keeps_nothing(series, tmp_path, mangle):
    ref, files = series
    result = retriever(FakeHttp(FakeResponse(200, mangle(body(files)))), tmp_path).retrieve(ref)
    assert result.status == "malformed" and result.detail and not result.files
    assert not (tmp_path / ref.series_uid).exists()


def test_part_longer_than_announced(series, tmp_path):
    ref, files = series
    raw = body(files, lengths=True).replace(f"Content-Length: {len(files[0])}".encode(),
                                            f"Content-Length: {len(files[0]) - 10}".encode(), 1)
    result = retriever(FakeHttp(FakeResponse(200, raw)), tmp_path).retrieve(ref)
    assert result.status == "malformed" and "announced" in result.detail


def test_duplicate_instance_is_malformed(series, tmp_path):
    ref, files = series
    result = retriever(FakeHttp(FakeResponse(200, body([files[0], files[0]]))), tmp_path).retrieve(ref)
    assert result.status == "malformed" and "twice" in result.detail


def test_oversized_part_is_refused(series, tmp_path):
    ref, files = series
    r = retriever(FakeHttp(FakeResponse(200, body(files))), tmp_path)
    r.max_part_bytes = 100
    assert r.retrieve(ref).status == "malformed"


def test_401_reauthenticates_once_with_a_new_token(series, tmp_path):
    ref, files = series
    http = FakeHttp(FakeResponse(401), FakeResponse(200, body(files)))
    result = retriever(http, tmp_path).retrieve(ref)
    assert result.status == "complete" and result.reauthenticated
    assert [c["Authorization"] for c in http.calls] == ["Bearer t1", "Bearer t2"]


def test_401_twice_is_unauthorized(series, tmp_path):
    ref, _ = series
    http = FakeHttp(FakeResponse(401))
    assert retriever(http, tmp_path).retrieve(ref).status == "unauthorized"
    assert len(http.calls) == 2


def test_401_without_renewal_is_unauthorized(series, tmp_path):
    ref, _ = series
    http = FakeHttp(FakeResponse(401))
    assert retriever(http, tmp_path, reauth=lambda: False).retrieve(ref).status == "unauthorized"
    assert len(http.calls) == 1


@pytest.mark.parametrize(("status", "outcome", "calls"), [(410, "deleted", 1), (406, "not-acceptable", 1),
                                                          (404, "not-found", 3), (500, "server-error", 3),
                                                          (403, "error", 1)])
def test_error_statuses(series, tmp_path, status, outcome, calls):
    ref, _ = series
    http = FakeHttp(FakeResponse(status))
    result = retriever(http, tmp_path).retrieve(ref)
    assert result.status == outcome and len(http.calls) == calls and not result.files


def test_server_error_then_success(series, tmp_path):
    ref, files = series
    http = FakeHttp(FakeResponse(503), FakeResponse(200, body(files)))
    result = retriever(http, tmp_path).retrieve(ref)
    assert result.status == "complete" and result.attempts == 2


def test_connection_error_is_retried(series, tmp_path):
    ref, files = series
    http = FakeHttp(ConnectionError("refused"), FakeResponse(200, body(files)))
    assert retriever(http, tmp_path).retrieve(ref).status == "complete"


def test_refused_series_sends_nothing(series, tmp_path):
    ref, _ = series
    http = FakeHttp(FakeResponse(200))
    refused = SeriesRef(ref.study_uid, ref.series_uid, "http://evil/x", dict(ref.instances), refused="not allowed")
    assert retriever(http, tmp_path).retrieve(refused).status == "refused" and http.calls == []


# ---------------------------------------------------------------- the switches named faults turn
def test_401_without_refresh_asks_again_with_the_same_token(series, tmp_path):
    ref, files = series
    http = FakeHttp(FakeResponse(401), FakeResponse(200, body(files)))
    result = retriever(http, tmp_path, refresh_on_401=False).retrieve(ref)
    assert result.status == "complete"
    assert [c["Authorization"] for c in http.calls] == ["Bearer t1", "Bearer t1"]


def test_a_status_left_out_of_the_outcomes_is_a_generic_error(series, tmp_path):
    ref, _ = series
    result = retriever(FakeHttp(FakeResponse(410)), tmp_path, outcomes={}).retrieve(ref)
    assert result.status == "error" and result.detail == "HTTP 410"


def test_keeping_parts_of_a_malformed_answer_reports_it_incomplete(series, tmp_path):
    ref, files = series
    raw = body(files)
    truncated = raw[: raw.index(files[-1][200:300])]  # inside the last part
    result = retriever(FakeHttp(FakeResponse(200, truncated)), tmp_path, keep_parts_on_error=True).retrieve(ref)
    assert result.status == "incomplete" and len(result.files) == 2 and len(result.missing) == 1
