"""``drimcheck whitelist make | sign | verify`` (harness.whitelist_cmd): round trip and exit statuses."""

from __future__ import annotations

import argparse

import pytest

from harness.whitelist_cmd import EXIT_NOT_ANCHORED, EXIT_OK, EXIT_REFUSED, EXIT_USAGE, add_parser

ENTRY_1 = "1,db1.drimcheck.test,vi1.drimcheck.test,CN=db1.drimcheck.test,OU=399999998000190,O=ACME,C=FR"
ENTRY_2 = "2,db2.drimcheck.test,,CN=db2.drimcheck.test,OU=399999998000270,O=AUTRE,C=FR"


def drimcheck(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="drimcheck")
    add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args([str(a) for a in argv])
    return args.func(args)


@pytest.fixture(autouse=True)
def no_system_cas(tmp_path, monkeypatch):
    """An empty system trust store, so that a verdict never depends on the machine's CAs."""
    empty = tmp_path / "system-cas.pem"
    empty.write_bytes(b"")
    monkeypatch.setenv("SSL_CERT_FILE", str(empty))
    return empty


@pytest.fixture
def made(tmp_path, capsys):
    out = tmp_path / "list.xml"
    assert drimcheck("whitelist", "make", "--entry", ENTRY_1, "--entry", ENTRY_2, "--out", out) == EXIT_OK
    assert "2 entries, unsigned" in capsys.readouterr().out
    return out


def test_make_sign_verify(made, tmp_path, pki, capsys):
    signed = tmp_path / "signed.xml"
    assert drimcheck("whitelist", "sign", "--in", made, "--key", pki.key_path("whitelist-signer"),
                     "--cert", pki.cert_path("whitelist-signer"), "--out", signed) == EXIT_OK
    capsys.readouterr()
    assert drimcheck("whitelist", "verify", signed, "--ca", pki.ca_path, "--crl", pki.folder / "crl.pem") == EXIT_OK
    out = capsys.readouterr().out
    assert out.startswith(f"{signed}: VERIFIED\n")
    assert "  signature valid; signer CN=Liste Blanche DRIM-M, OU=318751275100020; chain anchored in the CA " \
           "certificate(s) given\n" in out
    assert "+ the chain to a trust anchor of the CA certificate(s) given" in out
    assert "+ revocation: the signer is not on its CA's CRL\n" in out and "NOT verified" not in out
    assert "entries    2" in out and out.rstrip().endswith("\nOK")
    assert "db2.drimcheck.test  vi=-  CN=db2.drimcheck.test,OU=399999998000270,O=AUTRE,C=FR" in out


def test_sign_and_verify_with_a_pki_folder(made, tmp_path, capsys):
    from harness.pki import Pki

    folder = tmp_path / "pki"
    Pki.init(folder)
    signed = tmp_path / "signed.xml"
    assert drimcheck("whitelist", "sign", "--in", made, "--pki", folder, "--out", signed) == EXIT_OK
    assert (folder / "whitelist-signer.pem").is_file()  # issued on first use
    assert drimcheck("whitelist", "verify", signed, "--pki", folder) == EXIT_OK
    assert "+ revocation: the signer is not on its CA's CRL" in capsys.readouterr().out


def test_refused_list_lists_each_problem(tmp_path, sign_as, foreign, pki, capsys):
    path = tmp_path / "foreign.xml"
    path.write_bytes(sign_as("whitelist-signer", of=foreign))
    assert drimcheck("whitelist", "verify", path, "--ca", pki.ca_path, "--signer-cn", "Other") == EXIT_REFUSED
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"{path}: REFUSED" and out[-1] == "REFUSED"
    problems = [line for line in out if line.startswith("  - ")]
    assert len(problems) == 2 and problems == out[1:3]
    assert "CN is Liste Blanche DRIM-M, not CN=Other" in problems[0] and "neither a trusted CA" in problems[1]
    assert any(line.startswith("    - the chain to a trust anchor of the CA certificate(s) given, each certificate "
                               "valid now (") for line in out)  # under NOT verified


