"""HTTPS and mutual TLS (RFC 8705 §2.1 tls_client_auth) of the PSC simulator, over a real TLS port."""

from __future__ import annotations

import pytest
import requests

from simulators.psc import PscConfig, start_psc
from simulators.psc.config import DEFAULT_USERS, load_users
from simulators.psc.mtls import same_dn, server_context

RPPS = "10001000001"


def _config(pki, client_cert: str) -> PscConfig:
    users, clients = load_users(DEFAULT_USERS)
    clients = [c if c.client_id != "drimbox-source" else
               type(c)(**{**c.__dict__, "tls_client_subject": pki["drimbox-source_dn"]}) for c in clients]
    return PscConfig(users=users, clients=clients, tls_cert=pki["server_cert"], tls_key=pki["server_key"],
                     client_ca=pki["ca"], client_cert=client_cert)


@pytest.fixture(scope="module")
def psc_tls(pki):
    service = start_psc(_config(pki, "optional"))
    yield service
    service.stop()


def test_https_issuer_and_discovery(psc_tls, pki):
    assert psc_tls.endpoints["issuer"].startswith("https://127.0.0.1:")
    doc = requests.get(psc_tls.endpoints["discovery"], verify=pki["ca"], timeout=10).json()
    assert doc["issuer"] == psc_tls.endpoints["issuer"]
    assert "tls_client_auth" in doc["introspection_endpoint_auth_methods_supported"]


def test_introspection_by_client_certificate(psc_tls, pki):
    token = psc_tls.issue_token(RPPS, "drimbox-consumer")
    url = psc_tls.endpoints["introspect"]
    good = (pki["drimbox-source_cert"], pki["drimbox-source_key"])
    ok = requests.post(url, data={"token": token, "client_id": "drimbox-source"}, cert=good, verify=pki["ca"],
                       timeout=10)
    assert ok.status_code == 200 and ok.json()["active"] is True
    other = (pki["intruder_cert"], pki["intruder_key"])
    wrong = requests.post(url, data={"token": token, "client_id": "drimbox-source"}, cert=other,
                          verify=pki["ca"], timeout=10)
    assert wrong.status_code == 401
    none = requests.post(url, data={"token": token, "client_id": "drimbox-source"}, verify=pki["ca"], timeout=10)
    assert none.status_code == 401
    # a client without a registered subject cannot use its certificate
    assert requests.post(url, data={"token": token, "client_id": "drimbox-consumer"}, cert=good,
                         verify=pki["ca"], timeout=10).status_code == 401
    # secrets still work over HTTPS
    assert requests.post(url, data={"token": token}, auth=("drimbox-source", "source-secret"), verify=pki["ca"],
                         timeout=10).json()["active"] is True


def test_required_client_certificate_refuses_handshake(pki):
    with start_psc(_config(pki, "required")) as service:
        with pytest.raises(requests.exceptions.RequestException):
            requests.get(service.endpoints["jwks"], verify=pki["ca"], timeout=10)
        good = (pki["drimbox-source_cert"], pki["drimbox-source_key"])
        assert requests.get(service.endpoints["jwks"], cert=good, verify=pki["ca"], timeout=10).status_code == 200


def test_server_context_policy_is_checked(pki):
    with pytest.raises(ValueError, match="client_auth"):
        server_context(pki["server_cert"], pki["server_key"], pki["ca"], "sometimes")


def test_same_dn():
    assert same_dn("CN=a,O=DRIMcheck test", "o=DRIMcheck test, cn=a")
    assert not same_dn("CN=a,O=x", "CN=b,O=x")
