"""Control point C17 from outside: ``drimcheck serve all --demo`` started as its own process, probed as a
peer would, over the network only.

- every HTTP endpoint it prints is ``https://`` and answers with a chain to the test PKI's root;
- TLS 1.1 is refused by the server (RFC 8996 deprecates TLS 1.0 and 1.1), plain HTTP on a TLS port gets no
  HTTP answer;
- the Source's WADO-RS demands a client certificate (DRIMboxes authenticate each other with IGC-Santé
  certificates): none, one from another CA, or one of the PKI whose subject the whitelist does not name is
  refused; the Consumer's ORG AUTH CLI certificate with a Pro Santé Connect token is served;
- Pro Santé Connect authenticates the DRIMboxes by their ORG AUTH CLI certificates (RFC 8705 §2.1
  tls_client_auth) and refuses their secrets, so the Source that served a token introspected it by
  certificate; the token is bound to the Consumer's certificate (§3).
"""

from __future__ import annotations

import socket
import ssl
import warnings
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests

from harness.pki import Pki
from tests.blackbox.products import Product, serve

PROFESSIONAL = "10001000002"  # a test professional of simulators/psc/users.yaml


@pytest.fixture(scope="module")
def network(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Product, Path]]:
    folder = tmp_path_factory.mktemp("tls-network")
    pki = folder / "pki"
    with serve(["all", "--demo", "--workdir", str(folder / "network-data"), "--pki", str(pki)], folder,
               timeout=120) as product:
        yield product, pki


