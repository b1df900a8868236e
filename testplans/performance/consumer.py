"""The Consumer side of the performance plan: the performance study published on the harness's Source and at its
DMP, then the Consumer driven through the profile's driver as a professional would use it, timed at the harness's
peers (ANS DRIM-M_DATA ``informatif/Performances/Readme.md``, DRIMBox consommatrice: viewing latency, viewing
throughput, export throughput; the import into the local PACS beside them).

The peers are the consumer_drimbox plan's (``testplans/consumer_drimbox/conftest.py``: DMP, PSC, local PACS, the
driver), with :class:`TimedSource` as its Source: it serves the study in its stored transfer syntax (JPEG-LS
lossless) and notes when each retrieve arrived, when its first image and its last byte were written out. Each run:
the contextual call (exam list shown), the exam opened, the import (WADO-RS, IHE RAD-107; then C-STORE into the
local PACS, DICOM PS3.4 Annex B, judged from the PACS's capture), the XDM export (IHE ITI-32) when the driver has
it; before each run after the first the local PACS is started again empty, so every import stores the whole study.
The harness's ceiling is what its own client gets from the same Source on the same bytes, and what the local PACS
stores from the harness's own C-STORE of the same instances.
"""

from __future__ import annotations

import shutil
import ssl
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fixtures.studies import Patient
from harness import capture
from harness.dicomweb.accept import AcceptError, dicom_offers, negotiate, parse_accept
from harness.dicomweb.multipart import new_boundary
from harness.dicomweb.paths import parse_wado_path
from harness.drivers import StepUnavailable
from harness.tls import peer_certificate
from testplans.consumer_drimbox.exams import nir
from testplans.consumer_drimbox.recording_source import RecordingSource, SeenRequest
from testplans.performance.figures import Ceiling, Judgement, Series, Threshold, cold_value, judge, median_of
from testplans.performance.measure import READ, fetch
from testplans.performance.move import store_files
from testplans.performance.source import JPEG_LS, study_files

ACTOR = "recording-source"  # as the consumer_drimbox plan captures its Source
PACS_ACTOR = "pacs-simulator"  # simulators.pacs.dimse records every C-STORE it receives under this actor
# the patient of the performance study and of the contextual call (a test NIR): the same bytes every campaign
PATIENT = Patient(ins=nir(990), birth_name="PERFORMANCE", given="Claire", birth_date="19480915", sex="F",
                  birthplace="75056")
SETTLE_S = 30.0  # seconds without a new C-STORE after which an import still incomplete is taken as ended


@dataclass
class Served:
    """One request the harness's Source answered: ``perf_counter`` times from its arrival, ``wall`` that arrival
    on the capture's clock (``time.time``)."""

    path: str
    wall: float
    received: float
    status: int = 0
    first_byte: float | None = None  # the first piece of the body handed to the server
    first_part: float | None = None  # the first image written out (the server asked for what follows it)
    last_byte: float | None = None
    bytes: int = 0
    parts: int = 0

    def on_wall(self, perf: float) -> float:
        return self.wall + (perf - self.received)


