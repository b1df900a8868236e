"""The professional's display settings (``/settings``): which patient traits the Consumer shows beyond the defaults.

INS/va1.36 (ANS FAQ dispositif DRIMbox, spec §4.6.2; Référentiel INS): by default the birth name, first given name,
birth date, sex and birthplace; on a user setting also the INS with its OID, the list of given names and the used
names. The setting belongs to the professional (the Pro Santé Connect ``SubjectNameID`` of the login, not the
browser) and is kept in ``<workdir>/settings.sqlite``, one row per professional, so it outlives the session and a
restart of the Consumer.

``GET /settings`` needs a Pro Santé Connect login like the exam pages (without one the browser is sent to PSC and
back). ``POST /settings`` changes the setting only for a logged-in professional and with the form's token, an HMAC
of the session id under a key drawn at start (OWASP ASVS 4.0.3 V4.2.2, anti-CSRF): otherwise 401 / 403 and nothing
changes; a value other than ``on`` for the box is a 400.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask import Blueprint, Response, current_app, has_request_context, redirect, render_template, request

EXTENSION = "consumer-settings"  # app.extensions key of the :class:`SettingsPages`
FILE_NAME = "settings.sqlite"
FIELD = "extended_ins"  # the check box: present ("on") = extended display
_SCHEMA = ("CREATE TABLE IF NOT EXISTS display_settings (professional TEXT PRIMARY KEY, "
           "extended_ins INTEGER NOT NULL, updated TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP)")


class DisplaySettings:
    """The settings of each professional, in SQLite (one transaction per change; a connection per call, so the
    WSGI server's threads share nothing)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._db() as db:
            db.execute(_SCHEMA)

    @contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        with closing(sqlite3.connect(self.path, timeout=10)) as db, db:
            yield db

    def extended_ins(self, professional: str) -> bool:
        """Whether ``professional`` asked for the INS, its OID, the given-name list and the used names (default no)."""
        with self._db() as db:
            row = db.execute("SELECT extended_ins FROM display_settings WHERE professional = ?",
                             (professional,)).fetchone()
        return bool(row and row[0])

    def set_extended_ins(self, professional: str, on: bool) -> None:
        with self._db() as db:
            db.execute("INSERT INTO display_settings (professional, extended_ins) VALUES (?, ?) "
                       "ON CONFLICT(professional) DO UPDATE SET extended_ins = excluded.extended_ins, "
                       "updated = CURRENT_TIMESTAMP", (professional, int(on)))


@dataclass
class SettingsPages:
    """What the pages need: the store, the Consumer's logins and PSC client (``ConsumerApp``), the cookie name,
    the key of the form tokens."""

    store: DisplaySettings
    state: Any
    cookie: str
    key: bytes

    def login(self) -> Any:
        return self.state.sessions.get(request.cookies.get(self.cookie))

    def token(self, login: Any) -> str:
        return hmac.new(self.key, login.id.encode("ascii"), hashlib.sha256).hexdigest()


def extended_ins_shown() -> bool:
    """Whether the professional of the current request asked for the extended INS display (no outside a request,
    without a PSC login, or when the app has no settings pages)."""
    pages = current_app.extensions.get(EXTENSION) if has_request_context() else None
    login = pages.login() if pages is not None else None
    if login is None or not login.logged_in or login.professional is None:
        return False
    return pages.store.extended_ins(login.professional.id)


def _page(status: int, **context: Any) -> Response:
    body = render_template("settings.html", title="Paramètres d'affichage", **context)
    return Response(body, status=status, content_type="text/html; charset=utf-8")


def _refused(status: int, message: str) -> Response:
    body = render_template("error.html", title="Paramètres d'affichage", message=message)
    return Response(body, status=status, content_type="text/html; charset=utf-8")


def blueprint(state: Any, cookie: str) -> Blueprint:
    """``/settings`` of the Consumer ``state`` (a ``ConsumerApp``), its store in the Consumer's workdir; the
    session cookie is ``cookie``."""
    pages = SettingsPages(DisplaySettings(Path(state.config.workdir) / FILE_NAME), state, cookie,
                          secrets.token_bytes(32))
    bp = Blueprint("settings", __name__)
    bp.record_once(lambda setup: setup.app.extensions.__setitem__(EXTENSION, pages))

    @bp.get("/settings")
    def show() -> Response:
        login = pages.login()
        if login is None or not login.logged_in or login.professional is None:
            login = login or state.sessions.new()
            response = redirect(state.psc.authorization_url(login, "/settings"), code=302)
            response.set_cookie(cookie, login.id, httponly=True, samesite="Lax")
            return response
        return _page(200, professional=login.professional, token=pages.token(login),
                     extended=pages.store.extended_ins(login.professional.id))

    @bp.post("/settings")
    def change() -> Response:
        login = pages.login()
        if login is None or not login.logged_in or login.professional is None:
            return _refused(401, "Connexion Pro Santé Connect requise")
        if not hmac.compare_digest(request.form.get("csrf_token", ""), pages.token(login)):
            return _refused(403, "Formulaire expiré ou d'une autre origine : rien n'a été modifié")
        value = request.form.get(FIELD)
        if value not in (None, "on"):
            return _refused(400, f"{FIELD} : attendu « on » ou absent")
        pages.store.set_extended_ins(login.professional.id, value == "on")
        return redirect("/settings", code=303)

    return bp
