"""harness.whitelist.sign_whitelist and build_whitelist: the ANS's signature shape, and lists in both ANS layouts."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from lxml import etree

from harness.whitelist import Domain, WhitelistError, build_whitelist, load_whitelist, sign_whitelist

NS = {"ds": "http://www.w3.org/2000/09/xmldsig#", "xades": "http://uri.etsi.org/01903/v1.3.2#",
      "l": "https://github.com/ansforge/DRIM-M_DATA"}
EXC = "http://www.w3.org/2001/10/xml-exc-c14n#"


def test_signature_has_the_ans_shape(pki, plain):
    leaf = x509.load_pem_x509_certificate(pki.cert_path("whitelist-signer").read_bytes())
    when = leaf.not_valid_before_utc.replace(microsecond=0) + dt.timedelta(seconds=1)  # the signer valid then
    signed = sign_whitelist(plain, pki.key_path("whitelist-signer").read_bytes(),
                            pki.cert_path("whitelist-signer").read_bytes(), signing_time=when)
    root = etree.fromstring(signed)
    sig = root[-1]
    assert sig.tag == f"{{{NS['ds']}}}Signature"  # enveloped: the last child of the list
    assert sig.xpath("ds:SignedInfo/ds:CanonicalizationMethod/@Algorithm", namespaces=NS) == [EXC]
    assert sig.xpath("ds:SignedInfo/ds:SignatureMethod/@Algorithm", namespaces=NS) == [
        "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"]
    whole = sig.xpath("ds:SignedInfo/ds:Reference[@URI='']", namespaces=NS)[0]
    assert whole.xpath("ds:Transforms/ds:Transform/@Algorithm", namespaces=NS) == [
        "http://www.w3.org/2000/09/xmldsig#enveloped-signature", EXC]
    props = sig.xpath("ds:SignedInfo/ds:Reference[@Type='http://uri.etsi.org/01903#SignedProperties']",
                      namespaces=NS)[0]
    assert props.xpath("ds:Transforms/ds:Transform/@Algorithm", namespaces=NS) == [EXC]
    assert len(sig.xpath("ds:SignedInfo/ds:Reference", namespaces=NS)) == 2  # as the ANS: KeyInfo not signed
    signed_props = sig.xpath("ds:Object/xades:QualifyingProperties/xades:SignedProperties", namespaces=NS)[0]
    assert "#" + signed_props.get("Id") == props.get("URI")
    assert signed_props.xpath("string(.//xades:SigningTime)", namespaces=NS) == f"{when:%Y-%m-%dT%H:%M:%SZ}"
    digest = base64.b64encode(hashlib.sha256(leaf.public_bytes(serialization.Encoding.DER)).digest())
    assert signed_props.xpath("string(.//xades:SigningCertificateV2/xades:Cert[1]//ds:DigestValue)",
                              namespaces=NS) == digest.decode()
    assert signed_props.xpath("string(.//xades:DataObjectFormat/@ObjectReference)", namespaces=NS) == \
        "#" + whole.get("Id")
    # the intermediate travels in KeyInfo, so a DRIMbox needs only the root
    assert len(sig.xpath("ds:KeyInfo/ds:X509Data/ds:X509Certificate", namespaces=NS)) == 2
    assert load_whitelist(signed, pki.ca_path.read_bytes()).signing_time == f"{when:%Y-%m-%dT%H:%M:%SZ}"


def test_signing_again_replaces_the_signature(signed, sign_as, pki):
    again = sign_as("wrong-ou", data=signed)
    assert again.count(b"<ds:Signature ") == 1
    assert "OU=399999998000190" in load_whitelist(again, pki.ca_path.read_bytes(), signer_ou=None).signer


def test_chain_given_apart(pki, plain):
    leaf_only = pki.cert_path("whitelist-signer").read_bytes().split(b"-----END CERTIFICATE-----")[0] + \
        b"-----END CERTIFICATE-----\n"
    signed = sign_whitelist(plain, pki.key_path("whitelist-signer").read_bytes(), leaf_only,
                            pki.intermediate_path.read_bytes())
    assert "chain" in load_whitelist(signed, pki.ca_path.read_bytes()).checks


def test_key_of_another_certificate_is_refused(pki, plain):
    with pytest.raises(WhitelistError, match="does not belong to the certificate"):
        sign_whitelist(plain, pki.key_path("wrong-cn").read_bytes(), pki.cert_path("whitelist-signer").read_bytes())


def test_only_a_whitelist_is_signed(pki):
    with pytest.raises(WhitelistError, match="not a ListeBlancheDRIM-M"):
        sign_whitelist(b"<other/>", pki.key_path("whitelist-signer").read_bytes(),
                       pki.cert_path("whitelist-signer").read_bytes())


def test_built_list_round_trip(signed, trust):
    wl = load_whitelist(signed, **trust)
    assert wl.domains[0] == Domain("1", "db1.drimcheck.test", "vi1.drimcheck.test", "ACME IMAGERIE",
                                   "CN=db1.drimcheck.test,OU=399999998000190,O=ACME IMAGERIE,ST=Paris (75),C=FR",
                                   "support@acme.test", "2026-01-02T03:04:05Z")
    assert wl.domains[1].vi == ""


def test_built_list_layout(plain):
    root = etree.fromstring(plain)
    assert root.tag == f"{{{NS['l']}}}ListeBlancheDRIM-M" and root.get("versionFormat") == "1.0.0"
    assert root.findtext("l:DateDeGeneration", namespaces=NS) == "2026-03-01T00:00:00Z"
    second = root.findall("l:ListeDomaines/l:Domaine", namespaces=NS)[1]
    assert [etree.QName(c).localname for c in second] == ["Identifiant", "db", "vi", "Denomination",
                                                          "DNCertificatOperateur", "SupportContact", "DateMAJ"]
    assert second.find("l:vi", namespaces=NS).text is None  # <vi/>, as the lists before 2025


def test_entry_without_date_gets_the_generation_time():
    data = build_whitelist([Domain("9", "db9.test")], generated=dt.datetime(2026, 5, 1, tzinfo=dt.UTC))
    assert b"<DateMAJ>2026-05-01T00:00:00Z</DateMAJ>" in data
