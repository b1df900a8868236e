"""Ways the PSC simulator can be told to misbehave, so a plan can check that a DRIMbox notices.

PSC is a peer here, not an actor under test: these are not faults of a reference implementation
(no requirement of PSC breaks) but stimuli. A Consumer must refuse an id_token that fails one of
the checks of OpenID Connect Core §3.1.3.7; a Source must not serve images when it cannot
introspect the token (fail closed). Switch one on with ``Service.misbehave(name)`` (or
``PscConfig.misbehaviour``); ``misbehave(None)`` restores the correct behaviour.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from joserfc import jwt
from joserfc.jwk import RSAKey

# name -> what the simulator does wrong (OIDC Core §3.1.3.7 step numbers for id_token checks)
MISBEHAVIOURS: dict[str, str] = {
    "id-token-bad-signature": "id_token signed by a key that is not in the JWKS (step 6)",
    "id-token-wrong-issuer": "id_token iss is not the issuer of the discovery document (step 2)",
    "id-token-wrong-audience": "id_token aud does not contain the client_id (step 3)",
    "id-token-expired": "id_token exp is in the past (step 9)",
    "id-token-wrong-nonce": "id_token nonce differs from the one sent in the authorization request (step 11)",
    "id-token-no-acr": "id_token carries no acr although acr_values=eidas1 was asked (step 12)",
    "token-endpoint-unavailable": "the token endpoint answers 503",
    "userinfo-unavailable": "the userinfo endpoint answers 503",
    "introspection-unavailable": "the introspection endpoint answers 503",
}

UNAVAILABLE = {"token-endpoint-unavailable": "token", "userinfo-unavailable": "userinfo",
               "introspection-unavailable": "introspection"}


def check_name(name: str | None) -> str | None:
    if name is not None and name not in MISBEHAVIOURS:
        raise ValueError(f"unknown PSC misbehaviour {name!r}; known: {', '.join(MISBEHAVIOURS)}")
    return name


def _claims_edit(name: str) -> Callable[[dict[str, Any]], None]:
    def edit(claims: dict[str, Any]) -> None:
        if name == "id-token-wrong-issuer":
            claims["iss"] = claims["iss"] + "-other"
        elif name == "id-token-wrong-audience":
            claims["aud"], claims["azp"] = ["another-client"], "another-client"
        elif name == "id-token-expired":
            claims["iat"], claims["exp"] = int(time.time()) - 7200, int(time.time()) - 3600
        elif name == "id-token-wrong-nonce":
            claims["nonce"] = "not-the-nonce-you-sent"
        elif name == "id-token-no-acr":
            claims.pop("acr", None)
    return edit


def tamper_id_token(id_token: str, name: str, key: RSAKey, rogue_key: RSAKey) -> str:
    """Re-issue ``id_token`` (signed by ``key``) with the defect ``name``."""
    decoded = jwt.decode(id_token, key)
    claims = dict(decoded.claims)
    _claims_edit(name)(claims)
    signer = rogue_key if name == "id-token-bad-signature" else key
    header = {**decoded.header, "kid": key.kid}  # the rogue key hides behind the real kid
    return jwt.encode(header, claims, signer)


def tamper_token_response(body: bytes, name: str, key: RSAKey, rogue_key: RSAKey) -> bytes:
    """Token endpoint JSON with its id_token re-issued wrong; other bodies unchanged."""
    try:
        data = json.loads(body)
    except ValueError:
        return body
    if isinstance(data, dict) and "id_token" in data:
        data["id_token"] = tamper_id_token(data["id_token"], name, key, rogue_key)
        return json.dumps(data).encode()
    return body
