"""DICOMweb face of the embedded PACS: a Flask app over the same store (QIDO-RS + WADO-RS).

Routes live under ``/dicom-web`` (PS3.18 §8.2 base URL). Paths are parsed strictly from the raw
request URI by :mod:`harness.dicomweb.paths`, so ``..`` or percent-encoded slashes are 400.
Every exchange is captured (actor ``pacs-simulator``).
"""

from __future__ import annotations

import json
import ssl
from typing import Any

from flask import Flask, Response, request

from harness.capture import CaptureMiddleware
from harness.dicomweb.paths import check_uid, parse_wado_path
from harness.servers import RunningServer, serve_wsgi
from simulators.pacs import qido, wado
from simulators.pacs.store import InstanceStore

BASE = "/dicom-web"


def create_app(store: InstanceStore, aet: str = "DRIMPACS") -> Flask:
    app = Flask("drimcheck-pacs")
    app.config["store"] = store
    app.config["aet"] = aet

    @app.get(BASE)
    @app.get(BASE + "/")
    def healthcheck() -> Response:
        """ANS DRIM-M_DATA Simulateur client healthcheck: GET <base> with Accept: application/json."""
        return Response(json.dumps({"status": "ok", "instances": store.count()}), 200,
                        content_type="application/json")

    @app.get(BASE + "/studies")
    def search_studies() -> Response:
        return _search("STUDY")

    @app.get(BASE + "/series")
    def search_all_series() -> Response:
        return _search("SERIES")

    @app.get(BASE + "/instances")
    def search_all_instances() -> Response:
        return _search("IMAGE")

    @app.get(BASE + "/studies/<study>/series")
    def search_series(study: str) -> Response:
        return _search("SERIES", study)

    @app.get(BASE + "/studies/<study>/instances")
    def search_study_instances(study: str) -> Response:
        return _search("IMAGE", study)

    @app.get(BASE + "/studies/<study>/series/<series>/instances")
    def search_instances(study: str, series: str) -> Response:
        return _search("IMAGE", study, series)

    @app.get(BASE + "/studies/<path:rest>")
    def retrieve(rest: str) -> Response:
        raw = request.environ.get("RAW_URI") or request.environ.get("REQUEST_URI") or request.path
        try:
            path = parse_wado_path(raw.split("?", 1)[0], BASE)
        except ValueError as exc:
            return _text(400, str(exc))
        accept = request.headers.getlist("Accept")
        answer = wado.retrieve(store, path, accept, _base_url())
        return Response(answer.body, answer.status, headers=answer.headers, direct_passthrough=True)

    return app


def _base_url() -> str:
    return request.host_url.rstrip("/") + BASE


def _search(level: str, study: str | None = None, series: str | None = None) -> Response:
    app_store: InstanceStore = _current("store")
    try:
        for uid in (study, series):
            if uid is not None:
                check_uid(uid)
        items = qido.search(app_store, level, list(request.args.items(multi=True)), _base_url(), study,
                            series, _current("aet"))
    except ValueError as exc:
        return _text(400, str(exc))
    if not items:
        return Response(b"", 204)
    return Response(json.dumps(items), 200, content_type="application/dicom+json")


def _current(key: str) -> Any:
    from flask import current_app

    return current_app.config[key]


def _text(status: int, message: str) -> Response:
    return Response(message + "\n", status, content_type="text/plain; charset=utf-8")


def serve_dicomweb(store: InstanceStore, host: str = "127.0.0.1", port: int = 0,
                   aet: str = "DRIMPACS", ssl_context: ssl.SSLContext | None = None) -> RunningServer:
    """Serve the DICOMweb app on a loopback port (HTTPS with ``ssl_context``), wrapped in the capture middleware."""
    app = CaptureMiddleware(create_app(store, aet), actor="pacs-simulator")
    return serve_wsgi(app, "pacs-dicomweb", port=port, host=host, ssl_context=ssl_context)