def _host_port(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    return parts.hostname or "127.0.0.1", int(parts.port or 443)


def _handshake(url: str, context: ssl.SSLContext) -> str:
    """'ok' or the TLS error the handshake ended with."""
    host, port = _host_port(url)
    try:
        with socket.create_connection((host, port), timeout=10) as raw, \
                context.wrap_socket(raw, server_hostname=host) as tls:
            tls.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            tls.recv(1)  # a TLS 1.3 server sends its refusal of a client certificate after the handshake
            return "ok"
    except (ssl.SSLError, OSError) as exc:
        return str(exc)


def test_every_endpoint_is_https_with_the_pki_chain(network):
    product, pki = network
    urls = [url for name, eps in product.endpoints.items() if name not in ("demo", "tls")
            for url in eps.values() if "://" in url]
    assert urls, product.output
    assert [u for u in urls if not u.startswith("https://")] == []
    base = product.endpoints["dmp"]["base"]
    context = ssl.create_default_context(cafile=str(pki / "ca.pem"))
    assert _handshake(base, context) == "ok"


def test_tls_1_1_is_refused_by_the_server(network):
    product, pki = network
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.load_verify_locations(str(pki / "ca.pem"))
    context.set_ciphers("DEFAULT:@SECLEVEL=0")  # the client offers TLS 1.1 for real: the refusal is the server's
    with warnings.catch_warnings():  # the client offers the deprecated version on purpose
        warnings.simplefilter("ignore", DeprecationWarning)
        context.minimum_version = ssl.TLSVersion.TLSv1_1
        context.maximum_version = ssl.TLSVersion.TLSv1_1
    for name in ("dmp", "consumer", "psc"):
        outcome = _handshake(product.endpoints[name]["base" if name != "psc" else "issuer"], context)
        assert "protocol version" in outcome.lower() or "unsupported protocol" in outcome.lower(), (name, outcome)


def test_plain_http_gets_no_http_answer(network):
    product, _pki = network
    host, port = _host_port(product.endpoints["dmp"]["base"])
    with socket.create_connection((host, port), timeout=10) as sock:
        sock.sendall(b"GET /registry HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        answer = b""
        try:
            while chunk := sock.recv(4096):
                answer += chunk
        except OSError:
            pass
    assert not answer.startswith(b"HTTP/1.1 200"), answer[:200]


def _client(pki: Path, name: str) -> tuple[str, str]:
    return str(pki / f"{name}.pem"), str(pki / f"{name}.key")


def _token(product: Product, pki: Path) -> str:
    """A token of drimbox-consumer, which PSC authenticates by its certificate only (RFC 8705 §2.1)."""
    issuer = product.endpoints["psc"]["issue_token"]
    resp = requests.post(issuer, data={"sub": PROFESSIONAL, "client_id": "drimbox-consumer"},
                         cert=_client(pki, "consumer-client"), verify=str(pki / "ca.pem"), timeout=30)
    assert resp.status_code == 200, resp.text
    return resp.json()["access_token"]


def _study_url(product: Product) -> str:
    study = product.endpoints["demo"]["study"].split()[-1]  # printed as "demo  study UID  <uid>"
    return f"{product.endpoints['source']['wado_rs']}/studies/{study}/metadata"


def test_source_serves_the_consumers_certificate_with_a_token(network):
    product, pki = network
    kos = product.endpoints["demo"]["KOS"].split()[-1]  # printed as "demo  KOS UID  <uid>"
    resp = requests.get(_study_url(product), headers={"Authorization": f"Bearer {_token(product, pki)}",
                                                      "KOS-SOPInstanceUID": kos, "Accept": "application/dicom+json"},
                        cert=_client(pki, "consumer-client"),
                        verify=str(pki / "ca.pem"), timeout=30)
    assert resp.status_code == 200, resp.text
    assert len(resp.json()) == int(product.endpoints["demo"]["instances"])
    assert product.endpoints["tls"]["trust_anchor"] == str(pki / "ca.pem")


def test_psc_authenticates_the_drimboxes_by_certificate_only(network):
    """The Source served a token (above), and PSC refuses drimbox-source's secret: the Source introspected by
    its certificate. The introspection answer binds the token to the Consumer's certificate (RFC 8705 §3)."""
    product, pki = network
    psc, ca = product.endpoints["psc"], str(pki / "ca.pem")
    token = _token(product, pki)
    by_secret = requests.post(psc["introspect"], data={"token": token}, auth=("drimbox-source", "source-secret"),
                              verify=ca, timeout=30)
    assert by_secret.status_code == 401 and by_secret.json()["error"] == "invalid_client", by_secret.text
    by_cert = requests.post(psc["introspect"], data={"token": token, "client_id": "drimbox-source"},
                            cert=_client(pki, "source-client"), verify=ca, timeout=30)
    assert by_cert.status_code == 200 and by_cert.json()["active"] is True, by_cert.text
    assert set(by_cert.json()["cnf"]) == {"x5t#S256"}
    refused = requests.post(psc["issue_token"], data={"sub": PROFESSIONAL, "client_id": "drimbox-consumer",
                                                      "client_secret": "consumer-secret"},
                            cert=_client(pki, "consumer-client"), verify=ca, timeout=30)
    assert refused.status_code == 401 and refused.json()["error"] == "invalid_client", refused.text
    doc = requests.get(psc["discovery"], verify=ca, timeout=30).json()
    assert "tls_client_auth" in doc["introspection_endpoint_auth_methods_supported"]
    assert doc["tls_client_certificate_bound_access_tokens"] is True


def test_source_refuses_a_missing_or_foreign_client_certificate(network, tmp_path):
    product, pki = network
    url = product.endpoints["source"]["base"]
    bare = ssl.create_default_context(cafile=str(pki / "ca.pem"))
    assert _handshake(url, bare) != "ok"
    foreign = Pki.init(tmp_path / "foreign", organisation="OTHER TEST")
    other = foreign.issue("consumer", cn="localhost", usage="client")
    with_foreign = ssl.create_default_context(cafile=str(pki / "ca.pem"))
    with_foreign.load_cert_chain(str(other.cert), str(other.key))
    assert _handshake(url, with_foreign) != "ok"  # the alert (unknown CA) or a bare close, as TLS 1.3 timing has it


def test_source_refuses_a_pki_certificate_the_whitelist_does_not_name(network):
    product, pki = network
    resp = requests.get(_study_url(product), headers={"Authorization": f"Bearer {_token(product, pki)}"},
                        cert=(str(pki / "source-client.pem"), str(pki / "source-client.key")),
                        verify=str(pki / "ca.pem"), timeout=30)
    assert resp.status_code == 403
    assert "not the operator certificate" in resp.text
