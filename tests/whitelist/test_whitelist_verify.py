"""harness.whitelist.load_whitelist: the ANS samples verify; each way a list can be untrustworthy is refused
with a message naming it (XML-DSig 1.1 core validation, XAdES signing certificate, RFC 5280 chain, CRL)."""

from __future__ import annotations

import base64
import datetime as dt
import re

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from harness.pki import Pki
from harness.servers import serve_wsgi
from harness.whitelist import WhitelistError, load_whitelist, parse_dn, same_dn

SIGNED_2026 = ("Liste blanche signée", "LISTEBLANCHE_DRIM-M_SIGNEE_TEST.xml")  # every entry has vi
SIGNED_2024 = ("Liste blanche signée", "LISTEBLANCHE_DRIM-M_SIGNEE_TEST_.xml")  # <vi/> everywhere
INFORMATIF = ("drim-m-data/informatif/listeblanche_INFORMATIFSIGNE.xml",)  # Nom instead of db
UNSIGNED = ("Liste blanche non signée", "LISTEBLANCHE_DRIM-M_NONSIGNEE_TEST.xml")


def _signing_time(data: bytes) -> dt.datetime:
    found = re.search(rb"SigningTime>([^<]+)<", data)
    assert found, "no SigningTime in the sample"
    return dt.datetime.fromisoformat(found.group(1).decode().replace("Z", "+00:00"))


def _refusal(data: bytes, **kwargs) -> str:
    with pytest.raises(WhitelistError) as caught:
        load_whitelist(data, **kwargs)
    return str(caught.value)


# -- the ANS samples ------------------------------------------------------------------------------------
def test_ans_list_with_viewers_verifies(ans):
    wl = load_whitelist(ans(*SIGNED_2026), at=dt.datetime(2026, 10, 1, tzinfo=dt.UTC))
    assert wl.checks == ("signature", "signer name", "validity")  # no IGC-Santé CA in the corpus: no chain
    assert len(wl.domains) == 17 and all(d.vi for d in wl.domains)
    assert wl.viewer_for("DB3.test.mesimagesmedicales.fr:443") == "vi3.test.mesimagesmedicales.fr"
    assert "CN=Liste Blanche DRIM-M" in wl.signer and "IGC-SANTE" in wl.issuer
    assert wl.generated == "2026-06-19T18:06:52Z" and wl.signing_time.startswith("2026-")


def test_ans_list_without_viewers_verifies_at_its_signing_time(ans):
    data = ans(*SIGNED_2024)
    wl = load_whitelist(data, at=_signing_time(data))
    assert "db3.test.mesimagesmedicales.fr" in wl.hosts
    assert all(d.vi == "" for d in wl.domains) and wl.viewer_for("db3.test.mesimagesmedicales.fr") is None
    # its signer expired on 2026-09-12: a DRIMbox fetching it afterwards refuses it
    assert "expired on 2026-09-12" in _refusal(data, at=dt.datetime(2026, 10, 1, tzinfo=dt.UTC))


def test_ans_informatif_list_verifies(ans):
    data = ans(*INFORMATIF)
    wl = load_whitelist(data, at=_signing_time(data))
    assert wl.hosts[0] == "db1.111.mesimagesmedicales.fr" and wl.domains[0].denomination == "Operateur 01 test"


def test_ans_unsigned_list_is_corrupted(ans):
    assert "not signed" in _refusal(ans(*UNSIGNED))


def _keyinfo_root(data: bytes) -> bytes:
    """The self-signed certificate the 2026 sample carries in KeyInfo: IGC-Santé's TEST root, which a
    DRIMbox takes from igc-sante.esante.gouv.fr (only a test may take it from the list itself)."""
    for b64 in re.findall(rb"<ds:X509Certificate>(.*?)</ds:X509Certificate>", data, re.S):
        cert = x509.load_der_x509_certificate(base64.b64decode(b64))
        if cert.subject == cert.issuer:
            return cert.public_bytes(serialization.Encoding.PEM)
    pytest.skip("the sample carries no root certificate")


def test_ans_list_with_viewers_chains_to_the_igc_sante_test_root(ans):
    data = ans(*SIGNED_2026)
    wl = load_whitelist(data, trusted_cas=_keyinfo_root(data), at=dt.datetime(2026, 10, 1, tzinfo=dt.UTC))
    assert wl.checks == ("signature", "signer name", "validity", "chain")
    assert wl.issuer.startswith("CN=TEST AC IGC-SANTE ELEMENTAIRE ORGANISATIONS")


def test_ans_list_does_not_chain_to_another_ca(ans, pki: Pki):
    message = _refusal(ans(*SIGNED_2026), trusted_cas=pki.ca_path.read_bytes())
    assert "TEST AC RACINE IGC-SANTE ELEMENTAIRE" in message and "is not a trusted CA" in message


