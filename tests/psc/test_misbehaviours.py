"""PSC misbehaviours: each id_token defect fails exactly its OIDC Core §3.1.3.7 check; outages answer 503."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
import time
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests
from joserfc import jwt
from joserfc.errors import BadSignatureError
from joserfc.jwk import KeySet

from simulators.psc import PscConfig, start_psc
from simulators.psc.misbehaviours import MISBEHAVIOURS

CLIENT, SECRET, RPPS = "drimbox-consumer", "consumer-secret", "10001000001"
REDIRECT = "http://127.0.0.1:8765/auth/redirect"


@pytest.fixture(scope="module")
def psc():
    service = start_psc()
    yield service
    service.stop()


@pytest.fixture(autouse=True)
def behave(psc):
    yield
    psc.misbehave(None)


def login(psc) -> tuple[dict, str]:
    """Code + PKCE flow; returns the token response and the nonce sent."""
    verifier, nonce = secrets.token_urlsafe(48), secrets.token_hex(8)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    query = urlencode({"response_type": "code", "client_id": CLIENT, "redirect_uri": REDIRECT, "state": "s",
                       "scope": "openid scope_all", "nonce": nonce, "acr_values": "eidas1",
                       "code_challenge": challenge, "code_challenge_method": "S256"})
    page = requests.get(psc.endpoints["authorization"] + "?" + query, timeout=10)
    assert re.search(f'value="{RPPS}"', page.text)
    answer = requests.post(psc.endpoints["authorization"] + "?" + query, data={"user": RPPS},
                           allow_redirects=False, timeout=10)
    code = parse_qs(urlsplit(answer.headers["Location"]).query)["code"][0]
    tokens = requests.post(psc.endpoints["token"], auth=(CLIENT, SECRET), timeout=10, data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT, "code_verifier": verifier})
    assert tokens.status_code == 200, tokens.text
    return tokens.json(), nonce


def failed_checks(psc, id_token: str, nonce: str) -> set[str]:
    """The OIDC Core §3.1.3.7 checks a relying party would fail on this id_token."""
    jwks = KeySet.import_key_set(requests.get(psc.endpoints["jwks"], timeout=10).json())
    try:
        claims = jwt.decode(id_token, jwks).claims
    except BadSignatureError:
        return {"signature"}
    checks = {"issuer": claims.get("iss") == psc.endpoints["issuer"],
              "audience": CLIENT in claims.get("aud", []),
              "expiry": claims.get("exp", 0) > time.time(),
              "nonce": claims.get("nonce") == nonce,
              "acr": claims.get("acr") == "eidas1"}
    return {name for name, ok in checks.items() if not ok}


EXPECTED = {
    "id-token-bad-signature": {"signature"},
    "id-token-wrong-issuer": {"issuer"},
    "id-token-wrong-audience": {"audience"},
    "id-token-expired": {"expiry"},
    "id-token-wrong-nonce": {"nonce"},
    "id-token-no-acr": {"acr"},
}


def test_behaving_psc_passes_every_check(psc):
    tokens, nonce = login(psc)
    assert failed_checks(psc, tokens["id_token"], nonce) == set()


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_id_token_misbehaviour_fails_exactly_its_check(psc, name):
    psc.misbehave(name)
    tokens, nonce = login(psc)
    assert failed_checks(psc, tokens["id_token"], nonce) == EXPECTED[name]


@pytest.mark.parametrize(("name", "endpoint", "method"), [
    ("token-endpoint-unavailable", "token", "post"),
    ("userinfo-unavailable", "userinfo", "get"),
    ("introspection-unavailable", "introspect", "post"),
])
def test_outages_answer_503(psc, name, endpoint, method):
    token = psc.issue_token(RPPS, CLIENT)
    psc.misbehave(name)
    response = getattr(requests, method)(psc.endpoints[endpoint], data={"token": token}, auth=(CLIENT, SECRET),
                                         timeout=10)
    assert response.status_code == 503 and response.json()["error"] == "temporarily_unavailable"
    psc.misbehave(None)
    assert requests.post(psc.endpoints["introspect"], data={"token": token}, auth=(CLIENT, SECRET),
                         timeout=10).json()["active"] is True


def test_every_misbehaviour_is_tested_and_names_are_checked(psc):
    tested = set(EXPECTED) | {"token-endpoint-unavailable", "userinfo-unavailable", "introspection-unavailable"}
    assert tested == set(MISBEHAVIOURS)
    with pytest.raises(ValueError, match="unknown PSC misbehaviour"):
        psc.misbehave("lie-about-everything")
    with pytest.raises(ValueError):
        start_psc(PscConfig(misbehaviour="nope"))
