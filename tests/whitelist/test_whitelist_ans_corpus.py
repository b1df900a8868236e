"""``drimcheck whitelist verify`` on every signed ANS test list of ../shared/corpus (DRIM-M_DATA).

The corpus holds the IGC-Santé TEST CA certificates only inside a list: the 2026 list's ds:KeyInfo carries
the signer, "TEST AC IGC-SANTE ELEMENTAIRE ORGANISATIONS" and the root "TEST AC RACINE IGC-SANTE
ELEMENTAIRE". A DRIMbox takes these CAs from igc-sante.esante.gouv.fr, never from the list; the tests take
them from the corpus file at run time (written to tmp_path, never to the repository) and pin their SHA-256,
which are those of the same certificates as the ANS publishes them with its esignsante-ws validator
(src/test/resources/certificats/ca-bundle-tomws.crt). Every ANS signer, 2024 and 2026, was issued by that
intermediate. The corpus has no CRL of it and the tests use no network: revocation is not checked here.

The 2024 signer expired on 2026-09-12: its lists verify at their SigningTime (``--at signing-time``, what
a verifier of a XAdES-BASELINE-B signature without timestamp can do, ETSI EN 319 132-1) and are refused
at ``now``, as a DRIMbox fetching them must refuse them.
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import hashlib
import re
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from harness.whitelist import verify_whitelist
from harness.whitelist_cmd import EXIT_NOT_ANCHORED, EXIT_OK, EXIT_REFUSED, add_parser

TEST_LISTS = "drim-m-data/Référencement DRIMBox/Liste blanche TEST"
WITH_CAS = f"{TEST_LISTS}/Liste blanche signée/LISTEBLANCHE_DRIM-M_SIGNEE_TEST.xml"
# path -> (SigningTime, entries, entries with a vi host, layout)
SIGNED = {
    WITH_CAS: ("2026-09-17 08:27:36Z", 17, 17, "vi on every entry"),
    f"{TEST_LISTS}/Liste blanche signée/LISTEBLANCHE_DRIM-M_SIGNEE_TEST_.xml": ("2024-12-26 12:43:48Z", 6, 0, "<vi/>"),
    f"{TEST_LISTS}/LISTEBLANCHE_DRIM-M_SIGNEE_TEST_.xml": ("2024-12-26 12:43:48Z", 6, 0, "<vi/>, CRLF"),
    "drim-m-data/informatif/listeblanche/LISTEBLANCHE_DRIM-M_TEST_SIGNEE.xml": ("2024-07-12 05:37:19Z", 6, 6, "vi"),
    "drim-m-data/informatif/listeblanche_INFORMATIFSIGNE.xml": ("2024-04-30 12:33:45Z", 6, 0, "no vi, Nom"),
}
IGC_SANTE_TEST_SHA256 = {
    "CN=TEST AC IGC-SANTE ELEMENTAIRE ORGANISATIONS":
        "dc528e3788691b3f7950164076f95b02c64334c68662bdede5750b4e0e5338f6",
    "CN=TEST AC RACINE IGC-SANTE ELEMENTAIRE": "01325aeb193871eec90fa89556804e4185cb362e0ca87a3d79939c71186da805",
}
SIGNER_2024_EXPIRY = "2026-09-12 10:00:44Z"
SUMMARY = "signature valid; signer CN=Liste Blanche DRIM-M, OU=318751275100020; chain "
ALTERED = "the list was altered after it was signed: the digest of the reference to the whole list differs"


def _path(corpus: Path, rel: str) -> Path:
    path = corpus / rel
    if not path.is_file():
        pytest.skip(f"corpus file missing: {path}")
    return path


def _verify(capsys, *argv) -> tuple[int, str]:
    parser = argparse.ArgumentParser(prog="drimcheck")
    add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["whitelist", "verify", *(str(a) for a in argv)])
    return args.func(args), capsys.readouterr().out


@pytest.fixture(autouse=True)
def no_system_cas(tmp_path, monkeypatch):
    """An empty system trust store: the verdicts must not depend on the machine (no IGC-Santé CA is in the
    usual stores anyway)."""
    store = tmp_path / "system-cas.pem"
    store.write_bytes(b"")
    monkeypatch.setenv("SSL_CERT_FILE", str(store))
    return store


@pytest.fixture
def igc_sante_test(corpus, tmp_path) -> Path:
    """The IGC-Santé TEST intermediate and root, taken from the 2026 list's KeyInfo into a tmp_path PEM."""
    data = _path(corpus, WITH_CAS).read_bytes()
    cas = [c for c in (x509.load_der_x509_certificate(base64.b64decode(b)) for b in
                       re.findall(rb"<ds:X509Certificate>(.*?)</ds:X509Certificate>", data, re.S))
           if "IGC-SANTE" in c.subject.rfc4514_string()]
    found = {f"CN={c.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value}":
             hashlib.sha256(c.public_bytes(serialization.Encoding.DER)).hexdigest() for c in cas}
    assert found == IGC_SANTE_TEST_SHA256
    pem = tmp_path / "igc-sante-test.pem"
    pem.write_bytes(b"".join(c.public_bytes(serialization.Encoding.PEM) for c in cas))
    return pem


