"""The Source side of the performance plan: publish the performance study through the Source's normal flow,
then measure its WADO-RS (IHE RAD-107, DICOM PS3.18 §10.4) level by level and syntax by syntax, the PACS behind
it by C-MOVE (DB.SO.102), and the harness's own ceiling on the same bytes.

The peers and the publication are the source_drimbox plan's (``testplans/source_drimbox/conftest.py``): the DMP and
PSC simulators, for the reference the embedded PACS (Orthanc with ``DRIMCHECK_SOURCE_PACS=orthanc``; the PACS's
named faults, DB.SO.102, in the embedded one), the RIS's ORU^R01 that makes the Source publish its KOS; the
retrieves carry a PSC token and the KOS UID read from the publication the DMP received, as a Consumer's do (ANS
DRIM-M_DATA ``test a blanc/Simulateur client wadoRS/``).
"""

from __future__ import annotations

import os
import ssl
import sys
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.dicom.client import Peer
from testplans.performance.figures import (
    Ceiling,
    Judgement,
    Series,
    Threshold,
    cold_value,
    judge,
    median_of,
    stats,
)
from testplans.performance.measure import CeilingServer, Sample, fetch
from testplans.performance.move import MoveSample, StorageScp, move_study, send_files

# study -> (series, images per series): 512x512 CT, JPEG-LS lossless, about 150 kB an image
STUDIES = {"ans": (2, 650), "small": (2, 6)}
JPEG_LS, EXPLICIT = "1.2.840.10008.1.2.4.80", "1.2.840.10008.1.2.1"
LEVELS = ("study", "series", "instance", "frames")
SYNTAXES = {"stored": JPEG_LS, "explicit": EXPLICIT}
SPEEDTEST_AE, SPEEDTEST_PORT = "STORESCP", 9999  # the ANS SpeedTest's defaults (Readme: --ae-title, --cstore-port)


@dataclass
class Bed:
    """A published performance study and what it takes to retrieve it."""

    wado: str
    kos_uid: str
    study_uid: str
    series: list[str]
    first_sop: str
    files: list[Path]
    token: Callable[[], str]
    context: ssl.SSLContext | None  # the client's TLS towards the SUT
    ceiling_tls: tuple[ssl.SSLContext, ssl.SSLContext] | None  # (server, client) of the ceiling server
    pacs: Peer
    scp: StorageScp
    study: str
    contexts: list[tuple[str, str]] = field(default_factory=list)  # (SOP class, syntax) of the files


def study_files(key: str, root: Path, patient: Any = None) -> tuple[Any, list[Any]]:
    """The exam of study ``key`` (its report's) and its written instances (seeded: the same bytes every run);
    ``patient`` (a ``fixtures.studies.Patient``) replaces the report's, as the Consumer side's contextual call
    names it."""
    from dataclasses import replace

    from fixtures.studies import write_study
    from simulators.ris import messages as M

    series, images = STUDIES[key]
    exam = M.exam(f"perf-{key}", series=series, instances=images)
    spec = M.study_spec(exam, transfer_syntax="jpeg-ls", rows=512, columns=512)
    if patient is not None:
        spec = replace(spec, patient=patient)
    return exam, write_study(spec, root)


