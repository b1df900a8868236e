"""WADO-RS retrieval of a series from the Source DRIMbox (IHE RAD-107, DICOM PS3.18 §10.4).

ANS DRIM-M_DATA Simulateur client wadoRS: ``Authorization: Bearer <PSC token>``, ``KOS-SOPInstanceUID``, and an Accept
listing every transfer syntax the Consumer decodes with its q-value. The multipart/related answer is parsed as a stream
(one part on disk at a time), every received instance is compared with the KOS references (missing or extra instances
are reported and the series is not imported), and error statuses are handled per series: 401 re-authenticates once, 410
means the images were deleted at the Source, 404 / 5xx / connection errors are retried, then reported.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydicom.filereader import read_partial

from harness.dicomweb.multipart import (
    MultipartError,
    MultipartParser,
    PartData,
    PartEnd,
    PartStart,
    boundary_from_content_type,
)
from simulators.consumer.manifest import SeriesRef

# what the professional is told, per outcome
MESSAGES = {
    "complete": "série complète",
    "imported": "série importée",
    "refused": "hôte hors liste blanche : aucune requête envoyée",
    "deleted": "images supprimées à la source",
    "unauthorized": "accès refusé par la source (réauthentification impossible)",
    "not-found": "série introuvable à la source",
    "server-error": "erreur de la source",
    "not-acceptable": "aucune syntaxe de transfert acceptable",
    "malformed": "réponse multipart invalide",
    "incomplete": "instances manquantes ou en trop par rapport au KOS",
    "error": "échec de la récupération",
    "import-failed": "échec de l'import dans le PACS",
}


# HTTP status of a WADO-RS answer other than 200 -> (series status, next step): ``reauth`` (renew the
# token, then ask again), ``retry`` (ask again, up to the retries allowed) or ``done`` (report it).
# ANS PoC (401 inactive token, 404 unknown KOS, 410 deleted), PS3.18 §8.7.3.5 (406), RFC 9110 §15.6 (5xx).
OUTCOMES: dict[int, tuple[str, str]] = {
    401: ("unauthorized", "reauth"),  # RFC 6750 §3.1 invalid_token
    404: ("not-found", "retry"),
    406: ("not-acceptable", "done"),
    410: ("deleted", "done"),  # RFC 9110 §15.5.11 Gone
}


def retrieve_url(ref: SeriesRef) -> str:
    """Where a series is asked for: its Retrieve URL (0008,1190) in the KOS (ANS DRIM-M_DATA KOS_OK.xml,
    PS3.18 §10.4)."""
    return ref.retrieve_url


@dataclass(frozen=True)
class RetrieveOptions:
    """Choices of the retrieval that the named faults change; the defaults are the correct behaviour."""

    bearer: bool = True
    kos_uid_header: bool = True
    accept_q: bool = True
    check_references: bool = True
    refresh_on_401: bool = True  # a new token from PSC before asking again after a 401
    outcomes: Mapping[int, tuple[str, str]] = field(default_factory=lambda: dict(OUTCOMES))
    keep_parts_on_error: bool = False  # a malformed multipart keeps the instances read before the defect
    url_of: Callable[[SeriesRef], str] = retrieve_url
    read_pace: float | None = None  # bytes per second: each answer's body read no faster (a named fault)


class Pacer:
    """Holds a transfer under ``rate`` bytes per second: :meth:`took` after each piece sleeps while the bytes
    moved so far are ahead of that rate (the named faults of a slow reader or writer)."""

    def __init__(self, rate: float) -> None:
        self.rate, self.start, self.done = rate, time.monotonic(), 0

    def took(self, size: int) -> None:
        self.done += size
        ahead = self.done / self.rate - (time.monotonic() - self.start)
        if ahead > 0:
            time.sleep(ahead)


@dataclass
class SeriesResult:
    series_uid: str
    status: str
    detail: str = ""
    files: dict[str, Path] = field(default_factory=dict)  # SOP Instance UID -> file
    missing: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)
    attempts: int = 0
    reauthenticated: bool = False
    imported: int = 0

    @property
    def message(self) -> str:
        text = MESSAGES.get(self.status, self.status)
        return f"{text} ({self.detail})" if self.detail else text


def accept_header(accept: tuple[tuple[str, float], ...], with_q: bool = True) -> str:
    """One Accept value, comma-joined media ranges (ANS DRIM-M_DATA Simulateur client wadoRS, PS3.18 §8.7.3.5)."""
    ranges = []
    for ts, q in accept:
        text = f'multipart/related; type="application/dicom"; transfer-syntax={ts}'
        ranges.append(f"{text}; q={q:g}" if with_q else text)
    return ", ".join(ranges)


class SeriesRetriever:
    """Retrieves series for one import; ``token()`` gives the current access token, ``reauth()`` renews it."""

    def __init__(self, http: Any, *, token: Callable[[], str], reauth: Callable[[], bool], kos_uid: str,
                 accept: tuple[tuple[str, float], ...], folder: Path, retries: int = 2, retry_delay: float = 0.05,
                 timeout: float = 60.0, max_part_bytes: int = 512 * 1024 * 1024,
                 options: RetrieveOptions | None = None) -> None:
        self.http, self.token, self.reauth, self.kos_uid = http, token, reauth, kos_uid
        self.accept, self.folder, self.retries, self.retry_delay = accept, folder, retries, retry_delay
        self.timeout, self.max_part_bytes = timeout, max_part_bytes
        self.options = options or RetrieveOptions()

    def headers(self) -> dict[str, str]:
        headers = {"Accept": accept_header(self.accept, self.options.accept_q)}
        if self.options.bearer:
            headers["Authorization"] = f"Bearer {self.token()}"
        if self.options.kos_uid_header:
            headers["KOS-SOPInstanceUID"] = self.kos_uid
        return headers

    def retrieve(self, ref: SeriesRef) -> SeriesResult:
        result = SeriesResult(ref.series_uid, "error")
        if ref.refused:
            result.status, result.detail = "refused", ref.refused
            return result
        attempts_left = 1 + self.retries
        while attempts_left > 0:
            attempts_left -= 1
            result.attempts += 1
            outcome = self._attempt(ref, result)
            if outcome == "reauth":
                if result.reauthenticated or not (self.reauth() if self.options.refresh_on_401 else True):
                    result.status = "unauthorized"
                    return result
                result.reauthenticated = True
                attempts_left += 1  # a 401 answered by a new token is not a failed attempt
                continue
            if outcome != "retry":
                return result
            if attempts_left:
                time.sleep(self.retry_delay)
        return result

    def _attempt(self, ref: SeriesRef, result: SeriesResult) -> str:
        """One GET; returns ``done``, ``retry`` or ``reauth`` and fills ``result``."""
        try:
            resp = self.http.get(self.options.url_of(ref), headers=self.headers(), stream=True,
                                 timeout=self.timeout)
        except OSError as exc:
            result.status, result.detail = "error", f"{type(exc).__name__}: {str(exc)[:200]}"
            return "retry"
        with resp:
            code = resp.status_code
            if code == 200:
                self._receive(resp, ref, result)
                return "done"
            other = ("server-error", "retry") if code >= 500 else ("error", "done")
            status, step = self.options.outcomes.get(code, other)
            result.status = status
            result.detail = f"HTTP {code} after {result.attempts} attempt(s)" if step == "retry" else f"HTTP {code}"
            return step

    def _receive(self, resp: Any, ref: SeriesRef, result: SeriesResult) -> None:
        target = self.folder / ref.series_uid
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir(parents=True)
        files: dict[str, Path] = {}
        try:
            self._parse(resp, target, files)
        except (MultipartError, ValueError, OSError) as exc:
            if not self.options.keep_parts_on_error:
                shutil.rmtree(target, ignore_errors=True)
                result.status, result.detail = "malformed", str(exc)[:300]
                return
        result.files = files
        result.missing = sorted(set(ref.instances) - set(files))
        result.extra = sorted(set(files) - set(ref.instances))
        if self.options.check_references and (result.missing or result.extra):
            result.status = "incomplete"
            result.detail = f"{len(result.missing)} manquante(s), {len(result.extra)} en trop"
            return
        result.status, result.detail = "complete", f"{len(files)} instance(s)"

    def _parse(self, resp: Any, target: Path, files: dict[str, Path]) -> None:
        """Stream the multipart body to one file per part, each read instance added to ``files``
        (SOP Instance UID -> file); ValueError/MultipartError on any defect."""
        parser = MultipartParser(boundary_from_content_type(resp.headers.get("Content-Type", "")),
                                 max_part_size=self.max_part_bytes)
        state: dict[str, Any] = {"fh": None, "n": 0, "size": 0, "length": None}

        def handle(events: list) -> None:
            for ev in events:
                if isinstance(ev, PartStart):
                    ctype = (ev.header("Content-Type") or "").split(";")[0].strip().lower()
                    if ctype != "application/dicom":
                        raise ValueError(f"part {state['n'] + 1} is {ctype or 'untyped'}, not application/dicom")
                    length = ev.header("Content-Length")
                    state["length"] = int(length) if length and length.isdigit() else None
                    state["n"] += 1
                    state["size"] = 0
                    state["path"] = target / f"part-{state['n']:06d}.dcm"
                    state["fh"] = open(state["path"], "wb")
                elif isinstance(ev, PartData):
                    state["size"] += len(ev.data)
                    state["fh"].write(ev.data)
                elif isinstance(ev, PartEnd):
                    state["fh"].close()
                    state["fh"] = None
                    if state["length"] is not None and state["length"] != state["size"]:
                        raise ValueError(f"part {state['n']} holds {state['size']} bytes, "
                                         f"its Content-Length announced {state['length']}")
                    uid = _sop_instance_uid(state["path"])
                    if uid in files:
                        raise ValueError(f"instance {uid} received twice")
                    files[uid] = state["path"]

        pacer = Pacer(self.options.read_pace) if self.options.read_pace else None
        try:
            for chunk in resp.iter_content(chunk_size=256 * 1024):
                if pacer is not None:
                    pacer.took(len(chunk))
                handle(parser.feed(chunk))
            handle(parser.close())
        finally:
            if state["fh"] is not None:
                state["fh"].close()


def _past_sop_instance_uid(tag: Any, vr: Any, length: Any) -> bool:
    return int(tag) > 0x00080018


def _sop_instance_uid(path: Path) -> str:
    """(0008,0018) of a Part 10 file, reading no further than that element (PS3.10 §7.1)."""
    try:
        with open(path, "rb") as fh:
            ds = read_partial(fh, stop_when=_past_sop_instance_uid)
        uid = str(ds.SOPInstanceUID)
    except Exception as exc:  # pydicom raises many types on corrupt input
        raise ValueError(f"part {path.name} is not a readable DICOM instance ({type(exc).__name__})") from None
    if not uid:
        raise ValueError(f"part {path.name} has no SOP Instance UID")
    return uid
