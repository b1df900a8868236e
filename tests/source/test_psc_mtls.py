"""The reference Source at Pro Santé Connect by mutual TLS (RFC 8705 §2.1 tls_client_auth) and its check of
certificate-bound tokens (§3), against a PSC simulator over HTTPS demanding client certificates, with the
WADO-RS under mutual TLS from the same test PKI."""

from __future__ import annotations

import argparse
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from fixtures.studies import write_study
from harness.capture import recorder
from harness.dicom import load_study_into_pacs
from harness.tls import network_tls
from simulators.dmp import DmpConfig
from simulators.dmp.reference import start as start_dmp
from simulators.pacs import start_pacs
from simulators.psc import PscConfig, start_psc
from simulators.ris import messages as M
from simulators.ris import send
from simulators.source import serve as source_serve
from simulators.source import start_reference
from simulators.source.auth import Introspector, binding_refusal, thumbprint

PROFESSIONAL = "10001000002"


@dataclass
class Net:
    tls: Any
    psc: Any
    source: Any
    study: str
    kos: str

    def dn(self, name: str) -> str:
        return self.tls.pki.certificate(name).subject.rfc4514_string()

    def x5t(self, name: str) -> str:
        return thumbprint(self.tls.pki.certificate(name))


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Net]:
    root = tmp_path_factory.mktemp("source-psc-mtls")
    tls = network_tls(root / "pki")
    files = tls.files("psc")
    psc = start_psc(PscConfig(tls_cert=files["cert"], tls_key=files["key"], client_ca=str(tls.ca),
                              client_cert="required",  # no certificate, no call: the secret path cannot pass
                              client_subjects={"drimbox-source": tls.pki.certificate("source-client").subject
                                               .rfc4514_string(),
                                               "drimbox-consumer": tls.pki.certificate("consumer-client").subject
                                               .rfc4514_string()}))
    pacs = start_pacs(root / "pacs")
    dmp = start_dmp(DmpConfig(workdir=root / "dmp", vihf="off"))
    source = start_reference(None, root / "source", ssl_context=tls.context("source", client_auth="required"),
                             pacs_host=pacs.host, pacs_port=pacs.port, pacs_aet=pacs.aet,
                             pacs_dicomweb=pacs.dicomweb_url, dmp_registry=dmp.endpoints["registry"],
                             dmp_repository=dmp.endpoints["repository"], psc_introspect=psc.endpoints["introspect"],
                             psc_client_cert=tls.client("source-client"))
    try:
        ex = M.exam("source-psc-mtls", series=1, instances=1)
        refs = write_study(M.study_spec(ex, rows=16, columns=16), root / "study")
        load_study_into_pacs([r.path for r in refs], pacs.host, pacs.port, pacs.aet)
        _raw, ack = send(source.endpoints["mllp"], M.oru(ex))
        assert ack is not None and ack.code == "AA", ack
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and any(i.state == "pending" for i in source.store.items()):
            time.sleep(0.05)
        yield Net(tls, psc, source, ex.study_uid, source.store.kos_of_study(ex.study_uid)[0].sop_uid)
    finally:
        source.stop()
        dmp.stop()
        pacs.stop()
        psc.stop()


def _metadata(net: Net, token: str, cert: str) -> requests.Response:
    return requests.get(f"{net.source.endpoints['wado_rs']}/studies/{net.study}/metadata",
                        headers={"Authorization": f"Bearer {token}", "KOS-SOPInstanceUID": net.kos,
                                 "Accept": "application/dicom+json"},
                        cert=net.tls.client(cert), verify=str(net.tls.ca), timeout=30)


def _captured_introspection(token: str, timeout: float = 10.0) -> list:
    deadline = time.monotonic() + timeout
    while True:
        found = [e for e in recorder().exchanges(actor="psc-simulator")
                 if e.summary.endswith("/token/introspect") and token.encode() in e.request_body.read()]
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.02)


def test_introspection_goes_by_certificate_without_a_secret(net):
    token = net.psc.issue_token(PROFESSIONAL, "drimbox-consumer")
    assert _metadata(net, token, "consumer-client").status_code == 200
    [seen] = _captured_introspection(token)
    assert seen.status == "200"
    assert seen.tls_client == net.dn("source-client")  # RFC 8705 §2.1: authenticated by the certificate
    assert not [k for k, _v in seen.request_headers if k.lower() == "authorization"]
    body = seen.request_body.read().decode()
    assert "client_secret" not in body and "client_id=drimbox-source" in body


