"""Flask app of the PSC simulator: one route per OpenID Connect / OAuth transaction.

Paths follow PSC (Keycloak realm ``esante-wallet``, ANS PoC):
``{realm}/protocol/openid-connect/{auth,token,userinfo,token/introspect,revoke,certs}`` and the
discovery document at ``{realm}/.well-known/openid-configuration`` (PSC also publishes it as
``wallet-openid-configuration``).
"""

from __future__ import annotations

import html
from typing import Any

from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.oauth2 import OAuth2Error
from flask import Flask, Response, jsonify, request

from harness.capture import CaptureMiddleware
from simulators.psc.config import PscConfig
from simulators.psc.misbehaviours import tamper_token_response
from simulators.psc.mtls import TLS_CLIENT_AUTH, authenticate_tls_client, secret_methods
from simulators.psc.provider import (
    CLIENT_AUTH_METHODS,
    SECRET_METHODS,
    SUPPORTED_ACR,
    PscProvider,
    S256Challenge,
    bound_thumbprint,
    build_endpoints,
    build_grants,
)

OIDC = "/protocol/openid-connect"
ISSUE_TOKEN_PATH = "/drimcheck/issue-token"  # test-only shortcut, client-authenticated
MAX_FORM_BYTES = 64 * 1024  # OAuth forms are tiny; anything bigger is refused with 413


def create_app(config: PscConfig | None = None, provider: PscProvider | None = None) -> Flask:
    """The simulator as a WSGI app, captured as ``psc-simulator``; ``app.extensions["psc"]`` is the provider."""
    provider = provider or PscProvider(config or PscConfig())
    app = Flask("psc-simulator")
    app.config["MAX_CONTENT_LENGTH"] = MAX_FORM_BYTES
    app.config["OAUTH2_TOKEN_EXPIRES_IN"] = {"authorization_code": provider.config.token_ttl,
                                             "refresh_token": provider.config.token_ttl}
    server = AuthorizationServer(app, query_client=provider.clients.get, save_token=provider.save_token)
    for method, authenticate in secret_methods().items():  # a tls_client_auth-only client's secret: 401
        server.register_client_auth_method(method, authenticate)
    server.register_client_auth_method(TLS_CLIENT_AUTH, authenticate_tls_client)
    code_grant, refresh_grant, openid = build_grants(provider)
    server.register_grant(code_grant, [S256Challenge(required=True), openid])
    server.register_grant(refresh_grant)
    introspection, revocation = build_endpoints(provider)
    server.register_endpoint(introspection)
    server.register_endpoint(revocation)
    app.extensions["psc"] = provider
    realm = provider.config.realm_path
    _routes(app, server, provider, realm)
    app.wsgi_app = CaptureMiddleware(app.wsgi_app, actor="psc-simulator")  # type: ignore[method-assign]
    return app


def _issuer(provider: PscProvider) -> str:
    if provider.config.issuer or provider.base_url:
        return provider.issuer
    return request.host_url.rstrip("/") + provider.config.realm_path


def discovery_document(issuer: str, mtls: bool = False) -> dict[str, Any]:
    """OpenID Connect Discovery 1.0 §3 metadata (RFC 8414 for the OAuth members); with mutual TLS,
    ``tls_client_auth`` (RFC 8705 §2.3) and certificate-bound access tokens (§3.3)."""
    base = issuer + OIDC
    methods = CLIENT_AUTH_METHODS if mtls else SECRET_METHODS
    bound = {"tls_client_certificate_bound_access_tokens": True} if mtls else {}
    return {
        "issuer": issuer, "authorization_endpoint": base + "/auth", "token_endpoint": base + "/token",
        "userinfo_endpoint": base + "/userinfo", "introspection_endpoint": base + "/token/introspect",
        "revocation_endpoint": base + "/revoke", "jwks_uri": base + "/certs",
        "response_types_supported": ["code"], "grant_types_supported": ["authorization_code", "refresh_token"],
        "subject_types_supported": ["public"], "id_token_signing_alg_values_supported": ["RS256"],
        "scopes_supported": ["openid", "scope_all"], "acr_values_supported": list(SUPPORTED_ACR),
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": methods,
        "introspection_endpoint_auth_methods_supported": methods,
        "revocation_endpoint_auth_methods_supported": methods,
        "claims_supported": ["sub", "preferred_username", "given_name", "family_name", "SubjectNameID",
                             "SubjectRefPro", "acr", "nonce"],
        **bound,
    }


