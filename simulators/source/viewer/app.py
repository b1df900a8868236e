"""The zero-footprint viewer of the reference Source DRIMbox, served on its viewer host (ANS whitelist ``vi``).

A DRIMbox hosts a web viewer that remote professionals' browsers open (ANS DRIM-M_DATA ``Liste blanche
TEST/``: ``vi`` beside ``db``; ``Référencement DRIMBox/Jeux de données/README.md``: reports carry its URL
template). Routes:
``GET /viewer?StudyInstanceUID=S[&KOS=K]`` the viewer page (the study's current KOS when K is absent), after a
Pro Santé Connect login; ``GET /auth/redirect`` the PSC callback; ``GET /viewer/dicomweb/<K>/studies/...`` the
page's image requests, through RAD-107 (:mod:`.proxy`); ``GET /viewer/static/*`` our glue;
``GET /viewer/lib/*`` the Cornerstone3D bundle installed at set-up (:mod:`harness.viewer_lib`); without it the
page answers 503 and says how to install it. Pages are French, like the Consumer's.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from flask import Flask, Response, abort, redirect, render_template, request, send_from_directory

from harness import viewer_lib
from simulators.source.rad107 import kos_references
from simulators.source.store import CURRENT, DELETED, SourceStore
from simulators.source.viewer import proxy
from simulators.source.viewer.session import (
    COOKIE,
    LoginError,
    ViewerConfig,
    ViewerLogin,
    ViewerSession,
    ViewerSessions,
)

UID = re.compile(r"^[0-9]{1,64}(\.[0-9]{1,64}){0,32}$")  # PS3.5 §9.1, at most 64 characters checked below
STATIC = Path(__file__).resolve().parent / "static"
PAGE_CSP = ("default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; worker-src 'self'; connect-src 'self'; "
            "img-src 'self' data: blob:; style-src 'self'; object-src 'none'; base-uri 'none'; "
            "frame-ancestors 'none'; form-action 'self'")
TYPES = {".js": "text/javascript; charset=utf-8", ".wasm": "application/wasm", ".css": "text/css; charset=utf-8",
         ".txt": "text/plain; charset=utf-8"}
REFUSALS = {  # RAD-107 status of the page's first request -> what the professional is told
    401: ("Autorisation refusée", "Pro Santé Connect ne reconnaît plus votre session : reconnectez-vous."),
    403: ("Accès refusé", "Cet examen a été publié masqué aux professionnels de santé."),
    404: ("Examen introuvable", "Ce manifeste ne référence pas les images demandées."),
    410: ("Examen supprimé", "Les images de cet examen ont été supprimées."),
}


def script_json(value: Any) -> str:
    """JSON safe inside a ``<script>`` element: no ``<``, ``>`` or ``&`` that could end it (HTML §4.12.1.3)."""
    return json.dumps(value).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def valid_uid(value: str) -> bool:
    return len(value) <= 64 and UID.match(value) is not None


def create_app(config: ViewerConfig, wado: Any, store: SourceStore, wado_path: str,
               certificate_pem: str | None = None) -> Flask:
    """The viewer as a WSGI app (STYLE §6): ``wado`` is the Source's RAD-107 app, called in process."""
    app = Flask(__name__, static_folder=None)
    app.config["MAX_CONTENT_LENGTH"] = 16 * 1024
    viewer = Viewer(config, wado, store, wado_path, certificate_pem)
    app.extensions["viewer"] = viewer
    _routes(app, viewer)
    return app


