"""Pro Santé Connect login of the professional: authorization code + PKCE (RFC 6749 §4.1, RFC 7636).

ANS PoC: PSC endpoints ``.../protocol/openid-connect/{auth,token,userinfo}``, scope ``scope_all``,
``acr_values=eidas1``. The Consumer keeps tokens server-side (never in the cookie) and refreshes
the access token when a Source answers 401 (RFC 6749 §6).

With ``ConsumerConfig.psc_client_cert`` every call to PSC presents that certificate and the token endpoint
is authenticated by it (RFC 8705 §2.1 ``tls_client_auth``: ``client_id`` in the form, no secret); the
tokens PSC then binds to it (§3) are used with the same certificate at the Sources' WADO-RS.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from harness.capture import capturing_session
from simulators.consumer.config import ConsumerConfig

ACTOR = "consumer:psc-client"
SCOPE = "openid scope_all"  # ANS PoC: PSC scope scope_all


class LoginError(RuntimeError):
    """PSC refused the code, the refresh token or the userinfo call."""


@dataclass
class Professional:
    """Who is logged in: PSC ``SubjectNameID`` (8 + RPPS) and names, from userinfo."""

    id: str
    given: str = ""
    family: str = ""
    profession: str = ""
    specialty: str = ""

    @property
    def display(self) -> str:
        return f"{self.given} {self.family}".strip() or self.id


@dataclass
class Login:
    """One browser session of the Consumer: tokens, professional, pending PKCE, contextual calls."""

    id: str
    access_token: str = ""
    refresh_token: str = ""
    expires_at: float = 0.0
    professional: Professional | None = None
    state: str = ""
    verifier: str = ""
    next_url: str = ""
    calls: dict[str, Any] = field(default_factory=dict)
    results: dict[str, Any] = field(default_factory=dict)

    @property
    def logged_in(self) -> bool:
        return bool(self.access_token)


def pkce_pair() -> tuple[str, str]:
    """(code_verifier, S256 code_challenge), RFC 7636 §4.1-4.2."""
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode("ascii")).digest()).rstrip(b"=")
    return verifier, challenge.decode("ascii")


class Sessions:
    """In-memory store of logins, keyed by the random id of the session cookie."""

    def __init__(self) -> None:
        self._items: dict[str, Login] = {}
        self._lock = threading.Lock()

    def get(self, sid: str | None) -> Login | None:
        with self._lock:
            return self._items.get(sid or "")

    def new(self) -> Login:
        login = Login(secrets.token_urlsafe(24))
        with self._lock:
            self._items[login.id] = login
        return login


class PscClient:
    """The Consumer's OAuth client at PSC; every exchange is captured."""

    def __init__(self, config: ConsumerConfig, scope: str = SCOPE, mtls: bool = True) -> None:
        """``mtls=False`` (a named fault) ignores ``config.psc_client_cert`` and sends the secret."""
        self.config, self.scope, self.mtls = config, scope, mtls
        self.http = capturing_session(ACTOR, protocol="oidc")

    def redirect_uri(self) -> str:
        return self.config.public_url.rstrip("/") + "/auth/redirect"

    def authorization_url(self, login: Login, next_url: str) -> str:
        """Start a login: new state and PKCE verifier kept in ``login``; the URL to send the browser to."""
        login.verifier, challenge = pkce_pair()
        login.state, login.next_url = secrets.token_urlsafe(16), next_url
        query = {"response_type": "code", "client_id": self.config.client_id, "redirect_uri": self.redirect_uri(),
                 "scope": self.scope, "acr_values": "eidas1", "state": login.state,
                 "nonce": secrets.token_urlsafe(16), "code_challenge": challenge,
                 "code_challenge_method": "S256"}
        return self.config.psc("auth") + "?" + urlencode(query)

    def _tls(self) -> dict[str, Any]:
        """The client certificate presented to PSC, if configured (``requests`` ``cert=``)."""
        cert = self.config.psc_client_cert if self.mtls else None
        return {"cert": (str(cert[0]), str(cert[1]))} if cert else {}

    def _token(self, data: dict[str, str]) -> dict:
        """POST to the token endpoint, the client authenticated by its certificate (RFC 8705 §2.1) when one
        is configured, else by HTTP Basic with the secret (RFC 6749 §2.3.1)."""
        tls = self._tls()
        if tls:
            credentials: dict[str, Any] = {**tls, "data": {**data, "client_id": self.config.client_id}}
        else:
            # the secret registered with the client (the configured one, else the default of ConsumerConfig)
            secret = self.config.client_secret or ("" if self.mtls else type(self.config).client_secret)
            credentials = {"data": data, "auth": (self.config.client_id, secret)}
        resp = self.http.post(self.config.psc("token"), timeout=self.config.timeout, **credentials)
        if resp.status_code != 200:
            raise LoginError(f"PSC token endpoint answered {resp.status_code}: {resp.text[:200]}")
        return resp.json()

    def finish(self, login: Login, code: str, state: str) -> None:
        """Exchange the code (with the PKCE verifier) and read the professional from userinfo."""
        if not state or not secrets.compare_digest(state, login.state):
            raise LoginError("state does not match the login in progress")
        tokens = self._token({"grant_type": "authorization_code", "code": code,
                              "redirect_uri": self.redirect_uri(), "code_verifier": login.verifier})
        login.state = login.verifier = ""
        self._keep(login, tokens)
        login.professional = self.userinfo(login.access_token)

    def refresh(self, login: Login) -> bool:
        """New access token from the refresh token (after a 401); False when PSC refuses."""
        if not login.refresh_token:
            return False
        try:
            self._keep(login, self._token({"grant_type": "refresh_token", "refresh_token": login.refresh_token}))
        except (LoginError, ValueError):
            login.access_token = ""
            return False
        return True

    def userinfo(self, token: str) -> Professional:
        resp = self.http.get(self.config.psc("userinfo"), headers={"Authorization": f"Bearer {token}"},
                             timeout=self.config.timeout, **self._tls())
        if resp.status_code != 200:
            raise LoginError(f"PSC userinfo answered {resp.status_code}")
        info = resp.json()
        exercice = ((info.get("SubjectRefPro") or {}).get("exercices") or [{}])[0]
        return Professional(id=str(info.get("SubjectNameID") or info.get("preferred_username") or info.get("sub")),
                            given=str(info.get("given_name", "")), family=str(info.get("family_name", "")),
                            profession=str(exercice.get("codeProfession", "")),
                            specialty=str(exercice.get("codeSavoirFaire", "")))

    @staticmethod
    def _keep(login: Login, tokens: dict) -> None:
        login.access_token = str(tokens.get("access_token", ""))
        login.refresh_token = str(tokens.get("refresh_token", login.refresh_token))
        login.expires_at = time.time() + float(tokens.get("expires_in", 0) or 0)
