"""``drimcheck whitelist verify`` on lists of the project's test PKI: without ``--ca`` a list is only ever
"not anchored" (exit 3), with ``--ca`` fully verified (exit 0); ``--at`` chooses when the signer's validity
is checked, and a signer that expired after signing is named as such (RFC 5280 §6, ETSI EN 319 132-1)."""

from __future__ import annotations

import argparse
import datetime as dt
import re

import pytest

from harness.whitelist import Domain, build_whitelist, sign_whitelist, verify_whitelist
from harness.whitelist_cmd import EXIT_NOT_ANCHORED, EXIT_OK, EXIT_REFUSED, add_parser

SUMMARY = "signature valid; signer CN=Liste Blanche DRIM-M, OU=318751275100020; chain "


@pytest.fixture(autouse=True)
def system_cas(tmp_path, monkeypatch):
    """The system trust store the verifier sees (SSL_CERT_FILE): empty unless a test writes to it."""
    store = tmp_path / "system-cas.pem"
    store.write_bytes(b"")
    monkeypatch.setenv("SSL_CERT_FILE", str(store))
    return store


@pytest.fixture
def write(tmp_path):
    def put(data: bytes, name: str = "list.xml"):
        path = tmp_path / name
        path.write_bytes(data)
        return path
    return put


def _verify(capsys, *argv) -> tuple[int, str]:
    """``drimcheck whitelist verify ARGV``: (exit status, stdout)."""
    parser = argparse.ArgumentParser(prog="drimcheck")
    add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["whitelist", "verify", *(str(a) for a in argv)])
    return args.func(args), capsys.readouterr().out


def _sign_at(pki, name: str, when: dt.datetime) -> bytes:
    return sign_whitelist(build_whitelist([Domain("1", "db1.drimcheck.test")]), pki.key_path(name).read_bytes(),
                          pki.cert_path(name).read_bytes(), signing_time=when)


# -- without --ca: never more than "not anchored" --------------------------------------------------------
def test_our_list_without_ca_is_not_anchored(signed, write, capsys, system_cas):
    code, out = _verify(capsys, write(signed))
    assert code == EXIT_NOT_ANCHORED
    lines = out.splitlines()
    assert lines[0].endswith(": NOT ANCHORED") and lines[-1].startswith("NOT ANCHORED: the signature is valid")
    assert lines[1] == (f"  {SUMMARY}NOT anchored: no --ca given and the issuer CN=DRIMCHECK TEST AC RACINE IGC-SANTE "
                        f"ELEMENTAIRE of CN=TEST AC IGC-SANTE ELEMENTAIRE ORGANISATIONS is not in the system trust "
                        f"store ({system_cas})")
    # what the signature carries (signer and intermediate) is checked as far as it goes, and said so
    assert "+ the chain the signature carries (CN=Liste Blanche DRIM-M, OU=318751275100020 <- CN=TEST AC " \
           "IGC-SANTE ELEMENTAIRE ORGANISATIONS, OU=IGC-SANTE TEST)" in out
    assert "    - the chain to a trust anchor: NOT anchored" in lines
    assert "    - revocation: no CRL given (--crl FILE or --fetch-crl), and no network access by default" in lines
    assert "entries    2" in out and "\nOK" not in out


def test_our_list_with_ca_is_verified(signed, write, pki, capsys):
    code, out = _verify(capsys, write(signed), "--ca", pki.ca_path)
    assert code == EXIT_OK and out.splitlines()[1] == f"  {SUMMARY}anchored in the CA certificate(s) given"
    assert "    - revocation: no CRL given" in out  # not asked: said, and not counted as verified


def test_root_in_the_system_trust_store_anchors_the_chain(signed, write, pki, capsys, system_cas):
    system_cas.write_bytes(pki.ca_path.read_bytes())
    code, out = _verify(capsys, write(signed))
    assert code == EXIT_OK and f"{SUMMARY}anchored in the system trust store ({system_cas})" in out