@contextmanager
def start_bed(sut: Any, options: dict[str, Any], root: Path) -> Iterator[Bed]:
    from harness.tls import network_tls, plan_peers_tls
    from harness.vihf import throwaway_pki
    from simulators.dmp.reference import start as start_dmp
    from simulators.psc import start_psc
    from testplans.source_drimbox import conftest as plan
    from testplans.source_drimbox.support import PUBLISH_TIMEOUT, Timing

    key = options.get("study", "ans")
    exam, refs = study_files(key, root / "study")
    files = [r.path for r in refs]
    Timing.publish = float((sut.options or {}).get("publish_timeout", PUBLISH_TIMEOUT))
    vendor_ca = (sut.credentials or {}).get("vihf_ca")
    pki = throwaway_pki("DRIMcheck performance plan") if sut.reference and not vendor_ca else None
    trust = [Path(vendor_ca).read_bytes()] if vendor_ca else [pki.ca_pem] if pki else []
    destination = dict(options.get("move_destination") or {})
    with ExitStack() as stack:
        (root / "dmp").mkdir()
        peers_tls = plan_peers_tls(sut, root / "pki")
        dmp = start_dmp(plan._dmp_config(root / "dmp", trust), port=sut.port("dmp"), vihf_pki=pki,
                        ssl_context=peers_tls.context("dmp") if peers_tls else None)
        stack.callback(dmp.stop)
        psc = start_psc(plan._psc_config(sut, peers_tls), port=sut.port("psc"))
        stack.callback(psc.stop)
        scp = StorageScp(destination.get("ae_title", SPEEDTEST_AE),
                         0 if sut.reference else int(destination.get("port", SPEEDTEST_PORT)))
        stack.callback(scp.stop)
        if sut.reference:
            from simulators.source import start_reference
            from simulators.source.reference import wado_tls

            # the embedded PACS, or Orthanc with DRIMCHECK_SOURCE_PACS=orthanc, as in the source_drimbox plan
            pacs = plan._start_pacs(root, {scp.ae_title: (scp.host, scp.port)}, sut.fault)
            stack.callback(pacs.stop)
            target = (pacs.host, pacs.port, pacs.aet)
            plan._load({key: files}, target)
            tls = peers_tls or network_tls(root / "pki")
            context, allowed = wado_tls(tls, sut.fault)
            source = start_reference(
                sut.fault, root / "source", ssl_context=context, allowed_clients=allowed,
                pacs_host=pacs.host, pacs_port=pacs.port, pacs_aet=pacs.aet, pacs_dicomweb=pacs.dicomweb_url,
                dmp_registry=dmp.endpoints["registry"], dmp_repository=dmp.endpoints["repository"],
                psc_introspect=psc.endpoints["introspect"], vihf_key=pki.key_pem, vihf_cert=pki.cert_pem,
                psc_client_cert=tls.client("source-client"),
                pacs_retrieve=os.environ.get(plan.RETRIEVE_ENV, "dicomweb"))
            stack.callback(source.stop)
            wado, mllp = source.endpoints["wado_rs"], source.endpoints["mllp"]
            client = ssl.create_default_context(cafile=str(tls.ca))
            client.load_cert_chain(*tls.client("consumer-client"))
            ceiling_pki = tls
        else:
            ep = sut.endpoints
            dicom = ep["dicom"]
            target = (dicom["host"], int(dicom["port"]), dicom["ae_title"])
            plan._load({key: files}, target)
            wado, mllp = ep["wado_rs"].rstrip("/"), ep["mllp"]
            client = _client_context(sut) if wado.startswith("https") else None
            ceiling_pki = peers_tls or network_tls(root / "ceiling-pki")
        print(f"\nperformance plan: Source WADO-RS {wado}, MLLP {mllp}; PACS {target[2]}@{target[0]}:{target[1]}; "
              f"C-MOVE destination {scp.ae_title} port {scp.port}; study {key} ({len(files)} images)", file=sys.stderr)
        env = plan.Env(dmp, psc, wado, mllp, {key: exam}, {key: files}, trust=trust)
        pnr = plan.published_kos(env, key)  # inconclusive when the Source did not publish it
        kos = pnr.kos()
        ceiling_tls = None
        if wado.startswith("https"):
            ceiling_tls = (ceiling_pki.context("source"), ssl.create_default_context(cafile=str(ceiling_pki.ca)))
        first = refs[0]
        yield Bed(wado=wado, kos_uid=str(kos.SOPInstanceUID), study_uid=first.study_instance_uid,
                  series=list(dict.fromkeys(r.series_instance_uid for r in refs)), first_sop=first.sop_instance_uid,
                  files=files, token=env.token, context=client, ceiling_tls=ceiling_tls,
                  pacs=Peer(target[0], target[1], target[2], "DRIMCHECK"), scp=scp, study=key,
                  contexts=sorted({(r.sop_class_uid, JPEG_LS) for r in refs}))