class TimedSource(RecordingSource):
    """The consumer_drimbox plan's recording Source, serving files in their stored transfer syntax (PS3.18
    §8.7.3.5: the Accept is negotiated against it) at the study and series levels, read from disk a megabyte at a
    time. Each request is recorded as by the plan (``requests``) and captured with its headers and figures; the
    body is counted, not kept (it is the study's files, 200 MB a retrieve on the ANS study)."""

    def __init__(self, syntax: str = JPEG_LS) -> None:
        super().__init__()
        self.syntax = syntax
        self.files: dict[str, list[Path]] = {}  # series uid -> its instance files, in order
        self.study_of: dict[str, str] = {}  # series uid -> study uid
        self.served: list[Served] = []
        self.wsgi = self._timed

    def serve_files(self, refs: list[Any]) -> None:
        """Serve the instances ``refs`` (``fixtures.studies.InstanceRef``) from their files."""
        for ref in refs:
            self.files.setdefault(ref.series_instance_uid, []).append(Path(ref.path))
            self.study_of[ref.series_instance_uid] = ref.study_instance_uid

    def served_between(self, start: float, end: float) -> list[Served]:
        with self._lock:
            return sorted((s for s in self.served if start <= s.received <= end), key=lambda s: s.received)

    def _timed(self, environ: dict, start_response: Any) -> Iterator[bytes]:
        received, wall = time.perf_counter(), time.time()
        path = environ.get("PATH_INFO", "")
        headers = [(k[5:].replace("_", "-").title(), v) for k, v in environ.items() if k.startswith("HTTP_")]
        cert = peer_certificate(environ)
        subject = cert.subject.rfc4514_string() if cert is not None else None
        seen = SeenRequest(environ.get("REQUEST_METHOD", ""), path, headers,
                           scheme=environ.get("wsgi.url_scheme", "http"), client_subject=subject)
        served = Served(path, wall, received)
        with self._lock:
            self.requests.append(seen)
        status, answer, files, boundary = self._route(path, environ.get("HTTP_ACCEPT", ""))
        seen.status = served.status = status
        start_response(f"{status} {'OK' if status == 200 else 'ERR'}", answer)
        if not files:
            self._done(served, headers, answer, subject)
            return iter([f"status {status}: not served by the performance plan's Source".encode()])
        return self._finishing(self._stream(served, files, boundary), served, headers, answer, subject)

    def _route(self, path: str, accept: str) -> tuple[int, list[tuple[str, str]], list[Path], str]:
        """(status, response headers, files to send, multipart boundary) of a GET of ``path``."""
        plain = [("Content-Type", "text/plain; charset=utf-8")]
        root = path.find("/studies/")
        try:
            wado = parse_wado_path(path[root:]) if root >= 0 else None
            ranges = parse_accept(accept) if accept else []
        except (AcceptError, ValueError):
            return 400, plain, [], ""
        if wado is None or wado.instance or wado.frames or wado.metadata:
            return 404, plain, [], ""
        files = [f for uid, study in self.study_of.items() if study == wado.study
                 and (wado.series is None or uid == wado.series) for f in self.files[uid]]
        if not files:
            return 404, plain, [], ""
        offers = dicom_offers([self.syntax])
        offer = negotiate(ranges, offers) if ranges else offers[0]
        if offer is None:
            return 406, plain, [], ""
        boundary = new_boundary()
        return 200, [("Content-Type", offer.content_type(boundary))], files, boundary

    def _stream(self, served: Served, files: list[Path], boundary: str) -> Iterator[bytes]:
        head = f"--{boundary}\r\nContent-Type: application/dicom; transfer-syntax={self.syntax}\r\n\r\n".encode()
        for index, path in enumerate(files):
            piece = (b"\r\n" if index else b"") + head
            if served.first_byte is None:
                served.first_byte = time.perf_counter()
            served.bytes += len(piece)
            yield piece
            with open(path, "rb") as fh:
                while data := fh.read(READ):
                    served.bytes += len(data)
                    yield data
            served.parts += 1
            if index == 0:  # the server wrote the first image out before asking for more
                served.first_part = time.perf_counter()
        close = f"\r\n--{boundary}--\r\n".encode()
        served.bytes += len(close)
        yield close
        served.last_byte = time.perf_counter()

    def _finishing(self, body: Iterator[bytes], served: Served, headers: list[tuple[str, str]],
                   answer: list[tuple[str, str]], subject: str | None) -> Iterator[bytes]:
        try:
            yield from body
        finally:
            self._done(served, headers, answer, subject)

    def _done(self, served: Served, headers: list[tuple[str, str]], answer: list[tuple[str, str]],
              subject: str | None) -> None:
        with self._lock:
            self.served.append(served)
        end = served.last_byte or time.perf_counter()
        first = "-" if served.first_part is None else f"{(served.first_part - served.received) * 1000:.0f}"
        capture.record("http", ACTOR, "inbound", f"GET {served.path}: {served.bytes} bytes, {served.parts} image(s), "
                       f"first image out {first} ms, last byte {(end - served.received) * 1000:.0f} ms after the "
                       "request (body counted, not kept)", request_headers=headers, response_headers=answer,
                       status=served.status, started=served.wall, elapsed=end - served.received,
                       tls_client=subject or "")


