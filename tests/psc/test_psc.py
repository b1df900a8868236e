"""The PSC simulator over a real port with a real ``requests`` client: the whole code + PKCE flow
through the login form, and every way a token or a client must be refused."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests
from joserfc import jwt
from joserfc.jwk import KeySet

from harness.capture import recorder
from simulators.psc import PscConfig, PscProvider, start_psc

CLIENT, SECRET = "drimbox-consumer", "consumer-secret"
RS_CLIENT, RS_SECRET = "drimbox-source", "source-secret"  # the resource server that introspects
RPPS = "10001000001"
REDIRECT = "http://127.0.0.1:8765/auth/redirect"  # loopback: any port is allowed


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def clock():
    return Clock()


@pytest.fixture(scope="module")
def psc(clock):
    service = start_psc(provider=PscProvider(PscConfig(token_ttl=300), clock=clock))
    yield service
    service.stop()


def s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


def authorize(psc, verifier: str | None, method: str = "S256", redirect: str = REDIRECT, **extra):
    """GET the login page, pick the professional by its form button; returns the final response."""
    params = {"response_type": "code", "client_id": CLIENT, "redirect_uri": redirect,
              "scope": "openid scope_all", "state": "st-1", "nonce": "n-" + secrets.token_hex(4),
              "acr_values": "eidas1", **extra}
    if verifier is not None:
        params.update(code_challenge=s256(verifier) if method == "S256" else verifier,
                      code_challenge_method=method)
    page = requests.get(psc.endpoints["authorization"] + "?" + urlencode(params), allow_redirects=False,
                        timeout=10)
    if page.status_code != 200:
        return page, params
    action = re.search(r'<form method="post" action="([^"]+)"', page.text).group(1).replace("&amp;", "&")
    assert f'name="user" value="{RPPS}"' in page.text
    base = urlsplit(psc.endpoints["authorization"])
    return requests.post(f"{base.scheme}://{base.netloc}{action}", data={"user": RPPS},
                         allow_redirects=False, timeout=10), params


def get_code(psc, verifier: str) -> tuple[str, dict]:
    response, params = authorize(psc, verifier)
    assert response.status_code == 302, response.text
    query = parse_qs(urlsplit(response.headers["Location"]).query)
    assert response.headers["Location"].startswith(REDIRECT)
    assert query["state"] == ["st-1"]
    return query["code"][0], params


def exchange(psc, code: str, verifier: str | None, auth=(CLIENT, SECRET), post_auth: bool = False):
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT}
    if verifier is not None:
        data["code_verifier"] = verifier
    if post_auth:
        data.update(client_id=auth[0], client_secret=auth[1])
        auth = None
    return requests.post(psc.endpoints["token"], data=data, auth=auth, timeout=10)


def introspect(psc, token: str, auth=(RS_CLIENT, RS_SECRET)):
    return requests.post(psc.endpoints["introspect"], data={"token": token}, auth=auth, timeout=10)


def test_full_code_pkce_flow(psc):
    verifier = secrets.token_urlsafe(48)
    code, params = get_code(psc, verifier)
    response = exchange(psc, code, verifier)
    assert response.status_code == 200, response.text
    tokens = response.json()
    assert tokens["token_type"] == "Bearer" and tokens["expires_in"] == 300 and tokens["refresh_token"]

    jwks = KeySet.import_key_set(requests.get(psc.endpoints["jwks"], timeout=10).json())
    id_token = jwt.decode(tokens["id_token"], jwks)
    claims = id_token.claims
    assert id_token.header["alg"] == "RS256"
    assert claims["iss"] == psc.endpoints["issuer"] and CLIENT in claims["aud"]
    assert claims["nonce"] == params["nonce"] and claims["acr"] == "eidas1"
    assert claims["preferred_username"] == "8" + RPPS and "at_hash" in claims
    access = jwt.decode(tokens["access_token"], jwks).claims
    assert access["nonce"] == claims["nonce"] and access["sub"] == claims["sub"]  # as the ANS PoC checks

    info = requests.get(psc.endpoints["userinfo"], headers={"Authorization": "Bearer " + tokens["access_token"]},
                        timeout=10)
    assert info.status_code == 200
    body = info.json()
    assert body["SubjectNameID"] == "8" + RPPS and body["sub"] == claims["sub"]
    assert body["SubjectRefPro"]["exercices"][0]["codeProfession"] == "10"

    active = introspect(psc, tokens["access_token"]).json()
    assert active["active"] is True
    assert (active["sub"], active["client_id"], active["scope"]) == (claims["sub"], CLIENT, "openid scope_all")
    assert active["exp"] - active["iat"] == 300


def test_client_secret_post_and_code_single_use(psc):
    verifier = secrets.token_urlsafe(48)
    code, _ = get_code(psc, verifier)
    assert exchange(psc, code, verifier, post_auth=True).status_code == 200
    again = exchange(psc, code, verifier)
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"


def test_bad_pkce_verifier_rejected(psc):
    code, _ = get_code(psc, secrets.token_urlsafe(48))
    response = exchange(psc, code, secrets.token_urlsafe(48))
    assert response.status_code == 400 and response.json()["error"] == "invalid_grant"


def test_missing_verifier_rejected(psc):
    code, _ = get_code(psc, secrets.token_urlsafe(48))
    response = exchange(psc, code, None)
    assert response.status_code == 400 and response.json()["error"] == "invalid_request"


@pytest.mark.parametrize(("verifier", "method"), [(None, "S256"), ("x" * 50, "plain")])
def test_pkce_required_and_s256_only(psc, verifier, method):
    response, _ = authorize(psc, verifier, method)
    assert response.status_code == 302
    query = parse_qs(urlsplit(response.headers["Location"]).query)
    assert query["error"] == ["invalid_request"] and query["state"] == ["st-1"]


def test_wrong_client_secret_is_401(psc):
    verifier = secrets.token_urlsafe(48)
    code, _ = get_code(psc, verifier)
    response = exchange(psc, code, verifier, auth=(CLIENT, "wrong"))
    assert response.status_code == 401 and response.json()["error"] == "invalid_client"


def test_unregistered_redirect_uri_is_not_followed(psc):
    response, _ = authorize(psc, secrets.token_urlsafe(48), redirect="http://evil.example/cb")
    assert response.status_code == 400 and "Location" not in response.headers


def test_unknown_professional_refused(psc):
    verifier = secrets.token_urlsafe(48)
    query = urlencode({"response_type": "code", "client_id": CLIENT, "redirect_uri": REDIRECT, "scope": "openid",
                       "code_challenge": s256(verifier), "code_challenge_method": "S256"})
    response = requests.post(psc.endpoints["authorization"] + "?" + query, data={"user": "99999999999"},
                             allow_redirects=False, timeout=10)
    assert response.status_code == 400


def test_introspection_requires_client_auth(psc):
    token = psc.issue_token(RPPS, CLIENT)
    assert introspect(psc, token, auth=None).status_code == 401
    assert introspect(psc, token, auth=(RS_CLIENT, "wrong")).status_code == 401
    assert introspect(psc, token).json()["active"] is True
    assert introspect(psc, "not-a-token").json() == {"active": False}


def test_expired_token_inactive(psc, clock):
    token = psc.issue_token(RPPS, CLIENT, ttl=60)
    assert introspect(psc, token).json()["active"] is True
    clock.now += 61
    assert introspect(psc, token).json() == {"active": False}
    info = requests.get(psc.endpoints["userinfo"], headers={"Authorization": "Bearer " + token}, timeout=10)
    assert info.status_code == 401 and "invalid_token" in info.headers["WWW-Authenticate"]
    assert introspect(psc, psc.issue_token(RPPS, CLIENT, ttl=0)).json() == {"active": False}


def test_revoked_token_inactive(psc):
    token = psc.issue_token(RPPS, CLIENT)
    assert requests.post(psc.endpoints["revoke"], data={"token": token}, auth=(CLIENT, "wrong"),
                         timeout=10).status_code == 401
    assert introspect(psc, token).json()["active"] is True
    response = requests.post(psc.endpoints["revoke"], data={"token": token}, auth=(CLIENT, SECRET), timeout=10)
    assert response.status_code == 200
    assert introspect(psc, token).json() == {"active": False}


def test_refresh_token_rotates(psc):
    verifier = secrets.token_urlsafe(48)
    code, _ = get_code(psc, verifier)
    first = exchange(psc, code, verifier).json()
    data = {"grant_type": "refresh_token", "refresh_token": first["refresh_token"]}
    second = requests.post(psc.endpoints["token"], data=data, auth=(CLIENT, SECRET), timeout=10)
    assert second.status_code == 200, second.text
    assert introspect(psc, second.json()["access_token"]).json()["active"] is True
    reused = requests.post(psc.endpoints["token"], data=data, auth=(CLIENT, SECRET), timeout=10)
    assert reused.status_code == 400 and reused.json()["error"] == "invalid_grant"


def test_userinfo_needs_a_bearer(psc):
    assert requests.get(psc.endpoints["userinfo"], timeout=10).status_code == 401
    bad = requests.get(psc.endpoints["userinfo"], headers={"Authorization": "Bearer nope"}, timeout=10)
    assert bad.status_code == 401
    no_openid = psc.issue_token(RPPS, CLIENT, scope="scope_all")
    assert requests.get(psc.endpoints["userinfo"], headers={"Authorization": "Bearer " + no_openid},
                        timeout=10).status_code == 403


def test_discovery_and_jwks_consistent(psc):
    issuer = psc.endpoints["issuer"]
    assert issuer.endswith("/auth/realms/esante-wallet")
    doc = requests.get(psc.endpoints["discovery"], timeout=10).json()
    wallet = requests.get(issuer + "/.well-known/wallet-openid-configuration", timeout=10).json()
    assert doc == wallet and doc["issuer"] == issuer
    for name in ("authorization", "token", "userinfo", "introspect", "revoke", "jwks"):
        assert psc.endpoints[name] in doc.values()
    assert doc["code_challenge_methods_supported"] == ["S256"] and "eidas1" in doc["acr_values_supported"]
    assert "scope_all" in doc["scopes_supported"]
    jwks = requests.get(doc["jwks_uri"], timeout=10).json()
    assert [k["kty"] for k in jwks["keys"]] == ["RSA"] and "d" not in jwks["keys"][0]
    token = psc.issue_token(RPPS, CLIENT)
    assert jwt.decode(token, KeySet.import_key_set(jwks)).claims["iss"] == issuer


def test_issue_token_http_shortcut(psc):
    url = psc.endpoints["issue_token"]
    assert requests.post(url, data={"sub": RPPS}, timeout=10).status_code == 401
    response = requests.post(url, data={"sub": "8" + RPPS, "ttl": "120"}, auth=(CLIENT, SECRET), timeout=10)
    assert response.status_code == 200 and response.json()["expires_in"] == 120
    assert introspect(psc, response.json()["access_token"]).json()["active"] is True
    unknown = requests.post(url, data={"sub": "nobody"}, auth=(CLIENT, SECRET), timeout=10)
    assert unknown.status_code == 400


def test_issue_token_refuses_unknown_people_and_clients(psc):
    with pytest.raises(ValueError, match="professional"):
        psc.issue_token("nobody", CLIENT)
    with pytest.raises(ValueError, match="client"):
        psc.issue_token(RPPS, "nobody")


def test_exchanges_are_captured(psc):
    requests.get(psc.endpoints["jwks"], timeout=10)
    seen = [e for e in recorder().exchanges(actor="psc-simulator") if e.summary.endswith("/certs")]
    assert seen and seen[-1].status.startswith("200")


def test_expired_code_rejected(psc, clock):
    verifier = secrets.token_urlsafe(48)
    code, _ = get_code(psc, verifier)
    clock.now += psc.provider.config.code_ttl + 1
    response = exchange(psc, code, verifier)
    assert response.status_code == 400 and response.json()["error"] == "invalid_grant"


def test_no_acr_claim_unless_asked(psc):
    verifier = secrets.token_urlsafe(48)
    response, _ = authorize(psc, verifier, acr_values="")
    code = parse_qs(urlsplit(response.headers["Location"]).query)["code"][0]
    tokens = exchange(psc, code, verifier).json()
    jwks = KeySet.import_key_set(psc.provider.jwks())
    assert "acr" not in jwt.decode(tokens["id_token"], jwks).claims


def test_client_without_pkce_requirement(tmp_path):
    """The ANS PoC's confidential client sends no PKCE: allowed when the client is configured so."""
    users = tmp_path / "users.yaml"
    users.write_text(
        "users: [{rpps: '10001000001', given_name: A, family_name: B}]\n"
        "clients: [{client_id: poc, client_secret: s, redirect_uris: ['http://127.0.0.1/cb'], require_pkce: false}]\n",
        encoding="utf-8")
    with start_psc(PscConfig(users_file=users)) as service:
        query = urlencode({"response_type": "code", "client_id": "poc", "redirect_uri": "http://127.0.0.1:9/cb",
                           "scope": "openid scope_all", "state": "s"})
        response = requests.post(service.endpoints["authorization"] + "?" + query, data={"user": "10001000001"},
                                 allow_redirects=False, timeout=10)
        code = parse_qs(urlsplit(response.headers["Location"]).query)["code"][0]
        tokens = requests.post(service.endpoints["token"], auth=("poc", "s"), timeout=10, data={
            "grant_type": "authorization_code", "code": code, "redirect_uri": "http://127.0.0.1:9/cb"})
        assert tokens.status_code == 200 and "id_token" in tokens.json()


