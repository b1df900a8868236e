"""The PKI's OCSP responder (RFC 6960) and CRL/CA downloads on a real port: openssl ocsp and cryptography's
OCSP client over requests, good then revoked, nonce, GET form, unknown issuer, malformed requests."""

from __future__ import annotations

import base64
import os
import subprocess
from urllib.parse import quote

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509 import ocsp

from harness.servers import serve_wsgi
from simulators.pki import create_app


def openssl(*args: object) -> subprocess.CompletedProcess:
    return subprocess.run(["openssl", *map(str, args)], capture_output=True, text=True, timeout=30, check=False)


@pytest.fixture(scope="module")
def responder(pki):
    server = serve_wsgi(create_app(pki), "pki")
    yield server.url
    server.stop()


def request_der(pki, name: str, *, algorithm: hashes.HashAlgorithm | None = None, nonce: bytes | None = None,
                issuer=None) -> bytes:
    builder = ocsp.OCSPRequestBuilder().add_certificate(pki.certificate(name), issuer or pki.certificate(
        "intermediate"), algorithm or hashes.SHA1())
    if nonce:
        builder = builder.add_extension(x509.OCSPNonce(nonce), critical=False)
    return builder.build().public_bytes(Encoding.DER)


def post(url: str, der: bytes) -> ocsp.OCSPResponse:
    reply = requests.post(f"{url}/ocsp", data=der, headers={"Content-Type": "application/ocsp-request"}, timeout=10)
    assert reply.status_code == 200 and reply.headers["Content-Type"] == "application/ocsp-response"
    return ocsp.load_der_ocsp_response(reply.content)


def signed_by(response: ocsp.OCSPResponse, cert: x509.Certificate) -> bool:
    try:
        cert.public_key().verify(response.signature, response.tbs_response_bytes, padding.PKCS1v15(),
                                 response.signature_hash_algorithm)
    except Exception:
        return False
    return True


def openssl_ocsp(pki, name: str, url: str) -> subprocess.CompletedProcess:
    return openssl("ocsp", "-issuer", pki.intermediate_path, "-cert", pki.cert_path(name), "-url", f"{url}/ocsp",
                   "-CAfile", pki.ca_path)


def test_openssl_ocsp_good_then_revoked(pki, responder):
    pki.issue("ocsp-victim", cn="victim.drimcheck.test")
    good = openssl_ocsp(pki, "ocsp-victim", responder)
    assert good.returncode == 0 and "Response verify OK" in good.stderr, good.stderr
    assert f"{pki.cert_path('ocsp-victim')}: good" in good.stdout, good.stdout
    assert "WARNING" not in good.stdout + good.stderr  # the nonce openssl sends is echoed
    pki.revoke("ocsp-victim", "cessationOfOperation")
    revoked = openssl_ocsp(pki, "ocsp-victim", responder)
    assert revoked.returncode == 0 and "Response verify OK" in revoked.stderr, revoked.stderr
    assert f"{pki.cert_path('ocsp-victim')}: revoked" in revoked.stdout
    assert "Reason: cessationOfOperation" in revoked.stdout


def test_cryptography_client_good_then_revoked_with_nonce(pki, responder):
    issued = pki.issue("ocsp-client", cn="client.drimcheck.test", usage="client")
    nonce = os.urandom(16)
    response = post(responder, request_der(pki, "ocsp-client", nonce=nonce))
    assert response.response_status == ocsp.OCSPResponseStatus.SUCCESSFUL
    assert response.certificate_status == ocsp.OCSPCertStatus.GOOD and response.serial_number == issued.serial
    assert response.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce == nonce
    assert signed_by(response, pki.certificate("intermediate")) and not signed_by(response, pki.certificate("ca"))
    assert response.this_update_utc < response.next_update_utc
    pki.revoke("ocsp-client")
    response = post(responder, request_der(pki, "ocsp-client", algorithm=hashes.SHA256()))
    assert response.certificate_status == ocsp.OCSPCertStatus.REVOKED
    assert response.revocation_reason == x509.ReasonFlags.key_compromise
    assert response.revocation_time_utc == pki.status(issued.serial)[1]
    with pytest.raises(x509.ExtensionNotFound):
        response.extensions.get_extension_for_class(x509.OCSPNonce)


def test_get_form(pki, responder):
    der = request_der(pki, "server")
    encoded = quote(base64.b64encode(der).decode(), safe="")
    reply = requests.get(f"{responder}/ocsp/{encoded}", timeout=10)
    response = ocsp.load_der_ocsp_response(reply.content)
    assert response.certificate_status == ocsp.OCSPCertStatus.GOOD
    assert response.serial_number == pki.certificate("server").serial_number


def test_other_issuer_is_unknown(pki, foreign, responder):
    response = post(responder, request_der(foreign, "client", issuer=foreign.certificate("intermediate")))
    assert response.response_status == ocsp.OCSPResponseStatus.SUCCESSFUL
    assert response.certificate_status == ocsp.OCSPCertStatus.UNKNOWN


@pytest.mark.parametrize("body", [b"", b"not an OCSP request", b"\x30\x03\x02\x01\x01"])
def test_malformed_post_answers_malformed_request(responder, body):
    response = post(responder, body)
    assert response.response_status == ocsp.OCSPResponseStatus.MALFORMED_REQUEST


def test_malformed_get_answers_malformed_request(responder):
    for path in ("%25%25%25", "bm90IGFuIE9DU1AgcmVxdWVzdA=="):  # not base64; base64 of no request
        reply = requests.get(f"{responder}/ocsp/{path}", timeout=10)
        assert reply.status_code == 200
        assert ocsp.load_der_ocsp_response(reply.content).response_status == \
            ocsp.OCSPResponseStatus.MALFORMED_REQUEST


def test_crl_and_ca_downloads(pki, responder):
    pki.issue("ocsp-crl", cn="crl.drimcheck.test", usage="client")
    pki.revoke("ocsp-crl")
    crl = x509.load_der_x509_crl(requests.get(f"{responder}/crl.der", timeout=10).content)
    assert crl.get_revoked_certificate_by_serial_number(pki.certificate("ocsp-crl").serial_number) is not None
    assert crl.is_signature_valid(pki.certificate("intermediate").public_key())
    pem = requests.get(f"{responder}/crl.pem", timeout=10)
    assert x509.load_pem_x509_crl(pem.content) == crl
    for which in ("ca", "intermediate"):
        reply = requests.get(f"{responder}/{which}.pem", timeout=10)
        assert reply.status_code == 200 and reply.content == pki.cert_path(which).read_bytes()
        der = requests.get(f"{responder}/{which}.der", timeout=10)
        assert x509.load_der_x509_certificate(der.content) == pki.certificate(which)
    assert requests.get(f"{responder}/root.key", timeout=10).status_code == 404
    assert requests.get(f"{responder}/intermediate.key", timeout=10).status_code == 404