@dataclass
class ConsumerBed:
    """The world of the consumer_drimbox plan with the performance study published in it."""

    world: Any
    exam: Any  # testplans.consumer_drimbox.exams.FixtureExam
    source: TimedSource
    files: list[Path]
    contexts: list[tuple[str, str]]  # (SOP class, transfer syntax) of the files
    study: str
    root: Path
    client: ssl.SSLContext | None  # the harness's client towards its own Source (the ceiling)
    pacs_runs: int = 0

    @property
    def images(self) -> int:
        return len(self.files)

    @property
    def study_uid(self) -> str:
        return self.exam.study_uid


@contextmanager
def start_bed(sut: Any, options: dict[str, Any], root: Path, say: Callable[[str], None]) -> Iterator[ConsumerBed]:
    """Start the consumer_drimbox plan's peers (and the reference Consumer when it is the SUT) with a
    :class:`TimedSource`, write the study for :data:`PATIENT`, serve it and submit its KOS to the DMP."""
    from testplans.consumer_drimbox import conftest as plan
    from testplans.consumer_drimbox.exams import FixtureExam, build_kos, new_uid

    key = options.get("study", "ans")
    _, refs = study_files(key, root / "study", PATIENT)
    source = TimedSource()
    with plan.start_world(sut, root / "world", say, source=source) as w:
        source.serve_files(refs)
        study_uid = refs[0].study_instance_uid
        accession = f"ACC{study_uid[-6:]}"
        kos, kos_uid = build_kos(refs, PATIENT, w.source_url, accession)
        series: dict[str, list[Any]] = {}
        for ref in refs:
            series.setdefault(ref.series_instance_uid, []).append(ref)
        exam = plan._submit(w, FixtureExam(PATIENT, study_uid, accession, kos, kos_uid, series, w.source_url,
                                           unique_id=new_uid()), None)
        client = None
        if w.tls is not None:
            client = ssl.create_default_context(cafile=str(w.tls.ca))
            client.load_cert_chain(*w.tls.client("consumer-client"))
        yield ConsumerBed(w, exam, source, [r.path for r in refs], sorted({(r.sop_class_uid, JPEG_LS) for r in refs}),
                          key, root, client)


def fresh_pacs(bed: ConsumerBed, timeout: float = 10.0) -> None:
    """Start the local PACS again, empty, on its port: the next import stores the whole study (a Consumer that
    skipped instances the PACS holds would otherwise be timed on less)."""
    from simulators.pacs import start_pacs

    w = bed.world
    old, port = w.pacs, w.pacs.port
    old.stop()
    bed.pacs_runs += 1
    deadline = time.monotonic() + timeout
    while True:
        try:
            w.pacs = start_pacs(bed.root / f"pacs-{bed.pacs_runs}", aet=old.aet, port=port, dicomweb=False)
            break
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    w.stops.append(w.pacs.stop)
    shutil.rmtree(old.store.root, ignore_errors=True)


@dataclass(frozen=True)
class ConsumerRun:
    """One pass of the workflow; times in ms, rates from the harness's peers."""

    list_ms: float  # contextual call sent -> the driver on the exam list
    exam_ms: float  # open the exam -> the driver on the exam page
    first_image_ms: float | None  # contextual call sent -> the first image the Source wrote out to the Consumer
    requests: int  # WADO-RS requests the Source answered during the import
    view_bytes: int  # body bytes the Source sent the Consumer during the import
    view_s: float | None  # first request arrived -> last byte sent
    stored: int  # instances the local PACS holds after the import
    stored_bytes: int
    import_s: float | None  # first WADO-RS byte -> the end of the last C-STORE the PACS received
    cpu_share: float  # the harness process's CPU time over the import's wall time
    statuses: dict[str, str] = field(default_factory=dict)  # what the driver says the Consumer showed
    export_bytes: int | None = None  # size of the XDM ZIP; None: not exported
    export_s: float | None = None
    export_cpu: float | None = None
    export_note: str = ""  # why there is no export figure

    @property
    def view_mb_per_s(self) -> float | None:
        return None if not self.view_s else self.view_bytes / 1e6 / self.view_s

    @property
    def import_mb_per_s(self) -> float | None:
        return None if not self.import_s else self.stored_bytes / 1e6 / self.import_s

    @property
    def import_images_per_s(self) -> float | None:
        return None if not self.import_s else self.stored / self.import_s

    @property
    def export_mb_per_s(self) -> float | None:
        return None if not self.export_s or self.export_bytes is None else self.export_bytes / 1e6 / self.export_s

    def to_dict(self) -> dict[str, Any]:
        return {"list_ms": self.list_ms, "exam_ms": self.exam_ms, "first_image_ms": self.first_image_ms,
                "requests": self.requests, "view_bytes": self.view_bytes, "view_s": self.view_s,
                "view_mb_per_s": self.view_mb_per_s, "stored": self.stored, "stored_bytes": self.stored_bytes,
                "import_s": self.import_s, "import_mb_per_s": self.import_mb_per_s,
                "import_images_per_s": self.import_images_per_s, "cpu_share": self.cpu_share,
                "statuses": self.statuses, "export_bytes": self.export_bytes, "export_s": self.export_s,
                "export_mb_per_s": self.export_mb_per_s, "export_cpu": self.export_cpu,
                "export_note": self.export_note}


