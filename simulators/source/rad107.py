"""WADO-RS server of the Source DRIMbox (IHE RAD-107 between DRIMboxes, DICOM PS3.18 §10.4, ANS PoC).

Order of the checks (ANS PoC behaviour): path (400 for anything but canonical UIDs: ``../``,
encoded slashes), bearer token introspected at Pro Santé Connect (401), ``KOS-SOPInstanceUID``
header (400 missing, 404 not the stored KOS of this study, 410 when that KOS was deleted), masking
flags the KOS was published with (403 when ``MASQUE_PS`` hides it from this professional, see ``auth``),
resource referenced by the KOS (404; 410 when every instance asked was rejected by an IOCM rejection note,
IHE RAD TF-3 RAD-66), Accept (400 missing or malformed, 406 nothing acceptable).
Instances come series by series from the PACS's WADO-RS (``transfer-syntax=*``: the stored bytes),
one streamed request per series (the first one opened while the token is introspected, and dropped
unless every check passes), relayed untouched when the negotiated syntax is the stored one
(``relay``: parts counted by their Content-Length, read from the PACS's socket a part or a megabyte
per system call), transcoded otherwise (pydicom + pylibjpeg / pyjpegls); a study is never held in
memory. The metadata's BulkDataURIs point at this server, which proxies them to the PACS's bulk data
resources after the same checks.

The choices a named fault swaps (``simulators.source.faults``) are the fields of :class:`WadoBehaviour`,
each read in one place; ``FAULTY`` says which fault swaps which (STYLE §4).
"""

from __future__ import annotations

import io
import itertools
import json
import logging
import re
import struct
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any

import requests
from pydicom import dcmread
from pydicom.encaps import generate_frames
from pydicom.filewriter import dcmwrite
from pydicom.pixels import get_encoder
from pydicom.uid import UID, ExplicitVRLittleEndian, JPEG2000Lossless, JPEGLSLossless
from werkzeug.wrappers import Request

from harness.dicomweb import (
    AcceptError,
    MediaRange,
    Offer,
    boundary_from_content_type,
    dicom_offers,
    iter_multipart,
    negotiate,
    new_boundary,
    parse_accept,
    parse_wado_path,
)
from harness.dicomweb.mediatype import MediaTypeError, split_quoted
from harness.dicomweb.paths import WadoPath
from harness.tls import peer_certificate, session
from harness.validators.kosrefs import Unusual, evidence_from_raw
from simulators.source.auth import Introspector, TokenCheck, access_from_pnr, masking_refusal
from simulators.source.kos import referenced
from simulators.source.relay import DATA, END, START, arrivals, body_reader, coalesce, split_parts
from simulators.source.store import DELETED, KosAccess, SourceStore, StoredKos

log = logging.getLogger(__name__)
KOS_HEADER = "KOS-SOPInstanceUID"  # ANS DRIM-M_DATA Simulateur client wadoRS
NATIVE = {"1.2.840.10008.1.2", "1.2.840.10008.1.2.1"}
FRAME_MEDIA_TYPES = {  # PS3.18 Table 8.7.3-2: compressed bitstreams of frames
    "1.2.840.10008.1.2.4.80": "image/jls", "1.2.840.10008.1.2.4.81": "image/jls",
    "1.2.840.10008.1.2.4.90": "image/jp2", "1.2.840.10008.1.2.4.91": "image/jp2",
    "1.2.840.10008.1.2.4.50": "image/jpeg", "1.2.840.10008.1.2.4.70": "image/jpeg",
    "1.2.840.10008.1.2.5": "image/dicom-rle",
}
OCTET = "application/octet-stream"
ENCODABLE = (JPEGLSLossless, JPEG2000Lossless)  # lossless targets we can produce from native pixels
_TRICKS = re.compile(r"(%2[fF]|%5[cC]|%2[eE]|\\|/\.\.?(/|$)|//)")
ALL_DICOM = 'multipart/related; type="application/dicom"; transfer-syntax=*'
# a BulkDataURI under an instance: tag path of PS3.18 F.2.6 (tag, then item index and tag inside sequences)
_BULK = re.compile(r"^(?P<instance>.+/instances/[0-9.]+)/bulk/"
                   r"(?P<tags>[0-9A-Fa-f]{8}(?:/[0-9]{1,6}/[0-9A-Fa-f]{8}){0,8})$")
STREAM_CHUNK = 256 * 1024
# an explicit empty body: some WSGI stacks read a body-less GET until the connection closes
NO_BODY = {"Content-Length": "0", "Accept-Encoding": "identity"}  # and the bytes as stored, not re-encoded


