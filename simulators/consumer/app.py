"""Flask app of the reference Consumer DRIMbox: contextual call, PSC login, history, exam, import.

Routes (one per step of the professional's path, IHE RAD TF-1, ANS PoC):
``POST /context`` contextual call -> 303 to ``/exams/<ctx>``; ``GET /exams/<ctx>`` history (PSC
login first); ``GET /auth/redirect`` PSC callback; ``GET /exams/<ctx>/<uid>`` exam page (series,
viewer link, import action); ``POST /exams/<ctx>/<uid>/import`` retrieval + import;
``GET /kpi`` ModelStat records; ``GET /kpi/whitelist`` the state of the fetched whitelist;
``GET /health``. Pages carry ``data-*`` attributes so a test bed reads them without scraping prose.
"""

from __future__ import annotations

import re
import secrets
import shutil
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from flask import Flask, Response, jsonify, redirect, request

from harness.capture import capturing_session
from harness.xds.clients import XdsClient
from simulators.consumer import kpi, pages
from simulators.consumer.config import ConsumerConfig
from simulators.consumer.context import TRAIT_LABELS, ContextualCall, trait_values
from simulators.consumer.faults import behaviour_for
from simulators.consumer.history import Exam, History, HistoryError, find_exams
from simulators.consumer.importer import import_series, parse_peer
from simulators.consumer.manifest import Manifest, fetch_manifest
from simulators.consumer.retrieve import SeriesResult, SeriesRetriever
from simulators.consumer.session import Login, LoginError, PscClient, Sessions
from simulators.consumer.settings import blueprint as settings_pages
from simulators.consumer.settings import extended_ins_shown
from simulators.consumer.vihf import build_vihf
from simulators.consumer.xdm import bp as xdm_pages

COOKIE = pages.COOKIE


class ConsumerApp:
    """State shared by the routes: config, behaviour (``config.fault``), logins, PSC client, KPI file."""

    def __init__(self, config: ConsumerConfig) -> None:
        self.config = config
        self.behaviour = behaviour_for(config.fault)
        Path(config.workdir).mkdir(parents=True, exist_ok=True)
        self.sessions = Sessions()
        self.psc = PscClient(config, scope=self.behaviour.psc_scope, mtls=self.behaviour.psc_mtls)
        self.kpi = self.behaviour.modelstat(Path(config.workdir))
        self._manifests: dict[str, Manifest] = {}  # study -> manifest, for the named fault only
        self.wado = capturing_session("consumer:wado-client")
        self.wado.cert = config.wado_client_cert if self.behaviour.wado_client_cert else None
        if not self.behaviour.wado_verify:
            self.wado.verify = False

    def xds(self, login: Login) -> XdsClient:
        professional = login.professional
        vihf = None
        if self.behaviour.vihf and professional is not None:
            def vihf(patient: str | None) -> Any:
                return build_vihf(self.config, professional, patient)
        return self.behaviour.xds_client(self.config.registry_url, self.config.repository_url,
                                         actor="consumer:dmp-client", vihf=vihf, timeout=self.config.timeout)

    def history(self, login: Login, call: ContextualCall) -> History:
        return find_exams(self.xds(login), call, self.behaviour.history, limit=self.config.max_entries)

    def manifest(self, login: Login, call: ContextualCall, exam: Exam) -> Manifest:
        """ITI-43 for the exam's KOS, checked against the call's patient and the allowlist (ANS DRIM-M_DATA
        KOS_OK.xml, Liste blanche TEST)."""
        behaviour = self.behaviour
        if behaviour.manifest_per_study and exam.study_uid in self._manifests:
            return self._manifests[exam.study_uid]
        manifest = fetch_manifest(self.xds(login), exam, call.dmp_patient_id, self.config.allowed_hosts,
                                  call.ins if behaviour.check_kos_patient else None, behaviour.host_allowed,
                                  behaviour.kos_request)
        if behaviour.manifest_per_study:
            self._manifests[exam.study_uid] = manifest
        return manifest

    def shown_traits(self, call: ContextualCall) -> list[tuple[str, str, str]]:
        """(key, label, value) of each trait shown: the defaults, and the INS with its OID, the given names and the
        used names the call carried when the professional's setting asks for them (INS/va1.36)."""
        values = trait_values(call)
        keys = self.behaviour.ins_traits + (self.behaviour.extended_traits if extended_ins_shown() else ())
        return [(key, TRAIT_LABELS[key], values[key]) for key in keys if values[key]]

    def run_import(self, login: Login, manifest: Manifest, local_id: str, local_issuer: str) -> list[SeriesResult]:
        cfg = self.config
        folder = Path(tempfile.mkdtemp(prefix="import-", dir=cfg.workdir))
        retriever = SeriesRetriever(self.wado, token=lambda: login.access_token, reauth=lambda: self.psc.refresh(login),
                                    kos_uid=manifest.sop_instance_uid, accept=cfg.accept, folder=folder,
                                    retries=cfg.retries, retry_delay=cfg.retry_delay, timeout=cfg.timeout,
                                    max_part_bytes=cfg.max_part_bytes, options=self.behaviour.retrieve)
        pacs = parse_peer(cfg.pacs, cfg.calling_aet) if cfg.pacs else None
        if self.behaviour.import_delay:
            time.sleep(self.behaviour.import_delay)
        results = []
        # series N is stored while series N+1 is retrieved; each series stays all-or-nothing
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="consumer-import") as storer:
            pending = []
            for ref in manifest.series:
                result = retriever.retrieve(ref)
                if pacs is not None:
                    pending.append(storer.submit(import_series, result, pacs, local_id=local_id,
                                                 local_issuer=local_issuer, log_dir=Path(cfg.workdir),
                                                 rewrite=self.behaviour.rewrite_before_store,
                                                 pace=self.behaviour.import_pace))
                results.append(result)
            for job in pending:
                job.result()
        shutil.rmtree(folder, ignore_errors=True)
        return results


