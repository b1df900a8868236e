"""The OAuth 2.0 / OpenID Connect core of the PSC simulator, on authlib's server framework.

Authorization code with PKCE S256 (RFC 6749 §4.1, RFC 7636), refresh tokens (RFC 6749 §6),
id_token RS256 (OIDC Core §3.1.3.6), introspection (RFC 7662), revocation (RFC 7009).
Access tokens are RS256 JWTs carrying ``nonce``, ``acr`` and ``scope`` like PSC's Keycloak
tokens (the ANS PoC compares the access token nonce with the id_token nonce), and are also
kept in a store so introspection sees revocation and expiry.
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from authlib.oauth2.rfc6749 import ClientMixin, InvalidRequestError, TokenMixin
from authlib.oauth2.rfc6749.grants import AuthorizationCodeGrant as _CodeGrant
from authlib.oauth2.rfc6749.grants import RefreshTokenGrant as _RefreshGrant
from authlib.oauth2.rfc7009 import RevocationEndpoint as _Revocation
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oauth2.rfc7662 import IntrospectionEndpoint as _Introspection
from authlib.oidc.core import AuthorizationCodeMixin
from authlib.oidc.core.grants import OpenIDCode as _OpenIDCode
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey

from simulators.psc.config import Client, PscConfig, User
from simulators.psc.misbehaviours import check_name
from simulators.psc.mtls import TLS_CLIENT_AUTH, peer_thumbprint

SECRET_METHODS = ["client_secret_basic", "client_secret_post"]  # RFC 6749 §2.3.1
CLIENT_AUTH_METHODS = [*SECRET_METHODS, TLS_CLIENT_AUTH]  # RFC 8705 §2.1
SUPPORTED_ACR = ("eidas1",)  # PSC: acr_values=eidas1 (ANS PoC)
ALG = "RS256"
PURGE_EVERY = 1000  # token additions between two purges of long-dead tokens


class OAuthClient(ClientMixin):
    """authlib view of a configured :class:`Client` (confidential, secret-authenticated)."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.client_id = client.client_id
        self.client_metadata: dict[str, Any] = {}

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str | None:
        return self.client.redirect_uris[0] if self.client.redirect_uris else None

    def get_allowed_scope(self, scope: str) -> str:
        allowed = set(self.client.scope.split())
        return " ".join(s for s in (scope or "").split() if s in allowed)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return self.client.redirect_allowed(redirect_uri)

    def check_client_secret(self, client_secret: str) -> bool:
        return hmac.compare_digest(client_secret.encode(), self.client.client_secret.encode())

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        """tls_client_auth for a registered subject (RFC 8705 §2.1.2), secrets unless registered for the
        certificate only."""
        if method == TLS_CLIENT_AUTH:
            return bool(self.client.tls_client_subject) and self.client.token_endpoint_auth_method in (
                "", TLS_CLIENT_AUTH)
        return method in SECRET_METHODS and bool(self.client.client_secret) and not self.client.tls_only

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in ("authorization_code", "refresh_token")


@dataclass
class CodeRecord(AuthorizationCodeMixin):
    code: str
    client_id: str
    redirect_uri: str
    scope: str
    user: User
    expires_at: float
    auth_time: int
    nonce: str | None = None
    acr: str | None = None
    code_challenge: str | None = None
    code_challenge_method: str | None = None

    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope

    def get_nonce(self) -> str | None:
        return self.nonce

    def get_auth_time(self) -> int:
        return self.auth_time

    def get_acr(self) -> str | None:
        return self.acr

    def get_amr(self) -> list[str]:
        return []


@dataclass
class TokenRecord(TokenMixin):
    access_token: str
    client: OAuthClient
    user: User
    scope: str
    issued_at: float
    expires_in: int
    clock: Callable[[], float]
    refresh_token: str | None = None
    refresh_expires_at: float = 0.0
    nonce: str | None = None
    acr: str | None = None
    revoked: bool = False
    claims: dict[str, Any] = field(default_factory=dict)
    x5t_s256: str | None = None  # thumbprint of the client certificate the token is bound to (RFC 8705 §3)

    def check_client(self, client: OAuthClient) -> bool:
        return client.get_client_id() == self.client.get_client_id()

    def get_scope(self) -> str:
        return self.scope

    def get_expires_in(self) -> int:
        return self.expires_in

    def is_expired(self) -> bool:
        return self.clock() >= self.issued_at + self.expires_in

    def is_revoked(self) -> bool:
        return self.revoked

    def get_user(self) -> User:
        return self.user

    def get_client(self) -> OAuthClient:
        return self.client

    def refresh_usable(self) -> bool:
        return not self.revoked and self.clock() < self.refresh_expires_at


