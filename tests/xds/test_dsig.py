"""Signature01: our XAdES signature verifies with an independent implementation (signxml), and our
verification catches each kind of damage (xmldsig-core §3.2 core validation)."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from signxml import SignatureConfiguration, XMLVerifier
from signxml.exceptions import InvalidDigest, InvalidSignature

from harness.vihf import throwaway_pki
from harness.xds import dsig
from harness.xds.builder import signature_document, throwaway_signer
from harness.xmlsafe import parse_xml

KOS = ("1.2.250.1.999.1.1.7.1", b"DICM" * 64)


@pytest.fixture(scope="module")
def pki():
    return throwaway_pki("signature test")


@pytest.fixture(scope="module")
def signed(pki) -> bytes:
    return signature_document([KOS], signer=(pki.key_pem, pki.cert_pem))


class _NoSchema(XMLVerifier):
    """IHE DSG's purposeOfSignature is a text-only ds:SignatureProperty, which the xmldsig schema that
    signxml checks first does not allow (the ANS demonstrator's SIGN_1.XML has the same); the
    signature itself is what is cross-checked here."""

    def validate_schema(self, signature):
        return None


def _signxml(data: bytes, cert_pem: bytes):
    return _NoSchema().verify(data, x509_cert=cert_pem.decode(),
                              expect_config=SignatureConfiguration(expect_references=2))


def test_our_signature_verifies_with_signxml(signed, pki):
    tags = [r.signed_xml.tag for r in _signxml(signed, pki.cert_pem)]
    assert tags == [f"{dsig.DS}Manifest", f"{dsig.XADES}SignedProperties"]


def test_signxml_and_we_both_reject_a_changed_manifest(signed, pki):
    tampered = signed.replace(KOS[0].encode(), b"1.2.250.1.999.1.1.7.2")
    with pytest.raises(InvalidDigest):
        _signxml(tampered, pki.cert_pem)
    verdict = dsig.verify(parse_xml(tampered))
    assert (verdict.status, verdict.location) == ("invalid", "Signature/SignedInfo/Reference[1]")


def test_valid_signature_names_its_signer(signed):
    verdict = dsig.verify(parse_xml(signed))
    assert verdict.status == "valid" and "CN=signature test" in verdict.signer


def test_signature_by_another_key_with_the_same_certificate_is_invalid(pki):
    other = throwaway_pki("intruder")
    forged = signature_document([KOS], signer=(other.key_pem, pki.cert_pem))
    with pytest.raises(InvalidSignature):
        _signxml(forged, pki.cert_pem)
    assert dsig.verify(parse_xml(forged)).status == "invalid"


def test_placeholder_is_unsigned():
    verdict = dsig.verify(parse_xml(signature_document([KOS], unsigned=True)))
    assert verdict.status == "unsigned" and verdict.location == "Signature/SignatureValue"


def test_missing_certificate_is_unverifiable(signed):
    root = parse_xml(signed)
    cert = root.find(f"{dsig.DS}KeyInfo/{dsig.DS}X509Data/{dsig.DS}X509Certificate")
    cert.text = "XXXXXXXXX"  # as the ANS samples publish them
    assert dsig.verify(root).status == "unverifiable"


def test_signing_time_and_certificate_digest_are_signed(pki):
    when = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    root = parse_xml(dsig.sign(signature_document([KOS], unsigned=True), pki.key_pem, pki.cert_pem, when))
    assert root.findtext(f".//{dsig.XADES}SigningTime") == "2026-01-02T03:04:05Z"
    digest = base64.b64encode(x509.load_pem_x509_certificate(pki.cert_pem).fingerprint(hashes.SHA256())).decode()
    assert root.findtext(f".//{dsig.XADES}CertDigest/{dsig.DS}DigestValue") == digest


def test_default_signer_is_one_throwaway_pair_per_process():
    assert throwaway_signer() is throwaway_signer()
    assert dsig.verify(parse_xml(signature_document([KOS]))).status == "valid"


def test_a_document_that_is_not_a_dsg_signature_is_refused(pki):
    with pytest.raises(dsig.SignatureError):
        dsig.sign(b"<root/>", pki.key_pem, pki.cert_pem)


def test_ans_demonstrator_signature_cannot_be_checked_its_certificate_is_redacted(corpus):
    sample = corpus / "drimbox-poc-samples/XDM/KA202401/IHE_XDM/SS000001/SIGN_1.XML"
    if not sample.exists():
        pytest.skip(f"missing: {sample}")
    verdict = dsig.verify(parse_xml(sample.read_bytes()))
    assert verdict.status == "unverifiable" and "X509Certificate" in verdict.detail