@dataclass
class Answer:
    status: int
    headers: list[tuple[str, str]]
    body: Iterator[bytes] | bytes


def text(status: int, message: str, extra: list[tuple[str, str]] | None = None) -> Answer:
    return Answer(status, [("Content-Type", "text/plain; charset=utf-8"), *(extra or [])],
                  message.encode() + b"\n")


class PacsWeb:
    """The PACS's DICOMweb: whole series streamed in one request (stored bytes: ``transfer-syntax=*``)."""

    def __init__(self, base: str, timeout: float = 30.0) -> None:
        self.base, self.timeout = base.rstrip("/"), timeout
        self._local = threading.local()

    def _session(self) -> requests.Session:
        if not hasattr(self._local, "session"):
            self._local.session = session()  # verifies with the system CAs + the network's test PKI
        return self._local.session

    def open(self, path: str) -> requests.Response:
        """A streamed multipart response for ``path`` (``/studies/{st}/series/{se}[/instances/{sop}]``)."""
        resp = self._session().get(self.base + path, headers={"Accept": ALL_DICOM, **NO_BODY},
                                   timeout=self.timeout, stream=True)
        if resp.status_code != 200:
            resp.close()
            raise LookupError(f"PACS answered {resp.status_code} for {path}")
        return resp

    def instance(self, study: str, series: str, sop: str) -> bytes:
        resp = self.open(f"/studies/{study}/series/{series}/instances/{sop}")
        try:
            datas = [part.data for part in stream_parts(resp)]
            if len(datas) != 1:
                raise LookupError(f"PACS sent {len(datas)} parts for one instance {sop}")
            return datas[0]
        finally:
            resp.close()

    def bulk(self, path: str, accept: list[str]) -> requests.Response:
        """The PACS's bulk data resource ``path`` (``.../instances/{sop}/bulk/{tag path}``), streamed."""
        headers = {"Accept": ", ".join(accept)} if accept else {}
        return self._session().get(self.base + path, headers={**headers, **NO_BODY}, timeout=self.timeout,
                                   stream=True)

    def metadata(self, path: WadoPath) -> requests.Response:
        url = self.base + path.to_path()
        return self._session().get(url, headers={"Accept": "application/dicom+json", **NO_BODY}, timeout=self.timeout,
                                   stream=True)


