"""`drimcheck serve all`: the actors are started with each other's addresses, so the national
scenario works across them with no other setting: VIHF signed by the Source and the Consumer and
enforced by the DMP, tokens checked by the Source at PSC, the Consumer allowed to retrieve from
the Source. In TLS mode both DRIMboxes call PSC by mutual TLS without a secret (RFC 8705)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from harness.capture import recorder
from harness.tls import network_tls
from simulators.network import start_network
from simulators.psc.mtls import x5t_s256
from simulators.ris import messages as M
from testplans.consumer_drimbox.browser import Browser
from testplans.consumer_drimbox.conftest import PROFESSIONAL
from testplans.consumer_drimbox.exams import contextual_form

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def network(tmp_path_factory):
    with start_network(tmp_path_factory.mktemp("network"), demo=True) as net:
        yield net


@pytest.fixture(scope="module")
def tls_network(tmp_path_factory):
    """The network as ``drimcheck serve all`` starts it by default: HTTPS from the test PKI."""
    folder = tmp_path_factory.mktemp("tls-network")
    tls = network_tls(folder / "pki")
    with start_network(folder / "data", demo=True, tls=tls) as net:
        yield net, tls


def test_demo_exam_is_found_and_imported_through_the_wired_consumer(network):
    _demo_exam_is_imported(network)


def _demo_exam_is_imported(network) -> None:
    ex = M.exam("network-demo", series=2, instances=3)
    browser = Browser(network.endpoints["consumer.contextual_call"], network.endpoints["consumer.base"],
                      network.endpoints["psc.authorization"], PROFESSIONAL)
    history = browser.call(contextual_form(M.study_spec(ex).patient))
    rows = history.rows("exam")
    assert [r.get("data-study-uid") for r in rows] == [network.demo["study UID"]], history.text[-600:]
    result = browser.post(rows[0].xpath(".//a/@href")[0] + "/import")
    assert [r.get("data-status") for r in result.rows("series-result")] == ["imported", "imported"]


def _at_psc(path: str, since: float, timeout: float = 10.0) -> list:
    """What the PSC simulator recorded at ``path`` (an endpoint of the realm) since ``since``."""
    deadline = time.monotonic() + timeout
    while True:
        found = [e for e in recorder().exchanges(actor="psc-simulator")
                 if e.started >= since and e.summary.split("?", 1)[0].endswith(path)]
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.02)


def test_tls_demo_goes_through_psc_by_certificates_and_a_bound_token(tls_network):
    """Login, contextual call and WADO-RS retrieval over HTTPS; both DRIMboxes authenticated to PSC by their
    ORG AUTH CLI certificates (RFC 8705 §2.1), no secret; the token the Source served was bound (§3)."""
    network, tls = tls_network
    since = time.time()
    _demo_exam_is_imported(network)
    subject = {name: tls.pki.certificate(name).subject.rfc4514_string() for name in ("source-client",
                                                                                         "consumer-client")}
    for path, client in (("/token", "consumer-client"), ("/token/introspect", "source-client")):
        seen = _at_psc(path, since)
        assert seen, f"no call to PSC {path}"
        for exchange in seen:
            assert exchange.status == "200", (path, exchange.status)
            assert exchange.tls_client == subject[client], (path, exchange.tls_client)
            assert not [k for k, _v in exchange.request_headers if k.lower() == "authorization"], path
            assert "client_secret" not in exchange.request_body.read().decode(), path
    bound = x5t_s256(tls.pki.certificate("consumer-client"))
    answers = [json.loads(e.response_body.read()) for e in _at_psc("/token/introspect", since)]
    assert answers and all(a.get("cnf") == {"x5t#S256": bound} for a in answers), answers


def test_tls_psc_refuses_the_drimboxes_secrets(tls_network):
    network, tls = tls_network
    for client_id, secret, url in (("drimbox-consumer", "consumer-secret", network.endpoints["psc.issue_token"]),
                                   ("drimbox-source", "source-secret", network.endpoints["psc.introspect"])):
        resp = requests.post(url, data={"sub": "10001000001", "token": "x"}, auth=(client_id, secret),
                             verify=str(tls.ca), timeout=10)
        assert resp.status_code == 401 and resp.json()["error"] == "invalid_client", (client_id, resp.text)


def test_every_actor_is_listed_with_its_endpoints(network):
    names = [name for name, _part in network.parts]
    assert names == ["psc", "dmp", "src-pacs", "source", "dst-pacs", "consumer"]
    assert all(part.endpoints for _name, part in network.parts)


@pytest.mark.parametrize(("args", "message"), [
    (("all", "dmp"), "name no other simulator"),
    (("all", "--port", "8000"), "each takes a free port"),
])
def test_serve_all_refuses_what_does_not_apply(args, message):
    proc = subprocess.run([sys.executable, "-m", "harness.cli", "serve", *args], capture_output=True, text=True,
                          cwd=str(REPO), timeout=60, check=False)
    assert proc.returncode == 2 and message in proc.stderr, proc.stderr


def test_serve_all_help_names_its_options():
    proc = subprocess.run([sys.executable, "-m", "harness.cli", "serve", "all", "--help"], capture_output=True,
                          text=True, cwd=str(REPO), timeout=60, check=False)
    assert proc.returncode == 0
    for option in ("--workdir", "--demo", "--host"):
        assert option in proc.stdout