def _client_context(sut: Any) -> ssl.SSLContext:
    kwargs = sut.http_kwargs()
    verify = kwargs["verify"]
    context = ssl.create_default_context(cafile=verify if isinstance(verify, str) else None)
    if verify is False:
        context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    if kwargs.get("cert"):
        context.load_cert_chain(*kwargs["cert"])
    return context


def request_of(bed: Bed, level: str, syntax: str) -> tuple[str, list[tuple[str, str]]]:
    """URL and headers of a retrieve at ``level`` in ``syntax`` (PS3.18 §8.7.3 media types for frames)."""
    path = f"/studies/{bed.study_uid}"
    if level != "study":
        path += f"/series/{bed.series[0]}"
    if level in ("instance", "frames"):
        path += f"/instances/{bed.first_sop}"
    if level == "frames":
        path += "/frames/1"
        accept = ('multipart/related; type="image/jls"' if syntax == JPEG_LS else
                  f'multipart/related; type="application/octet-stream"; transfer-syntax={syntax}')
    else:
        accept = f'multipart/related; type="application/dicom"; transfer-syntax={syntax}'
    return bed.wado.rstrip("/") + path, [("Accept", accept), ("Authorization", f"Bearer {bed.token()}"),
                                         ("KOS-SOPInstanceUID", bed.kos_uid)]


HTTP_METRICS = ("ttfb_ms", "first_part_ms", "total_ms", "mb_per_s", "images_per_s")
MOVE_METRICS = ("first_ms", "total_ms", "mb_per_s")


