"""Fixtures of the consumer_drimbox plan: the harness plays every peer of the Consumer under test.

- the DMP: the DMP simulator, pre-loaded per test with KOS submissions (``publish``), capturing
  the Consumer's ITI-18 / ITI-43 (actor ``dmp-simulator``);
- the Source DRIMbox: :class:`RecordingSource`, a WADO-RS server that records every request and
  misbehaves on demand;
- Pro Santé Connect: the PSC simulator (captured as ``psc-simulator``);
- the local PACS: the embedded PACS, where imports land;
- the professional's software and browser: :class:`Browser` (contextual call, PSC login).

With ``sut.reference`` the reference Consumer is started with ``sut.fault``; otherwise the profile
gives ``endpoints.contextual_call`` and the peers' addresses are printed for the vendor to
configure (``options.ports`` may pin them: dmp, psc, source, pacs).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import pytest
from lxml import html as lxml_html

from fixtures.studies import Patient
from harness.capture import capturing_session
from harness.servers import RunningServer, serve_wsgi
from harness.xds import kos_submission
from harness.xds.clients import XdsClient
from harness.xds.model import ASSOCIATION_TYPES, Association
from simulators.consumer.wsgi import captured
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
REGIONS = [("51185008", "Thorax")]


@dataclass
class World:
    contextual_call: str
    consumer_base: str
    reference: bool
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
    vihf_trust: list[bytes] = field(default_factory=list)  # CA certificates the VIHF signature must chain to
    consumer: Any = None
    stops: list[Callable[[], None]] = field(default_factory=list)

    @property
    def psc_auth(self) -> str:
        return self.psc_issuer + "/protocol/openid-connect/auth"


def _start_psc(port: int) -> tuple[Any, RunningServer]:
    from simulators.psc import PscConfig, PscProvider, create_app

    provider = PscProvider(PscConfig())
    server = serve_wsgi(captured(create_app(provider=provider), "psc-simulator"), "psc-simulator",
                        port=port)
    provider.base_url = server.url
    return provider, server


@pytest.fixture(scope="session")
def world(sut: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    from simulators.dmp.config import DmpConfig
    from simulators.dmp.reference import start as start_dmp
    from simulators.pacs import start_pacs

    workdir = tmp_path_factory.mktemp("consumer-plan")
    ports = dict(sut.options.get("ports", {})) if not sut.reference else {}
    stops: list[Callable[[], None]] = []
    try:
        dmp = start_dmp(DmpConfig(workdir=workdir / "dmp"), port=int(ports.get("dmp", 0)))
        stops.append(dmp.stop)
        provider, psc_server = _start_psc(int(ports.get("psc", 0)))
        stops.append(psc_server.stop)
        pacs = start_pacs(workdir / "pacs", aet="LOCALPACS", port=int(ports.get("pacs", 0)), dicomweb=False)
        stops.append(pacs.stop)
        source = RecordingSource()
        source_server = serve_wsgi(source.wsgi, "recording-source", port=int(ports.get("source", 0)))
        stops.append(source_server.stop)
        outsider = RecordingSource()
        outsider_server = serve_wsgi(outsider.wsgi, "outsider-source")
        stops.append(outsider_server.stop)
        loader = XdsClient(dmp.endpoints["registry"], dmp.endpoints["repository"], actor="harness:dmp-loader")
        w = World("", "", sut.reference, dmp, provider, provider.issuer, pacs, source,
                  source_server.url + "/wado-rs", loader, workdir, outsider, outsider_server.url + "/wado-rs",
                  stops=stops)
        _start_consumer(w, sut)
        yield w
    finally:
        for stop in reversed(stops):
            stop()


def _start_consumer(w: World, sut: Any) -> None:
    peers = {"registry": w.dmp.endpoints["registry"], "repository": w.dmp.endpoints["repository"],
             "psc_issuer": w.psc_issuer, "pacs": w.pacs.endpoints["dimse"],
             "allowed_hosts": (w.source_url.split("//", 1)[1].split("/", 1)[0],), "retry_delay": 0.01}
    if sut.reference:
        from harness.vihf import throwaway_pki
        from simulators.consumer import start_reference

        pki = throwaway_pki("DRIMbox Consumer reference")
        w.vihf_trust = [pki.ca_pem]
        ref = start_reference(sut.fault, w.workdir / "reference",
                              peers={**peers, "vihf_key": pki.key_pem, "vihf_cert": pki.cert_pem})
        w.stops.append(ref.stop)
        w.consumer, w.contextual_call, w.consumer_base = ref, ref.endpoints["contextual_call"], ref.endpoints["base"]
        return
    call = sut.endpoints.get("contextual_call")
    if not call:
        pytest.fail(f"SUT profile {sut.name}: endpoints.contextual_call is required by the consumer_drimbox plan")
    w.contextual_call = call
    vihf_ca = (sut.credentials or {}).get("vihf_ca")
    w.vihf_trust = [Path(vihf_ca).read_bytes()] if vihf_ca else []
    w.consumer_base = sut.endpoints.get("base", call.rsplit("/", 1)[0])
    print("consumer_drimbox plan peers (configure the Consumer under test with them):", file=sys.stderr)
    for name, value in {**peers, "wado_rs_source": w.source_url, "psc_client_id": "drimbox-consumer",
                        "not_allowed": w.outsider_url}.items():
        print(f"  {name:<16} {value}", file=sys.stderr)


# ------------------------------------------------------------------ publishing fixture exams
def publish_exam(w: World, patient: Patient, *, series: int = 2, instances: int = 3,
                 url_for: dict[str, str] | None = None, replaces: FixtureExam | None = None,
                 serve: bool = True, outside: bool = False, kos_patient: Patient | None = None) -> FixtureExam:
    """Write a small study, serve it from the recording Source, submit its KOS to the DMP.

    ``outside``: the first series' Retrieve URL names the server that is not on the allowlist;
    ``kos_patient``: the KOS names that patient while the DMP entry names ``patient``.
    """
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
    kos, kos_uid = build_kos(refs, kos_patient or patient, w.source_url, accession, url_for=url_for)
    by_series: dict[str, list] = {}
    for r in refs:
        by_series.setdefault(r.series_instance_uid, []).append(r)
    exam = FixtureExam(patient, study_uid, accession, kos, kos_uid, by_series, w.source_url, unique_id=new_uid())
    sub = kos_submission(kos, patient_id=patient_cx(patient), study_uid=study_uid, accession=accession,
                         accession_issuer="1.2.250.1.999.1.1.7", modalities=("CT",), regions=REGIONS,
                         document_unique_id=exam.unique_id, service_start="20250314101500")
    entry = sub.documents[0]
    entry.comments = f"Scanner thoracique {accession}"
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


# ------------------------------------------------------------------ the professional's browser
@dataclass
class Page:
    url: str
    status: int
    text: str
    response: Any

    @property
    def doc(self) -> Any:
        return lxml_html.fromstring(self.text or "<html/>")

    def rows(self, css_class: str) -> list[Any]:
        return self.doc.xpath(f"//tr[@class='{css_class}']")

    def row(self, css_class: str, attr: str, value: str) -> Any | None:
        found = [r for r in self.rows(css_class) if r.get(attr) == value]
        return found[0] if found else None


class Browser:
    """The professional: sends the contextual call, logs in at PSC when asked, follows redirects."""

    def __init__(self, world: World, user: str = PROFESSIONAL) -> None:
        self.world, self.user = world, user
        self.http = capturing_session("harness:browser")
        self.auth_redirects: list[str] = []
        self.first_response: Any = None

    def call(self, form: dict[str, str]) -> Page:
        resp = self.http.post(self.world.contextual_call, data=form, allow_redirects=False, timeout=15)
        self.first_response = resp
        if resp.status_code not in (301, 302, 303, 307):
            return Page(resp.url, resp.status_code, resp.text, resp)
        return self.follow(urljoin(resp.url, resp.headers["Location"]))

    def open(self, patient: Patient, **optional: str) -> Page:
        return self.call(contextual_form(patient, **optional))

    def follow(self, url: str, resp: Any = None) -> Page:
        for _ in range(12):
            if resp is None:
                resp = self.http.get(url, allow_redirects=False, timeout=15)
            if resp.status_code in (301, 302, 303, 307):
                url = urljoin(url, resp.headers["Location"])
                if url.startswith(self.world.psc_auth):
                    self.auth_redirects.append(url)
                resp = None
                continue
            if url.startswith(self.world.psc_auth) and resp.status_code == 200:
                resp = self.http.post(url, data={"user": self.user}, allow_redirects=False, timeout=15)
                continue
            return Page(url, resp.status_code, resp.text, resp)
        raise AssertionError(f"too many redirects from {url}")

    def get(self, path: str) -> Page:
        return self.follow(urljoin(self.world.consumer_base + "/", path.lstrip("/")))

    def post(self, path: str, data: dict[str, str] | None = None) -> Page:
        url = urljoin(self.world.consumer_base + "/", path.lstrip("/"))
        resp = self.http.post(url, data=data or {}, allow_redirects=False, timeout=120)
        return self.follow(url, resp)


@pytest.fixture(scope="session")
def browser(world: World) -> Browser:
    return Browser(world)


@pytest.fixture
def new_browser(world: World) -> Callable[[], Browser]:
    return lambda: Browser(world)


def exam_path(history: Page, exam: FixtureExam) -> str:
    """Path of the exam page from the history page (the reference Consumer's link)."""
    row = history.row("exam", "data-unique-id", exam.unique_id)
    assert row is not None, f"exam {exam.unique_id} not in the history page"
    return row.xpath(".//a/@href")[0]


def import_exam(browser: Browser, exam: FixtureExam, **form: str) -> Page:
    """Contextual call for the exam's patient, then its import action; the import result page.

    Only the reference Consumer's pages are known to the harness: with a vendor's Consumer the
    tests that need an import are not applicable (the traffic checks need someone to click).
    """
    needs_pages(browser.world)
    history = browser.open(exam.patient)
    path = exam_path(history, exam)
    return browser.post(path + "/import", form)


def needs_pages(world: World) -> None:
    """Tests that read the Consumer's pages run on the reference (whose page markup they know)."""
    from harness.checks import not_applicable

    if not world.reference:
        not_applicable("reads the reference Consumer's page markup (data-* attributes); check this on the "
                       "vendor's UI by hand, the traffic checks of this plan still apply")
