"""simulators.source.rad107 against a running stack: transcoding, frames, methods, order of the checks."""

from __future__ import annotations

import io

import pytest
import requests
from pydicom import dcmread

from harness.dicomweb import parse_multipart
from simulators.source.rad107 import syntaxes_for, transcode
from tests.source.conftest import pacs_bytes

EXPLICIT, JLS, J2K = "1.2.840.10008.1.2.1", "1.2.840.10008.1.2.4.80", "1.2.840.10008.1.2.4.90"


def _get(stack, key: str, tail: str = "", accept: str = "", **headers):
    ex = stack.exams[key]
    base = {"Authorization": f"Bearer {stack.token()}", "KOS-SOPInstanceUID": stack.kos[key],
            "Accept": accept or f'multipart/related; type="application/dicom"; transfer-syntax={EXPLICIT}'}
    return requests.get(f"{stack.source.endpoints['wado_rs']}/studies/{ex.study_uid}{tail}",
                        headers={**base, **headers}, timeout=30)


@pytest.mark.parametrize(("key", "target"), [("jls", EXPLICIT), ("j2k", EXPLICIT), ("explicit", JLS),
                                             ("explicit", J2K)])
def test_transcoding_keeps_the_pixels(stack, key, target):
    resp = _get(stack, key, accept=f'multipart/related; type="application/dicom"; transfer-syntax={target}')
    assert resp.status_code == 200, resp.text
    for _h, data in parse_multipart(resp.headers["Content-Type"], resp.content):
        ds = dcmread(io.BytesIO(data))
        assert ds.file_meta.TransferSyntaxUID == target
        held = dcmread(io.BytesIO(pacs_bytes(stack, str(ds.SOPInstanceUID))))
        assert (ds.pixel_array == held.pixel_array).all()


def test_compressed_frames_keep_their_bitstream(stack):
    ex = stack.exams["jls"]
    rec = stack.pacs.store.records({"study_uid": [ex.study_uid]})[0]
    tail = f"/series/{rec['SeriesInstanceUID']}/instances/{rec['SOPInstanceUID']}/frames/1"
    resp = _get(stack, "jls", tail, accept='multipart/related; type="image/jls"')
    assert resp.status_code == 200 and 'type="image/jls"' in resp.headers["Content-Type"]
    native = _get(stack, "jls", tail, accept='multipart/related; type="application/octet-stream"')
    [(_h, frame)] = parse_multipart(native.headers["Content-Type"], native.content)
    assert len(frame) == 32 * 32 * 2


def test_frame_out_of_range_is_404(stack):
    ex = stack.exams["explicit"]
    rec = stack.pacs.store.records({"study_uid": [ex.study_uid]})[0]
    tail = f"/series/{rec['SeriesInstanceUID']}/instances/{rec['SOPInstanceUID']}/frames/2"
    assert _get(stack, "explicit", tail, accept='multipart/related; type="application/octet-stream"').status_code \
        == 404


def test_series_not_in_the_kos_is_404(stack):
    assert _get(stack, "explicit", "/series/1.2.3.4.5").status_code == 404


def test_post_is_405(stack):
    ex = stack.exams["explicit"]
    resp = requests.post(f"{stack.source.endpoints['wado_rs']}/studies/{ex.study_uid}", data=b"x", timeout=10)
    assert resp.status_code == 405


def test_missing_accept_is_400(stack):
    ex = stack.exams["explicit"]
    resp = requests.get(f"{stack.source.endpoints['wado_rs']}/studies/{ex.study_uid}", headers={
        "Authorization": f"Bearer {stack.token()}", "KOS-SOPInstanceUID": stack.kos["explicit"],
        "Accept": ""}, timeout=10)
    assert resp.status_code == 400


def test_token_is_checked_before_the_kos_uid(stack):
    ex = stack.exams["explicit"]
    resp = requests.get(f"{stack.source.endpoints['wado_rs']}/studies/{ex.study_uid}", timeout=10)
    assert resp.status_code == 401 and resp.headers["WWW-Authenticate"].startswith("Bearer")


def test_offers():
    assert syntaxes_for(JLS) == [JLS, EXPLICIT]
    assert syntaxes_for(EXPLICIT)[0] == EXPLICIT and JLS in syntaxes_for(EXPLICIT)


def test_transcode_of_bad_bytes_raises():
    from pydicom.errors import InvalidDicomError

    with pytest.raises(InvalidDicomError):
        transcode(b"not dicom", EXPLICIT)


def test_kos_references_fast_reader_agrees_with_pydicom():
    from pydicom.uid import generate_uid

    from simulators.source.kos import Identity, ImageRef, build_kos, referenced
    from simulators.source.rad107 import kos_references

    who = Identity("1", "1.2.250.1.213.1.4.10", "A", "B", "19800101", "M", "75056", [], str(generate_uid()), "1",
                   "1.2", "2", "1.3")
    series = [str(generate_uid()) for _ in range(3)]
    images = [ImageRef(series[i % 3], "1.2.840.10008.5.1.4.1.1.2", str(generate_uid()), i, "CT", "1", "1",
                       "20240101", "1200") for i in range(30)]
    _uid, data = build_kos(who, images, retrieve_base="http://x/wado-rs", institution="X")
    assert kos_references(data) == referenced(dcmread(io.BytesIO(data)))
    assert sum(len(v) for v in kos_references(data).values()) == 30


# -- the functions the named WADO-RS faults swap in ------------------------------------------------------
@pytest.mark.parametrize(("raw", "resolved"), [
    ("/wado-rs/studies/1.2/../../studies/1.2", "/wado-rs/studies/1.2"),
    ("/wado-rs/studies/./1.2", "/wado-rs/studies/1.2"),
    ("/wado-rs/../../../etc", "/etc"),
])
def test_resolve_dot_segments(raw, resolved):
    from simulators.source.rad107 import resolve_dot_segments

    assert resolve_dot_segments(raw) == resolved


def test_unbounded_accept_parses_what_the_bounded_parser_refuses():
    from harness.dicomweb import AcceptError, parse_accept
    from simulators.source.rad107 import parse_accept_unbounded

    huge = [", ".join(['multipart/related; type="application/dicom"; transfer-syntax=*'] * 400)]
    with pytest.raises(AcceptError):
        parse_accept(huge)
    assert len(parse_accept_unbounded(huge)) == 400
    for bad in (['multipart/related; type="application/dicom"; q=abc'], ['a/b; x=";;;,,']):
        with pytest.raises(AcceptError):
            parse_accept_unbounded(bad)


def test_select_ignoring_series_reads_a_series_as_its_study():
    from harness.dicomweb.paths import WadoPath
    from simulators.source.rad107 import select, select_ignoring_series

    refs = {"1.1": ["1.1.1", "1.1.2"], "1.2": ["1.2.1"]}
    assert select(refs, WadoPath("9", series="1.2")) == [("1.2", "1.2.1")]
    assert len(select_ignoring_series(refs, WadoPath("9", series="1.2"))) == 3
    assert select_ignoring_series(refs, WadoPath("9", series="1.2", instance="1.1.2")) == [("1.1", "1.1.2")]
