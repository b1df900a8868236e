"""Server-side sessions of the Source's viewer: the professional's Pro Santé Connect login, kept on the server.

The login itself is the Consumer's (:mod:`simulators.consumer.session`: authorization code + PKCE,
RFC 6749 §4.1 / RFC 7636, ANS PoC endpoints, scope ``scope_all``, ``acr_values=eidas1``), the Source being
the OAuth client ``drimbox-source``: its ORG AUTH CLI certificate authenticates it at the token endpoint
(RFC 8705 §2.1) and the tokens PSC binds to that certificate (§3) never leave the server. The browser holds
only a random session id in an HttpOnly, SameSite=Lax cookie (Secure over HTTPS; Lax so that the PSC
redirection back, a top-level GET, carries it). A session ends after ``idle`` seconds without use or
``maximum`` seconds after it began, and when PSC refuses to refresh its access token.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from harness.capture import capturing_session
from simulators.consumer.session import Login, LoginError, PscClient

ACTOR = "source:viewer-psc-client"
COOKIE = "drimbox_viewer_sid"
MAX_SESSIONS = 10_000  # the oldest are dropped past this: a flood of logins cannot exhaust memory


@dataclass
class ViewerConfig:
    """Settings of the viewer; the PSC fields have the shape :class:`simulators.consumer.session.PscClient`
    reads (``public_url``, ``client_id``, ``client_secret``, ``psc_client_cert``, ``timeout``, ``psc()``)."""

    psc_issuer: str = ""  # PSC realm URL: <issuer>/protocol/openid-connect/{auth,token,userinfo}
    client_id: str = "drimbox-source"
    client_secret: str = "source-secret"  # HTTP Basic at the token endpoint, used only without psc_client_cert
    psc_client_cert: tuple[str, str] | None = None  # (certificate, key) files: tls_client_auth, RFC 8705 §2.1
    public_url: str = ""  # the viewer's own base URL (redirect_uri = public_url + /auth/redirect); set at start
    timeout: float = 10.0
    idle: float = 30 * 60  # seconds of inactivity that end a session
    maximum: float = 8 * 3600  # seconds after which a session ends whatever its use
    library: Path | None = None  # folder of the installed viewer library (None: harness.viewer_lib.cache_folder())

    def psc(self, name: str) -> str:
        """A PSC endpoint URL (ANS PoC: .../protocol/openid-connect/{auth,token,userinfo})."""
        return f"{self.psc_issuer}/protocol/openid-connect/{name}"


def issuer_of(introspect_url: str) -> str:
    """The PSC realm URL from its introspection endpoint (``<issuer>/protocol/openid-connect/token/introspect``)."""
    suffix = "/protocol/openid-connect/token/introspect"
    return introspect_url[:-len(suffix)] if introspect_url.endswith(suffix) else ""


@dataclass
class ViewerSession:
    """One browser's session: its PSC login (tokens, professional, pending PKCE state) and its age."""

    login: Login
    created: float
    seen: float


class ViewerSessions:
    """In-memory sessions keyed by the cookie's random id; expired ones are dropped when looked up."""

    def __init__(self, idle: float, maximum: float, clock: Callable[[], float] = time.time) -> None:
        self.idle, self.maximum, self.clock = idle, maximum, clock
        self._items: dict[str, ViewerSession] = {}
        self._lock = threading.Lock()

    def new(self) -> ViewerSession:
        now = self.clock()
        session = ViewerSession(Login(secrets.token_urlsafe(32)), now, now)
        with self._lock:
            while len(self._items) >= MAX_SESSIONS:
                self._items.pop(next(iter(self._items)))
            self._items[session.login.id] = session
        return session

    def get(self, sid: str | None) -> ViewerSession | None:
        """The live session of ``sid`` (its last use set to now), None when unknown or expired."""
        now = self.clock()
        with self._lock:
            session = self._items.get(sid or "")
            if session is None:
                return None
            if now - session.seen > self.idle or now - session.created > self.maximum:
                del self._items[session.login.id]
                return None
            session.seen = now
            return session

    def end(self, sid: str) -> None:
        with self._lock:
            self._items.pop(sid, None)


class ViewerLogin:
    """The Source as PSC client for its viewer: the Consumer's :class:`PscClient`, captured as the Source's."""

    def __init__(self, config: ViewerConfig) -> None:
        self.client = PscClient(config)  # type: ignore[arg-type]  # the same fields as ConsumerConfig's
        self.client.http = capturing_session(ACTOR, protocol="oidc")

    def start(self, session: ViewerSession, next_url: str) -> str:
        """The PSC authorization URL to send the browser to; the state and PKCE verifier stay in ``session``."""
        return self.client.authorization_url(session.login, next_url)

    def finish(self, session: ViewerSession, code: str, state: str) -> None:
        self.client.finish(session.login, code, state)

    def access_token(self, session: ViewerSession, clock: Callable[[], float] = time.time) -> str | None:
        """A usable access token of the session, refreshed at PSC when expired (RFC 6749 §6); None when
        there is none or PSC refuses the refresh."""
        login = session.login
        if not login.logged_in:
            return None
        if login.expires_at and clock() >= login.expires_at - 5 and not self.client.refresh(login):
            return None
        return login.access_token or None


__all__ = ["COOKIE", "LoginError", "ViewerConfig", "ViewerLogin", "ViewerSession", "ViewerSessions", "issuer_of"]
