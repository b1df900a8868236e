"""harness.tls.session(): HTTPS connections share one client context per CA bundle and client certificate,
and every check of a connection stays: the server's chain against the bundle, its host name (RFC 9110
§4.3.4), the client certificate a mutual-TLS server demands, and a bundle rewritten is read again."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import requests

from harness import tls
from harness.pki import Pki
from harness.servers import serve_wsgi


def _hello(environ, start_response):
    body = b"hello"
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    pki = Pki.init(tmp_path_factory.mktemp("client-session") / "pki")
    pki.issue("server", cn="localhost")
    pki.issue("elsewhere", cn="elsewhere.drimcheck.test", loopback=False)
    pki.issue("client", cn="localhost", ou="399999999800027", usage="client")
    return pki


@pytest.fixture(scope="module")
def foreign(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return Pki.init(tmp_path_factory.mktemp("client-session") / "foreign", organisation="FOREIGN TEST")


@pytest.fixture
def server(pki: Pki):
    with serve_wsgi(_hello, "hello", ssl_context=tls.server_context(pki.cert_path("server"),
                                                                    pki.key_path("server"))) as running:
        yield running


def _get(url: str, **kwargs) -> requests.Response:
    http = tls.session()
    try:
        return http.get(url, timeout=10, **kwargs)
    finally:
        http.close()


def test_connections_of_new_sessions_share_one_context(pki, server):
    before = len(tls._client_contexts)
    for _ in range(3):  # a new session each time: a new pool and a new connection, as threads of a product do
        assert _get(server.url, verify=str(pki.ca_path)).text.startswith("hello")
    assert len(tls._client_contexts) == before + 1


def test_a_server_outside_the_bundle_is_refused(foreign, server):
    with pytest.raises(requests.exceptions.SSLError, match="certificate verify failed"):
        _get(server.url, verify=str(foreign.ca_path))


def test_the_host_name_is_still_checked(pki):
    context = tls.server_context(pki.cert_path("elsewhere"), pki.key_path("elsewhere"))
    with serve_wsgi(_hello, "elsewhere", ssl_context=context) as running, \
            pytest.raises(requests.exceptions.SSLError, match="match"):
        _get(running.url, verify=str(pki.ca_path))


def test_mutual_tls_presents_the_client_certificate(pki):
    context = tls.server_context(pki.cert_path("server"), pki.key_path("server"), pki.ca_path, "required")
    with serve_wsgi(_hello, "mutual", ssl_context=context) as running:
        cert = (str(pki.cert_path("client")), str(pki.key_path("client")))
        assert _get(running.url, verify=str(pki.ca_path), cert=cert).status_code == 200
        with pytest.raises((requests.exceptions.SSLError, requests.exceptions.ConnectionError)):
            _get(running.url, verify=str(pki.ca_path))


def test_a_rewritten_bundle_is_read_again(pki, foreign, server, tmp_path: Path):
    bundle = tmp_path / "bundle.pem"
    shutil.copy(foreign.ca_path, bundle)
    with pytest.raises(requests.exceptions.SSLError):
        _get(server.url, verify=str(bundle))
    replacement = tmp_path / "bundle.new"
    shutil.copy(pki.ca_path, replacement)
    replacement.replace(bundle)
    assert _get(server.url, verify=str(bundle)).status_code == 200


def test_a_missing_bundle_keeps_the_error_of_requests(server, tmp_path: Path):
    with pytest.raises(OSError, match="invalid path"):
        _get(server.url, verify=str(tmp_path / "absent.pem"))