@pytest.mark.parametrize("rel", SIGNED, ids=[v[3] for v in SIGNED.values()])
def test_verifies_at_signing_time_with_the_igc_sante_test_cas(corpus, igc_sante_test, capsys, rel):
    signed_at, entries, with_vi, _ = SIGNED[rel]
    code, out = _verify(capsys, _path(corpus, rel), "--ca", igc_sante_test, "--at", "signing-time")
    lines = out.splitlines()
    assert code == EXIT_OK and lines[0].endswith(": VERIFIED") and lines[-1] == "OK"
    assert lines[1] == f"  {SUMMARY}anchored in the CA certificate(s) given"
    assert f"  checked    at the SigningTime ({signed_at})" in lines and f"  entries    {entries}" in lines
    assert sum("  vi=-  " not in line for line in lines if re.match(r"\s+\d+  \S+  vi=", line)) == with_vi
    assert "    - revocation: no CRL given (--crl FILE or --fetch-crl), and no network access by default" in lines
    if signed_at.startswith("2024"):  # verified as of then, and said to be refused today
        assert (f"  note: the signer CN=Liste Blanche DRIM-M, OU=318751275100020 expired on {SIGNER_2024_EXPIRY}, "
                f"after the list was signed on {signed_at}: valid at signing time; a DRIMbox fetching this list "
                "today must refuse it") in lines


@pytest.mark.parametrize("rel", SIGNED, ids=[v[3] for v in SIGNED.values()])
def test_without_ca_the_chain_is_not_anchored(corpus, capsys, rel, no_system_cas):
    code, out = _verify(capsys, _path(corpus, rel), "--at", "signing-time")
    assert code == EXIT_NOT_ANCHORED and out.splitlines()[-1].startswith("NOT ANCHORED: ")
    if rel == WITH_CAS:  # it carries its root, which vouches for nothing
        reason = ("no --ca given and the root CN=TEST AC RACINE IGC-SANTE ELEMENTAIRE is carried only by the "
                  "signature itself (which proves nothing) and is not in the system trust store")
    else:  # the 2024 lists carry the signer alone
        reason = ("no --ca given and the issuer CN=TEST AC IGC-SANTE ELEMENTAIRE ORGANISATIONS is not in the "
                  "system trust store")
    assert f"  {SUMMARY}NOT anchored: {reason} ({no_system_cas})" in out.splitlines()


@pytest.mark.parametrize("rel", SIGNED, ids=[v[3] for v in SIGNED.values()])
def test_now_refuses_the_lists_of_the_expired_2024_signer(corpus, igc_sante_test, capsys, rel):
    signed_at = SIGNED[rel][0]
    code, out = _verify(capsys, _path(corpus, rel), "--ca", igc_sante_test)  # --at now by default
    signer = verify_whitelist(_path(corpus, rel).read_bytes(), at="signing-time", system_cas=b"").signer
    if dt.datetime.now(dt.UTC) <= signer.not_valid_after_utc:  # the 2026 list, until its signer expires in 2029
        assert code == EXIT_OK and "  checked    now (" in out
        return
    assert code == EXIT_REFUSED
    expired = signer.not_valid_after_utc.strftime("%Y-%m-%d %H:%M:%SZ")
    assert (f"  - the signer CN=Liste Blanche DRIM-M, OU=318751275100020 expired on {expired}, after the list was "
            f"signed on {signed_at}: valid at signing time; a DRIMbox fetching this list today must refuse it"
            ) in out.splitlines()
    assert "  hint: --at signing-time checks the list as of its SigningTime" in out
    assert expired == SIGNER_2024_EXPIRY or rel == WITH_CAS


@pytest.mark.parametrize("rel", SIGNED, ids=[v[3] for v in SIGNED.values()])
def test_one_character_of_an_entry_changed_is_refused(corpus, igc_sante_test, tmp_path, capsys, rel):
    data = _path(corpus, rel).read_bytes()
    host = re.search(rb"<(db|Nom)>([^<]+)</", data)
    start = host.start(2)
    altered = data[:start] + (b"e" if data[start:start + 1] != b"e" else b"f") + data[start + 1:]
    assert len(altered) == len(data) and altered != data
    path = tmp_path / "altered.xml"
    path.write_bytes(altered)
    for argv in (["--ca", igc_sante_test, "--at", "signing-time"], ["--at", "signing-time"]):
        code, out = _verify(capsys, path, *argv)
        assert code == EXIT_REFUSED and f"  - {ALTERED}" in out.splitlines() and "signature NOT valid" in out


def test_a_foreign_ca_does_not_anchor_an_ans_list(corpus, pki, capsys):
    code, out = _verify(capsys, _path(corpus, WITH_CAS), "--ca", pki.ca_path, "--at", "signing-time")
    assert code == EXIT_REFUSED
    assert "certificate CN=TEST AC RACINE IGC-SANTE ELEMENTAIRE,OU=IGC-SANTE TEST,OU=0002 187512751,O=ASIP-SANTE," \
           "C=FR is self-signed and is not a trusted CA" in out
