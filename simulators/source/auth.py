"""Bearer token check of RAD-107 requests by introspection at Pro Santé Connect (FACTS §5, RFC 7662).

No cache: a token revoked at PSC is refused on the next request (PoC behaviour: introspect each call).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import requests


@dataclass(frozen=True)
class TokenCheck:
    ok: bool
    reason: str = ""
    subject: str = ""


class Introspector:
    def __init__(self, url: str, client_id: str, client_secret: str, timeout: float = 10.0) -> None:
        self.url, self.client_id, self.client_secret, self.timeout = url, client_id, client_secret, timeout

    def check(self, authorization: str | None) -> TokenCheck:
        """``Authorization`` header -> verdict; missing, malformed, inactive and expired tokens fail."""
        if not authorization:
            return TokenCheck(False, "no Authorization header")
        scheme, _, token = authorization.strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return TokenCheck(False, "Authorization is not a Bearer token")
        try:
            resp = requests.post(self.url, data={"token": token.strip(), "token_type_hint": "access_token"},
                                 auth=(self.client_id, self.client_secret), timeout=self.timeout)
            claims = resp.json() if resp.status_code == 200 else {}
        except (requests.RequestException, ValueError) as exc:
            return TokenCheck(False, f"introspection failed: {exc.__class__.__name__}")
        if not isinstance(claims, dict) or claims.get("active") is not True:
            return TokenCheck(False, "token is not active")
        exp = claims.get("exp")
        if isinstance(exp, int | float) and exp <= time.time():
            return TokenCheck(False, "token expired")
        return TokenCheck(True, subject=str(claims.get("sub", "")))
