"""Transport security of the Consumer DRIMbox (control point C17 and mutual TLS between DRIMboxes), decided
from outside: TLS handshakes against its own HTTPS interface, and what the plan's Source saw of its calls.

- Its interface (the contextual call the professional's software posts, its pages): HTTPS whose chain the
  harness verifies, nothing in clear, TLS 1.2 and later only, no TLS 1.2 suite without forward secrecy.
- Its calls to a Source's WADO-RS: over TLS with its ORG AUTH CLI certificate (the recording Source asks for
  one and records the subject the TLS layer verified), and never to a server whose certificate does not
  chain to the trusted CA (the recording Source then answers with a certificate of another CA: a Consumer
  that sends its request, and with it the professional's token, fails).
"""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from harness import tlsprobe
from harness.checks import expect, fail, inconclusive
from harness.pki import Pki
from harness.tls import server_context, trust
from harness.tlsprobe import WEAK_SUITES, Probe
from testplans.consumer_drimbox import conftest
from testplans.consumer_drimbox.exams import new_patient
from testplans.consumer_drimbox.traffic import require_kos
from testplans.psc_auth import expect_by_certificate, psc_calls
from testplans.tls_scan import check_scan


def _ca(sut) -> str | None:
    """What the harness verifies the Consumer's certificate with: tls.ca, else its own trust (the system's CAs
    and the campaign's test PKI)."""
    verify = sut.http_kwargs()["verify"]
    if verify is False:
        inconclusive("the profile sets tls.verify: false, so the Consumer's certificate cannot be judged")
    if isinstance(verify, str):
        return verify
    bundle = trust()
    return bundle if isinstance(bundle, str) else None


def _probe(url: str, context: ssl.SSLContext | None) -> Probe:
    return tlsprobe.probe(url, context, accept="text/html")


@pytest.fixture(scope="module")
def interface(world) -> str:
    """The Consumer's endpoint probed: its contextual call (what the professional's software reaches)."""
    return world.contextual_call


def require_https(url: str) -> None:
    if not url.startswith("https://"):
        inconclusive(f"the Consumer's interface is plain HTTP ({url}), so its TLS cannot be probed "
                     "(see CON-SEC-HTTPS)")


def control(url: str, ca: str | None, rule: str) -> None:
    got = _probe(url, tlsprobe.client_context(ca))
    if got.status is None:
        inconclusive(f"a TLS 1.2+ client verifying the Consumer against the trusted CA gets no answer either ({got}):"
                     f" the refusal checked under {rule} cannot be told from a broken setup")


@pytest.mark.requirement("CON-SEC-HTTPS")
def test_the_interface_is_https_with_a_chain_to_the_trusted_ca(interface, sut):
    if not interface.startswith("https://"):
        fail("CON-SEC-HTTPS", "endpoints.contextual_call", "an https:// endpoint (control point C17: every flow "
             "encrypted)", interface, "the Consumer's contextual call is served over plain HTTP")
    got = _probe(interface, tlsprobe.client_context(_ca(sut)))
    expect(got.status is not None, rule="CON-SEC-HTTPS", location=interface,
           expected="a TLS handshake that verifies the Consumer's chain and host name against the trusted CA",
           observed=str(got), message="the Consumer's certificate chains to the trusted CA and names its host")


@pytest.mark.requirement("CON-SEC-PLAIN")
def test_plain_http_is_not_served(interface):
    got = _probe(interface, None)
    expect(got.status is None or got.status == 400, rule="CON-SEC-PLAIN", location=interface,
           expected="no HTTP answer, or 400, to a plain-HTTP request on the Consumer's port", observed=str(got),
           message="nothing is served in clear")


@pytest.mark.requirement("CON-SEC-TLS12")
def test_tls_1_0_and_1_1_are_refused(interface, sut):
    require_https(interface)
    ca = _ca(sut)
    control(interface, ca, "CON-SEC-TLS12")
    got = _probe(interface, tlsprobe.client_context(ca, legacy=True))
    expect(got.status is None, rule="CON-SEC-TLS12", location=interface,
           expected="the handshake refused when the client offers only TLS 1.0 and 1.1 (RFC 8996)",
           observed=str(got), message="only TLS 1.2 and later are accepted")


@pytest.mark.requirement("CON-SEC-CIPHERS")
def test_tls_1_2_suites_without_forward_secrecy_are_refused(interface, sut):
    require_https(interface)
    ca = _ca(sut)
    control(interface, ca, "CON-SEC-CIPHERS")
    got = _probe(interface, tlsprobe.client_context(ca, ciphers=WEAK_SUITES))
    expect(got.status is None, rule="CON-SEC-CIPHERS", location=interface,
           expected=f"the handshake refused when the client offers only {WEAK_SUITES.replace(':', ', ')} "
                    "(static RSA key exchange, so no forward secrecy; 3DES, RC4, NULL)", observed=str(got),
           message="weak TLS 1.2 suites are not negotiated (RFC 9325 §4.2)")


