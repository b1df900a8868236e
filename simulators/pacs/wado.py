"""WADO-RS retrieve over the embedded store (DICOM PS3.18 §10.4; IHE RAD-107 between DRIMboxes).

Study, series and instance levels answer ``multipart/related; type="application/dicom"`` streamed
one instance at a time; ``/metadata`` answers ``application/dicom+json`` (Annex F) with a
BulkDataURI for the pixel data; ``/frames/{list}`` answers the frames' pixel data
(``application/octet-stream`` native, or the stored compressed bitstream: ``image/jls``,
``image/jp2``, ``image/dicom-rle``; PS3.18 §8.7.3.3.2 Table 8.7.3-2). The stored transfer syntax
is preferred; Explicit VR Little Endian is always offered (decompressed on the fly).
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from dataclasses import dataclass

from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.encaps import generate_frames
from pydicom.filewriter import dcmwrite
from pydicom.uid import ExplicitVRLittleEndian

from harness.dicomweb import (
    AcceptError,
    Offer,
    dicom_offers,
    iter_multipart,
    negotiate,
    new_boundary,
    parse_accept,
)
from harness.dicomweb.paths import WadoPath
from simulators.pacs.store import InstanceStore, Record

# Compressed bitstream media types for frames (PS3.18 Table 8.7.3-2)
FRAME_MEDIA_TYPES: dict[str, str] = {
    "1.2.840.10008.1.2.4.80": "image/jls",  # JPEG-LS lossless
    "1.2.840.10008.1.2.4.81": "image/jls",
    "1.2.840.10008.1.2.4.90": "image/jp2",  # JPEG 2000 lossless
    "1.2.840.10008.1.2.4.91": "image/jp2",
    "1.2.840.10008.1.2.4.50": "image/jpeg",
    "1.2.840.10008.1.2.4.70": "image/jpeg",
    "1.2.840.10008.1.2.5": "image/dicom-rle",
}
_NATIVE = {"1.2.840.10008.1.2", "1.2.840.10008.1.2.1"}


@dataclass
class Answer:
    """What the WSGI adapter sends: status, headers, body chunks."""

    status: int
    headers: list[tuple[str, str]]
    body: Iterator[bytes] | bytes


def error(status: int, message: str) -> Answer:
    return Answer(status, [("Content-Type", "text/plain; charset=utf-8")], message.encode() + b"\n")


def select(store: InstanceStore, path: WadoPath) -> list[Record]:
    where = {"study_uid": [path.study]}
    if path.series:
        where["series_uid"] = [path.series]
    if path.instance:
        where["sop_instance_uid"] = [path.instance]
    return store.records(where)


def retrieve(store: InstanceStore, path: WadoPath, accept: list[str], base_url: str) -> Answer:
    """Dispatch one WADO-RS GET to the level's handler; 404 when nothing is stored there."""
    records = select(store, path)
    if not records:
        return error(404, f"no instance stored under {path.to_path()}")
    try:
        ranges = parse_accept(accept) if accept else []
    except AcceptError as exc:
        return error(400, f"bad Accept header: {exc}")
    if path.metadata:
        return metadata(records, ranges, base_url)
    if path.frames is not None:
        return frames(records[0], path.frames, ranges)
    return instances(records, ranges)


def instances(records: list[Record], ranges: list) -> Answer:
    """Study/series/instance retrieve (PS3.18 §10.4.1.1.1-3): one part per instance."""
    stored = {r.transfer_syntax for r in records}
    preferred = [next(iter(stored))] if len(stored) == 1 and next(iter(stored)) not in _NATIVE else []
    offer = negotiate(ranges, dicom_offers([*preferred, ExplicitVRLittleEndian]))
    if offer is None:
        return error(406, "none of the accepted media types / transfer syntaxes can be produced")
    boundary = new_boundary()
    parts = ((([("Content-Type", "application/dicom")]), _instance_bytes(r, offer.transfer_syntax))
             for r in records)
    return Answer(200, [("Content-Type", offer.content_type(boundary))], iter_multipart(parts, boundary))