def _routes(app: Flask, server: AuthorizationServer, provider: PscProvider, realm: str) -> None:
    @app.get(realm + "/.well-known/openid-configuration")
    @app.get(realm + "/.well-known/wallet-openid-configuration")
    def discovery() -> Response:
        return jsonify(discovery_document(_issuer(provider), mtls=bool(provider.config.client_ca)))

    @app.get(realm + OIDC + "/certs")
    def certs() -> Response:
        return jsonify(provider.jwks())

    @app.route(realm + OIDC + "/auth", methods=["GET", "POST"])
    def authorize() -> Any:
        return _authorize(server, provider)

    @app.post(realm + OIDC + "/token")
    def token() -> Any:
        if provider.misbehaviour == "token-endpoint-unavailable":
            return _unavailable()
        response = server.create_token_response()
        if (provider.misbehaviour or "").startswith("id-token-") and response.status_code == 200:
            response.set_data(tamper_token_response(response.get_data(), provider.misbehaviour,
                                                    provider.key, provider.rogue_key))
        return response

    @app.post(realm + OIDC + "/token/introspect")
    def introspect() -> Any:
        if provider.misbehaviour == "introspection-unavailable":
            return _unavailable()
        return server.create_endpoint_response("introspection")

    @app.post(realm + OIDC + "/revoke")
    def revoke() -> Any:
        return server.create_endpoint_response("revocation")

    @app.route(realm + OIDC + "/userinfo", methods=["GET", "POST"])
    def userinfo() -> Any:
        if provider.misbehaviour == "userinfo-unavailable":
            return _unavailable()
        return _userinfo(provider)

    @app.post(realm + ISSUE_TOKEN_PATH)
    def issue_token() -> Any:
        return _issue_token(server, provider)


def _authorize(server: AuthorizationServer, provider: PscProvider) -> Any:
    """RFC 6749 §4.1.1: GET shows the professionals, POST ``user=<RPPS>`` logs one in."""
    try:
        grant = server.get_consent_grant()
    except OAuth2Error as error:
        if getattr(error, "redirect_uri", None):
            return server.handle_error_response(request, error)
        return _page("Requête refusée", f"<p>{html.escape(error.error)}: "
                     f"{html.escape(error.description or '')}</p>", 400)
    if request.method == "GET":
        return _login_page(provider)
    user = provider.users.get(request.form.get("user", ""))
    if user is None:
        return _page("Professionnel inconnu", "<p>Choisissez un professionnel de la liste.</p>", 400)
    return server.create_authorization_response(grant_user=user, grant=grant)


def _login_page(provider: PscProvider) -> Response:
    rows = "".join(
        f'<li><button type="submit" name="user" value="{html.escape(u.rpps)}">'
        f"{html.escape(u.given_name)} {html.escape(u.family_name)} (RPPS {html.escape(u.rpps)}, "
        f"profession {html.escape(u.profession)})</button></li>"
        for u in provider.users.values())
    action = html.escape(request.full_path if request.query_string else request.path)
    body = f'<form method="post" action="{action}"><ul>{rows}</ul></form>'
    return _page("Pro Santé Connect (simulateur) : choisissez un professionnel", body, 200)


def _page(title: str, body: str, status: int) -> Response:
    text = (f"<!doctype html><html lang=\"fr\"><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title>"
            f"</head><body><h1>{html.escape(title)}</h1>{body}</body></html>")
    return Response(text, status=status, content_type="text/html; charset=utf-8")


def _unavailable() -> Response:
    """A misbehaviour: the endpoint is down (RFC 6749 §4.1.2.1 temporarily_unavailable)."""
    response = jsonify({"error": "temporarily_unavailable", "error_description": "PSC simulator told to fail"})
    response.status_code = 503
    return response


def _bearer_error(description: str) -> Response:
    response = jsonify({"error": "invalid_token", "error_description": description})
    response.status_code = 401
    response.headers["WWW-Authenticate"] = f'Bearer error="invalid_token", error_description="{description}"'
    return response


def _userinfo(provider: PscProvider) -> Response:
    """OIDC Core §5.3: the bearer token's professional, PSC-shaped (RFC 6750 §3 errors)."""
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        response = _bearer_error("missing bearer token")
        response.headers["WWW-Authenticate"] = "Bearer"
        return response
    record = provider.store.find(value.strip(), "access_token")
    if record is None or record.access_token != value.strip():
        return _bearer_error("unknown token")
    if record.is_revoked():
        return _bearer_error("token revoked")
    if record.is_expired():
        return _bearer_error("token expired")
    if "openid" not in record.scope.split():
        response = jsonify({"error": "insufficient_scope"})
        response.status_code = 403
        return response
    return jsonify(record.user.userinfo())


def _issue_token(server: AuthorizationServer, provider: PscProvider) -> Any:
    """Test shortcut for out-of-process plans: a client gets a token for ``sub`` without a browser (bound to
    its certificate when it authenticated by tls_client_auth, RFC 8705 §3)."""
    oauth_request = server.create_oauth2_request(request)
    try:
        client = server.authenticate_client(oauth_request, CLIENT_AUTH_METHODS, "issue_token")
    except OAuth2Error as error:
        return server.handle_error_response(request, error)
    ttl_text = request.form.get("ttl")
    try:
        ttl = int(ttl_text) if ttl_text else None
        token = provider.issue_token(request.form.get("sub", ""), client.get_client_id(), ttl=ttl,
                                     scope=request.form.get("scope", "openid scope_all"),
                                     x5t_s256=bound_thumbprint(oauth_request))
    except ValueError as exc:
        return jsonify({"error": "invalid_request", "error_description": str(exc)}), 400
    return jsonify({"access_token": token, "token_type": "Bearer",
                    "expires_in": provider.config.token_ttl if ttl is None else ttl})
