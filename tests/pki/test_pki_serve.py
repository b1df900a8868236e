"""``drimcheck serve pki`` (simulators.pki.serve): the responder listens where the certificates' AIA and
CRL distribution point say, or on --port; a taken port is named."""

from __future__ import annotations

import argparse
import socket

import pytest
import requests
from cryptography import x509

from harness.pki import Pki
from harness.servers import free_port
from simulators.pki import serve


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--host", default="127.0.0.1")
    serve.add_arguments(parser)
    return parser.parse_args(list(argv))


@pytest.fixture(scope="module")
def own_port_pki(tmp_path_factory) -> Pki:
    """A PKI whose base URL is a free loopback port (the default 8088 may be taken on a shared machine)."""
    return Pki.init(tmp_path_factory.mktemp("serve") / "pki", base_url=f"http://127.0.0.1:{free_port()}")


def test_listens_on_the_base_url_port(own_port_pki):
    service = serve.start(parse("--pki", str(own_port_pki.folder)))
    try:
        assert service.endpoints["ocsp"] == f"{own_port_pki.base_url}/ocsp"
        assert service.endpoints["crl"] == f"{own_port_pki.base_url}/crl.der"
        crl = x509.load_der_x509_crl(requests.get(service.endpoints["crl"], timeout=10).content)
        assert crl.issuer == own_port_pki.certificate("intermediate").subject
        assert requests.get(service.endpoints["ca"], timeout=10).content == own_port_pki.ca_path.read_bytes()
    finally:
        service.stop()


def test_taken_base_port_named(own_port_pki):
    port = int(own_port_pki.base_url.rsplit(":", 1)[1])
    with socket.create_server(("127.0.0.1", port)), pytest.raises(SystemExit, match="--port"):
        serve.start(parse("--pki", str(own_port_pki.folder)))


def test_explicit_port_and_a_new_folder(tmp_path, capsys):
    port = free_port()
    service = serve.start(parse("--pki", str(tmp_path / "fresh"), "--port", str(port)))
    try:
        assert service.endpoints["ocsp"] == f"http://127.0.0.1:{port}/ocsp"
        assert (tmp_path / "fresh" / "ca.pem").is_file()
        assert "name http://127.0.0.1:8088" in capsys.readouterr().err
    finally:
        service.stop()


def test_default_folder_is_the_network_pki(tmp_path, monkeypatch):
    monkeypatch.setenv("DRIMCHECK_PKI", str(tmp_path / "default"))
    assert parse().pki is None
    service = serve.start(parse("--port", str(free_port())))
    try:
        assert "whitelist-signer" in service.pki.current() and service.pki.folder == tmp_path / "default"
    finally:
        service.stop()


def test_a_folder_that_is_not_a_pki_is_named(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(SystemExit, match=f"--pki: {tmp_path}"):
        serve.start(parse("--pki", str(tmp_path), "--port", str(free_port())))