class Store:
    """In-memory codes and tokens, shared by the server threads."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.codes: dict[str, CodeRecord] = {}
        self.tokens: dict[str, TokenRecord] = {}
        self.refresh: dict[str, TokenRecord] = {}
        self.nonces: set[tuple[str, str]] = set()
        self._adds = 0

    def add_token(self, record: TokenRecord) -> None:
        with self.lock:
            self.tokens[record.access_token] = record
            if record.refresh_token:
                self.refresh[record.refresh_token] = record
            self._adds += 1
            if self._adds % PURGE_EVERY == 0:
                self._purge(record.clock())

    def _purge(self, now: float) -> None:
        """Forget tokens dead for a day, so a long load run does not grow without bound."""
        horizon = now - 86400
        for table in (self.tokens, self.refresh):
            for key in [k for k, r in table.items()
                        if max(r.issued_at + r.expires_in, r.refresh_expires_at) < horizon]:
                del table[key]
        for code in [c for c, r in self.codes.items() if r.expires_at < now]:
            del self.codes[code]

    def find(self, token: str, hint: str | None = None) -> TokenRecord | None:
        with self.lock:
            if hint == "refresh_token":
                return self.refresh.get(token) or self.tokens.get(token)
            return self.tokens.get(token) or self.refresh.get(token)


class PscProvider:
    """Keys, users, clients and tokens of one simulator instance."""

    def __init__(self, config: PscConfig, clock: Callable[[], float] = time.time) -> None:
        self.config = config.load()
        self.clock = clock
        self.key = RSAKey.generate_key(2048, parameters={"use": "sig", "alg": ALG})  # never persisted
        self.key.ensure_kid()
        self.store = Store()
        self.base_url = ""  # set by start_psc once the port is known
        self.users = {u.rpps: u for u in self.config.users}
        self.clients = {c.client_id: OAuthClient(c) for c in self.config.clients}
        self.misbehaviour = check_name(self.config.misbehaviour)
        self._rogue_key: RSAKey | None = None

    @property
    def rogue_key(self) -> RSAKey:
        """A signing key that is not in the JWKS (for the ``id-token-bad-signature`` misbehaviour)."""
        if self._rogue_key is None:
            self._rogue_key = RSAKey.generate_key(2048, parameters={"use": "sig", "alg": ALG})
        return self._rogue_key

    @property
    def issuer(self) -> str:
        return self.config.issuer or self.base_url.rstrip("/") + self.config.realm_path

    def jwks(self) -> dict[str, Any]:
        return {"keys": [self.key.as_dict(private=False)]}

    def public_keys(self) -> KeySet:
        return KeySet.import_key_set(self.jwks())

    def sign(self, claims: dict[str, Any]) -> str:
        return jwt.encode({"alg": ALG, "kid": self.key.kid, "typ": "JWT"}, claims, self.key)

    def find_user(self, ident: str) -> User | None:
        """By RPPS, national id (``8`` + RPPS) or OIDC ``sub``."""
        for user in self.users.values():
            if ident in (user.rpps, user.subject_name_id, user.subject):
                return user
        return None

    def mint(self, user: User, client: OAuthClient, scope: str, ttl: int | None = None,
             nonce: str | None = None, acr: str | None = None, refresh: bool = False,
             x5t_s256: str | None = None) -> TokenRecord:
        """Create, sign and store an access token (and a refresh token when asked); with ``x5t_s256``
        the token is bound to that client certificate (RFC 8705 §3.1 ``cnf`` claim)."""
        now = self.clock()
        ttl = self.config.token_ttl if ttl is None else ttl
        claims = {"iss": self.issuer, "sub": user.subject, "aud": client.client_id, "azp": client.client_id,
                  "typ": "Bearer", "iat": int(now), "exp": int(now + ttl), "jti": secrets.token_hex(16),
                  "scope": scope, "preferred_username": user.subject_name_id}
        if nonce:
            claims["nonce"] = nonce
        if acr:
            claims["acr"] = acr
        if x5t_s256:
            claims["cnf"] = {"x5t#S256": x5t_s256}
        record = TokenRecord(self.sign(claims), client, user, scope, now, ttl, self.clock, nonce=nonce, acr=acr,
                             claims=claims, x5t_s256=x5t_s256)
        if refresh:
            record.refresh_token = secrets.token_urlsafe(48)
            record.refresh_expires_at = now + self.config.refresh_ttl
        self.store.add_token(record)
        return record

    def issue_token(self, sub: str, client_id: str, ttl: int | None = None, scope: str = "openid scope_all",
                    acr: str | None = "eidas1", x5t_s256: str | None = None) -> str:
        """An access token without a browser flow, for plans and tests (``ttl <= 0``: already expired);
        bound to the client certificate of thumbprint ``x5t_s256`` when given (RFC 8705 §3)."""
        user = self.find_user(sub)
        if user is None:
            raise ValueError(f"unknown professional {sub!r}: add it to the users file")
        client = self.clients.get(client_id)
        if client is None:
            raise ValueError(f"unknown client {client_id!r}: add it to the users file")
        return self.mint(user, client, scope, ttl=ttl, acr=acr, x5t_s256=x5t_s256).access_token

    def revoke(self, token: str) -> bool:
        record = self.store.find(token)
        if record is not None:
            record.revoked = True
        return record is not None

    def save_token(self, token: dict[str, Any], request: Any) -> None:
        """authlib hook: replace the random token by a signed JWT and store it (PSC-like); a client
        authenticated by tls_client_auth gets a token bound to its certificate (RFC 8705 §3)."""
        code = getattr(request, "authorization_code", None)
        previous = getattr(request, "refresh_token", None)
        nonce = code.get_nonce() if code else getattr(previous, "nonce", None)
        acr = code.get_acr() if code else getattr(previous, "acr", None)
        record = self.mint(request.user, request.client, token.get("scope", ""), nonce=nonce, acr=acr,
                           refresh=True, x5t_s256=bound_thumbprint(request))
        token.update(access_token=record.access_token, expires_in=record.expires_in, token_type="Bearer",
                     refresh_token=record.refresh_token, refresh_expires_in=self.config.refresh_ttl)

    def introspection(self, record: TokenRecord) -> dict[str, Any]:
        """RFC 7662 §2.2 members of an active token."""
        return {"active": True, "sub": record.user.subject, "client_id": record.client.client_id,
                "exp": int(record.issued_at + record.expires_in), "iat": int(record.issued_at),
                "scope": record.scope, "token_type": "Bearer", "iss": self.issuer,
                "username": record.user.subject_name_id, "preferred_username": record.user.subject_name_id,
                **({"acr": record.acr} if record.acr else {}),
                **({"cnf": {"x5t#S256": record.x5t_s256}} if record.x5t_s256 else {})}  # RFC 8705 §3.2


def bound_thumbprint(request: Any) -> str | None:
    """``x5t#S256`` of the certificate an OAuth request was authenticated with by tls_client_auth, else None."""
    if getattr(request, "auth_method", None) != TLS_CLIENT_AUTH:
        return None
    from flask import has_request_context
    from flask import request as flask_request

    return peer_thumbprint(flask_request.environ) if has_request_context() else None


