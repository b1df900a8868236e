"""Clients registered for tls_client_auth only (RFC 8705 §2.1.2) and certificate-bound tokens (§3), over a
real HTTPS port with the network test PKI: the certificate authenticates, a secret is refused with 401
invalid_client (RFC 6749 §5.2), introspection answers carry ``cnf.x5t#S256``, the capture names the
client certificate."""

from __future__ import annotations

import argparse
import base64
import hashlib
import re
import secrets
import time
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from joserfc import jwt

from harness.capture import recorder
from harness.tls import network_tls
from simulators.psc import PscConfig, PscConfigError, start_psc
from simulators.psc import serve as psc_serve
from simulators.psc.config import Client, load_users
from simulators.psc.mtls import x5t_s256

RPPS = "10001000001"
REDIRECT = "https://127.0.0.1:8765/auth/redirect"  # loopback: any port is allowed (RFC 8252 §7.3)


@pytest.fixture(scope="module")
def tls(tmp_path_factory):
    return network_tls(tmp_path_factory.mktemp("psc-mtls-pki"))


def _dn(tls, name: str) -> str:
    return tls.pki.certificate(name).subject.rfc4514_string()


def _thumbprint(tls, name: str) -> str:
    der = tls.pki.certificate(name).public_bytes(Encoding.DER)
    return base64.urlsafe_b64encode(hashlib.sha256(der).digest()).rstrip(b"=").decode()


@pytest.fixture(scope="module")
def psc(tls):
    files = tls.files("psc")
    config = PscConfig(tls_cert=files["cert"], tls_key=files["key"], client_ca=str(tls.ca),
                       client_subjects={"drimbox-consumer": _dn(tls, "consumer-client"),
                                        "drimbox-source": _dn(tls, "source-client")})
    with start_psc(config) as service:
        yield service


def _post(tls, url: str, data: dict, cert: str | None = None, auth: tuple[str, str] | None = None):
    return requests.post(url, data=data, cert=tls.client(cert) if cert else None, auth=auth, verify=str(tls.ca),
                         timeout=10)


def _code(psc, tls) -> tuple[str, str]:
    """(code, verifier) of a login of drimbox-consumer through the login form."""
    verifier = secrets.token_urlsafe(32)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    params = {"response_type": "code", "client_id": "drimbox-consumer", "redirect_uri": REDIRECT,
              "scope": "openid scope_all", "state": "st", "nonce": secrets.token_hex(4), "acr_values": "eidas1",
              "code_challenge": challenge, "code_challenge_method": "S256"}
    page = requests.get(psc.endpoints["authorization"] + "?" + urlencode(params), verify=str(tls.ca), timeout=10)
    action = re.search(r'<form method="post" action="([^"]+)"', page.text).group(1).replace("&amp;", "&")
    base = urlsplit(psc.endpoints["authorization"])
    done = requests.post(f"{base.scheme}://{base.netloc}{action}", data={"user": RPPS}, allow_redirects=False,
                         verify=str(tls.ca), timeout=10)
    assert done.status_code == 302, done.text
    return parse_qs(urlsplit(done.headers["Location"]).query)["code"][0], verifier


def _exchange_form(code: str, verifier: str) -> dict[str, str]:
    return {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT, "code_verifier": verifier,
            "client_id": "drimbox-consumer"}


def _introspect(psc, tls, token: str, cert: str | None = "source-client", **extra: str):
    return _post(tls, psc.endpoints["introspect"], {"token": token, "client_id": "drimbox-source", **extra},
                 cert=cert)


def test_discovery_lists_tls_client_auth_and_bound_tokens(psc, tls):
    doc = requests.get(psc.endpoints["discovery"], verify=str(tls.ca), timeout=10).json()
    assert "tls_client_auth" in doc["token_endpoint_auth_methods_supported"]
    assert "tls_client_auth" in doc["introspection_endpoint_auth_methods_supported"]
    assert doc["tls_client_certificate_bound_access_tokens"] is True


