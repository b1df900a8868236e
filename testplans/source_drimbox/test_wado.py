"""RAD-107 WADO-RS of the Source: levels, multipart, negotiation, streaming (ANS DRIM-M_DATA Simulateur client wadoRS,
DICOM PS3.18 §10.4)."""

from __future__ import annotations

import json

import pytest
from pydicom import dcmread

from harness.checks import expect, expect_equal, fail
from harness.dicomweb import MultipartError, parse_multipart
from testplans.source_drimbox.conftest import published_kos
from testplans.source_drimbox.consumer import ANY_DICOM, EXPLICIT, JPEG_LS, dicom_accept, request
from testplans.source_drimbox.support import dicom_parts, split_parts


def _originals(env, key: str) -> dict[str, object]:
    return {str(ds.SOPInstanceUID): ds for ds in (dcmread(p) for p in env.files[key])}


def _referenced(env, key: str) -> dict[str, list[str]]:
    """series -> instances the published KOS of exam ``key`` references: what WADO-RS shares (IHE RAD-107).
    Whether the KOS references the whole study is SRC-KOS-REFS's question, not these tests'."""
    out: dict[str, list[str]] = {}
    for study in published_kos(env, key).kos().CurrentRequestedProcedureEvidenceSequence:
        for series in study.ReferencedSeriesSequence:
            out.setdefault(str(series.SeriesInstanceUID), []).extend(
                str(r.ReferencedSOPInstanceUID) for r in series.ReferencedSOPSequence)
    return out


def _shared(env, key: str) -> set[str]:
    return {sop for sops in _referenced(env, key).values() for sop in sops}


def _get(env, key: str, tail: str = "", **kwargs):
    kos = published_kos(env, key).kos()
    kwargs.setdefault("token", env.token())
    kwargs.setdefault("kos", str(kos.SOPInstanceUID))
    return request(env.wado, f"/studies/{kos.StudyInstanceUID}{tail}", **kwargs)


def _expect_instances(reply, originals: dict, wanted: set[str], rule: str, where: str) -> None:
    expect_equal(reply.status, 200, rule=rule, location=where, message="retrieve succeeds")
    parts = dicom_parts(reply.body, reply.content_type)
    got = {str(ds.SOPInstanceUID) for ds in parts}
    expect_equal(got, wanted, rule=rule, location=where, message="exactly the requested instances")
    for ds in parts:
        orig = originals[str(ds.SOPInstanceUID)]
        same = ds.file_meta.TransferSyntaxUID == orig.file_meta.TransferSyntaxUID and ds.PixelData == orig.PixelData
        expect(same, rule=rule, location=f"{where} {ds.SOPInstanceUID}", expected="stored syntax and pixel data",
               observed=str(ds.file_meta.TransferSyntaxUID), message="instance returned unchanged")


@pytest.mark.requirement("SRC-WADO-LEVELS")
def test_study_series_and_instance_levels(env):
    """Each level returns exactly what the KOS references under it (PS3.18 §10.4.1.1.1-3), as stored."""
    originals = _originals(env, "main")
    by_series = _referenced(env, "main")
    _expect_instances(_get(env, "main"), originals, _shared(env, "main"), "SRC-WADO-LEVELS", "study")
    series, sops = sorted(by_series.items())[0]
    _expect_instances(_get(env, "main", f"/series/{series}"), originals, set(sops), "SRC-WADO-LEVELS", "series")
    _expect_instances(_get(env, "main", f"/series/{series}/instances/{sops[0]}"), originals, {sops[0]},
                      "SRC-WADO-LEVELS", "instance")


@pytest.mark.requirement("SRC-WADO-FRAMES")
def test_frames_level(env):
    shared = _shared(env, "main")
    ds = next(d for d in _originals(env, "main").values() if str(d.SOPInstanceUID) in shared)
    reply = _get(env, "main", f"/series/{ds.SeriesInstanceUID}/instances/{ds.SOPInstanceUID}/frames/1",
                 accept=['multipart/related; type="application/octet-stream"'])
    expect_equal(reply.status, 200, rule="SRC-WADO-FRAMES", location="frames/1", message="frame retrieve")
    parts = split_parts(reply.body, reply.content_type)
    expect(len(parts) == 1 and parts[0][1] == ds.PixelData, rule="SRC-WADO-FRAMES", location="frames/1",
           expected=f"one part of {len(ds.PixelData)} bytes (the native frame)",
           observed=[len(p[1]) for p in parts], message="the frame's pixel data")


# The transfer syntaxes the ANS WADO-RS client simulator asks a frame in, in its order, each with q=0.5
# (ANS DRIM-M_DATA test a blanc/Simulateur client wadoRS/OK_Frames.txt): JPEG lossless, JPEG-LS lossless,
# JPEG 2000, JPEG baseline and extended, MPEG-2 and MPEG-4, explicit VR little endian.
ANS_FRAMES_SYNTAXES = ("1.2.840.10008.1.2.4.70", "1.2.840.10008.1.2.4.80", "1.2.840.10008.1.2.4.91",
                       "1.2.840.10008.1.2.4.50", "1.2.840.10008.1.2.4.51", "1.2.840.10008.1.2.4.100",
                       "1.2.840.10008.1.2.4.101", "1.2.840.10008.1.2.4.102", "1.2.840.10008.1.2.4.103",
                       "1.2.840.10008.1.2.1")
