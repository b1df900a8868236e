"""Transport security of the Source's WADO-RS (control point C17 and mutual TLS between DRIMboxes), probed
from outside at the TLS layer, as any peer on the network could.

Every probe is a real TLS handshake against ``endpoints.wado_rs`` followed by one HTTP request; a
certificate "refused" means the handshake failed, the connection closed without an HTTP answer, or the
Source answered 403. The whitelisted Consumer certificate of the profile (``tls.cert``) is the positive
control: it must get through the TLS layer (any answer but 403), so that a refusal elsewhere is the
Source's choice, not a broken setup. The certificates a Source must refuse come from the test PKI it
trusts (``tls.pki``, see ``harness.tls.security_certificates``): expired, revoked (in the PKI's CRL
before the Source started), and valid but absent from the whitelist; plus one from another CA made here.
"""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest

from harness import tlsprobe
from harness.checks import expect, fail, inconclusive
from harness.pki import Pki
from harness.tlsprobe import WEAK_SUITES, Probe
from testplans.source_drimbox.support import SecurityEnv
from testplans.tls_scan import check_scan


def probe(url: str, context: ssl.SSLContext | None, path: str = "/studies/1.2.3/metadata") -> Probe:
    """One GET of a WADO-RS resource under ``url`` (see :func:`harness.tlsprobe.probe`)."""
    return tlsprobe.probe(url, context, path, accept="application/dicom+json")


def client_context(sec: SecurityEnv, cert: tuple[Path, Path] | None = None, *, legacy: bool = False,
                   ciphers: str | None = None) -> ssl.SSLContext:
    return tlsprobe.client_context(sec.ca, cert, legacy=legacy, ciphers=ciphers)


@pytest.fixture(scope="module")
def sec(env) -> SecurityEnv:
    if env.security is None:
        inconclusive("the profile names no tls.pki (the test PKI the Source trusts), so no certificate it must "
                      "refuse can be presented")
    return env.security


def require_https(sec: SecurityEnv, rule: str) -> None:
    """The checks of a TLS endpoint cannot be made on a plain-HTTP WADO-RS: that is SRC-SEC-HTTPS's finding."""
    if not sec.wado.startswith("https://"):
        inconclusive(f"the WADO-RS is plain HTTP ({sec.wado}), so its TLS cannot be probed (see SRC-SEC-HTTPS)")


def require_client_auth(sec: SecurityEnv, rule: str) -> None:
    """Which certificates are refused cannot be judged when none is asked for: SRC-SEC-MTLS's finding."""
    require_https(sec, rule)
    control(sec, rule)
    got = probe(sec.wado, client_context(sec))
    if not got.refused:
        inconclusive(f"the Source serves a client without certificate ({got}), so it refuses no certificate in "
                     f"particular (see SRC-SEC-MTLS)")


def control(sec: SecurityEnv, rule: str) -> None:
    """The whitelisted certificate gets through, else nothing here can be judged."""
    got = probe(sec.wado, client_context(sec, sec.good))
    if got.refused:
        inconclusive(f"the profile's own client certificate (tls.cert) is refused too ({got}): the refusals "
                     f"checked under {rule} cannot be told from a broken setup")


@pytest.mark.requirement("SRC-SEC-HTTPS")
def test_wado_rs_is_https_with_a_chain_to_the_trusted_ca(sec):
    if not sec.wado.startswith("https://"):
        fail("SRC-SEC-HTTPS", "endpoints.wado_rs", "an https:// WADO-RS (control point C17: every flow encrypted)",
             sec.wado, "the WADO-RS is served over plain HTTP")
    got = probe(sec.wado, client_context(sec, sec.good))
    expect(got.status is not None, rule="SRC-SEC-HTTPS", location=sec.wado,
           expected="a TLS handshake that verifies the server's chain and name against tls.ca", observed=str(got),
           message="the Source's certificate chains to the configured CA and names its host")



@pytest.mark.requirement("SRC-SEC-PLAIN")
def test_plain_http_is_not_served(sec):
    got = probe(sec.wado, None)
    expect(got.status is None or got.status == 400, rule="SRC-SEC-PLAIN", location=sec.wado,
           expected="no HTTP answer, or 400, to a plain-HTTP request on the TLS port", observed=str(got),
           message="nothing is served in clear")


