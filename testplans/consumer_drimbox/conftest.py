"""Fixtures of the consumer_drimbox plan: the harness plays every peer of the Consumer under test.

- the DMP: the DMP simulator, pre-loaded per test with KOS submissions (``publish``), capturing
  the Consumer's ITI-18 / ITI-43 (actor ``dmp-simulator``);
- the Source DRIMbox: :class:`RecordingSource`, a WADO-RS server that records every request and
  misbehaves on demand;
- Pro Santé Connect: the PSC simulator (captured as ``psc-simulator``);
- the local PACS: the embedded PACS, where imports land;
- the professional's software and browser: :class:`Browser` (contextual call, PSC login), for the
  protocol-level checks that need no page;
- the screens: the driver the profile names (``driver: reference | operator | path.py:Class``,
  :mod:`harness.drivers`): opening an exam, importing it, and what only a screen shows are asked of it.

With ``sut.reference`` the reference Consumer is started in process with ``sut.fault`` (the fast path);
otherwise the profile gives ``endpoints.contextual_call`` and ``endpoints.base``, and ``options.ports``
pins the peers' ports (dmp, psc, source, pacs) the Consumer under test was configured with. Verdicts come
from what the peers captured, never from a branch on which Consumer it is.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from fixtures.studies import Patient
from harness.drivers import ConsumerDriver, DriverContext, ExamRef, PatientTraits, StepUnavailable, load_driver
from harness.servers import RunningServer, serve_wsgi
from harness.tls import plan_peers_tls, trusted_cas
from harness.xds import kos_submission
from harness.xds.clients import XdsClient
from harness.xds.model import ASSOCIATION_TYPES, Association
from testplans.consumer_drimbox.browser import Browser
from testplans.consumer_drimbox.exams import (
    FixtureExam,
    build_kos,
    contextual_form,
    new_patient,
    new_uid,
    patient_cx,
    write_fixture_study,
)
from testplans.consumer_drimbox.recording_source import RecordingSource

PROFESSIONAL = "10001000001"  # PSC simulator users.yaml: Marie RADIOLOGUE
PSC_CLIENT = "drimbox-consumer"  # the Consumer's client at PSC (simulators/psc/users.yaml)
REGIONS = [("51185008", "Thorax")]


@dataclass
class World:
    contextual_call: str
    consumer_base: str
    dmp: Any
    psc: Any
    psc_issuer: str
    pacs: Any
    source: RecordingSource
    source_url: str  # WADO-RS base of the recording Source
    loader: XdsClient
    workdir: Path
    outsider: RecordingSource | None = None  # a WADO-RS server NOT on the Consumer's allowlist
    outsider_url: str = ""
    whitelist_url: str = ""  # where the plan serves the signed whitelist of DRIMboxes
    vihf_trust: list[bytes] = field(default_factory=list)  # CA certificates the VIHF signature must chain to
    consumer: Any = None
    driver: ConsumerDriver | None = None
    stops: list[Callable[[], None]] = field(default_factory=list)
    tls: Any = None  # harness.tls.NetworkTls of the peers (None: plain HTTP peers, tls.peers: http)
    source_server: RunningServer | None = None  # the recording Source's server (its TLS context can be swapped)
    lists: Any = None  # whitelist_peer.ListServer: the whitelist the Consumer fetches (None: not configured)
    list_variants: dict[str, bytes] = field(default_factory=dict)  # good and each bad list (whitelist_peer)
    list_interval: float = 0.0  # seconds between two fetches of the Consumer (options.whitelist_interval)
    list_reason: str = ""  # why no whitelist is served, for the not-applicable verdicts

    @property
    def psc_auth(self) -> str:
        return self.psc_issuer + "/protocol/openid-connect/auth"


def _start_psc(port: int, tls: Any = None, subject: str | None = None) -> tuple[Any, RunningServer]:
    """The PSC simulator (it captures itself as ``psc-simulator``), HTTPS from the peers' PKI with ``tls``,
    asking (not demanding) a client certificate. The Consumer's client may authenticate by its certificate
    (``subject``, RFC 8705 §2.1) as well as by its secret: the plan accepts both, so every other check still
    runs, and CON-SEC-PSC-MTLS judges from the traffic."""
    from dataclasses import replace

    from simulators.psc import PscConfig, PscProvider, create_app

    config = PscConfig().load()
    if tls is not None:
        subject = subject or tls.pki.certificate("consumer-client").subject.rfc4514_string()
        config = replace(config, clients=[replace(c, tls_client_subject=subject) if c.client_id == PSC_CLIENT else c
                                          for c in config.clients])
    provider = PscProvider(config)
    server = serve_wsgi(create_app(provider=provider), "psc-simulator",
                        port=port, ssl_context=tls.context("psc", client_auth="optional") if tls else None)
    provider.base_url = server.url
    return provider, server


@pytest.fixture(scope="session")
def world(sut: Any, tmp_path_factory: pytest.TempPathFactory, pytestconfig: pytest.Config) -> Iterator[World]:
    with start_world(sut, tmp_path_factory.mktemp("consumer-plan"), _say(pytestconfig)) as w:
        yield w


@contextmanager
def start_world(sut: Any, workdir: Path, say: Callable[[str], None],
                source: RecordingSource | None = None) -> Iterator[World]:
    """Every peer of the Consumer under test, the Consumer itself when it is the reference, and its driver
    (the performance plan starts the same world, with ``source`` its own Source that times what it serves)."""
    from simulators.dmp.config import DmpConfig
    from simulators.dmp.reference import start as start_dmp
    from simulators.pacs import start_pacs

    ports = {name: sut.port(name) for name in ("dmp", "psc", "pacs", "source", "whitelist")}
    stops: list[Callable[[], None]] = []
    # C17: every peer serves HTTPS from the campaign's test PKI, the Source asking for the Consumer's
    # ORG AUTH CLI certificate (mutual TLS between DRIMboxes), recorded per request
    tls = plan_peers_tls(sut, workdir / "pki")
    try:
        dmp = start_dmp(DmpConfig(workdir=workdir / "dmp"), port=int(ports.get("dmp", 0)),
                        ssl_context=tls.context("dmp") if tls else None)
        stops.append(dmp.stop)
        provider, psc_server = _start_psc(int(ports.get("psc", 0)), tls,
                                          (sut.credentials or {}).get("psc_client_subject"))
        stops.append(psc_server.stop)
        pacs = start_pacs(workdir / "pacs", aet="LOCALPACS", port=int(ports.get("pacs", 0)), dicomweb=False)
        stops.append(pacs.stop)
        source = source or RecordingSource()
        source_context = tls.context("source", client_auth="optional") if tls else None
        source_server = serve_wsgi(source.wsgi, "recording-source", port=int(ports.get("source", 0)),
                                   ssl_context=source_context)
        stops.append(source_server.stop)
        outsider = RecordingSource()
        outsider_server = serve_wsgi(outsider.wsgi, "outsider-source", ssl_context=source_context)
        stops.append(outsider_server.stop)
        loader = XdsClient(dmp.endpoints["registry"], dmp.endpoints["repository"], actor="harness:dmp-loader")
        w = World("", "", dmp, provider, provider.issuer, pacs, source,
                  source_server.url + "/wado-rs", loader, workdir, outsider, outsider_server.url + "/wado-rs",
                  stops=stops, tls=tls, source_server=source_server)
        _serve_whitelist(w, sut, int(ports.get("whitelist", 0) or 0))
        _start_consumer(w, sut)
        w.driver = load_driver(sut.driver or "reference", DriverContext(
            w.contextual_call, w.consumer_base, w.psc_auth, PROFESSIONAL, say=say,
            options=dict(sut.options or {}), cas=trusted_cas(), verify=sut.http_kwargs()["verify"] is not False))
        stops.append(w.driver.close)
        yield w
    finally:
        for stop in reversed(stops):
            stop()


def _serve_whitelist(w: World, sut: Any, port: int) -> None:
    """Serve the signed whitelist the Consumer fetches (options.ports.whitelist, every
    options.whitelist_interval seconds; the reference in process: at once, every half second)."""
    from testplans.consumer_drimbox.whitelist_peer import ListServer, make_lists

    if w.tls is None:
        w.list_reason = "the plan's peers are plain HTTP (tls.peers: http), and the list is served over HTTPS"
        return
    if not sut.reference and not port:
        w.list_reason = ("the profile gives no options.ports.whitelist: the plan cannot serve the list the Consumer "
                         "fetches (configure it to fetch https://127.0.0.1:<port>/ListeBlancheDRIM-M.xml)")
        return
    w.lists, w.list_variants = ListServer(), make_lists(w.tls.pki, w.workdir / "whitelists")
    w.lists.serve(w.list_variants["good"])
    server = serve_wsgi(w.lists, "whitelist-server", port=port, ssl_context=w.tls.context("dmp"))
    w.stops.append(server.stop)
    w.whitelist_url = server.url + "/ListeBlancheDRIM-M.xml"
    w.list_interval = 0.5 if sut.reference else float((sut.options or {}).get("whitelist_interval", 60))


def _start_consumer(w: World, sut: Any) -> None:
    peers = {"registry": w.dmp.endpoints["registry"], "repository": w.dmp.endpoints["repository"],
             "psc_issuer": w.psc_issuer, "pacs": w.pacs.endpoints["dimse"],
             "allowed_hosts": (w.source_url.split("//", 1)[1].split("/", 1)[0],), "retry_delay": 0.01}
    if sut.reference:
        from harness.vihf import throwaway_pki
        from simulators.consumer import start_reference
        from simulators.consumer.tls import server_tls

        pki = throwaway_pki("DRIMbox Consumer reference")
        w.vihf_trust = [pki.ca_pem]
        tls = w.tls
        ref = start_reference(sut.fault, w.workdir / "reference", ssl_context=server_tls(tls, sut.fault),
                              peers={**peers, "vihf_key": pki.key_pem, "vihf_cert": pki.cert_pem,
                                     "wado_client_cert": tls.client("consumer-client") if tls else None,
                                     "psc_client_cert": tls.client("consumer-client") if tls else None})
        w.stops.append(ref.stop)
        w.consumer, w.contextual_call, w.consumer_base = ref, ref.endpoints["contextual_call"], ref.endpoints["base"]
        if w.lists is not None:  # the reference fetches the plan's list as drimcheck serve --whitelist-url does
            from datetime import timedelta

            from simulators.consumer import whitelist as consumer_whitelist

            watcher = consumer_whitelist.watcher(
                w.whitelist_url, [tls.ca.read_bytes()], interval=timedelta(seconds=w.list_interval),
                crl=tls.crl, verify_tls=str(tls.ca), fault=sut.fault)
            consumer_whitelist.follow(ref.config, watcher, tuple(ref.config.allowed_hosts))
            watcher.start()
            w.stops.append(watcher.stop)
        return
    call = sut.endpoints["contextual_call"]
    w.contextual_call = call
    vihf_ca = (sut.credentials or {}).get("vihf_ca")
    w.vihf_trust = [Path(vihf_ca).read_bytes()] if vihf_ca else []
    w.consumer_base = sut.endpoints.get("base", call.rsplit("/", 1)[0])
    print("consumer_drimbox plan peers (configure the Consumer under test with them):", file=sys.stderr)
    lists = {"whitelist_url": w.whitelist_url, "whitelist_ca": str(w.tls.ca), "whitelist_crl": str(w.tls.crl)} \
        if w.lists is not None else {}
    for name, value in {**peers, "wado_rs_source": w.source_url, "psc_client_id": PSC_CLIENT,
                        "not_allowed": w.outsider_url, **lists}.items():
        print(f"  {name:<16} {value}", file=sys.stderr)


def restart_source(w: World, ssl_context: Any) -> None:
    """Serve the recording Source again on its port with another TLS context: every connection the Consumer
    holds is closed, so its next request makes a new handshake (a server certificate swapped in place would
    go unseen on a kept-alive connection)."""
    from harness.servers import serve_again

    old = w.source_server
    assert old is not None, "the recording Source is not running"
    old.stop()
    w.source_server = serve_again(w.source.wsgi, "recording-source", old.port, ssl_context=ssl_context)
    w.stops.append(w.source_server.stop)


# ------------------------------------------------------------------ publishing fixture exams
def publish_exam(w: World, patient: Patient, *, series: int = 2, instances: int = 3,
                 url_for: dict[str, str] | None = None, replaces: FixtureExam | None = None,
                 serve: bool = True, outside: bool = False, kos_patient: Patient | None = None,
                 source_host: str | None = None) -> FixtureExam:
    """Write a small study, serve it from the recording Source, submit its KOS to the DMP.

    ``outside``: the first series' Retrieve URL names the server that is not on the allowlist;
    ``kos_patient``: the KOS names that patient while the DMP entry names ``patient``;
    ``source_host``: the Retrieve URLs name the recording Source by that host (e.g. ``localhost``).
    """
    source_url = w.source_url
    if source_host:
        parts = urlsplit(source_url)
        source_url = parts._replace(netloc=f"{source_host}:{parts.port}").geturl()
    refs = write_fixture_study(w.workdir / "studies", patient, series=series, instances=instances)
    study_uid = refs[0].study_instance_uid
    if outside:
        first = refs[0].series_instance_uid
        url_for = {**(url_for or {}), first: f"{w.outsider_url}/studies/{study_uid}/series/{first}"}
    accession = f"ACC{study_uid[-6:]}"
    if serve:
        w.source.add_files([r.path for r in refs])
        if w.outsider is not None:
            w.outsider.add_files([r.path for r in refs])
    kos, kos_uid = build_kos(refs, kos_patient or patient, source_url, accession, url_for=url_for)
    by_series: dict[str, list] = {}
    for r in refs:
        by_series.setdefault(r.series_instance_uid, []).append(r)
    exam = FixtureExam(patient, study_uid, accession, kos, kos_uid, by_series, source_url, unique_id=new_uid())
    return _submit(w, exam, replaces)


def publish_update(w: World, exam: FixtureExam, rejected: str) -> FixtureExam:
    """What a Source publishes after an IOCM rejection note named instance ``rejected`` of ``exam``: the
    recording Source stops serving it, and a new KOS of the same study without it replaces ``exam``'s entry
    (RPLC, IHE ITI TF-3 §4.2.2.2)."""
    w.source.reject(rejected)
    series = {uid: [r for r in refs if r.sop_instance_uid != rejected] for uid, refs in exam.series.items()}
    series = {uid: refs for uid, refs in series.items() if refs}
    refs = [r for found in series.values() for r in found]
    kos, kos_uid = build_kos(refs, exam.patient, exam.retrieve_base, exam.accession)
    update = FixtureExam(exam.patient, exam.study_uid, exam.accession, kos, kos_uid, series, exam.retrieve_base,
                         unique_id=new_uid())
    return _submit(w, update, exam)


def _submit(w: World, exam: FixtureExam, replaces: FixtureExam | None) -> FixtureExam:
    """Submit ``exam``'s KOS to the plan's DMP (RPLC of ``replaces``' entry when given); its entryUUID is set."""
    sub = kos_submission(exam.kos, patient_id=patient_cx(exam.patient), study_uid=exam.study_uid,
                         accession=exam.accession, accession_issuer="1.2.250.1.999.1.1.7", modalities=("CT",),
                         regions=REGIONS, document_unique_id=exam.unique_id, service_start="20250314101500")
    entry = sub.documents[0]
    entry.comments = f"Scanner thoracique {exam.accession}"
    if replaces is not None:
        sub.associations.append(Association("assoc-rplc", ASSOCIATION_TYPES["RPLC"], entry.id, replaces.entry_uuid))
    result = w.loader.provide_and_register(sub)
    assert result.success, f"fixture submission refused by the DMP simulator: {result.errors or result.fault}"
    found = w.loader.query("GetDocuments", {"$XDSDocumentEntryUniqueId": [exam.unique_id]})
    exam.entry_uuid = found.query.objects[0].get("id") if found.query and found.query.objects else ""
    return exam


@pytest.fixture
def publish(world: World) -> Callable[..., FixtureExam]:
    def _publish(patient: Patient | None = None, **kwargs: Any) -> FixtureExam:
        return publish_exam(world, patient or new_patient(), **kwargs)
    return _publish


# ------------------------------------------------------------------ the professional's browser and the driver
def _say(config: pytest.Config) -> Callable[[str], None]:
    """Print to the person running the campaign, past pytest's output capture (operator prompts; the
    campaign runner shows lines starting with ``  > ``)."""
    def say(text: str) -> None:
        capture = config.pluginmanager.getplugin("capturemanager")
        if capture is None:
            print(f"  > {text}", flush=True)
            return
        with capture.global_and_fixture_disabled():
            print(f"  > {text}", flush=True)
    return say


@pytest.fixture(scope="session")
def browser(world: World) -> Browser:
    return Browser(world.contextual_call, world.consumer_base, world.psc_auth, PROFESSIONAL)


@pytest.fixture
def new_browser(world: World) -> Callable[[], Browser]:
    return lambda: Browser(world.contextual_call, world.consumer_base, world.psc_auth, PROFESSIONAL)


def traits(patient: Patient) -> PatientTraits:
    return PatientTraits(patient.ins, patient.birth_name, patient.given, patient.birth_date, patient.sex,
                         patient.birthplace)


def exam_ref(exam: FixtureExam) -> ExamRef:
    d = "20250314"  # the fixture submissions' serviceStartTime
    return ExamRef(exam.unique_id, exam.study_uid, exam.accession, f"Scanner thoracique {exam.accession}",
                   f"{d[6:8]}/{d[4:6]}/{d[0:4]}", tuple(exam.series_uids))


def answered(world: World, what: str, answer: object) -> None:
    """Record in the report who answered a question about the screen, and what."""
    from harness.checks import attach_findings
    from harness.findings import info

    attach_findings([info("DRIVER", "screen", f"{what}: answered by {world.driver.answered_by}", found=answer)],
                    label="driver")


def driver_step(step: Callable[[], Any], what: str) -> Any:
    """Run a driver step; a step the driver cannot perform leaves the test not run with its reason: the
    requirement was not checked, so it neither passes on its other tests nor counts as not applicable."""
    from harness.checks import not_run

    try:
        return step()
    except StepUnavailable as exc:
        not_run(f"the driver cannot {what}: {exc}")


def open_patient(world: World, patient: Patient, **optional: str) -> None:
    """The contextual call for ``patient`` through the driver, waiting for the Consumer's ITI-18."""
    from testplans.consumer_drimbox.traffic import saw_find_documents

    form = contextual_form(patient, **optional)
    driver_step(lambda: world.driver.open_patient(form, until=lambda: saw_find_documents(patient_cx(patient))),
                "open the patient's exam list")


def open_exam(world: World, exam: FixtureExam) -> None:
    """Contextual call for the exam's patient, then open the exam (the Consumer retrieves its KOS)."""
    from testplans.consumer_drimbox.traffic import saw_retrieve

    open_patient(world, exam.patient)
    driver_step(lambda: world.driver.open_exam(exam_ref(exam), until=lambda: saw_retrieve(exam.unique_id)),
                "open the exam")


def import_exam(world: World, exam: FixtureExam, **local: str) -> dict[str, str]:
    """Contextual call, open the exam, import it; returns the per-series statuses the driver reports."""
    open_exam(world, exam)
    instances = {r.sop_instance_uid for refs in exam.series.values() for r in refs}

    def imported() -> bool:
        return instances <= {r["SOPInstanceUID"] for r in world.pacs.store.records({"study_uid": [exam.study_uid]})}

    statuses = driver_step(lambda: world.driver.import_exam(exam_ref(exam), until=imported, **local),
                           "import the exam")
    answered(world, f"import result of exam {exam.accession}", statuses)
    return statuses