class Viewer:
    """State shared by the routes: settings, sessions, the PSC login, the RAD-107 app behind the proxy."""

    def __init__(self, config: ViewerConfig, wado: Any, store: SourceStore, wado_path: str,
                 certificate_pem: str | None) -> None:
        self.config, self.wado, self.store = config, wado, store
        self.wado_path, self.certificate_pem = wado_path.rstrip("/"), certificate_pem
        self.sessions = ViewerSessions(config.idle, config.maximum)
        self.login = ViewerLogin(config)

    def library(self) -> viewer_lib.LibraryStatus:
        return viewer_lib.status(self.config.library)

    def session(self) -> ViewerSession | None:
        return self.sessions.get(request.cookies.get(COOKIE))

    def rad107(self, raw_rest: str, token: str, kos: str, accept: str | None = None
               ) -> tuple[str, list[tuple[str, str]], Any]:
        """The Source's RAD-107 answer to ``raw_rest`` (under its WADO-RS base) with this token and KOS."""
        env = proxy.wado_environ(request.environ, raw_rest, self.wado_path, token, kos, self.certificate_pem)
        if accept is not None:
            env["HTTP_ACCEPT"] = accept
        return proxy.call(self.wado, env)


def _page(template: str, status: int = 200, **context: Any) -> Response:
    resp = Response(render_template(template, **context), status=status, content_type="text/html; charset=utf-8")
    resp.headers["Content-Security-Policy"] = PAGE_CSP
    resp.headers["Cache-Control"] = "no-store"
    resp.headers["Referrer-Policy"] = "no-referrer"
    return resp


def _error(title: str, message: str, status: int, **extra: Any) -> Response:
    return _page("viewer_error.html", status, title=title, message=message, **extra)


def _set_cookie(resp: Response, session: ViewerSession, config: ViewerConfig) -> Response:
    resp.set_cookie(COOKIE, session.login.id, httponly=True, samesite="Lax", path="/",
                    secure=request.is_secure, max_age=int(config.maximum))
    return resp


def _routes(app: Flask, viewer: Viewer) -> None:
    @app.get("/viewer")
    def page() -> Response:
        study = request.args.get("StudyInstanceUID", "").strip()
        kos_uid = request.args.get("KOS", "").strip()
        if not valid_uid(study) or (kos_uid and not valid_uid(kos_uid)):
            return _error("Lien de visionneuse invalide",
                          "Le lien doit donner StudyInstanceUID (et KOS) sous forme d'UID DICOM.", 400)
        library = viewer.library()
        if not library.ready:
            return _error("Visionneuse non installée", "La bibliothèque de visualisation n'est pas installée sur "
                          "cette DRIMbox source.", 503, command=viewer_lib.INSTALL_HINT, detail=library.reason)
        session = viewer.session()
        if session is None or not session.login.logged_in:
            session = session or viewer.sessions.new()
            target = "/viewer?" + urlencode({"StudyInstanceUID": study, **({"KOS": kos_uid} if kos_uid else {})})
            return _set_cookie(redirect(viewer.login.start(session, target), code=302), session, viewer.config)
        return _study_page(viewer, session, study, kos_uid)

    @app.get("/auth/redirect")
    def auth_redirect() -> Response:
        session = viewer.session()
        if session is None or not session.login.state:
            return _error("Connexion", "Aucune connexion Pro Santé Connect en cours.", 400)
        if request.args.get("error"):
            return _error("Connexion refusée", request.args.get("error", "")[:200], 401)
        try:
            viewer.login.finish(session, request.args.get("code", ""), request.args.get("state", ""))
        except (LoginError, OSError, ValueError) as exc:
            return _error("Connexion Pro Santé Connect impossible", str(exc)[:300], 401)
        target = session.login.next_url if session.login.next_url.startswith("/viewer?") else "/viewer"
        return redirect(target, code=303)

    @app.route("/viewer/dicomweb/<kos>/<path:_rest>", methods=["GET", "HEAD"])
    def dicomweb(kos: str, _rest: str) -> Response:
        session = viewer.session()
        token = viewer.login.access_token(session) if session is not None else None
        if token is None:
            return Response("no viewer session: log in at Pro Santé Connect through /viewer\n", status=401,
                            content_type="text/plain; charset=utf-8", headers={"Cache-Control": "no-store"})
        raw = (request.environ.get("RAW_URI") or request.environ.get("REQUEST_URI") or request.path).split("?", 1)[0]
        prefix = f"/viewer/dicomweb/{kos}"
        if not raw.startswith(prefix + "/"):
            return Response("path refused\n", status=400, content_type="text/plain; charset=utf-8")
        status, headers, body = viewer.rad107(raw[len(prefix):], token, kos)
        headers = [(k, v) for k, v in headers if k.lower() not in ("content-length", "cache-control")]
        if status.startswith("200") and raw.endswith("/metadata"):
            host = request.host_url.rstrip("/")
            body = [proxy.rebased_metadata(body, host + viewer.wado_path, host + prefix)]
        return Response(body, status=int(status.split()[0]), headers=[*headers, ("Cache-Control", "no-store")],
                        direct_passthrough=True)

    @app.get("/viewer/static/<name>")
    def static_file(name: str) -> Response:
        return _file(STATIC, name)

    @app.get("/viewer/lib/<name>")
    def library_file(name: str) -> Response:
        library = viewer.library()
        if not library.ready:
            return Response(library.reason + "\n", status=503, content_type="text/plain; charset=utf-8")
        return _file(library.dist, name)