def test_a_bound_token_is_served_with_its_certificate_only(net):
    token = net.psc.issue_token(PROFESSIONAL, "drimbox-consumer", x5t_s256=net.x5t("consumer-client"))
    good = _metadata(net, token, "consumer-client")
    assert good.status_code == 200, good.text
    assert len(good.json()) == 1
    for other in ("source-client", "outsider-client"):  # valid certificates of the PKI, not the bound one
        refused = _metadata(net, token, other)
        assert refused.status_code == 401, (other, refused.text)
        assert "bound to another client certificate" in refused.text and net.dn(other) in refused.text
        assert refused.headers["WWW-Authenticate"].startswith("Bearer")


def test_an_unbound_token_keeps_todays_behaviour(net):
    token = net.psc.issue_token(PROFESSIONAL, "drimbox-consumer")
    assert _metadata(net, token, "outsider-client").status_code == 200  # any certificate the gate lets in


def test_a_bound_token_without_a_client_certificate_is_refused(net):
    token = net.psc.issue_token(PROFESSIONAL, "drimbox-consumer", x5t_s256=net.x5t("consumer-client"))
    introspector = Introspector(net.psc.endpoints["introspect"], "drimbox-source", "", cert=net.tls.client(
        "source-client"))
    verdict = introspector.check(f"Bearer {token}", None)
    assert not verdict.ok and "came without one" in verdict.reason
    assert introspector.check(f"Bearer {token}", net.tls.pki.certificate("consumer-client")).ok


def test_a_secret_is_not_enough_at_a_psc_that_wants_the_certificate(net):
    token = net.psc.issue_token(PROFESSIONAL, "drimbox-consumer")
    verdict = Introspector(net.psc.endpoints["introspect"], "drimbox-source", "source-secret").check(
        f"Bearer {token}")
    assert not verdict.ok


def test_binding_refusal_reads_cnf():
    assert binding_refusal({"active": True}, None) is None
    assert binding_refusal({"cnf": {"jkt": "x"}}, None) is None  # another confirmation method: not ours
    assert "came without one" in binding_refusal({"cnf": {"x5t#S256": "abc"}}, None)


def _args(tmp_path: Path, *argv: str, tls: Any = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    source_serve.add_arguments(parser)
    args = parser.parse_args(list(argv))
    args.tls = tls
    return args


HTTPS_PSC = "https://127.0.0.1:1/auth/realms/esante-wallet/protocol/openid-connect/token/introspect"


def test_serve_defaults_to_the_source_client_certificate_in_tls_mode(net, tmp_path):
    tls = net.tls
    assert source_serve.psc_credentials(_args(tmp_path, "--psc-introspect", HTTPS_PSC, tls=tls)) == (
        "drimbox-source", "", tls.client("source-client"))
    # --plain-http (no TLS): the secret, as before
    assert source_serve.psc_credentials(_args(tmp_path, "--psc-introspect", HTTPS_PSC)) == (
        "drimbox-source", "source-secret", None)
    # a plain-HTTP PSC cannot see a certificate: the secret
    assert source_serve.psc_credentials(_args(tmp_path, "--psc-introspect", "http://127.0.0.1:1/x", tls=tls)) == (
        "drimbox-source", "source-secret", None)
    # a secret given explicitly without a certificate is used
    assert source_serve.psc_credentials(_args(tmp_path, "--psc-introspect", HTTPS_PSC, "--psc-client", "me:s3",
                                              tls=tls)) == ("me", "s3", None)
    # a certificate given: no secret
    assert source_serve.psc_credentials(_args(tmp_path, "--psc-client", "me:s3", "--psc-client-cert", "c.pem",
                                              "--psc-client-key", "k.pem")) == ("me", "", ("c.pem", "k.pem"))
    assert source_serve.psc_credentials(_args(tmp_path, "--psc-client", "me", "--psc-introspect", HTTPS_PSC,
                                              tls=tls)) == ("me", "", tls.client("source-client"))
    with pytest.raises(SystemExit, match="go together"):
        source_serve.psc_credentials(_args(tmp_path, "--psc-client-cert", "c.pem"))


def test_serve_config_carries_the_certificate(net, tmp_path):
    config = source_serve.config_from(_args(tmp_path, "--psc-introspect", HTTPS_PSC, tls=net.tls))
    assert config.psc_client_cert == net.tls.client("source-client") and config.psc_client_secret == ""