def test_code_exchange_by_certificate_gives_a_bound_token(psc, tls):
    code, verifier = _code(psc, tls)
    resp = _post(tls, psc.endpoints["token"], _exchange_form(code, verifier), cert="consumer-client")
    assert resp.status_code == 200, resp.text
    tokens = resp.json()
    thumb = _thumbprint(tls, "consumer-client")
    claims = jwt.decode(tokens["access_token"], psc.provider.public_keys()).claims
    assert claims["cnf"] == {"x5t#S256": thumb}  # RFC 8705 §3.1
    answer = _introspect(psc, tls, tokens["access_token"])
    assert answer.status_code == 200, answer.text
    assert answer.json()["active"] is True and answer.json()["cnf"] == {"x5t#S256": thumb}  # §3.2
    refreshed = _post(tls, psc.endpoints["token"], {"grant_type": "refresh_token", "client_id": "drimbox-consumer",
                                                    "refresh_token": tokens["refresh_token"]}, cert="consumer-client")
    assert refreshed.status_code == 200, refreshed.text
    assert _introspect(psc, tls, refreshed.json()["access_token"]).json()["cnf"] == {"x5t#S256": thumb}


@pytest.mark.parametrize(("cert", "how"), [("consumer-client", "basic"), ("consumer-client", "post"),
                                           (None, "basic"), (None, "post")])
def test_a_secret_from_a_tls_client_auth_client_is_refused(psc, tls, cert, how):
    code, verifier = _code(psc, tls)
    form = _exchange_form(code, verifier)
    if how == "post":
        form["client_secret"] = "consumer-secret"
    resp = _post(tls, psc.endpoints["token"], form, cert=cert,
                 auth=("drimbox-consumer", "consumer-secret") if how == "basic" else None)
    assert resp.status_code == 401, resp.text
    assert resp.json()["error"] == "invalid_client"
    assert "tls_client_auth" in resp.json()["error_description"]


def test_introspection_by_certificate_only(psc, tls):
    token = psc.issue_token(RPPS, "drimbox-consumer")
    answer = _introspect(psc, tls, token)
    assert answer.status_code == 200 and answer.json()["active"] is True
    assert "cnf" not in answer.json()  # issued without a certificate: not bound
    for refused in (_introspect(psc, tls, token, client_secret="source-secret"),
                    _introspect(psc, tls, token, cert=None, client_secret="source-secret"),
                    _post(tls, psc.endpoints["introspect"], {"token": token}, cert="source-client",
                          auth=("drimbox-source", "source-secret")),
                    _introspect(psc, tls, token, cert=None),
                    _introspect(psc, tls, token, cert="consumer-client"),  # another client's subject
                    _introspect(psc, tls, token, cert="outsider-client")):
        assert refused.status_code == 401, refused.text
        assert refused.json()["error"] == "invalid_client"


def test_issue_token_shortcut_binds_to_the_certificate(psc, tls):
    resp = _post(tls, psc.endpoints["issue_token"], {"sub": RPPS, "client_id": "drimbox-consumer"},
                 cert="consumer-client")
    assert resp.status_code == 200, resp.text
    assert _introspect(psc, tls, resp.json()["access_token"]).json()["cnf"] == {
        "x5t#S256": _thumbprint(tls, "consumer-client")}
    refused = _post(tls, psc.endpoints["issue_token"], {"sub": RPPS, "client_id": "drimbox-consumer",
                                                        "client_secret": "consumer-secret"})
    assert refused.status_code == 401 and refused.json()["error"] == "invalid_client"
    bound = psc.issue_token(RPPS, "drimbox-consumer", x5t_s256="abc")
    assert _introspect(psc, tls, bound).json()["cnf"] == {"x5t#S256": "abc"}


def _captured(match, timeout: float = 10.0) -> list:
    """Exchanges of the PSC simulator that ``match``, waiting (bounded): it records once the answer is sent."""
    deadline = time.monotonic() + timeout
    while True:
        found = [e for e in recorder().exchanges(actor="psc-simulator") if match(e)]
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.02)


def test_capture_names_the_client_certificate(psc, tls):
    token = psc.issue_token(RPPS, "drimbox-consumer")
    assert _introspect(psc, tls, token).status_code == 200
    seen = _captured(lambda e: e.summary.endswith("/token/introspect") and token.encode() in e.request_body.read())
    assert seen, "the introspection was not captured"
    assert seen[-1].tls_client == _dn(tls, "source-client")
    assert seen[-1].to_json()["tls_client"] == _dn(tls, "source-client")
    assert not any(k.lower() == "authorization" for k, _v in seen[-1].request_headers)
    marker = secrets.token_hex(4)
    assert requests.get(psc.endpoints["jwks"] + "?m=" + marker, verify=str(tls.ca), timeout=10).status_code == 200
    [jwks] = _captured(lambda e: e.summary.endswith("/certs?m=" + marker))
    assert jwks.tls_client == "" and "tls_client" not in jwks.to_json()  # no certificate presented