def test_altered_list_exit_1(tmp_path, signed, pki, capsys):
    path = tmp_path / "altered.xml"
    path.write_bytes(signed.replace(b"<db>db2.drimcheck.test</db>", b"<db>db2.drimcheck.tesT</db>"))
    assert drimcheck("whitelist", "verify", path, "--ca", pki.ca_path) == EXIT_REFUSED
    out = capsys.readouterr().out
    assert "the list was altered after it was signed: the digest of the reference to the whole list differs" in out
    assert "signature NOT valid" in out and "entries" not in out


def test_verify_at_a_given_time(tmp_path, signed, pki, capsys):
    path = tmp_path / "signed.xml"
    path.write_bytes(signed)
    assert drimcheck("whitelist", "verify", path, "--ca", pki.ca_path, "--at", "2000-01-01T00:00:00Z") == EXIT_REFUSED
    out = capsys.readouterr().out
    assert "is not valid before" in out and "checked    at the given time (2000-01-01 00:00:00Z)" in out


@pytest.mark.parametrize(("argv", "message"), [
    (["verify", "{signed}", "--ca", "{missing}"], "--ca {missing}: No such file"),
    (["verify", "{missing}", "--ca", "{ca}"], "XML {missing}: No such file"),
    (["verify", "{signed}", "--ca", "{ca}", "--at", "yesterday"], "--at 'yesterday': expected an ISO 8601 time"),
    (["verify", "{signed}", "--crl", "{missing}"], "--crl {missing}: No such file"),
    (["sign", "--in", "{signed}", "--out", "{out}"], "--key and --cert (or --pki DIR) are needed"),
    (["sign", "--in", "{signed}", "--pki", "{missing}", "--out", "{out}"], "--pki {missing}: {missing} does not exist"),
    (["sign", "--in", "{missing}", "--key", "{key}", "--cert", "{cert}", "--out", "{out}"], "--in {missing}"),
    (["sign", "--in", "{ca}", "--key", "{key}", "--cert", "{cert}", "--out", "{out}"], "cannot be read"),
    (["make", "--entry", "1,db1", "--out", "{out}"], "--entry '1,db1': expected ID,DB,VI,DN"),
])
def test_usage_errors_exit_2(tmp_path, signed, pki, capsys, argv, message):
    (tmp_path / "signed.xml").write_bytes(signed)
    names = {"signed": tmp_path / "signed.xml", "missing": tmp_path / "missing.xml", "out": tmp_path / "out.xml",
             "ca": pki.ca_path, "key": pki.key_path("whitelist-signer"), "cert": pki.cert_path("whitelist-signer")}
    assert drimcheck("whitelist", *(a.format(**names) for a in argv)) == EXIT_USAGE
    err = capsys.readouterr().err
    assert err.startswith("drimcheck: error: ") and message.format(**names) in err and err.count("\n") == 1
    assert not (tmp_path / "out.xml").exists()


def test_crl_and_fetch_crl_exclude_each_other(signed, pki, capsys):
    with pytest.raises(SystemExit) as caught:
        drimcheck("whitelist", "verify", "x.xml", "--ca", pki.ca_path, "--crl", "c.pem", "--fetch-crl")
    assert caught.value.code == 2 and "not allowed with argument" in capsys.readouterr().err


def test_help_has_examples(capsys):
    with pytest.raises(SystemExit):
        drimcheck("whitelist", "verify", "--help")
    out = capsys.readouterr().out
    assert "examples:" in out and "exit status: 0" in out and "3 the signature is valid but" in out
    assert "signing-time" in out


def test_exit_statuses_are_distinct():
    assert len({EXIT_OK, EXIT_REFUSED, EXIT_USAGE, EXIT_NOT_ANCHORED}) == 4 and EXIT_NOT_ANCHORED == 3