def _instance_bytes(rec: Record, ts: str | None) -> bytes:
    if ts is None or ts == rec.transfer_syntax:
        return rec.path.read_bytes()
    ds = dcmread(rec.path)
    if ds.file_meta.TransferSyntaxUID.is_compressed:
        ds.decompress(generate_instance_uid=False)
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    buf = io.BytesIO()
    dcmwrite(buf, ds, enforce_file_format=True)
    return buf.getvalue()


def metadata(records: list[Record], ranges: list, base_url: str) -> Answer:
    """PS3.18 §10.4.1.1.4 metadata: the headers of each instance, pixel data as a BulkDataURI."""
    if negotiate(ranges, [Offer("application/dicom+json"), Offer("application/json")]) is None:
        return error(406, "metadata is only available as application/dicom+json")

    def body() -> Iterator[bytes]:
        yield b"["
        for i, rec in enumerate(records):
            ds = dcmread(rec.path, stop_before_pixels=True)
            item = ds.to_json_dict()
            url = (f"{base_url}/studies/{rec['StudyInstanceUID']}/series/{rec['SeriesInstanceUID']}"
                   f"/instances/{rec['SOPInstanceUID']}")
            item["7FE00010"] = {"vr": "OB" if rec.transfer_syntax not in _NATIVE else "OW",
                                "BulkDataURI": url + "/frames/1"}
            yield (b"," if i else b"") + json.dumps(item).encode()
        yield b"]"

    return Answer(200, [("Content-Type", "application/dicom+json")], body())


def frames(rec: Record, numbers: tuple[int, ...], ranges: list) -> Answer:
    """PS3.18 §10.4.1.1.5 frames: the stored bitstream, or native pixels as octet-stream."""
    ds = dcmread(rec.path)
    count = int(ds.get("NumberOfFrames", 1) or 1)
    bad = [n for n in numbers if n > count]
    if bad:
        return error(404, f"frame(s) {bad} out of range: the instance has {count} frame(s)")
    # Offers carry no transfer-syntax: the part media type implies it (PS3.18 Table 8.7.3-2), and
    # a range like ``multipart/related; type="image/jls"`` must match; the TS goes in the answer.
    offers = []
    media = FRAME_MEDIA_TYPES.get(rec.transfer_syntax)
    if media:
        offers.append(Offer("multipart/related", media, None, {"ts": rec.transfer_syntax}))
    offers.append(Offer("multipart/related", "application/octet-stream", None, {"ts": ExplicitVRLittleEndian}))
    offer = negotiate(ranges, offers)
    if offer is None:
        return error(406, "none of the accepted frame media types can be produced")
    data = _frames(ds, numbers, keep_compressed=offer.related_type != "application/octet-stream")
    boundary = new_boundary()
    part_type = offer.related_type or "application/octet-stream"
    parts = (([("Content-Type", f"{part_type}; transfer-syntax={offer.extra['ts']}")], chunk) for chunk in data)
    content_type = Offer(offer.media_type, offer.related_type, offer.extra["ts"]).content_type(boundary)
    return Answer(200, [("Content-Type", content_type)], iter_multipart(parts, boundary))


def _frames(ds: Dataset, numbers: tuple[int, ...], keep_compressed: bool) -> list[bytes]:
    count = int(ds.get("NumberOfFrames", 1) or 1)
    if ds.file_meta.TransferSyntaxUID.is_compressed and keep_compressed:
        all_frames = list(generate_frames(ds.PixelData, number_of_frames=count))
        return [all_frames[n - 1] for n in numbers]
    if ds.file_meta.TransferSyntaxUID.is_compressed:
        ds.decompress(generate_instance_uid=False)
    size = len(ds.PixelData) // count
    return [bytes(ds.PixelData[(n - 1) * size: n * size]) for n in numbers]