def test_thumbprint_is_base64url_sha256_of_the_der(tls):
    cert: x509.Certificate = tls.pki.certificate("source-client")
    assert x5t_s256(cert) == _thumbprint(tls, "source-client")
    assert "=" not in x5t_s256(cert) and len(x5t_s256(cert)) == 43


def test_client_subjects_make_clients_tls_only():
    users, clients = load_users(PscConfig().users_file)
    config = PscConfig(users=users, clients=clients, client_subjects={"drimbox-source": "CN=a,O=b"}).load()
    source = next(c for c in config.clients if c.client_id == "drimbox-source")
    assert source.tls_only and source.token_endpoint_auth_method == "tls_client_auth"
    assert source.tls_client_subject == "CN=a,O=b"
    assert not next(c for c in config.clients if c.client_id == "drimbox-consumer").tls_only
    assert config.load().clients == config.clients  # idempotent
    assert Client("x", "", tls_client_subject="CN=a").tls_only  # derived: a subject and no secret
    assert not Client("x", "s", tls_client_subject="CN=a").tls_only  # both ways, as before
    with pytest.raises(PscConfigError, match="unknown client nobody"):
        PscConfig(client_subjects={"nobody": "CN=a"}).load()
    with pytest.raises(PscConfigError, match="empty subject"):
        PscConfig(client_subjects={"drimbox-source": " "}).load()


@pytest.mark.parametrize(("text", "message"), [
    ("clients: [{client_id: a, token_endpoint_auth_method: tls_client_auth}]", "needs tls_client_subject"),
    ("clients: [{client_id: a, client_secret: s, token_endpoint_auth_method: private_key_jwt}]", "must be one of"),
    ("clients: [{client_id: a}]", "cannot authenticate"),
])
def test_users_file_checks_the_auth_method(tmp_path, text, message):
    path = tmp_path / "users.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(PscConfigError, match=message):
        load_users(path)


def test_users_file_registers_a_tls_client_auth_client(tmp_path):
    path = tmp_path / "users.yaml"
    path.write_text("clients: [{client_id: a, tls_client_subject: 'CN=a', "
                    "token_endpoint_auth_method: tls_client_auth}]", encoding="utf-8")
    [client] = load_users(path)[1]
    assert client.tls_only and client.client_secret == ""


def _serve_args(*argv: str, tls=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--host", default="127.0.0.1")
    psc_serve.add_arguments(parser)
    args = parser.parse_args(list(argv))
    args.tls = tls
    return args


def test_serve_client_subject_option(tls):
    dn = _dn(tls, "outsider-client")
    service = psc_serve.start(_serve_args("--client-subject", f"drimbox-source={dn}", tls=tls))
    try:
        clients = {c.client_id: c for c in service.provider.config.clients}
        assert clients["drimbox-source"].tls_only and clients["drimbox-source"].tls_client_subject == dn
        assert not clients["drimbox-consumer"].tls_only  # only what was named
    finally:
        service.stop()


def test_serve_registers_the_network_drimboxes_by_default_in_tls_mode(tls):
    service = psc_serve.start(_serve_args(tls=tls))
    try:
        clients = {c.client_id: c for c in service.provider.config.clients}
        assert clients["drimbox-source"].tls_client_subject == _dn(tls, "source-client")
        assert clients["drimbox-consumer"].tls_client_subject == _dn(tls, "consumer-client")
        assert clients["drimbox-source"].tls_only and not clients["drimcheck"].tls_only
    finally:
        service.stop()


@pytest.mark.parametrize(("argv", "message"), [
    (("--client-subject", "drimbox-source"), "expected CLIENT_ID=DN"),
    (("--client-subject", "=CN=a"), "expected CLIENT_ID=DN"),
    (("--client-subject", "drimbox-source=CN=a"), "needs HTTPS"),  # --plain-http
    (("--client-subject", "nobody=CN=a", "--tls-cert", "c.pem", "--tls-key", "k.pem", "--client-ca", "ca.pem"),
     "unknown client nobody"),
])
def test_serve_client_subject_refusals(argv, message):
    with pytest.raises(SystemExit, match=message):
        psc_serve.start(_serve_args(*argv))
