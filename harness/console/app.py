"""The console's Flask application factory (Flask tutorial ``create_app``): configuration in, an app out, with
its store and job worker in ``app.extensions["console"]``.

Private by default: every page needs a login and every API call a token; responses carry headers that keep
pages out of other sites' frames and scripts (CSP, ``X-Frame-Options``, ``nosniff``; OWASP Secure Headers).
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flask import Flask, render_template, request
from werkzeug.exceptions import HTTPException

from harness import __version__
from harness.console.jobs import Worker
from harness.console.storage import Store, database_url

MAX_UPLOAD_BYTES = 64 * 1024 * 1024
CSP = ("default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; object-src 'none'; "
       "base-uri 'none'; form-action 'self'; frame-ancestors 'self'")


@dataclass
class ConsoleConfig:
    data: Path = Path("console-data")
    db: str | None = None  # postgresql://... ; default SQLite in data
    https: bool = False  # served over HTTPS (directly or behind a TLS proxy): cookies get Secure
    jobs: int = 1  # campaigns run at once
    start_worker: bool = True
    worker_command: list[str] | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Console:
    store: Store
    worker: Worker
    data: Path


def secret_key(data: Path) -> bytes:
    """The session-signing key, made once per data folder (mode 0600) so sessions survive a restart."""
    path = data / "secret_key"
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(secrets.token_bytes(32))
    return path.read_bytes()


def open_store(config: ConsoleConfig) -> Store:
    config.data.mkdir(parents=True, exist_ok=True)
    (config.data / "files").mkdir(exist_ok=True)
    return Store(database_url(config.db, config.data))


def create_app(config: ConsoleConfig | None = None) -> Flask:
    config = config or ConsoleConfig()
    config.data = Path(config.data).resolve()
    store = open_store(config)
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=secret_key(config.data), MAX_CONTENT_LENGTH=MAX_UPLOAD_BYTES,
        SESSION_COOKIE_NAME="__Host-drimcheck" if config.https else "drimcheck_console",
        SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Lax", SESSION_COOKIE_SECURE=config.https,
        **config.extra)
    worker = Worker(store, config.data, jobs=config.jobs, command=config.worker_command)
    app.extensions["console"] = Console(store, worker, config.data)

    from harness.console.api import api, gazelle
    from harness.console.pages import pages
    from harness.console.security import csrf_token

    app.register_blueprint(pages)
    app.register_blueprint(api)
    app.register_blueprint(gazelle)

    app.jinja_env.globals.update(csrf_token=csrf_token, version=__version__)
    app.jinja_env.filters["when"] = _when

    @app.after_request
    def _headers(response: Any) -> Any:
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "SAMEORIGIN")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        if request.blueprint == "pages" and response.mimetype == "text/html":
            response.headers.setdefault("Cache-Control", "no-store")
        return response

    @app.errorhandler(HTTPException)
    def _error(exc: HTTPException) -> Any:
        if request.path.startswith(("/api/", "/validation/")):
            return {"error": exc.description, "problems": [exc.description]}, exc.code
        return render_template("error.html", code=exc.code, name=exc.name, description=exc.description), exc.code

    if config.start_worker:
        worker.start()
    return app


def stop_app(app: Flask) -> None:
    """Stop the worker (a running campaign is stopped and marked interrupted) and close the database."""
    console = app.extensions["console"]
    console.worker.stop()
    console.store.close()


def _when(value: float | None) -> str:
    import datetime as dt

    if not value:
        return ""
    return dt.datetime.fromtimestamp(value).strftime("%Y-%m-%d %H:%M:%S")