@dataclass
class SourceFigures:
    study: str
    images: int
    wado: dict[tuple[str, str], Series]
    ceiling: Series
    move: Series
    move_ceiling: Series
    move_cpu: float

    def to_dict(self) -> dict[str, Any]:
        return {"study": self.study, "images": self.images,
                "wado": {f"{level} {name}": self.wado[(level, ts)].to_dict(HTTP_METRICS)
                         for level in LEVELS for name, ts in SYNTAXES.items() if (level, ts) in self.wado},
                "ceiling": self.ceiling.to_dict(HTTP_METRICS), "move": self.move.to_dict(MOVE_METRICS),
                "move_ceiling": self.move_ceiling.to_dict(MOVE_METRICS), "move_process_cpu": self.move_cpu}

    def refused(self) -> dict[str, int]:
        """Retrieves that were not answered 200: what they measured is no figure of the SUT."""
        return {f"{level} {ts}": s.status for (level, ts), ser in self.wado.items()
                for s in [ser.cold, *ser.warm] if s.status != 200}

    # -- verdicts ---------------------------------------------------------------------------------
    def wado_latency(self, t: Threshold) -> tuple[Judgement, dict[str, Any]]:
        medians = {level: st.median for level in LEVELS if (st := self.wado[(level, JPEG_LS)].of("ttfb_ms"))}
        worst = max(medians, key=medians.get) if medians else None
        cpu = max(self.wado[(level, JPEG_LS)].cpu() for level in LEVELS)
        ceiling = Ceiling(median_of(self.ceiling.of("ttfb_ms")), cpu)
        what = f"time to the first byte, worst level's warm median ({worst}; " + ", ".join(
            f"{lv} {v:.0f} ms" for lv, v in medians.items()) + ")"
        return judge(t, medians.get(worst) if worst else None, ceiling, what), {
            "measurement": f"WADO-RS {worst} level, stored syntax", "ceiling": ceiling.value, "client_cpu": cpu,
            "levels": medians}

    def wado_throughput(self, t: Threshold) -> tuple[Judgement, dict[str, Any]]:
        return self._judge(t, ("study", JPEG_LS), "mb_per_s", "study-level retrieve, MB/s between first and last "
                           "byte, warm median")

    def view_latency(self, t: Threshold) -> tuple[Judgement, dict[str, Any]]:
        return self._judge(t, ("series", JPEG_LS), "first_part_ms", "series-level retrieve, time to its first "
                           "image complete, warm median")

    def view_throughput(self, t: Threshold) -> tuple[Judgement, dict[str, Any]]:
        return self._judge(t, ("series", JPEG_LS), "images_per_s", "series-level retrieve, images/s between first "
                           "and last byte, warm median")

    def _judge(self, t: Threshold, key: tuple[str, str], metric: str, what: str) -> tuple[Judgement, dict[str, Any]]:
        series = self.wado[key]
        st = series.of(metric)
        ceiling = Ceiling(median_of(self.ceiling.of(metric)), series.cpu())
        described = what + (f": {st.describe(t.unit)}; cold {cold_value(series.cold, metric)}" if st else "")
        return judge(t, median_of(st), ceiling, described), {
            "measurement": f"WADO-RS {key[0]} level, stored syntax", "ceiling": ceiling.value,
            "client_cpu": series.cpu(), "stats": st.to_dict() if st else None}

    def pacs(self, t: Threshold, metric: str) -> tuple[Judgement, dict[str, Any]]:
        st = self.move.of(metric)
        ceiling = Ceiling(median_of(self.move_ceiling.of(metric)), self.move_cpu)
        what = ("C-MOVE of the study to the harness's Storage SCP, "
                + ("time to the first image" if metric == "first_ms" else "bytes from the first image to the end "
                   f"(the SpeedTest's bytes over the total time: {self._speedtest()})")
                + (f": {st.describe(t.unit)}; cold {cold_value(self.move.cold, metric)}" if st else ""))
        return judge(t, median_of(st), ceiling, what), {
            "measurement": "C-MOVE (DB.SO.102)", "ceiling": ceiling.value, "client_cpu": self.move_cpu,
            "stats": st.to_dict() if st else None}


    def _speedtest(self) -> str:
        rates = stats(s.speedtest_mb_per_s * 8 for s in self.move.warm)
        return "-" if rates is None else f"median {rates.median:.1f} Mbit/s"


def measure_source(bed: Bed, repeat: int) -> SourceFigures:
    """Every figure of the Source: each level x syntax cold then ``repeat`` warm, the ceiling, the C-MOVEs."""
    import time

    wado: dict[tuple[str, str], Series] = {}
    for level in LEVELS:
        for ts in SYNTAXES.values():
            samples = []
            for index in range(repeat + 1):
                url, headers = request_of(bed, level, ts)
                label = f"{level} {ts} {'warm' if index else 'cold'}"
                samples.append(fetch(url, headers, bed.context, label=label))
            wado[(level, ts)] = Series(samples[0], samples[1:])
    server_ctx, client_ctx = bed.ceiling_tls or (None, None)
    with CeilingServer(bed.files, server_ctx) as server:
        runs = [fetch(server.url, [("Accept", "multipart/related")], client_ctx, label="harness ceiling")
                for _ in range(repeat + 1)]
    ceiling = Series(runs[0], runs[1:])
    cpu0, t0 = time.process_time(), time.perf_counter()
    moves = [move_study(bed.pacs, bed.study_uid, bed.scp) for _ in range(repeat + 1)]
    move_cpu = (time.process_time() - cpu0) / max(time.perf_counter() - t0, 1e-6)
    sends = [send_files(bed.scp, bed.files, bed.contexts) for _ in range(repeat + 1)]
    return SourceFigures(bed.study, len(bed.files), wado, ceiling, Series(moves[0], moves[1:]),
                         Series(sends[0], sends[1:]), move_cpu)


__all__ = ["Bed", "MoveSample", "Sample", "SourceFigures", "measure_source", "start_bed"]