@pytest.mark.requirement("SRC-SEC-TLS12")
def test_tls_1_0_and_1_1_are_refused(sec):
    require_https(sec, "SRC-SEC-TLS12")
    control(sec, "SRC-SEC-TLS12")
    got = probe(sec.wado, client_context(sec, sec.good, legacy=True))
    expect(got.status is None, rule="SRC-SEC-TLS12", location=sec.wado,
           expected="the handshake refused when the client offers only TLS 1.0 and 1.1 (RFC 8996)",
           observed=str(got), message="only TLS 1.2 and later are accepted")


@pytest.mark.requirement("SRC-SEC-CIPHERS")
def test_tls_1_2_suites_without_forward_secrecy_or_aead_are_refused(sec):
    require_https(sec, "SRC-SEC-CIPHERS")
    control(sec, "SRC-SEC-CIPHERS")
    got = probe(sec.wado, client_context(sec, sec.good, ciphers=WEAK_SUITES))
    expect(got.status is None, rule="SRC-SEC-CIPHERS", location=sec.wado,
           expected=f"the handshake refused when the client offers only {WEAK_SUITES.replace(':', ', ')} "
                    "(static RSA key exchange, so no forward secrecy; 3DES, RC4, NULL)", observed=str(got),
           message="weak TLS 1.2 suites are not negotiated (RFC 9325 §4.2)")


def expect_refused(sec: SecurityEnv, rule: str, cert: tuple[Path, Path] | None, why: str, message: str) -> None:
    got = probe(sec.wado, client_context(sec, cert))
    expect(got.refused, rule=rule, location=sec.wado, expected=f"refused (handshake, or 403): {why}",
           observed=str(got), message=message)


@pytest.mark.requirement("SRC-SEC-MTLS")
def test_a_client_without_certificate_is_refused(sec):
    require_https(sec, "SRC-SEC-MTLS")
    control(sec, "SRC-SEC-MTLS")
    expect_refused(sec, "SRC-SEC-MTLS", None, "no client certificate was presented",
                   "a Consumer authenticates with its ORG AUTH CLI certificate")


@pytest.mark.requirement("SRC-SEC-MTLS")
def test_a_certificate_of_another_ca_is_refused(sec, tmp_path_factory):
    require_https(sec, "SRC-SEC-MTLS")
    control(sec, "SRC-SEC-MTLS")
    foreign = Pki.init(tmp_path_factory.mktemp("foreign-ca"), organisation="DRIMCHECK OTHER CA")
    good = Pki.open(sec.pki).certificate("consumer-client")
    other = foreign.issue("consumer-client", cn=good.subject.rfc4514_string().split(",")[0].split("=", 1)[1],
                          usage="client")
    expect_refused(sec, "SRC-SEC-MTLS", (other.cert, other.key),
                   "the certificate does not chain to IGC-Santé (the test PKI)",
                   "a client certificate of another CA is refused")


@pytest.mark.requirement("SRC-SEC-MTLS")
def test_an_expired_certificate_is_refused(sec):
    require_https(sec, "SRC-SEC-MTLS")
    control(sec, "SRC-SEC-MTLS")
    expect_refused(sec, "SRC-SEC-MTLS", sec.expired, "the client certificate's validity has ended (RFC 5280 §6.1.3)",
                   "an expired client certificate is refused")


@pytest.mark.requirement("SRC-SEC-MTLS-REVOKED")
def test_a_revoked_certificate_is_refused(sec):
    require_client_auth(sec, "SRC-SEC-MTLS-REVOKED")
    expect_refused(sec, "SRC-SEC-MTLS-REVOKED", sec.revoked, "the client certificate is in the PKI's CRL "
                   "(RFC 5280 §6.3)", "a revoked client certificate is refused")


@pytest.mark.requirement("SRC-SEC-MTLS-WHITELIST")
def test_a_certificate_the_whitelist_does_not_name_is_refused(sec):
    require_client_auth(sec, "SRC-SEC-MTLS-WHITELIST")
    expect_refused(sec, "SRC-SEC-MTLS-WHITELIST", sec.outsider,
                   "the certificate is valid but no DNCertificatOperateur of the whitelist names it",
                   "only the whitelisted DRIMboxes' operator certificates are served")


@pytest.mark.requirement("SRC-SEC-SCAN")
def test_a_tls_scanner_finds_no_c17_problem(sec, sut):
    check_scan(sec.wado, rule="SRC-SEC-SCAN", options=sut.options, ca=sec.ca, client_cert=sec.good)