# -- a list we signed -----------------------------------------------------------------------------------
def test_our_list_verifies_with_chain_and_crl(signed, trust):
    wl = load_whitelist(signed, **trust)
    assert wl.checks == ("signature", "signer name", "validity", "chain", "revocation")
    assert wl.hosts == ("db1.drimcheck.test", "db2.drimcheck.test")
    assert wl.viewer_for("db1.drimcheck.test") == "vi1.drimcheck.test" and wl.viewer_for("db2.drimcheck.test") is None
    assert wl.updated == "2026-02-03T04:05:06Z"
    assert wl.signer.startswith("CN=Liste Blanche DRIM-M,OU=318751275100020")


def test_one_character_of_a_db_changed_is_refused(signed, trust):
    altered = signed.replace(b"<db>db1.drimcheck.test</db>", b"<db>db1.drimcheck.tesu</db>", 1)
    assert altered != signed
    assert "the list was altered after it was signed" in _refusal(altered, **trust)


def test_list_resigned_under_a_foreign_ca_is_refused(sign_as, foreign, trust):
    message = _refusal(sign_as("whitelist-signer", of=foreign), **trust)
    assert "neither a trusted CA" in message and "ELSEWHERE" in message


def test_list_signed_by_a_ca_with_the_same_names_is_refused(sign_as, tmp_path, trust):
    twin = Pki.init(tmp_path / "twin")  # same organisation, same CA names, other keys
    twin.issue("whitelist-signer", cn="Liste Blanche DRIM-M", ou="318751275100020", usage="sign")
    assert "same name, another CA" in _refusal(sign_as("whitelist-signer", of=twin), **trust)


def test_expired_signer_is_refused(sign_as, trust):
    assert "expired on" in _refusal(sign_as("expired-signer"), **trust)


def test_revoked_signer_is_refused(sign_as, trust):
    message = _refusal(sign_as("revoked-signer"), **trust)
    assert "revoked" in message and "keyCompromise" in message
    # without the CRL the revocation is not known: the list passes, and says it was not checked
    wl = load_whitelist(sign_as("revoked-signer"), trusted_cas=trust["trusted_cas"])
    assert "revocation" not in wl.checks


@pytest.mark.parametrize(("name", "cause"), [("wrong-cn", "CN is Liste Noire DRIM-M, not CN=Liste Blanche DRIM-M"),
                                             ("wrong-ou", "OU is 399999998000190, not OU=318751275100020")])
def test_signer_with_another_cn_or_ou_is_refused(sign_as, trust, name, cause):
    assert cause in _refusal(sign_as(name), **trust)


def test_signer_name_check_is_configurable(sign_as, trust):
    wl = load_whitelist(sign_as("wrong-ou"), **trust, signer_ou="399999998000190")
    assert "OU=399999998000190" in wl.signer


def test_every_problem_is_listed(sign_as, foreign, trust):
    with pytest.raises(WhitelistError) as caught:
        load_whitelist(sign_as("whitelist-signer", of=foreign), **trust, signer_cn="Someone", signer_ou="0")
    assert len(caught.value.problems) == 3  # CN, OU and the chain


def test_crl_of_another_ca_does_not_say_not_revoked(signed, pki, foreign):
    message = _refusal(signed, trusted_cas=pki.ca_path.read_bytes(), crl=(foreign.folder / "crl.pem").read_bytes())
    assert "no CRL of" in message


def test_crl_without_ca_is_a_usage_error(signed, trust):
    assert "needs the CA" in _refusal(signed, crl=trust["crl"])


def test_crl_fetched_from_the_distribution_point(files, tmp_path, plain):
    from harness.whitelist import sign_whitelist

    server = serve_wsgi(files, "crl-dp")
    try:
        pki = Pki.init(tmp_path / "pki", base_url=server.url)
        pki.issue("whitelist-signer", cn="Liste Blanche DRIM-M", ou="318751275100020", usage="sign")
        data = sign_whitelist(plain, pki.key_path("whitelist-signer").read_bytes(),
                              pki.cert_path("whitelist-signer").read_bytes())
        files.files["/crl.der"] = (pki.folder / "crl.der").read_bytes()
        assert "revocation" in load_whitelist(data, pki.ca_path.read_bytes(), fetch_crl=True).checks
        pki.revoke("whitelist-signer")
        files.files["/crl.der"] = (pki.folder / "crl.der").read_bytes()
        assert "revoked" in _refusal(data, trusted_cas=pki.ca_path.read_bytes(), fetch_crl=True)
        del files.files["/crl.der"]
        message = _refusal(data, trusted_cas=pki.ca_path.read_bytes(), fetch_crl=True)
        assert f"could not be fetched ({server.url}/crl.der" in message and "revocation is unknown" in message
    finally:
        server.stop()
    assert files.requests == ["/crl.der"] * 3


