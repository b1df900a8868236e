"""Who may do what in the console: accounts, sessions, CSRF, roles and API tokens.

- Passwords are hashed by werkzeug.security (scrypt, salted; Flask's own dependency, BSD), never stored.
- A page session lives in Flask's signed cookie (HttpOnly, SameSite=Lax, Secure when served over HTTPS) and
  expires after :data:`IDLE_SECONDS` without a request and :data:`MAX_SECONDS` after login, whichever comes
  first (OWASP Session Management Cheat Sheet, "Session Expiration").
- Every state-changing page request carries the session's CSRF token (a form field or the ``X-CSRF-Token``
  header; the synchronizer token pattern of the OWASP CSRF Prevention Cheat Sheet). API calls carry no cookie:
  they authenticate with a bearer token (RFC 6750 §2.1), so CSRF does not apply to them.
- API tokens are random (256 bits), shown once, stored as their SHA-256 only.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from typing import Any

from flask import abort, current_app, g, jsonify, redirect, request, session, url_for
from werkzeug.security import check_password_hash, generate_password_hash

IDLE_SECONDS = 30 * 60
MAX_SECONDS = 12 * 3600
TOKEN_PREFIX = "dck_"
MIN_PASSWORD = 10
# what each role may do, shown on the users page and in the README
ROLE_RIGHTS = {
    "vendor": "its own profiles and campaigns: create, run, cancel, read reports and evidence; validators; API tokens",
    "assessor": "every profile and campaign (read, run), and signs a finished campaign off as reviewed",
    "admin": "everything an assessor does, and manages accounts",
}
RANK = {"vendor": 0, "assessor": 1, "admin": 2}
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise ValueError(f"a password has at least {MIN_PASSWORD} characters")
    return generate_password_hash(password)


def password_ok(stored_hash: str, password: str) -> bool:
    return check_password_hash(stored_hash, password)


_DUMMY_HASH = generate_password_hash(secrets.token_hex(8))


def check_login(store: Any, name: str, password: str) -> dict[str, Any] | None:
    """The user whose name and password match; the same work is done for an unknown name (no timing oracle)."""
    user = store.user_by_name(name)
    if user is None:
        check_password_hash(_DUMMY_HASH, password)
        return None
    return user if password_ok(user["password_hash"], password) else None


# -- page sessions ---------------------------------------------------------------------------------
def start_session(user: dict[str, Any]) -> None:
    session.clear()
    now = time.time()
    session.update(uid=user["id"], login_at=now, seen_at=now, csrf=secrets.token_urlsafe(32))
    session.permanent = False


def csrf_token() -> str:
    """The session's CSRF token (made for an anonymous session too: the login form carries one)."""
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(32)
    return session["csrf"]


def session_user() -> dict[str, Any] | None:
    """The user of a live session, None when absent or expired (the session is then cleared)."""
    uid = session.get("uid")
    if uid is None:
        return None
    now = time.time()
    if now - session.get("seen_at", 0) > IDLE_SECONDS or now - session.get("login_at", 0) > MAX_SECONDS:
        session.clear()
        return None
    user = current_app.extensions["console"].store.user(uid)
    if user is None:
        session.clear()
        return None
    session["seen_at"] = now
    return user


def check_csrf() -> None:
    """400 for a state-changing page request without the session's token (called before every page view)."""
    if request.method in SAFE_METHODS:
        return
    sent = request.form.get("csrf_token") or request.headers.get("X-CSRF-Token") or ""
    expected = session.get("csrf") or ""
    if not expected or not hmac.compare_digest(sent, expected):
        abort(400, description="the form's CSRF token is missing or does not match this session: reload the page")


def login_required(role: str = "vendor") -> Callable:
    """A page view for a logged-in user of ``role`` or above: 302 to the login page without a session, 403
    for a lower role."""
    def decorate(view: Callable) -> Callable:
        @functools.wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            user = session_user()
            if user is None:
                return redirect(url_for("pages.login", next=request.full_path.rstrip("?")))
            if RANK[user["role"]] < RANK[role]:
                abort(403, description=f"this needs the {role} role; you are {user['role']}")
            g.user = user
            return view(*args, **kwargs)
        return wrapped
    return decorate


# -- API tokens ---------------------------------------------------------------------------------
def new_token() -> tuple[str, str, str]:
    """(token shown once, its SHA-256 hex stored, a prefix shown in listings)."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    return token, token_hash(token), token[:10]


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def bearer_token() -> str | None:
    """The token of ``Authorization: Bearer T`` (RFC 6750 §2.1) or ``Authorization: GazelleAPIKey T``
    (the scheme Gazelle EVS clients send)."""
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() in ("bearer", "gazelleapikey") and value.strip():
        return value.strip()
    return None


def api_auth(role: str = "vendor") -> Callable:
    """An API view for a valid token of ``role`` or above: 401 (with ``WWW-Authenticate``) without one,
    403 for a lower role; errors are JSON ``{"error": ...}``."""
    def decorate(view: Callable) -> Callable:
        @functools.wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            token = bearer_token()
            user = current_app.extensions["console"].store.token_user(token_hash(token)) if token else None
            if user is None:
                response = jsonify(error="an API token is needed: Authorization: Bearer TOKEN (create one on the "
                                         "console's API tokens page)")
                response.status_code = 401
                response.headers["WWW-Authenticate"] = 'Bearer realm="drimcheck"'
                return response
            if RANK[user["role"]] < RANK[role]:
                response = jsonify(error=f"this needs the {role} role; the token's user is {user['role']}")
                response.status_code = 403
                return response
            g.user = user
            return view(*args, **kwargs)
        return wrapped
    return decorate


def sees_everything(user: dict[str, Any]) -> bool:
    """Assessors and admins see every profile and campaign; a vendor only its own."""
    return RANK[user["role"]] >= RANK["assessor"]


def may_see(user: dict[str, Any], owner_id: int) -> bool:
    return sees_everything(user) or owner_id == user["id"]
