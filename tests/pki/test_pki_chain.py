"""check_chain as a relying party, beside openssl: trusted chains, expiry, a foreign PKI, an impostor CA
with our names, revocation through the CRL (RFC 5280 §6.3), and the CRL itself."""

from __future__ import annotations

import datetime as dt
import subprocess

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from harness.pki import check_chain


def openssl(*args: object) -> subprocess.CompletedProcess:
    return subprocess.run(["openssl", *map(str, args)], capture_output=True, text=True, timeout=30, check=False)


def files(pki, name: str) -> tuple[bytes, bytes]:
    return pki.cert_path(name).read_bytes(), pki.ca_path.read_bytes()


@pytest.mark.parametrize("name", ["server", "client", "signer"])
def test_our_chain_is_trusted(pki, name):
    cert, ca = files(pki, name)
    assert check_chain(cert, ca) == []


def test_leaf_alone_needs_the_intermediates(pki):
    leaf = pki.certificate("server").public_bytes(Encoding.PEM)
    ca = pki.ca_path.read_bytes()
    problems = check_chain(leaf, ca)
    assert len(problems) == 1 and "neither a trusted CA nor among the intermediate" in problems[0]
    assert check_chain(leaf, ca, intermediates=pki.intermediate_path.read_bytes()) == []


def test_der_leaf_with_intermediates(pki):
    der = pki.certificate("client").public_bytes(Encoding.DER)
    assert check_chain(der, pki.ca_path.read_bytes(), intermediates=pki.intermediate_path.read_bytes()) == []


def test_expired_and_not_yet_valid(pki):
    pki.issue("chain-expired", cn="old.drimcheck.test", usage="client", not_after=dt.datetime(2025, 3, 1))
    problems = check_chain(*files(pki, "chain-expired"))
    assert problems == ["certificate CN=old.drimcheck.test,O=DRIMCHECK TEST,C=FR expired on 2025-03-01 00:00 UTC"]
    cert, ca = files(pki, "server")
    later = check_chain(cert, ca, at=dt.datetime.now(dt.UTC) + dt.timedelta(days=900))
    assert len(later) == 1 and "CN=db.drimcheck.test" in later[0] and "expired on" in later[0]
    earlier = check_chain(cert, ca, at=dt.datetime(2020, 1, 1))
    assert earlier and all("is not valid before" in p for p in earlier)


def test_foreign_pki_refused(pki, foreign):
    problems = check_chain(foreign.cert_path("client").read_bytes(), pki.ca_path.read_bytes())
    assert len(problems) == 1 and "FOREIGN TEST" in problems[0] and "neither a trusted CA" in problems[0]
    result = openssl("verify", "-CAfile", pki.ca_path, foreign.cert_path("client"))
    assert result.returncode != 0


def test_impostor_ca_with_our_names_refused(pki, twin):
    problems = check_chain(twin.cert_path("client").read_bytes(), pki.ca_path.read_bytes())
    assert len(problems) == 1 and "does not verify with the key of" in problems[0], problems
    result = openssl("verify", "-CAfile", pki.ca_path, "-untrusted", twin.intermediate_path, twin.cert_path("client"))
    assert result.returncode != 0


def test_revoked_certificate_in_the_crl_and_reported(pki):
    issued = pki.issue("chain-revoked", cn="revoked.drimcheck.test", usage="client")
    cert, ca = files(pki, "chain-revoked")
    assert check_chain(cert, ca, crl=(pki.folder / "crl.der").read_bytes()) == []
    pki.revoke("chain-revoked")
    listing = openssl("crl", "-in", pki.folder / "crl.pem", "-noout", "-text")
    assert f"{issued.serial:X}" in listing.stdout.replace(":", "") and "Key Compromise" in listing.stdout
    for crl in ((pki.folder / "crl.der").read_bytes(), (pki.folder / "crl.pem").read_bytes()):
        problems = check_chain(cert, ca, crl=crl)
        assert len(problems) == 1 and f"serial {issued.serial:x}) was revoked on" in problems[0], problems
        assert "(keyCompromise)" in problems[0]
    assert check_chain(*files(pki, "server"), crl=(pki.folder / "crl.der").read_bytes()) == []
    result = openssl("verify", "-crl_check", "-CAfile", pki.ca_path, "-untrusted", pki.intermediate_path,
                     "-CRLfile", pki.folder / "crl.pem", pki.cert_path("chain-revoked"))
    assert result.returncode != 0 and "revoked" in result.stdout + result.stderr


def test_crl_of_another_issuer_or_forged_is_not_trusted(pki, foreign, twin):
    cert, ca = files(pki, "client")
    problems = check_chain(cert, ca, crl=(foreign.folder / "crl.der").read_bytes())
    assert len(problems) == 1 and "cannot be checked" in problems[0]
    forged = check_chain(cert, ca, crl=(twin.folder / "crl.der").read_bytes())  # same issuer name, other key
    assert len(forged) == 1 and "does not verify with its key" in forged[0]
    assert check_chain(cert, ca, crl=b"not a CRL")[0].startswith("the CRL cannot be read")


def test_out_of_date_crl_reported(pki):
    cert, ca = files(pki, "signer")
    crl = x509.load_der_x509_crl((pki.folder / "crl.der").read_bytes())
    at = crl.next_update_utc + dt.timedelta(days=1)
    problems = check_chain(cert, ca, crl=(pki.folder / "crl.der").read_bytes(), at=at)
    assert len(problems) == 1 and "the CRL of" in problems[0] and "is out of date" in problems[0]


def test_unreadable_or_missing_input(pki):
    assert check_chain(b"", pki.ca_path.read_bytes()) == ["no certificate to check"]
    assert check_chain(pki.cert_path("server").read_bytes(), b"") == ["no trusted CA certificate given"]
    assert check_chain(b"-----BEGIN CERTIFICATE-----\nxx\n-----END CERTIFICATE-----\n", b"")[0].startswith(
        "a certificate cannot be read")


def test_self_signed_leaf_refused(pki, foreign):
    problems = check_chain(foreign.ca_path.read_bytes(), pki.ca_path.read_bytes())
    assert len(problems) == 1 and "self-signed" in problems[0]
    assert check_chain(pki.ca_path.read_bytes(), pki.ca_path.read_bytes()) == []  # the anchor itself