# -- the signature itself -------------------------------------------------------------------------------
def test_signature_value_changed_is_refused(signed, trust):
    start = signed.index(b">", signed.index(b"<ds:SignatureValue")) + 1
    flipped = signed[:start] + (b"A" if signed[start:start + 1] != b"A" else b"B") + signed[start + 1:]
    assert "does not verify" in _refusal(flipped, **trust)


def test_signing_time_changed_is_refused(signed, trust):
    altered = re.sub(rb"<xades:SigningTime>[^<]+<", b"<xades:SigningTime>2020-01-01T00:00:00Z<", signed)
    assert "signed properties were altered" in _refusal(altered, **trust)


def test_certificate_swapped_in_keyinfo_is_refused(signed, sign_as, foreign, trust):
    theirs = re.search(rb"<ds:X509Certificate>(.*?)</ds:X509Certificate>", sign_as("whitelist-signer", of=foreign),
                       re.S).group(1)
    swapped = re.sub(rb"<ds:X509Certificate>.*?</ds:X509Certificate>",
                     b"<ds:X509Certificate>" + theirs + b"</ds:X509Certificate>", signed, count=1, flags=re.S)
    assert "does not verify" in _refusal(swapped, **trust)


def test_signature_removed_is_refused(signed, trust):
    stripped = re.sub(rb"<ds:Signature .*</ds:Signature>", b"", signed, flags=re.S)
    assert "not signed" in _refusal(stripped, **trust)


@pytest.mark.parametrize("data", [b"", b"<a/>", b"<!DOCTYPE x [<!ENTITY e 'x'>]><ListeBlancheDRIM-M/>",
                                  b'<ListeBlancheDRIM-M versionFormat="9"/>'])
def test_not_a_whitelist(data):
    with pytest.raises(WhitelistError):
        load_whitelist(data)


def test_signxml_verifies_our_signature(signed, pki):
    from signxml.xades import XAdESSignatureConfiguration, XAdESVerifier

    results = XAdESVerifier().verify(signed, ca_pem_file=str(pki.ca_path),
                                     expect_config=XAdESSignatureConfiguration(expect_references=2))
    assert results  # an independent XAdES verifier agrees with ours


# -- names ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("written", [
    "C=FR,ST=Paris (75),O=ACME IMAGERIE,OU=399999998000190,CN=db1.drimcheck.test",  # certificate order
    "cn = db1.drimcheck.test, ou=399999998000190 ,o=Acme Imagerie; st=Paris (75), c=FR",  # spaces, case, ;
    "commonName=db1.drimcheck.test,organizationalUnitName=399999998000190,O=ACME  IMAGERIE,ST=Paris (75),C=FR",
    "2.5.4.3=db1.drimcheck.test,OU=399999998000190,O=ACME IMAGERIE,ST=Paris (75),C=FR",
])
def test_domain_for_dn_compares_names_not_strings(signed, trust, written):
    wl = load_whitelist(signed, **trust)
    assert wl.domain_for_dn(written).identifiant == "1"


def test_domain_for_dn_takes_a_certificate_subject(signed, trust):
    subject = x509.Name([x509.NameAttribute(x509.NameOID.COUNTRY_NAME, "FR"),
                         x509.NameAttribute(x509.NameOID.ORGANIZATION_NAME, "AUTRE"),
                         x509.NameAttribute(x509.NameOID.ORGANIZATIONAL_UNIT_NAME, "399999998000270"),
                         x509.NameAttribute(x509.NameOID.COMMON_NAME, "db2.drimcheck.test")])
    assert load_whitelist(signed, **trust).domain_for_dn(subject).db == "db2.drimcheck.test"


@pytest.mark.parametrize("other", [
    "CN=db1.drimcheck.test,OU=399999998000270,O=ACME IMAGERIE,ST=Paris (75),C=FR",  # another OU
    "CN=db1.drimcheck.test,OU=399999998000190,O=ACME IMAGERIE,C=FR",  # ST missing
    "CN=db1.drimcheck.test,OU=399999998000190,O=ACME IMAGERIE,ST=Paris (75),C=FR,L=Paris",  # one more
    "not a DN",
])
def test_domain_for_dn_refuses_another_name(signed, trust, other):
    assert load_whitelist(signed, **trust).domain_for_dn(other) is None


def test_dn_parsing():
    assert parse_dn("CN=a\\,b,O=x").get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value == "a,b"
    assert same_dn("CN=x,OU=1", "OU=1 , cn=X") and not same_dn("CN=x", "CN=y") and not same_dn("CN=x", "junk")


def test_domain_for_host(signed, trust):
    wl = load_whitelist(signed, **trust)
    assert wl.domain_for_host("DB2.drimcheck.test.:8443").identifiant == "2"
    assert wl.domain_for_host("vi1.drimcheck.test") is None