class S256Challenge(CodeChallenge):
    """PKCE with S256 only (RFC 7636 §4.2); required for clients configured with ``require_pkce``."""

    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]

    def validate_code_challenge(self, grant: Any, redirect_uri: str) -> None:
        data = grant.request.payload.data
        client = grant.request.client
        if client.client.require_pkce and not data.get("code_challenge"):
            # error_description must stay ASCII (RFC 6749 §5.2)
            raise InvalidRequestError("PKCE is required: missing 'code_challenge' (RFC 7636 section 4.3)")
        if data.get("code_challenge") and data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("code_challenge_method must be S256")
        super().validate_code_challenge(grant, redirect_uri)


def build_grants(provider: PscProvider) -> tuple[type, type, _OpenIDCode]:
    """Grant classes and the OpenID extension bound to ``provider``."""

    class CodeGrant(_CodeGrant):
        TOKEN_ENDPOINT_AUTH_METHODS = CLIENT_AUTH_METHODS

        def save_authorization_code(self, code: str, request: Any) -> None:
            data = request.payload.data
            acr = next((a for a in (data.get("acr_values") or "").split() if a in SUPPORTED_ACR), None)
            record = CodeRecord(
                code=code, client_id=request.client.get_client_id(),
                redirect_uri=request.payload.redirect_uri or "", scope=request.payload.scope or "",
                user=request.user, expires_at=provider.clock() + provider.config.code_ttl,
                auth_time=int(provider.clock()), nonce=data.get("nonce"), acr=acr,
                code_challenge=data.get("code_challenge"), code_challenge_method=data.get("code_challenge_method"))
            with provider.store.lock:
                provider.store.codes[code] = record
                if record.nonce:
                    provider.store.nonces.add((record.client_id, record.nonce))

        def query_authorization_code(self, code: str, client: OAuthClient) -> CodeRecord | None:
            with provider.store.lock:
                record = provider.store.codes.get(code)
            if record and record.client_id == client.get_client_id() and provider.clock() < record.expires_at:
                return record
            return None

        def delete_authorization_code(self, authorization_code: CodeRecord) -> None:
            with provider.store.lock:
                provider.store.codes.pop(authorization_code.code, None)

        def authenticate_user(self, authorization_code: CodeRecord) -> User:
            return authorization_code.user

    class RefreshGrant(_RefreshGrant):
        TOKEN_ENDPOINT_AUTH_METHODS = CLIENT_AUTH_METHODS
        INCLUDE_NEW_REFRESH_TOKEN = True

        def authenticate_refresh_token(self, refresh_token: str) -> TokenRecord | None:
            record = provider.store.find(refresh_token, "refresh_token")
            if record and record.refresh_token == refresh_token and record.refresh_usable():
                return record
            return None

        def authenticate_user(self, refresh_token: TokenRecord) -> User:
            return refresh_token.user

        def revoke_old_credential(self, refresh_token: TokenRecord) -> None:
            refresh_token.revoked = True

    class OpenIDCode(_OpenIDCode):
        def exists_nonce(self, nonce: str, request: Any) -> bool:
            with provider.store.lock:  # recorded when the code is issued, so the login page may be re-shown
                return (request.client.get_client_id(), nonce) in provider.store.nonces

        def resolve_client_private_key(self, client: OAuthClient) -> RSAKey:
            return provider.key

        def get_client_algorithm(self, client: OAuthClient) -> str:
            return ALG

        def get_encode_header(self, client: OAuthClient) -> dict[str, str]:
            return {"alg": ALG, "kid": provider.key.kid, "typ": "JWT"}

        def get_client_claims(self, client: OAuthClient) -> dict[str, Any]:
            now = int(provider.clock())
            return {"iss": provider.issuer, "aud": [client.get_client_id()], "azp": client.get_client_id(),
                    "iat": now, "exp": now + provider.config.token_ttl}

        def generate_user_info(self, user: User, scope: str) -> dict[str, Any]:
            info = user.userinfo()
            return {k: info[k] for k in ("sub", "preferred_username", "given_name", "family_name",
                                         "SubjectNameID")}

    return CodeGrant, RefreshGrant, OpenIDCode(require_nonce=False)


def build_endpoints(provider: PscProvider) -> tuple[type, type]:
    """Introspection (RFC 7662) and revocation (RFC 7009) bound to ``provider``."""

    class Introspection(_Introspection):
        CLIENT_AUTH_METHODS = CLIENT_AUTH_METHODS

        def query_token(self, token_string: str, token_type_hint: str | None) -> TokenRecord | None:
            return provider.store.find(token_string, token_type_hint)

        def check_permission(self, token: TokenRecord, client: OAuthClient, request: Any) -> bool:
            return True  # resource servers (a Source DRIMbox) introspect tokens issued to other clients

        def introspect_token(self, token: TokenRecord) -> dict[str, Any]:
            return provider.introspection(token)

    class Revocation(_Revocation):
        CLIENT_AUTH_METHODS = CLIENT_AUTH_METHODS

        def query_token(self, token_string: str, token_type_hint: str | None) -> TokenRecord | None:
            return provider.store.find(token_string, token_type_hint)

        def revoke_token(self, token: TokenRecord, request: Any) -> None:
            token.revoked = True

    return Introspection, Revocation