@dataclass(frozen=True)
class CeilingRun:
    """The harness on its own: its client retrieving the study from its Source, then C-STOREing the same
    instances into the local PACS."""

    first_image_ms: float | None
    view_mb_per_s: float | None
    store_mb_per_s: float | None
    store_images_per_s: float | None

    def to_dict(self) -> dict[str, Any]:
        return {"first_image_ms": self.first_image_ms, "view_mb_per_s": self.view_mb_per_s,
                "store_mb_per_s": self.store_mb_per_s, "store_images_per_s": self.store_images_per_s}


RUN_METRICS = ("list_ms", "exam_ms", "first_image_ms", "view_mb_per_s", "import_mb_per_s", "import_images_per_s",
               "export_mb_per_s")
CEILING_METRICS = ("first_image_ms", "view_mb_per_s", "store_mb_per_s", "store_images_per_s")


def _pacs_stores(study: set[str], since: float) -> list[capture.Exchange]:
    """C-STOREs of ``study``'s instances the local PACS received from ``since`` (its capture's clock) on."""
    out = []
    for e in capture.recorder().exchanges(protocol="dimse", actor=PACS_ACTOR):
        parts = e.summary.split()
        if parts and parts[0] == "C-STORE" and parts[-1] in study and e.started >= since and e.error is None:
            out.append(e)
    return out


def _settled(bed: ConsumerBed, instances: set[str], since: float) -> None:
    """Wait until the PACS holds every instance, or no C-STORE arrived for :data:`SETTLE_S` seconds (a
    driver's import step may return before the Consumer has stored everything)."""
    last_count, last_change = -1, time.monotonic()
    while True:
        count = len(_pacs_stores(instances, since))
        if count >= len(instances):
            return
        if count != last_count:
            last_count, last_change = count, time.monotonic()
        elif time.monotonic() - last_change > SETTLE_S:
            return
        time.sleep(0.1)


def run_once(bed: ConsumerBed) -> ConsumerRun:
    """One pass: contextual call, open the exam, import, export; StepUnavailable when the driver cannot."""
    from testplans.consumer_drimbox.conftest import exam_ref
    from testplans.consumer_drimbox.exams import contextual_form, patient_cx
    from testplans.consumer_drimbox.traffic import saw_find_documents, saw_retrieve

    w, exam, driver = bed.world, bed.exam, bed.world.driver
    ref, instances = exam_ref(exam), {r.sop_instance_uid for refs in exam.series.values() for r in refs}

    def imported() -> bool:
        return instances <= {r["SOPInstanceUID"] for r in w.pacs.store.records({"study_uid": [exam.study_uid]})}

    t0, since = time.perf_counter(), time.time()
    driver.open_patient(contextual_form(PATIENT), until=lambda: saw_find_documents(patient_cx(PATIENT)))
    t1 = time.perf_counter()
    driver.open_exam(ref, until=lambda: saw_retrieve(exam.unique_id))
    t2 = time.perf_counter()
    cpu0, wall0 = time.process_time(), time.perf_counter()
    statuses = driver.import_exam(ref, until=imported)
    _settled(bed, instances, since)
    t3 = time.perf_counter()
    cpu = (time.process_time() - cpu0) / max(t3 - wall0, 1e-6)
    served = [s for s in bed.source.served_between(t0, t3) if s.status == 200]
    first = next((s for s in served if s.first_part is not None), None)
    stores = _pacs_stores(instances, since)
    stored = w.pacs.store.records({"study_uid": [exam.study_uid]})
    import_s = view_s = None
    if served and stores and served[0].first_byte is not None:
        import_s = max(e.started + (e.elapsed or 0.0) for e in stores) - served[0].on_wall(served[0].first_byte)
    if served:
        view_s = max(s.last_byte or s.received for s in served) - served[0].received
    run = ConsumerRun(
        list_ms=(t1 - t0) * 1000, exam_ms=(t2 - t1) * 1000,
        first_image_ms=None if first is None else (first.first_part - t0) * 1000, requests=len(served),
        view_bytes=sum(s.bytes for s in served), view_s=view_s, stored=len(stored),
        stored_bytes=sum(r.size for r in stored), import_s=import_s, cpu_share=cpu, statuses=dict(statuses or {}))
    return _export(bed, ref, run)