def test_a_root_carried_by_the_list_is_no_anchor(pki, write, capsys, plain):
    leaf_and_chain = pki.cert_path("whitelist-signer").read_bytes() + pki.ca_path.read_bytes()
    data = sign_whitelist(plain, pki.key_path("whitelist-signer").read_bytes(), leaf_and_chain)
    code, out = _verify(capsys, write(data))
    assert code == EXIT_NOT_ANCHORED
    assert "the root CN=DRIMCHECK TEST AC RACINE IGC-SANTE ELEMENTAIRE is carried only by the signature itself " \
           "(which proves nothing)" in out


def test_leaf_only_list_names_the_missing_issuer(pki, write, capsys, plain):
    leaf = pki.cert_path("whitelist-signer").read_bytes().split(b"-----END CERTIFICATE-----")[0] + \
        b"-----END CERTIFICATE-----\n"
    data = sign_whitelist(plain, pki.key_path("whitelist-signer").read_bytes(), leaf)
    code, out = _verify(capsys, write(data), "--crl", pki.folder / "crl.pem")
    assert code == EXIT_NOT_ANCHORED
    assert "no --ca given and the issuer CN=TEST AC IGC-SANTE ELEMENTAIRE ORGANISATIONS is not in the system" in out
    assert "- revocation: a CRL's signature cannot be checked without the issuer's certificate" in out


def test_crl_without_ca_is_checked_against_the_carried_issuer(signed, sign_as, write, pki, capsys):
    code, out = _verify(capsys, write(signed), "--crl", pki.folder / "crl.pem")
    assert code == EXIT_NOT_ANCHORED  # revocation verified does not make the chain anchored
    assert "+ revocation: the signer is not on its CA's CRL, whose signature verifies with the issuer the " \
           "signature carries (itself not anchored)" in out
    code, out = _verify(capsys, write(sign_as("revoked-signer")), "--crl", pki.folder / "crl.pem")
    assert code == EXIT_REFUSED and "was revoked on" in out and "keyCompromise" in out


# -- the causes a refusal names --------------------------------------------------------------------------
def test_revoked_signer_with_ca(sign_as, write, pki, capsys):
    code, out = _verify(capsys, write(sign_as("revoked-signer")), "--ca", pki.ca_path, "--crl", pki.folder / "crl.pem")
    assert code == EXIT_REFUSED and re.search(r"  - certificate CN=Liste Blanche DRIM-M,.* was revoked on .*"
                                              r"\(keyCompromise\)", out)


def test_foreign_ca(sign_as, foreign, write, pki, capsys):
    code, out = _verify(capsys, write(sign_as("whitelist-signer", of=foreign)), "--ca", pki.ca_path)
    assert code == EXIT_REFUSED and "neither a trusted CA" in out and "O=ELSEWHERE" in out


@pytest.mark.parametrize("with_ca", [True, False])
def test_altered_list_names_the_digest(signed, write, pki, capsys, with_ca):
    altered = signed.replace(b"<db>db1.drimcheck.test</db>", b"<db>db1.drimcheck.tesu</db>", 1)
    code, out = _verify(capsys, write(altered), *(["--ca", pki.ca_path] if with_ca else []))
    assert code == EXIT_REFUSED
    assert "  - the list was altered after it was signed: the digest of the reference to the whole list differs" \
        in out.splitlines()


def test_other_cn_and_ou_without_ca_are_refused(sign_as, write, capsys):
    code, out = _verify(capsys, write(sign_as("wrong-cn")))
    assert code == EXIT_REFUSED and "CN is Liste Noire DRIM-M, not CN=Liste Blanche DRIM-M" in out
    code, out = _verify(capsys, write(sign_as("wrong-ou")))
    assert code == EXIT_REFUSED and "OU is 399999998000190, not OU=318751275100020" in out