def _require_tls_peers(world) -> None:
    if world.tls is None:
        inconclusive("the profile sets tls.peers: http, so the plan's Source is plain HTTP and the Consumer's "
                     "TLS towards it cannot be observed")


@pytest.mark.requirement("CON-SEC-CLIENT-CERT")
def test_wado_rs_requests_present_an_igc_sante_client_certificate(world):
    _require_tls_peers(world)
    exam = conftest.publish_exam(world, new_patient(), series=1, instances=1)
    conftest.import_exam(world, exam)
    seen = [r for s in exam.series_uids for r in world.source.seen(s)]
    if not seen:
        inconclusive("the Consumer sent no WADO-RS request for the exam (a retrieval requirement's finding), so "
                     "the certificate it presents cannot be seen")
    for req in seen:
        expect(req.scheme == "https" and req.client_subject is not None, rule="CON-SEC-CLIENT-CERT",
               location=f"{req.method} {req.path} (TLS client certificate)",
               expected="a client certificate the Source's TLS layer verified against the test PKI (ORG AUTH CLI)",
               observed=req.client_subject or "no client certificate",
               message="the Consumer authenticates to the Source with its IGC-Santé certificate (mutual TLS)")


@contextmanager
def impostor(world, folder: Path) -> Iterator[None]:
    """Inside the block the recording Source answers, on the same port, with a server certificate of another
    CA naming the same host: the TLS handshake is where a Consumer must stop."""
    foreign = Pki.init(folder, organisation="DRIMCHECK IMPOSTOR CA")
    host = urlsplit(world.source_url).hostname or "127.0.0.1"
    issued = foreign.issue("impostor-source", cn=host, usage="server")
    conftest.restart_source(world, server_context(issued.cert, issued.key))
    try:
        yield
    finally:
        conftest.restart_source(world, world.tls.context("source", client_auth="optional"))


@pytest.mark.requirement("CON-SEC-SOURCE-VERIFY")
def test_no_request_reaches_a_source_whose_certificate_does_not_chain(world, tmp_path):
    _require_tls_peers(world)
    exam = conftest.publish_exam(world, new_patient(), series=1, instances=1)
    with impostor(world, tmp_path / "impostor-ca"):
        conftest.import_exam(world, exam)
        require_kos(exam.unique_id)
        seen = [r for s in exam.series_uids for r in world.source.seen(s)]
    # the control: with the genuine certificate back, the same import reaches the Source, so the silence above
    # was the Consumer's refusal, not a Consumer that retrieves nothing
    conftest.import_exam(world, exam)
    if not seen and not [r for s in exam.series_uids for r in world.source.seen(s)]:
        inconclusive("the Consumer sent no WADO-RS request to the genuine Source either (a retrieval requirement's "
                     "finding), so its refusal of the impostor cannot be told apart")
    expect(not seen, rule="CON-SEC-SOURCE-VERIFY", location=f"{world.source_url} (server certificate of another CA)",
           expected="no WADO-RS request: the TLS handshake fails on the Consumer's side (RFC 5280 §6.1, RFC 9110 "
                    "§4.3.4), so the professional's token is never sent",
           observed=[f"{r.method} {r.path}, Authorization {(r.header('Authorization') or 'none')[:24]}..."
                     for r in seen],
           message="the Consumer verifies the Source's certificate before sending the token")


@pytest.mark.requirement("CON-SEC-PSC-MTLS")
def test_psc_token_calls_use_the_certificate_without_secret(world, new_browser):
    if not world.psc_issuer.startswith("https://"):
        inconclusive("the plan's PSC is plain HTTP (tls.peers: http), so no client certificate can be presented")
    new_browser().open(new_patient())  # a fresh login: the Consumer exchanges the code at PSC's token endpoint
    calls = psc_calls("/token")
    if not calls:
        inconclusive("the Consumer called no token endpoint at the plan's PSC (the login is CON-AUTH-PKCE's "
                     "question), so how it authenticates there cannot be seen")
    expect_by_certificate(calls, "CON-SEC-PSC-MTLS", "the Consumer")


@pytest.mark.requirement("CON-SEC-SCAN")
def test_a_tls_scanner_finds_no_c17_problem(interface, sut):
    check_scan(interface, rule="CON-SEC-SCAN", options=sut.options, ca=_ca(sut))