def _export(bed: ConsumerBed, ref: Any, run: ConsumerRun) -> ConsumerRun:
    """The XDM export of the exam (ITI-32 on ZIP media) through the driver, timed around the step."""
    from dataclasses import replace

    cpu0, t0 = time.process_time(), time.perf_counter()
    try:
        package = bed.world.driver.export_exam(ref)
    except StepUnavailable as exc:
        return replace(run, export_note=f"the driver cannot export: {exc}")
    took = time.perf_counter() - t0
    cpu = (time.process_time() - cpu0) / max(took, 1e-6)
    if not package.startswith(b"PK\x03\x04"):
        return replace(run, export_note=f"the export step returned {len(package)} bytes that are not a ZIP file "
                       f"(starting {package[:16]!r}): no XDM media to time (CON-XDM-EXPORT judges the media)")
    return replace(run, export_bytes=len(package), export_s=took, export_cpu=cpu)


def ceiling_once(bed: ConsumerBed) -> CeilingRun:
    """The harness's own client on the same bytes: the study from its Source (server-side figures, as for the
    Consumer), then the same instances C-STOREd from the harness into a fresh local PACS."""
    url = f"{bed.world.source_url}/studies/{bed.study_uid}"
    accept = f'multipart/related; type="application/dicom"; transfer-syntax={JPEG_LS}'
    t0 = time.perf_counter()
    sample = fetch(url, [("Accept", accept)], bed.client, label="harness ceiling")
    served = [s for s in bed.source.served_between(t0, time.perf_counter()) if s.status == 200]
    view = first = None
    if sample.status == 200 and served and served[0].last_byte:
        s = served[0]
        view = s.bytes / 1e6 / max(s.last_byte - s.received, 1e-6)
        first = None if s.first_part is None else (s.first_part - s.received) * 1000
    fresh_pacs(bed)
    pacs = bed.world.pacs
    t0 = time.perf_counter()
    status, done = store_files(pacs.host, pacs.port, pacs.aet, bed.files, bed.contexts)
    took = max(time.perf_counter() - t0, 1e-6)
    size = sum(r.size for r in pacs.store.records({"study_uid": [bed.study_uid]}))
    ok = status == 0 and done == bed.images
    return CeilingRun(first, view, size / 1e6 / took if ok else None, done / took if ok else None)