# written as that client writes it: one line, no space after the semicolons, boundary=** and a trailing comma
ANS_FRAMES_ACCEPT = "".join(f'multipart/related; type="application/dicom";transfer-syntax={ts};q=0.5;boundary=**,'
                            for ts in ANS_FRAMES_SYNTAXES)


@pytest.mark.requirement("SRC-WADO-FRAMES")
@pytest.mark.parametrize("key", ["main", "jls"])
def test_frames_as_the_ans_client_asks(env, key):
    """The ANS client asks frames with ``type="application/dicom"`` and ten transfer syntaxes."""
    shared = _shared(env, key)
    ds = sorted((d for d in _originals(env, key).values() if str(d.SOPInstanceUID) in shared),
                key=lambda d: str(d.SOPInstanceUID))[0]
    reply = _get(env, key, f"/series/{ds.SeriesInstanceUID}/instances/{ds.SOPInstanceUID}/frames/1",
                 accept=[ANS_FRAMES_ACCEPT])
    where = f"frames/1 of a {ds.file_meta.TransferSyntaxUID.name} instance, Accept of OK_Frames.txt"
    expect_equal(reply.status, 200, rule="SRC-WADO-FRAMES", location=where,
                 message="the ANS client simulator's frames request is served")
    parts = split_parts(reply.body, reply.content_type)
    if ds.file_meta.TransferSyntaxUID.is_compressed:
        from pydicom.encaps import generate_frames

        wanted = next(generate_frames(ds.PixelData, number_of_frames=1))
    else:
        wanted = ds.PixelData
    expect(len(parts) == 1 and parts[0][1] == wanted, rule="SRC-WADO-FRAMES", location=where,
           expected=f"one part of {len(wanted)} bytes (the frame as stored, one of the syntaxes asked)",
           observed=[(p[0].get("content-type"), len(p[1])) for p in parts], message="the frame's pixel data")


@pytest.mark.requirement("SRC-WADO-METADATA")
def test_metadata_level(env):
    reply = _get(env, "main", "/metadata", accept=["application/dicom+json"])
    expect_equal(reply.status, 200, rule="SRC-WADO-METADATA", location="metadata", message="metadata retrieve")
    expect(reply.content_type.startswith("application/dicom+json"), rule="SRC-WADO-METADATA",
           location="Content-Type", expected="application/dicom+json", observed=reply.content_type,
           message="DICOM JSON model (PS3.18 Annex F)")
    items = json.loads(reply.body)
    got = {i.get("00080018", {}).get("Value", [None])[0] for i in items}
    expect_equal(got, _shared(env, "main"), rule="SRC-WADO-METADATA", location="metadata",
                 message="one object per instance the KOS references")
    uris = [v["BulkDataURI"] for i in items for v in i.values() if isinstance(v, dict) and "BulkDataURI" in v]
    outside = [u for u in uris if not u.startswith(env.wado + "/")]
    expect(not outside, rule="SRC-WADO-METADATA", location="BulkDataURI", expected=f"under {env.wado}",
           observed=outside[:3], message="bulk data is retrieved through the Source, not from its PACS")


@pytest.mark.requirement("SRC-WADO-METADATA")
def test_every_bulk_data_uri_is_served(env):
    """Each BulkDataURI of the metadata is retrieved through the Source and gives the pixel data (PS3.18 F.2.6)."""
    originals = _originals(env, "main")
    reply = _get(env, "main", "/metadata", accept=["application/dicom+json"])
    expect_equal(reply.status, 200, rule="SRC-WADO-METADATA", location="metadata", message="metadata retrieve")
    found = [(i["00080018"]["Value"][0], tag, v["BulkDataURI"]) for i in json.loads(reply.body)
             for tag, v in i.items() if isinstance(v, dict) and "BulkDataURI" in v]
    expect(bool(found), rule="SRC-WADO-METADATA", location="metadata", expected="a BulkDataURI for the pixel data",
           observed="none", message="bulk data is referenced, not inlined")
    kos = published_kos(env, "main").kos()
    for sop, tag, uri in found:
        where = f"BulkDataURI {tag} of {sop}"
        expect(uri.startswith(env.wado + "/"), rule="SRC-WADO-METADATA", location=where, expected=f"under {env.wado}",
               observed=uri, message="bulk data is retrieved through the Source")
        got = request(env.wado, uri[len(env.wado):], token=env.token(), kos=str(kos.SOPInstanceUID),
                      accept=['multipart/related; type="application/octet-stream"'])
        expect_equal(got.status, 200, rule="SRC-WADO-METADATA", location=where, message="the BulkDataURI is served")
        data = b"".join(p[1] for p in split_parts(got.body, got.content_type)) \
            if got.content_type.startswith("multipart/") else got.body
        if tag.upper() == "7FE00010":
            wanted = originals[sop].PixelData
            expect(data == wanted, rule="SRC-WADO-METADATA", location=where,
                   expected=f"the {len(wanted)} bytes of Pixel Data", observed=f"{len(data)} bytes",
                   message="the bulk data is the instance's")