def _file(folder: Path, name: str) -> Response:
    if "/" in name or "\\" in name or name.startswith("."):
        abort(404)
    resp = send_from_directory(folder, name, max_age=3600)
    suffix = Path(name).suffix
    if suffix in TYPES:
        resp.headers["Content-Type"] = TYPES[suffix]
    return resp


def _study_page(viewer: Viewer, session: ViewerSession, study: str, kos_uid: str) -> Response:
    """The page of one study: its KOS (given, else the study's current one), its series, and the metadata of
    the first image, read through RAD-107 first: a refusal there (token, masking, KOS) is the page's answer."""
    if kos_uid:
        kos = viewer.store.kos(kos_uid)
        if kos is None or kos.study_uid != study:
            return _error("Examen introuvable", f"Le manifeste {kos_uid} n'est pas celui de l'étude {study}.", 404)
    else:
        current = viewer.store.kos_of_study(study, CURRENT)
        if not current:
            gone = viewer.store.kos_of_study(study, DELETED)
            return _error(*(REFUSALS[410] if gone else ("Examen introuvable",
                                                        f"Aucun manifeste publié pour l'étude {study}.")),
                          410 if gone else 404)
        kos = current[-1]
    series = [{"uid": se, "instances": sops} for se, sops in kos_references(kos.data).items() if sops]
    if not series:
        return _error("Examen vide", "Le manifeste ne référence aucune image.", 404)
    token = viewer.login.access_token(session)
    if token is None:
        viewer.sessions.end(session.login.id)
        return _error(*REFUSALS[401], 401, relogin=True)
    first = f"/studies/{study}/series/{series[0]['uid']}/instances/{series[0]['instances'][0]}/metadata"
    status, _headers, body = viewer.rad107(first, token, kos.sop_uid, accept="application/dicom+json")
    code = int(status.split()[0])
    if code != 200:
        closing = getattr(body, "close", None)
        if closing is not None:
            closing()
        title, message = REFUSALS.get(code, ("Images indisponibles", f"La DRIMbox source a répondu {status}."))
        return _error(title, message, code if code in REFUSALS else 502, relogin=code == 401)
    base = f"/viewer/dicomweb/{kos.sop_uid}"
    host = request.host_url.rstrip("/")
    metadata = json.loads(proxy.rebased_metadata(body, host + viewer.wado_path, host + base))
    professional = session.login.professional
    data = {"study": study, "kos": kos.sop_uid, "base": base, "series": series, "first": metadata[0]}
    return _page("viewer.html", study=study, kos=kos.sop_uid, series=series, data=script_json(data),
                 professional=professional.display if professional else "")