@dataclass
class ConsumerFigures:
    study: str
    images: int
    study_bytes: int
    runs: Series | None  # the workflow: the first (cold) pass, then the warm ones
    ceiling: Series | None
    unavailable: str = ""  # why nothing was measured (a step the driver cannot perform)

    def to_dict(self) -> dict[str, Any]:
        return {"study": self.study, "images": self.images, "study_bytes": self.study_bytes,
                "runs": self.runs.to_dict(RUN_METRICS) if self.runs else None,
                "run_samples": [r.to_dict() for r in self._all()],
                "ceiling": self.ceiling.to_dict(CEILING_METRICS) if self.ceiling else None,
                "unavailable": self.unavailable}

    def _all(self) -> list[ConsumerRun]:
        return [] if self.runs is None else [self.runs.cold, *self.runs.warm]

    def cpu(self, metric: str = "cpu_share") -> float:
        return max((getattr(r, metric) or 0.0 for r in (self.runs.warm if self.runs else [])), default=0.0)

    def incomplete(self) -> str:
        """Why an import did not store the whole study (the runs measured something else), or ``""``."""
        for index, run in enumerate(self._all()):
            if run.stored != self.images or (run.statuses and set(run.statuses.values()) != {"imported"}):
                return (f"run {index + 1}: the local PACS holds {run.stored} of the study's {self.images} instances "
                        f"after the import, the Consumer showed {run.statuses or 'no per-series result'} (the "
                        "consumer_drimbox plan's CON-IMP-* requirements say why)")
        return ""

    def export_missing(self) -> str:
        return next((r.export_note for r in self._all() if r.export_note), "")

    # -- verdicts ---------------------------------------------------------------------------------
    def view_latency(self, t: Threshold) -> tuple[Judgement, dict[str, Any]]:
        steps = self._steps()
        return self._judge(t, "first_image_ms", "first_image_ms", "cpu_share",
                           "contextual call sent to the end of the first image the harness's Source wrote out to the "
                           "Consumer (the driver's steps back to back: open the patient, open the exam, import; the "
                           f"driver cannot tell when an image is shown), warm median{steps}",
                           "contextual call -> first image (observed at the harness's Source)")

    def view_throughput(self, t: Threshold) -> tuple[Judgement, dict[str, Any]]:
        return self._judge(t, "view_mb_per_s", "view_mb_per_s", "cpu_share",
                           "bytes the harness's Source sent the Consumer during the import, over the time from its "
                           "first request to its last byte, warm median", "WADO-RS retrieves of the Consumer")

    def import_throughput(self, t: Threshold) -> tuple[Judgement, dict[str, Any]]:
        images = self.runs.of("import_images_per_s") if self.runs else None
        also = "" if images is None else f" ({images.median:.0f} images/s)"
        return self._judge(t, "import_mb_per_s", "store_mb_per_s", "cpu_share",
                           "bytes the local PACS stored, over the time from the first WADO-RS byte the harness's "
                           f"Source sent to the end of the last C-STORE the PACS received (its capture), warm "
                           f"median{also}", "import: WADO-RS then C-STORE into the local PACS")

    def export_throughput(self, t: Threshold) -> tuple[Judgement, dict[str, Any]]:
        return self._judge(t, "export_mb_per_s", "view_mb_per_s", "export_cpu",
                           "size of the XDM ZIP the driver's export step returned, over the time the step took, "
                           "warm median", "XDM export (ITI-32)")

    def _steps(self) -> str:
        if self.runs is None:
            return ""
        lists, exams = self.runs.of("list_ms"), self.runs.of("exam_ms")
        return "" if lists is None or exams is None else (
            f" (of which the exam list {lists.median:.0f} ms, the exam page {exams.median:.0f} ms)")

    def _judge(self, t: Threshold, metric: str, ceiling_metric: str, cpu_metric: str, what: str,
               measurement: str) -> tuple[Judgement, dict[str, Any]]:
        st = self.runs.of(metric) if self.runs else None
        cpu = self.cpu(cpu_metric)
        ceiling = Ceiling(median_of(self.ceiling.of(ceiling_metric)) if self.ceiling else None, cpu,
                          "peers' process")
        described = what + (f": {st.describe(t.unit)}; cold {cold_value(self.runs.cold, metric)}" if st else "")
        return judge(t, median_of(st), ceiling, described), {
            "measurement": measurement, "ceiling": ceiling.value, "client_cpu": cpu,
            "stats": st.to_dict() if st else None}


def measure_consumer(bed: ConsumerBed, repeat: int) -> ConsumerFigures:
    """The workflow ``repeat + 1`` times (the local PACS emptied before each after the first), then the ceiling
    as many times."""
    size = sum(p.stat().st_size for p in bed.files)
    runs: list[ConsumerRun] = []
    try:
        for index in range(repeat + 1):
            if index:
                fresh_pacs(bed)
            runs.append(run_once(bed))
    except StepUnavailable as exc:
        return ConsumerFigures(bed.study, bed.images, size, None, None, f"the driver cannot perform a step: {exc}")
    ceilings = [ceiling_once(bed) for _ in range(repeat + 1)]
    return ConsumerFigures(bed.study, bed.images, size, Series(runs[0], runs[1:]),
                           Series(ceilings[0], ceilings[1:]))


__all__ = ["ConsumerBed", "ConsumerFigures", "ConsumerRun", "TimedSource", "measure_consumer", "start_bed"]