@pytest.mark.requirement("SRC-WADO-MULTIPART")
def test_multipart_is_well_formed(env):
    reply = _get(env, "main")
    ctype = reply.content_type
    expect(ctype.startswith("multipart/related") and 'type="application/dicom"' in ctype and "boundary=" in ctype,
           rule="SRC-WADO-MULTIPART", location="Content-Type",
           expected='multipart/related; type="application/dicom"; boundary=...', observed=ctype,
           message="response Content-Type (ANS DRIM-M_DATA Simulateur client wadoRS)")
    try:
        parts = parse_multipart(ctype, reply.body)
    except MultipartError as exc:
        fail("SRC-WADO-MULTIPART", "body", "RFC 2046 multipart", str(exc), "the body is not well-formed multipart")
    boundary = ctype.split("boundary=", 1)[1].split(";")[0].strip('"')
    expect(reply.body.rstrip(b"\r\n").endswith(b"--" + boundary.encode() + b"--"), rule="SRC-WADO-MULTIPART",
           location="body (end)", expected=f"--{boundary}--", observed=reply.body[-60:],
           message="the close delimiter ends the body")
    for i, (headers, _data) in enumerate(parts):
        part_type = next((v for k, v in headers if k.lower() == "content-type"), "")
        expect(part_type.startswith("application/dicom"), rule="SRC-WADO-MULTIPART", location=f"part {i + 1}",
               expected="Content-Type: application/dicom...", observed=part_type or "(none)",
               message="each part names its media type (PS3.18 §8.6.1.2)")


def _syntaxes(reply) -> set[str]:
    return {str(ds.file_meta.TransferSyntaxUID) for ds in dicom_parts(reply.body, reply.content_type)}


@pytest.mark.requirement("SRC-WADO-NEG")
@pytest.mark.parametrize(("case", "accept"), [
    ("explicit asked of a JPEG-LS study", [dicom_accept(EXPLICIT)]),
    ("q-values, comma-joined", [f"{dicom_accept(JPEG_LS, '0.4')}, {dicom_accept(EXPLICIT, '0.9')}"]),
    ("q-values, one Accept line each", [dicom_accept(JPEG_LS, "0.3"), dicom_accept(EXPLICIT, "1.0")]),
])
def test_transfer_syntax_follows_accept(env, case, accept):
    reply = _get(env, "jls", accept=accept)
    expect_equal(reply.status, 200, rule="SRC-WADO-NEG", location=case, message="an acceptable representation exists")
    expect(f"transfer-syntax={EXPLICIT}" in reply.content_type, rule="SRC-WADO-NEG", location=f"{case}: Content-Type",
           expected=f"transfer-syntax={EXPLICIT}", observed=reply.content_type, message="the preferred syntax")
    expect_equal(_syntaxes(reply), {EXPLICIT}, rule="SRC-WADO-NEG", location=f"{case}: parts",
                 message="instances transcoded to the syntax asked for")
    got = {str(ds.SOPInstanceUID) for ds in dicom_parts(reply.body, reply.content_type)}
    expect_equal(got, _shared(env, "jls"), rule="SRC-WADO-NEG", location=f"{case}: SOP Instance UIDs",
                 message="a transcoded instance keeps its identity")


@pytest.mark.requirement("SRC-WADO-NEG")
def test_unknown_transfer_syntax_answers_406(env):
    reply = _get(env, "jls", accept=[dicom_accept("1.2.3.4.5.6.7.8.9")])
    expect_equal(reply.status, 406, rule="SRC-WADO-NEG", location="Accept: unknown transfer syntax",
                 message="nothing acceptable can be produced")


@pytest.mark.requirement("SRC-WADO-STREAM")
def test_larger_study_is_retrieved_whole(env):
    shared = _shared(env, "large")
    reply = _get(env, "large", accept=[ANY_DICOM])
    expect_equal(reply.status, 200, rule="SRC-WADO-STREAM", location="study", message="study retrieve")
    got = {str(ds.SOPInstanceUID) for ds in dicom_parts(reply.body, reply.content_type)}
    expect_equal(got, shared, rule="SRC-WADO-STREAM", location="study",
                 message=f"all {len(shared)} instances the KOS references, in one response")


@pytest.mark.requirement("SRC-WADO-HEALTH")
def test_healthcheck(env):
    reply = request(env.wado, "", accept=["application/json"])
    expect_equal(reply.status, 200, rule="SRC-WADO-HEALTH", location="GET <WADO-RS base>",
                 message="ANS healthcheck")
