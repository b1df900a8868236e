"""The reference Consumer at Pro Santé Connect's token endpoint by mutual TLS (RFC 8705 §2.1 tls_client_auth,
no secret) against a PSC simulator over HTTPS that registers the Consumer for its certificate only."""

from __future__ import annotations

import argparse
import re
import time
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from harness.capture import recorder
from harness.tls import network_tls
from simulators.consumer import serve as consumer_serve
from simulators.consumer.config import ConsumerConfig
from simulators.consumer.reference import start_reference
from simulators.consumer.session import Login, LoginError, PscClient
from simulators.psc import PscConfig, start_psc
from simulators.psc.mtls import x5t_s256

PROFESSIONAL = "10001000002"


@pytest.fixture(scope="module")
def tls(tmp_path_factory):
    return network_tls(tmp_path_factory.mktemp("consumer-psc-mtls-pki"))


@pytest.fixture(scope="module")
def psc(tls):
    files = tls.files("psc")
    dn = tls.pki.certificate("consumer-client").subject.rfc4514_string()
    # client certificates asked, not demanded: the professional's browser reaches the login page without one
    with start_psc(PscConfig(tls_cert=files["cert"], tls_key=files["key"], client_ca=str(tls.ca),
                             client_subjects={"drimbox-consumer": dn})) as service:
        yield service


def _config(psc, tls, cert: bool = True) -> ConsumerConfig:
    return ConsumerConfig(psc_issuer=psc.endpoints["issuer"], public_url="https://127.0.0.1:8443",
                          psc_client_cert=tls.client("consumer-client") if cert else None)


def _browser_login(client: PscClient, login: Login, tls) -> tuple[str, str]:
    """The professional's browser at the PSC login page (no client certificate): (code, state)."""
    page = requests.get(client.authorization_url(login, "/"), verify=str(tls.ca), timeout=10)
    action = re.search(r'<form method="post" action="([^"]+)"', page.text).group(1).replace("&amp;", "&")
    base = urlsplit(client.config.psc("auth"))
    done = requests.post(f"{base.scheme}://{base.netloc}{action}", data={"user": PROFESSIONAL},
                         allow_redirects=False, verify=str(tls.ca), timeout=10)
    assert done.status_code == 302, done.text
    query = parse_qs(urlsplit(done.headers["Location"]).query)
    return query["code"][0], query["state"][0]


def _at_psc(path: str, marker: str, timeout: float = 10.0) -> list:
    """Exchanges the PSC simulator recorded at ``path`` whose request body holds ``marker``."""
    deadline = time.monotonic() + timeout
    while True:
        found = [e for e in recorder().exchanges(actor="psc-simulator")
                 if urlsplit(e.summary.split(" ", 1)[-1]).path.endswith(path) and marker.encode()
                 in e.request_body.read()]
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.02)


def test_code_exchange_and_refresh_by_certificate_without_a_secret(psc, tls):
    client = PscClient(_config(psc, tls))
    login = Login("sid")
    code, state = _browser_login(client, login, tls)
    client.finish(login, code, state)
    assert login.access_token and login.professional is not None
    assert login.professional.id == "8" + PROFESSIONAL
    [seen] = _at_psc("/token", code)
    assert seen.status == "200" and seen.tls_client == tls.pki.certificate("consumer-client").subject.rfc4514_string()
    assert not [k for k, _v in seen.request_headers if k.lower() == "authorization"]
    body = seen.request_body.read().decode()
    assert "client_secret" not in body and "client_id=drimbox-consumer" in body
    # the token is bound to the Consumer's certificate (RFC 8705 §3), the one it presents to Sources
    record = psc.provider.store.find(login.access_token)
    assert record is not None and record.x5t_s256 == x5t_s256(tls.pki.certificate("consumer-client"))
    first, refresh_token = login.access_token, login.refresh_token
    assert client.refresh(login) and login.access_token != first
    [again] = _at_psc("/token", refresh_token)
    assert "client_secret" not in again.request_body.read().decode() and again.tls_client == seen.tls_client


def test_a_consumer_sending_its_secret_is_refused(psc, tls):
    client = PscClient(_config(psc, tls, cert=False))
    login = Login("sid")
    code, state = _browser_login(client, login, tls)
    with pytest.raises(LoginError, match=r"401.*invalid_client"):
        client.finish(login, code, state)


def test_start_reference_carries_the_certificate(tmp_path, tls):
    peers = {"registry": "https://127.0.0.1:1/registry", "repository": "https://127.0.0.1:1/repository",
             "psc_issuer": "https://127.0.0.1:1/auth/realms/esante-wallet"}
    with start_reference(None, tmp_path, peers={**peers, "psc_client_cert": tls.client("consumer-client")}) as ref:
        assert ref.config.psc_client_cert == tls.client("consumer-client")
    with start_reference(None, tmp_path / "default", peers=peers) as ref:
        assert ref.config.psc_client_cert is None  # default: the secret, as before


def _args(*argv: str, tls=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    consumer_serve.add_arguments(parser)
    args = parser.parse_args(list(argv))
    args.tls = tls
    return args


HTTPS_PSC = "https://127.0.0.1:1/auth/realms/esante-wallet"


def test_serve_defaults_to_the_consumer_client_certificate_in_tls_mode(tls):
    creds = consumer_serve.psc_credentials
    assert creds(_args("--psc-issuer", HTTPS_PSC, tls=tls)) == ("drimbox-consumer", "", tls.client("consumer-client"))
    assert creds(_args("--psc-issuer", HTTPS_PSC)) == ("drimbox-consumer", "consumer-secret", None)  # --plain-http
    assert creds(_args("--psc-issuer", "http://127.0.0.1:1/realm", tls=tls)) == (
        "drimbox-consumer", "consumer-secret", None)  # a plain-HTTP PSC sees no certificate
    assert creds(_args("--psc-issuer", HTTPS_PSC, "--psc-client", "me:s3", tls=tls)) == ("me", "s3", None)
    assert creds(_args("--psc-client", "me:s3", "--psc-client-cert", "c.pem", "--psc-client-key", "k.pem")) == (
        "me", "", ("c.pem", "k.pem"))
    with pytest.raises(SystemExit, match="go together"):
        creds(_args("--psc-client-key", "k.pem"))