# -- when: now, signing-time, a given time ----------------------------------------------------------------
def test_signer_expired_after_signing(lapsed, pki, write, capsys):
    path = write(lapsed)
    code, out = _verify(capsys, path, "--ca", pki.ca_path)
    assert code == EXIT_REFUSED
    assert re.search(r"  - the signer CN=Liste Blanche DRIM-M, OU=318751275100020 expired on \S+ \S+Z, after the "
                     r"list was signed on \S+ \S+Z: valid at signing time; a DRIMbox fetching this list today "
                     r"must refuse it\n", out)
    assert "hint: --at signing-time" in out
    code, out = _verify(capsys, path, "--ca", pki.ca_path, "--crl", pki.folder / "crl.pem", "--at", "signing-time")
    assert code == EXIT_OK and out.rstrip().endswith("\nOK")
    assert "note: the signer CN=Liste Blanche DRIM-M, OU=318751275100020 expired on" in out
    assert "checked    at the SigningTime (" in out and "+ revocation: the signer is not on its CA's CRL" in out


def test_signature_by_an_expired_signer_is_refused_whatever_at(sign_as, write, pki, capsys):
    path = write(sign_as("expired-signer"))  # SigningTime now, the signer expired yesterday
    for at in ("now", "signing-time", "2000-01-01T00:00:00Z"):
        code, out = _verify(capsys, path, "--ca", pki.ca_path, "--at", at)
        assert code == EXIT_REFUSED, at
        assert "a signature made by an expired signer is refused" in out, at


def test_signing_time_before_the_signer_existed_is_refused(pki, write, capsys):
    path = write(_sign_at(pki, "whitelist-signer", dt.datetime(2001, 1, 1, tzinfo=dt.UTC)))
    code, out = _verify(capsys, path, "--ca", pki.ca_path, "--at", "signing-time")
    assert code == EXIT_REFUSED and "before its signer CN=Liste Blanche DRIM-M, OU=318751275100020 became valid" in out


def test_at_a_given_time_after_expiry(lapsed, pki, write, capsys):
    path = write(lapsed)
    later = (dt.datetime.now(dt.UTC) + dt.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    code, out = _verify(capsys, path, "--ca", pki.ca_path, "--at", later)
    assert code == EXIT_REFUSED and f"a DRIMbox fetching this list on {later[:10]} must refuse it" in out


def test_library_verdict_lists_what_was_and_was_not_verified(signed, pki):
    verdict = verify_whitelist(signed, system_cas=b"")
    assert verdict.status == "not anchored" and not verdict.problems and verdict.whitelist is not None
    assert verdict.whitelist.checks == ("signature", "signer name", "validity")
    assert verdict.unverified[0] == "the chain to a trust anchor: NOT anchored"
    full = verify_whitelist(signed, pki.ca_path.read_bytes(), crl=(pki.folder / "crl.pem").read_bytes())
    assert full.status == "verified" and full.unverified == () and full.anchored
    assert full.whitelist.checks == ("signature", "signer name", "validity", "chain", "revocation")


def test_refused_for_another_reason_keeps_the_chain_verdict(files, tmp_path, write, capsys, plain):
    """A CRL that cannot be fetched refuses the list, and the summary still says the chain was anchored."""
    from harness.pki import Pki
    from harness.servers import serve_wsgi

    server = serve_wsgi(files, "no-crl")  # serves nothing: the CRL distribution point answers 404
    try:
        pki = Pki.init(tmp_path / "pki", base_url=server.url)
        pki.issue("whitelist-signer", cn="Liste Blanche DRIM-M", ou="318751275100020", usage="sign")
        data = sign_whitelist(plain, pki.key_path("whitelist-signer").read_bytes(),
                              pki.cert_path("whitelist-signer").read_bytes())
        code, out = _verify(capsys, write(data), "--ca", pki.ca_path, "--fetch-crl")
    finally:
        server.stop()
    assert code == EXIT_REFUSED and "the CRL of the signing certificate could not be fetched" in out
    assert f"{SUMMARY}anchored in the CA certificate(s) given" in out
    assert "    - revocation: the CRL could not be fetched" in out.splitlines()
