"""A running PSC simulator on a loopback port (for plans, tests and ``drimcheck serve psc``)."""

from __future__ import annotations

from dataclasses import dataclass

from harness.servers import LOOPBACK, RunningServer, serve_wsgi
from simulators.psc.app import ISSUE_TOKEN_PATH, OIDC, create_app
from simulators.psc.config import PscConfig
from simulators.psc.misbehaviours import check_name
from simulators.psc.mtls import server_context
from simulators.psc.provider import PscProvider


@dataclass
class Service:
    """``endpoints``: issuer, discovery, authorization, token, userinfo, introspect, revoke, jwks."""

    provider: PscProvider
    server: RunningServer
    endpoints: dict[str, str]

    def issue_token(self, sub: str, client_id: str, ttl: int | None = None, scope: str = "openid scope_all",
                    acr: str | None = "eidas1", x5t_s256: str | None = None) -> str:
        """Access token for professional ``sub`` (RPPS, ``8``+RPPS or OIDC sub) without a browser flow;
        bound to a client certificate (RFC 8705 §3) by its ``x5t_s256`` (``simulators.psc.mtls.x5t_s256``)."""
        return self.provider.issue_token(sub, client_id, ttl=ttl, scope=scope, acr=acr, x5t_s256=x5t_s256)

    def revoke(self, token: str) -> bool:
        return self.provider.revoke(token)

    def misbehave(self, name: str | None) -> None:
        """Switch on one misbehaviour of ``simulators.psc.misbehaviours.MISBEHAVIOURS`` (None: behave)."""
        self.provider.misbehaviour = check_name(name)

    def stop(self) -> None:
        self.server.stop()

    def __enter__(self) -> Service:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def endpoints_for(issuer: str) -> dict[str, str]:
    base = issuer + OIDC
    return {"issuer": issuer, "discovery": issuer + "/.well-known/openid-configuration",
            "authorization": base + "/auth", "token": base + "/token", "userinfo": base + "/userinfo",
            "introspect": base + "/token/introspect", "revoke": base + "/revoke", "jwks": base + "/certs",
            "issue_token": issuer + ISSUE_TOKEN_PATH}


def start_psc(config: PscConfig | None = None, port: int = 0, host: str = LOOPBACK,
              provider: PscProvider | None = None) -> Service:
    """Start the simulator; the issuer is ``http(s)://host:port/auth/realms/esante-wallet`` unless configured.

    HTTPS when ``config.tls_cert``/``tls_key`` are set; mutual TLS when ``config.client_ca`` is too.
    """
    provider = provider or PscProvider(config or PscConfig())
    cfg = provider.config
    context = server_context(cfg.tls_cert, cfg.tls_key, cfg.client_ca, cfg.client_cert) \
        if cfg.tls_cert and cfg.tls_key else None
    server = serve_wsgi(create_app(provider=provider), "psc-simulator", port=port, host=host, ssl_context=context)
    provider.base_url = f"{'https' if context else 'http'}://{server.host}:{server.port}"
    return Service(provider, server, endpoints_for(provider.issuer))