def viewer_url(config: ConsumerConfig, retrieve_url: str, study_uid: str, kos_uid: str = "") -> str:
    """The Source's viewer opened on the study and its KOS: the whitelist's ``vi`` host for that DRIMbox, else the
    DRIMbox's own host (ANS DRIM-M_DATA Liste blanche TEST: ``vi`` beside ``db``)."""
    parts = urlsplit(retrieve_url)
    host = config.viewers.get((parts.hostname or "").lower()) or parts.netloc
    path = config.viewer_path.format(study=quote(study_uid, safe="."), kos=quote(kos_uid, safe="."))
    return f"{parts.scheme}://{host}" + (path if kos_uid else re.sub(r"[?&]KOS=(?=&|$)", "", path))


def create_app(config: ConsumerConfig) -> Flask:
    """The Consumer as a WSGI app (STYLE.md §6: app factory)."""
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = 64 * 1024
    state = ConsumerApp(config)
    app.extensions["consumer"] = state
    app.jinja_env.autoescape = state.behaviour.autoescape
    app.jinja_env.globals["ins_traits"] = state.shown_traits
    _routes(app, state)
    app.register_blueprint(settings_pages(state, COOKIE))
    app.register_blueprint(xdm_pages)  # XDM export and import (ITI-32), simulators.consumer.xdm
    return app


_page, _error, _login = pages.page, pages.error, pages.login_of


def _routes(app: Flask, state: ConsumerApp) -> None:
    @app.get("/health")
    def health() -> Response:
        return jsonify({"status": "ok"})

    @app.get("/kpi")
    def kpi_records() -> Response:
        return jsonify(state.kpi.entries())

    @app.get("/kpi/whitelist")
    def kpi_whitelist() -> Response:
        status = state.config.whitelist_status
        return jsonify(kpi.whitelist_record(status() if status else None))

    @app.post("/context")
    def contextual_call() -> Response:
        parsed = state.behaviour.parse_call(request.form)
        if isinstance(parsed, list):
            state.kpi.record(kpi.ERROR, "; ".join(f"{e.param}: {e.reason}" for e in parsed))
            return _error("Appel contextuel invalide", "Paramètre(s) manquant(s) ou invalide(s)", 400, errors=parsed)
        login = _login(state) or state.sessions.new()
        ctx = secrets.token_urlsafe(12)
        login.calls[ctx] = parsed
        state.kpi.record(kpi.SUCCESS)
        response = redirect(f"/exams/{ctx}", code=state.behaviour.context_redirect)
        response.set_cookie(COOKIE, login.id, httponly=True, samesite="Lax")
        return response

    @app.get("/auth/redirect")
    def auth_redirect() -> Response:
        login = _login(state)
        if login is None or not login.state:
            return _error("Connexion", "Aucune connexion Pro Santé Connect en cours", 400)
        if request.args.get("error"):
            return _error("Connexion refusée", request.args.get("error", ""), 401)
        try:
            state.psc.finish(login, request.args.get("code", ""), request.args.get("state", ""))
        except (LoginError, OSError, ValueError) as exc:
            return _error("Connexion Pro Santé Connect impossible", str(exc), 401)
        return redirect(login.next_url or "/", code=303)

    def _context(ctx: str) -> tuple[Login | None, ContextualCall | None, Response | None]:
        return pages.context(state, ctx)

    @app.get("/exams/<ctx>")
    def exams(ctx: str) -> Response:
        login, call, early = _context(ctx)
        if early is not None:
            return early
        try:
            history = state.history(login, call)
        except HistoryError as exc:
            return _error("DMP indisponible", str(exc), 502, call=call)
        login.results[ctx] = history
        return _page("exams.html", call=call, history=history, ctx=ctx, professional=login.professional)

    def _exam_manifest(ctx: str, uid: str) -> tuple[Any, Any, Any, Any, Response | None]:
        return pages.exam_manifest(state, ctx, uid)

    @app.get("/exams/<ctx>/<uid>")
    def exam(ctx: str, uid: str) -> Response:
        _login, call, found, manifest, page = _exam_manifest(ctx, uid)
        if page is not None:
            return page
        viewers = {s.series_uid: viewer_url(state.config, s.retrieve_url, s.study_uid, manifest.sop_instance_uid)
                   for s in manifest.series if s.retrieve_url and not s.refused}
        return _page("exam.html", call=call, exam=found, manifest=manifest, ctx=ctx, viewers=viewers)

    @app.post("/exams/<ctx>/<uid>/import")
    def do_import(ctx: str, uid: str) -> Response:
        login, call, found, manifest, page = _exam_manifest(ctx, uid)
        if page is not None:
            return page
        local_id = request.form.get("local_patient_id", "").strip()[:64]
        results = state.run_import(login, manifest, local_id, request.form.get("local_issuer", "").strip()[:64])
        if any(r.status == "unauthorized" for r in results):
            login.access_token = ""
        return _page("import.html", call=call, exam=found, manifest=manifest, results=results, ctx=ctx)