_LONG_VRS = {b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN", b"UR", b"UT", b"UV"}


def file_meta(head: bytes) -> tuple[str, str] | None:
    """(SOP Instance UID, transfer syntax) from the group 0002 of a Part 10 prefix (PS3.10 §7.1);
    None while ``head`` is too short. ValueError when it is not Part 10."""
    if len(head) < 144:
        return None
    if head[128:132] != b"DICM":
        raise ValueError("not a DICOM Part 10 file (no DICM prefix)")
    pos, values, size = 132, {}, len(head)
    while size >= pos + 8:
        group, elem, vr, length = _ELEMENT.unpack_from(head, pos)
        if group != 0x0002:
            break
        start = pos + 8
        if vr in _LONG_VRS:
            if size < pos + 12:
                return None
            length, start = _UL.unpack_from(head, start)[0], pos + 12
        if size < start + length:
            return None
        if elem == 0x0003 or elem == 0x0010:
            values[elem] = head[start:start + length]
            if elem == 0x0010:  # the elements are in order: nothing needed follows
                break
        pos = start + length
    else:
        return None
    uid = values.get(0x0003, b"").rstrip(b"\0 ").decode("ascii", "replace")
    ts = values.get(0x0010, b"").rstrip(b"\0 ").decode("ascii", "replace")
    return uid, ts


_ELEMENT = struct.Struct("<HH2sH")  # explicit VR little endian element header (PS3.5 §7.1.2)
_UL = struct.Struct("<I")


class StreamedPart:
    """One instance of a PACS multipart response: its file meta, then its bytes as they arrive."""

    def __init__(self, sop: str, ts: str, head: bytes, rest: Iterator[bytes]) -> None:
        self.sop, self.ts, self._head, self._rest = sop, ts, head, rest

    def chunks(self) -> Iterator[bytes]:
        yield self._head
        yield from self._rest

    @property
    def data(self) -> bytes:
        return b"".join(self.chunks())

    def drain(self) -> None:
        for _ in self._rest:
            pass


HEAD_LIMIT = 1024 * 1024  # the file meta of any instance fits well within
PACS_CHUNK = 1024 * 1024  # largest read on the PACS connection
OUT_CHUNK = 64 * 1024  # small writes (delimiters, part headers) are joined up to this size


def stream_parts(resp: requests.Response) -> Iterator[StreamedPart]:
    """Parts of a streamed multipart response, one at a time; memory bounded by a few network chunks.

    Each part must be consumed (or drained) before the next is asked for: they share one stream.
    The PACS's socket is read directly when it can be (``relay.body_reader``).
    """
    boundary = boundary_from_content_type(resp.headers.get("Content-Type", ""))
    stream = split_parts(body_reader(resp), boundary, PACS_CHUNK)

    def rest() -> Iterator[bytes]:
        for kind, value in stream:
            if kind == DATA:
                yield value
            elif kind == END:
                return

    try:
        for kind, _value in stream:
            if kind != START:
                continue
            head, meta, ended = b"", None, False
            for inner, value in stream:
                if inner == END:
                    ended = True
                    break
                if inner == DATA:
                    head += value
                    meta = file_meta(head[:HEAD_LIMIT])
                    if meta is not None or len(head) > HEAD_LIMIT:
                        break
            if meta is None:
                raise ValueError("a PACS part is not a readable DICOM Part 10 instance")
            part = StreamedPart(meta[0], meta[1], head, iter(()) if ended else rest())
            yield part
            part.drain()
    finally:
        stream.close()


def transcode(data: bytes, target: str) -> bytes:
    """Re-encode one Part 10 instance in ``target`` (decompress, then compress when asked)."""
    ds = dcmread(io.BytesIO(data))
    if ds.file_meta.TransferSyntaxUID.is_compressed:
        ds.decompress(generate_instance_uid=False)  # same instance, another encoding
    if UID(target).is_compressed:
        ds.compress(target, generate_instance_uid=False)
    else:
        ds.file_meta.TransferSyntaxUID = UID(target)
    buf = io.BytesIO()
    dcmwrite(buf, ds, enforce_file_format=True)
    return buf.getvalue()


def _encodable() -> list[str]:
    out = []
    for uid in ENCODABLE:
        try:
            if get_encoder(uid).is_available:
                out.append(str(uid))
        except Exception:  # no encoder plugin for this syntax
            continue
    return out


def syntaxes_for(stored: str) -> list[str]:
    """What we can answer, in preference order: the stored syntax, Explicit VR LE, lossless re-encodings."""
    offers = [stored] if stored else []
    if ExplicitVRLittleEndian not in offers:
        offers.append(str(ExplicitVRLittleEndian))
    if stored in NATIVE:
        offers += [u for u in _encodable() if u not in offers]
    return offers


class Rad107App:
    """WSGI app of the WADO-RS endpoint; ``fault`` swaps one check or encoder for a broken one (``FAULTY``)."""

    def __init__(self, store: SourceStore, pacs: PacsWeb, introspector: Introspector | None, base_path: str,
                 fault: str | None = None, dimse: Any = None) -> None:
        self.store, self.pacs, self.introspector = store, pacs, introspector
        self.base_path, self.fault = base_path.rstrip("/"), fault
        self.behaviour = wado_behaviour_for(fault)
        self.dimse = dimse  # simulators.source.cget.PacsDimse: retrieve by C-GET instead of the PACS's WADO-RS
        self._cache: dict[str, dict[str, list[str]]] = {}
        self._cache_lock = threading.Lock()

    def __call__(self, environ: dict, start_response: Callable) -> Iterator[bytes]:
        req = Request(environ)
        try:
            answer = self.answer(req, environ)
        except Exception as exc:  # a clear status, and the server keeps serving
            log.exception("WADO-RS request failed")
            answer = text(502, f"the PACS could not be read: {type(exc).__name__}: {exc}")
        if answer.status == 200 and not isinstance(answer.body, bytes):  # a retrieve's streamed images
            answer = paced(answer, self.behaviour.first_byte_delay, self.behaviour.max_rate)
        start_response(f"{answer.status} {_REASONS.get(answer.status, '')}".strip(), answer.headers)
        return [answer.body] if isinstance(answer.body, bytes) else answer.body

    def answer(self, req: Request, environ: dict) -> Answer:
        raw = self.behaviour.raw_path((environ.get("RAW_URI") or environ.get("REQUEST_URI") or req.path)
                                      .split("?", 1)[0])
        if raw.rstrip("/") == self.base_path:
            return Answer(200, [("Content-Type", "application/json")], json.dumps({"status": "UP"}).encode())
        if _TRICKS.search(raw):
            return text(400, "path with dot segments, backslashes or encoded separators is refused")
        bulk = _BULK.match(raw)
        try:
            path = parse_wado_path(bulk["instance"] if bulk else raw, self.base_path)
        except ValueError as exc:
            return text(400, str(exc))
        if req.method not in ("GET", "HEAD"):
            return text(405, "WADO-RS retrieve is GET", [("Allow", "GET, HEAD")])
        kos = self._kos(req, path)  # local; its verdict is given after the token's
        early = self._early(req, path, kos) if not bulk else None
        try:
            who = self._authorize(req)
            if isinstance(who, Answer):
                return who
            if isinstance(kos, Answer):
                return kos
            hidden = self._masked(kos, who)
            if hidden is not None:
                return hidden
            selection = self._selection(kos, path)
            if isinstance(selection, Answer):
                return selection
            if path.metadata:
                return self._metadata(path, req.host_url.rstrip("/") + self.base_path, selection)
            if bulk:
                return self._bulk(path, bulk["tags"], req)
            accept = [line for line in req.headers.getlist("Accept") if line.strip()]
            if not accept:
                return text(400, "Accept header is required (ANS DRIM-M_DATA WADO-RS samples)")
            try:
                ranges = self.behaviour.parse_accept(accept)
            except AcceptError as exc:
                return text(400, f"bad Accept header: {exc}")
            if path.frames is not None:
                return self._frames(path, selection[0], ranges)
            classes = sop_classes(kos) if self.dimse is not None else set()
            return self._instances(path, selection, ranges, classes, early)
        finally:
            if early is not None:
                early.discard()  # not taken: the request was refused

    def _early(self, req: Request, path: WadoPath, kos: StoredKos | Answer) -> Early | None:
        """The first PACS request of a retrieve, opened while PSC introspects the token (time to first byte).

        Only for a request that names the stored KOS of the study and carries a bearer token; nothing
        reaches the consumer before the token, KOS and masking verdicts (the response is dropped otherwise).
        """
        if (self.dimse is not None or isinstance(kos, Answer) or path.metadata or path.frames is not None
                or not req.headers.get("Authorization") or self.introspector is None):
            return None
        selection = self._selection(kos, path)
        if isinstance(selection, Answer):
            return None
        series, sop = selection[0]
        return Early(self.pacs.open, _series_path(path, series, sop))

    # -- checks ---------------------------------------------------------------------------
    def _authorize(self, req: Request) -> TokenCheck | Answer | None:
        """The token's verdict (None without a PSC); 401 unless PSC says the token is active."""
        if self.introspector is None:
            return None
        verdict = self.introspector.check(req.headers.get("Authorization"), peer_certificate(req.environ))
        if verdict.ok:
            return verdict
        if not self.behaviour.check_token:  # served anyway, as nobody in particular
            return TokenCheck(True, "not checked")
        return text(401, verdict.reason, [("WWW-Authenticate", 'Bearer error="invalid_token"')])

    def _masked(self, kos: StoredKos, who: TokenCheck | None) -> Answer | None:
        """403 when the manifest was published masked from this professional (MASQUE_PS, ANS DRIM-M_DATA
        Validateur XDS/XDS.xml)."""
        if who is None or not self.behaviour.check_masking:
            return None
        access = self._access(kos)
        why = "how this manifest was published is unknown" if access is None else masking_refusal(access, who)
        return None if why is None else text(403, why)

    def _access(self, kos: StoredKos) -> KosAccess | None:
        """Masking flags and authors of a KOS, as published (read once from its RAD-68 message, then kept)."""
        access = self.store.access(kos.sop_uid)
        if access is not None:
            return access
        for ctype, body in self.store.published(kos.study_uid, kos.entry_uuid):
            try:
                access = access_from_pnr(kos.sop_uid, kos.entry_uuid, ctype, body)
            except Exception:  # an unreadable message: look at the next one, else refuse
                log.exception("RAD-68 message of KOS %s unreadable", kos.sop_uid)
                continue
            if access is not None:
                self.store.set_access(access)
                return access
        return None

    def _kos(self, req: Request, path: WadoPath) -> StoredKos | Answer:
        if not self.behaviour.kos_uid_required:
            found = self.store.kos_of_study(path.study)
            if not found:
                return text(404, f"no KOS published for study {path.study}")
            kos = found[-1]
        else:
            uid = (req.headers.get(KOS_HEADER) or "").strip()
            if not uid:
                return text(400, f"{KOS_HEADER} header is required (ANS DRIM-M_DATA WADO-RS samples)")
            kos = self.store.kos(uid)
            if kos is None or kos.study_uid != path.study:
                return text(404, f"{uid[:64]} is not a KOS this Source published for study {path.study}")
        if kos.status == DELETED and self.behaviour.gone_when_deleted:
            return text(410, "the manifest of this study was deleted")
        return kos

    def _references(self, kos: StoredKos) -> dict[str, list[str]]:
        """series -> instances of a stored KOS, parsed once (a manifest never changes under its UID)."""
        with self._cache_lock:
            refs = self._cache.get(kos.sop_uid)
        if refs is None:
            refs = kos_references(kos.data)
            with self._cache_lock:
                if len(self._cache) >= 256:
                    self._cache.pop(next(iter(self._cache)))
                self._cache[kos.sop_uid] = refs
        return refs

    def _selection(self, kos: StoredKos, path: WadoPath) -> list[tuple[str, str]] | Answer:
        chosen = self.behaviour.select(self._references(kos), path)
        if not chosen:
            return text(404, f"{path.to_path()} is not referenced by the KOS")
        rejected = self.store.rejected(kos.study_uid)  # IOCM: never served again, under any KOS
        if rejected:
            chosen = [(se, sop) for se, sop in chosen if sop not in rejected]
            if not chosen:
                return text(410, f"{path.to_path()}: rejected (IOCM rejection note), no longer available")
        return chosen

    # -- responses ------------------------------------------------------------------------
    def _instances(self, path: WadoPath, chosen: list[tuple[str, str]], ranges: list, classes: set[str],
                   early: Early | None = None) -> Answer:
        parts = self._pacs_parts(path, chosen, classes, early)
        if self.behaviour.max_parts is not None:
            parts = _at_most(parts, self.behaviour.max_parts)
        first = next(parts, None)
        if first is None:
            return text(404, f"the PACS holds none of the instances the KOS references under {path.to_path()}")
        stored = first.ts
        if not self.behaviour.negotiate:
            offer = Offer("multipart/related", "application/dicom", stored)
        else:
            offer = negotiate(ranges, dicom_offers(syntaxes_for(stored)))
            if offer is None:
                parts.close()
                return text(406, f"none of the accepted representations can be produced; stored: {stored}")
        target = offer.transfer_syntax or stored
        boundary = new_boundary()
        broken = not self.behaviour.well_formed_multipart

        def encoded() -> Iterator[tuple[list[tuple[str, str]], Iterator[bytes] | bytes]]:
            for part in itertools.chain([first], parts):
                headers = [] if broken else [("Content-Type", f"application/dicom; transfer-syntax={target}")]
                yield headers, (part.chunks() if part.ts == target else transcode(part.data, target))

        body = iter_multipart(encoded(), boundary)
        if broken:  # the close delimiter never comes
            body = (chunk for chunk in body if not chunk.endswith(b"--\r\n") or not chunk.startswith(b"--"))
        return Answer(200, [("Content-Type", offer.content_type(boundary))], coalesce(body, OUT_CHUNK))

    def _pacs_parts(self, path: WadoPath, chosen: list[tuple[str, str]], classes: set[str],
                    early: Early | None = None) -> Iterator[StreamedPart]:
        """The chosen instances, series by series, each series in one streamed PACS request (the first one
        maybe already opened: ``early``)."""
        groups: dict[str, set[str]] = {}
        for series, sop in chosen:
            groups.setdefault(series, set()).add(sop)
        if self.dimse is not None:
            for series, sops in groups.items():
                one = next(iter(sops)) if path.instance is not None else None
                yield from (p for p in self.dimse.series(path.study, series, classes, one) if p.sop in sops)
            return
        for series, sops in groups.items():
            where = _series_path(path, series, next(iter(sops)))
            resp = early.take() if early is not None and early.path == where else self.pacs.open(where)
            try:
                for part in stream_parts(resp):
                    if part.sop in sops:
                        yield part
            finally:
                resp.close()

    def _frames(self, path: WadoPath, chosen: tuple[str, str], ranges: list) -> Answer:
        data = self.pacs.instance(path.study, *chosen)
        ds = dcmread(io.BytesIO(data))
        stored = str(ds.file_meta.TransferSyntaxUID)
        count = int(ds.get("NumberOfFrames", 1) or 1)
        if any(n > count for n in path.frames or ()):
            return text(404, f"the instance has {count} frame(s)")
        offers = []
        if stored in FRAME_MEDIA_TYPES:
            offers.append(Offer("multipart/related", FRAME_MEDIA_TYPES[stored], stored))
        # native pixels, PS3.18 §8.7.3.3.2 (Explicit VR LE is the default syntax of octet-stream bulk data)
        offers.append(Offer("multipart/related", OCTET, str(ExplicitVRLittleEndian)))
        offer = negotiate(frame_ranges(ranges), offers)
        if offer is None:
            return text(406, "none of the accepted frame media types can be produced")
        frames = self.behaviour.frame_bytes(ds, path.frames or (1,), offer.related_type != OCTET)
        boundary = new_boundary()
        part_type = f"{offer.related_type}; transfer-syntax={offer.transfer_syntax}"
        body = iter_multipart((([("Content-Type", part_type)], f) for f in frames), boundary)
        return Answer(200, [("Content-Type", offer.content_type(boundary))], body)

    def _bulk(self, path: WadoPath, tags: str, req: Request) -> Answer:
        """A BulkDataURI of our metadata (PS3.18 §10.4.1.1.4, F.2.6): the PACS's bulk data resource, streamed
        through with its status and media type, after the same token, KOS and masking checks as any retrieve."""
        accept = [line for line in req.headers.getlist("Accept") if line.strip()]
        resp = self.pacs.bulk(f"{path.to_path()}/bulk/{tags}", accept)
        if resp.status_code != 200:
            resp.close()
            status = 502 if resp.status_code >= 500 else resp.status_code
            return text(status if status in _REASONS else 502, f"PACS answered {resp.status_code} for the bulk data")
        headers = [("Content-Type", resp.headers.get("Content-Type", "application/octet-stream"))]
        if resp.headers.get("Content-Length"):
            headers.append(("Content-Length", resp.headers["Content-Length"]))

        def body() -> Iterator[bytes]:
            try:
                yield from arrivals(resp, STREAM_CHUNK)
            finally:
                resp.close()

        return Answer(200, headers, body())

    def _metadata(self, path: WadoPath, own_base: str, chosen: list[tuple[str, str]]) -> Answer:
        """The PACS's metadata of the instances the KOS references (``chosen``), their BulkDataURIs moved under
        our base: the PACS is not reachable by consumers, and holds what the manifest does not share."""
        resp = self.pacs.metadata(path)
        try:
            if resp.status_code != 200:
                return text(502 if resp.status_code >= 500 else resp.status_code, f"PACS answered {resp.status_code}")
            items = resp.json()
        finally:
            resp.close()
        shared = {sop for _series, sop in chosen}
        if isinstance(items, list):
            items = [i for i in items if isinstance(i, dict) and _sop_of(i) in shared]
        _rebase(items, self.pacs.base, own_base)
        return Answer(200, [("Content-Type", "application/dicom+json")], json.dumps(items).encode())


def _sop_of(item: dict) -> str | None:
    """SOP Instance UID (0008,0018) of one DICOM JSON object (PS3.18 F.2)."""
    value = (item.get("00080018") or {}).get("Value") or [None]
    return value[0] if isinstance(value, list) else None


def _series_path(path: WadoPath, series: str, sop: str) -> str:
    """The PACS request for one series of a retrieve (the instance itself at instance level)."""
    return f"/studies/{path.study}/series/{series}" + (f"/instances/{sop}" if path.instance is not None else "")


class Early:
    """A PACS request opened in a thread now, taken (or dropped) later."""

    def __init__(self, open_: Callable[[str], requests.Response], path: str) -> None:
        self.path = path
        self._resp: requests.Response | None = None
        self._error: BaseException | None = None
        self._taken = False
        self._thread = threading.Thread(target=self._run, args=(open_,), name="source-early-open", daemon=True)
        self._thread.start()

    def _run(self, open_: Callable[[str], requests.Response]) -> None:
        try:
            self._resp = open_(self.path)
        except BaseException as exc:  # raised to the taker
            self._error = exc

    def take(self) -> requests.Response:
        self._thread.join()
        self._taken = True
        if self._error is not None:
            raise self._error
        assert self._resp is not None
        return self._resp

    def discard(self) -> None:
        if self._taken:
            return
        self._thread.join()
        self._taken = True
        if self._resp is not None:
            self._resp.close()


def _rebase(node: Any, old: str, new: str) -> None:
    """Rewrite every ``BulkDataURI`` under ``old`` to the same path under ``new`` (PS3.18 F.2.6)."""
    if isinstance(node, list):
        for item in node:
            _rebase(item, old, new)
    elif isinstance(node, dict):
        uri = node.get("BulkDataURI")
        if isinstance(uri, str) and uri.startswith(old):
            node["BulkDataURI"] = new + uri[len(old):]
        for value in node.values():
            if isinstance(value, dict | list):
                _rebase(value, old, new)


def frame_ranges(ranges: list[MediaRange]) -> list[MediaRange]:
    """Accept ranges of a frames request, with ``multipart/related; type="application/dicom"; transfer-syntax=T``
    read as "the frames encoded in T".

    PS3.18 §8.7.3 gives frames only bulk data media types (``application/octet-stream`` for native pixels,
    ``image/jls``, ``image/jp2``... for compressed bitstreams, Table 8.7.3-2), yet the ANS client simulator asks
    frames with the instance media type and a list of transfer syntaxes (ANS DRIM-M_DATA
    ``test a blanc/Simulateur client wadoRS/OK_Frames.txt``) and expects them served: each such
    range becomes the frame media type of its syntax, with the same q; a syntax without one (MPEG) is dropped.
    """
    out: list[MediaRange] = []
    for r in ranges:
        if r.related_type != "application/dicom" and r.media_type != "application/dicom":
            out.append(r)
            continue
        ts = r.transfer_syntax or str(ExplicitVRLittleEndian)
        kinds = sorted({*FRAME_MEDIA_TYPES.values(), OCTET}) if ts == "*" else \
            [FRAME_MEDIA_TYPES.get(ts) or (OCTET if ts in NATIVE else "")]
        out += [MediaRange("multipart", "related", (("type", k), ("transfer-syntax", ts)), r.q) for k in kinds if k]
    return out


def kos_references(data: bytes) -> dict[str, list[str]]:
    """series -> instances of a KOS's evidence (ANS DRIM-M_DATA KOS_OK.xml): the validators' raw reader (4x faster than
    pydicom on the 1300-image manifest of DRIM-M_DATA informatif/Performances), pydicom when that reader finds the
    layout unusual."""
    ds = dcmread(io.BytesIO(data), stop_before_pixels=True)
    implicit, little = getattr(ds, "original_encoding", (None, None))
    elem = ds.get_item(0x0040A375)  # CurrentRequestedProcedureEvidenceSequence
    raw = getattr(elem, "value", None)
    if little and isinstance(raw, bytes):
        try:
            out: dict[str, list[str]] = {}
            for study in evidence_from_raw(raw, not implicit):
                for series in study.series:
                    out.setdefault(series.uid, []).extend(sop for _cls, sop in series.sops)
            return out
        except (Unusual, struct.error, UnicodeDecodeError, StopIteration, IndexError):
            pass
    return referenced(ds)


def sop_classes(kos: StoredKos) -> set[str]:
    """SOP classes the manifest references (the C-GET needs one storage context per class)."""
    ds = dcmread(io.BytesIO(kos.data), stop_before_pixels=True)
    return {str(r.ReferencedSOPClassUID) for st in ds.get("CurrentRequestedProcedureEvidenceSequence", [])
            for se in st.get("ReferencedSeriesSequence", []) for r in se.get("ReferencedSOPSequence", [])}


def _frame_bytes(ds, numbers: tuple[int, ...], keep_compressed: bool) -> list[bytes]:
    count = int(ds.get("NumberOfFrames", 1) or 1)
    if ds.file_meta.TransferSyntaxUID.is_compressed and keep_compressed:
        frames = list(generate_frames(ds.PixelData, number_of_frames=count))
        return [frames[n - 1] for n in numbers]
    if ds.file_meta.TransferSyntaxUID.is_compressed:
        ds.decompress(generate_instance_uid=False)
    size = int(ds.Rows) * int(ds.Columns) * int(ds.get("SamplesPerPixel", 1)) * int(ds.BitsAllocated) // 8
    pixels = ds.PixelData
    return [pixels[(n - 1) * size: n * size] for n in numbers]


def select(refs: dict[str, list[str]], path: WadoPath) -> list[tuple[str, str]]:
    """(series, instance) pairs of a KOS's references that ``path`` names (PS3.18 §10.4.1.1 levels)."""
    return [(se, sop) for se, sops in refs.items() for sop in sops
            if (path.series is None or se == path.series) and (path.instance is None or sop == path.instance)]


def select_ignoring_series(refs: dict[str, list[str]], path: WadoPath) -> list[tuple[str, str]]:
    """:func:`select` that reads a series path as its study."""
    return select(refs, replace(path, series=None))


def resolve_dot_segments(raw: str) -> str:
    """A raw path with its ``.`` and ``..`` segments resolved (RFC 3986 §5.2.4) rather than refused."""
    out: list[str] = []
    for segment in raw.split("/"):
        if segment == "..":
            if len(out) > 1:
                out.pop()
        elif segment != ".":
            out.append(segment)
    return "/".join(out)


def parse_accept_unbounded(lines: list[str]) -> list[MediaRange]:
    """:func:`parse_accept` element by element, so no bound on the header's size applies."""
    try:
        elements = [e for line in lines for e in split_quoted(line, ",") if e.strip()]
    except MediaTypeError as exc:
        raise AcceptError(str(exc)) from None
    return [r for element in elements for r in parse_accept(element)]


def whole_instance(ds, numbers: tuple[int, ...], keep_compressed: bool) -> list[bytes]:
    """The whole Part 10 instance as the one "frame" (what a frames request must not return)."""
    buf = io.BytesIO()
    dcmwrite(buf, ds, enforce_file_format=True)
    return [buf.getvalue()]


def _at_most(parts: Iterator[StreamedPart], limit: int) -> Iterator[StreamedPart]:
    try:
        yield from itertools.islice(parts, limit)
    finally:
        parts.close()  # type: ignore[attr-defined]


@dataclass(frozen=True)
class WadoBehaviour:
    """How the WADO-RS endpoint checks and answers; the reference's choices are the defaults, a named
    fault swaps one field (``FAULTY``)."""

    raw_path: Callable[[str], str] = lambda raw: raw  # dot segments are refused, not resolved
    check_token: bool = True
    kos_uid_required: bool = True
    gone_when_deleted: bool = True
    check_masking: bool = True
    select: Callable[[dict[str, list[str]], WadoPath], list[tuple[str, str]]] = select
    parse_accept: Callable[[list[str]], list[MediaRange]] = parse_accept
    negotiate: bool = True
    well_formed_multipart: bool = True
    max_parts: int | None = None  # parts of one response; None: every instance asked for
    first_byte_delay: float = 0.0  # seconds waited before a retrieve is answered
    max_rate: float | None = None  # bytes per second a retrieve's body is held to; None: as fast as it can
    frame_bytes: Callable[..., list[bytes]] = _frame_bytes


# fault name -> the WadoBehaviour fields it swaps (descriptions in simulators.source.faults)
FAULTY: dict[str, dict[str, object]] = {
    "no-token-check": {"check_token": False},
    "ignores-kos-uid": {"kos_uid_required": False},
    "ignores-masking": {"check_masking": False},
    "drops-accept-negotiation": {"negotiate": False},
    "broken-multipart": {"well_formed_multipart": False},
    "serves-deleted-study": {"gone_when_deleted": False},
    "frames-as-instances": {"frame_bytes": whole_instance},
    "ignores-series-level": {"select": select_ignoring_series},
    "resolves-dot-segments": {"raw_path": resolve_dot_segments},
    "unbounded-accept": {"parse_accept": parse_accept_unbounded},
    "truncates-large-retrieve": {"max_parts": 32},
    "slow-first-byte": {"first_byte_delay": 2.0},
    "throttled": {"max_rate": 2_000_000.0},
}


def paced(answer: Answer, delay: float, rate: float | None) -> Answer:
    """``answer`` sent after ``delay`` seconds, its body at most ``rate`` bytes per second (the performance
    faults: a Source slow to answer, one whose output is capped)."""
    if delay > 0:
        time.sleep(delay)
    if not rate or isinstance(answer.body, bytes):
        return answer
    return replace(answer, body=_throttled(answer.body, rate))


def _throttled(body: Iterator[bytes], rate: float, piece: int = 64 * 1024) -> Iterator[bytes]:
    started, sent = time.monotonic(), 0
    for chunk in body:
        for start in range(0, len(chunk), piece):
            data = chunk[start:start + piece]
            ahead = (sent + len(data)) / rate - (time.monotonic() - started)
            if ahead > 0:
                time.sleep(ahead)
            sent += len(data)
            yield data


def wado_behaviour_for(fault: str | None) -> WadoBehaviour:
    """The reference's behaviour with ``fault``'s swap, if it is one of this module's."""
    return replace(WadoBehaviour(), **FAULTY.get(fault or "", {}))


_REASONS = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
            405: "Method Not Allowed", 406: "Not Acceptable", 410: "Gone", 502: "Bad Gateway"}

__all__ = ["KOS_HEADER", "PacsWeb", "Rad107App", "syntaxes_for", "transcode"]