def test_long_dead_tokens_are_purged(psc, clock):
    from simulators.psc.provider import PURGE_EVERY

    old = psc.issue_token(RPPS, CLIENT, ttl=1)
    clock.now += 2 * 86400
    for _ in range(PURGE_EVERY):
        psc.issue_token(RPPS, CLIENT)
    assert psc.provider.store.find(old) is None


@pytest.mark.parametrize(("data", "auth", "status", "error"), [
    ({"grant_type": "password", "username": "x", "password": "y"}, (CLIENT, SECRET), 400, "unsupported_grant_type"),
    ({"grant_type": "authorization_code"}, (CLIENT, SECRET), 400, "invalid_request"),
    ({"grant_type": "authorization_code", "code": "nope", "redirect_uri": REDIRECT}, (CLIENT, SECRET), 400,
     "invalid_grant"),
    ({"grant_type": "authorization_code", "code": "nope"}, ("nobody", "x"), 401, "invalid_client"),
])
def test_token_endpoint_bad_requests(psc, data, auth, status, error):
    response = requests.post(psc.endpoints["token"], data=data, auth=auth, timeout=10)
    assert response.status_code == status and response.json()["error"] == error


def test_bad_introspection_and_oversized_requests(psc):
    missing = requests.post(psc.endpoints["introspect"], data={}, auth=(RS_CLIENT, RS_SECRET), timeout=10)
    assert missing.status_code == 400 and missing.json()["error"] == "invalid_request"
    garbled = requests.post(psc.endpoints["introspect"], data={"token": "x"}, timeout=10,
                            headers={"Authorization": "Basic %%%not-base64"})
    assert garbled.status_code == 401
    huge = requests.post(psc.endpoints["token"], data={"grant_type": "x" * 200_000}, auth=(CLIENT, SECRET),
                         timeout=10)
    assert huge.status_code == 413
    assert requests.get(psc.endpoints["jwks"], timeout=10).status_code == 200  # still serving
