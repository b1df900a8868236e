"""OCSP responder and CRL/CA downloads of a test PKI (harness.pki), over plain HTTP.

Plain HTTP is what RFC 6960 Appendix A and RFC 5280 §4.2.1.13 describe and what DRIM-M's control point C17
allows: every flow is encrypted except ACME HTTP-01, CRL/CA downloads and OCSP. Every request reads the PKI
folder again, so a ``drimcheck pki revoke`` from another process shows at once.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
from urllib.parse import unquote

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp
from flask import Flask, Response, request

from harness.pki import Pki

OCSP_VALIDITY = dt.timedelta(hours=1)  # nextUpdate of a response (RFC 6960 §4.2.2.1)
OCSP_REQUEST, OCSP_RESPONSE = "application/ocsp-request", "application/ocsp-response"
PEM_TYPE, CRL_TYPE, CERT_TYPE = "application/x-pem-file", "application/pkix-crl", "application/pkix-cert"
_STATUS = {"good": ocsp.OCSPCertStatus.GOOD, "revoked": ocsp.OCSPCertStatus.REVOKED,
           "unknown": ocsp.OCSPCertStatus.UNKNOWN}


def _issuer_hashes(issuer: x509.Certificate, algorithm: hashes.HashAlgorithm) -> tuple[bytes, bytes]:
    """(issuerNameHash, issuerKeyHash) of a CertID for ``issuer`` (RFC 6960 §4.1.1), computed by cryptography:
    the CertID of the issuer's own certificate carries its key hash, the name hash is of its subject DER."""
    probe = ocsp.OCSPRequestBuilder().add_certificate(issuer, issuer, algorithm).build()
    digest = hashes.Hash(algorithm)
    digest.update(issuer.subject.public_bytes())
    return digest.finalize(), probe.issuer_key_hash


def answer(pki: Pki, der: bytes) -> ocsp.OCSPResponse:
    """The OCSP response to the DER request ``der``: signed by the intermediate (the CA itself, RFC 6960
    §4.2.2.2) with the status from the PKI's index; "unknown" for another issuer (§2.2); the nonce echoed
    (§4.4.1); ``malformedRequest`` for what does not parse (§2.3)."""
    try:
        req = ocsp.load_der_ocsp_request(der)
        algorithm = req.hash_algorithm
    except (ValueError, TypeError, NotImplementedError):
        return ocsp.OCSPResponseBuilder.build_unsuccessful(ocsp.OCSPResponseStatus.MALFORMED_REQUEST)
    cert, key = pki.authority("intermediate")
    ours = _issuer_hashes(cert, algorithm) == (req.issuer_name_hash, req.issuer_key_hash)
    status, revoked_at = pki.status(req.serial_number) if ours else ("unknown", None)
    now = dt.datetime.now(dt.UTC)
    builder = (ocsp.OCSPResponseBuilder()
               .add_response_by_hash(req.issuer_name_hash, req.issuer_key_hash, req.serial_number, algorithm,
                                     _STATUS[status], now, now + OCSP_VALIDITY, revoked_at,
                                     pki.reason(req.serial_number) if revoked_at else None)
               .responder_id(ocsp.OCSPResponderEncoding.HASH, cert).certificates([cert]))
    try:
        nonce = req.extensions.get_extension_for_class(x509.OCSPNonce).value
        builder = builder.add_extension(nonce, critical=False)
    except x509.ExtensionNotFound:
        pass
    return builder.sign(key, hashes.SHA256())


def _ocsp_reply(pki: Pki, der: bytes) -> Response:
    body = answer(pki, der).public_bytes(serialization.Encoding.DER)
    return Response(body, mimetype=OCSP_RESPONSE)


def _decode_get(encoded: str) -> bytes:
    """The request of ``GET /ocsp/<url-encoded base64 of the DER>`` (RFC 6960 Appendix A.1); b"" when the
    text is not base64 (then answered malformedRequest)."""
    text = unquote(encoded).strip()
    text = text.replace("-", "+").replace("_", "/")  # tolerate the URL-safe alphabet
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        return b""


def create_app(pki: Pki) -> Flask:
    """The responder's WSGI app for ``pki``."""
    app = Flask("drimcheck-pki")
    app.url_map.merge_slashes = False  # base64 may hold "//"

    @app.post("/ocsp")
    def ocsp_post() -> Response:
        return _ocsp_reply(pki, request.get_data())

    @app.get("/ocsp/<path:encoded>")
    def ocsp_get(encoded: str) -> Response:
        return _ocsp_reply(pki, _decode_get(encoded))

    @app.get("/crl.der")
    def crl_der() -> Response:
        return Response(pki.crl().public_bytes(serialization.Encoding.DER), mimetype=CRL_TYPE)

    @app.get("/crl.pem")
    def crl_pem() -> Response:
        return Response(pki.crl().public_bytes(serialization.Encoding.PEM), mimetype=PEM_TYPE)

    @app.get("/<any(ca, intermediate):which>.<any(pem, der):form>")
    def ca_file(which: str, form: str) -> Response:
        cert = pki.certificate(which)
        if form == "pem":
            return Response(cert.public_bytes(serialization.Encoding.PEM), mimetype=PEM_TYPE)
        return Response(cert.public_bytes(serialization.Encoding.DER), mimetype=CERT_TYPE)

    return app
