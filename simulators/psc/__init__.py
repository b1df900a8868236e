"""Pro Santé Connect simulator: the OpenID Connect provider of health professionals (ANS PoC, ANS FAQ).

Paths as PSC (Keycloak realm ``esante-wallet``), under ``<base>/auth/realms/esante-wallet``:
``.well-known/openid-configuration`` (also ``wallet-openid-configuration``), and
``protocol/openid-connect/{auth,token,userinfo,token/introspect,revoke,certs}``.

- ``start_psc(config=None, port=0) -> Service``: serve it on loopback (HTTPS / mTLS when configured);
  ``Service.endpoints`` (issuer, discovery, authorization, token, userinfo, introspect, revoke, jwks,
  issue_token), ``Service.issue_token(sub, client_id, ttl=None, scope="openid scope_all")`` gives plans
  a token without a browser, ``Service.revoke(token)``, ``Service.stop()``.
- ``create_app(config)``: the WSGI app (captured as ``psc-simulator``).
- ``PscConfig``: users file (``users.yaml`` here by default), token/code/refresh TTLs, TLS files.
"""

from simulators.psc.app import create_app
from simulators.psc.config import Client, PscConfig, PscConfigError, User
from simulators.psc.provider import PscProvider
from simulators.psc.service import Service, start_psc

__all__ = ["Client", "PscConfig", "PscConfigError", "PscProvider", "Service", "User", "create_app", "start_psc"]
