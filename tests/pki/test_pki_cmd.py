"""``drimcheck pki init|issue|revoke|show`` (harness.pki_cmd): what each prints and writes, and one line
naming the flag at fault, exit 2."""

from __future__ import annotations

import argparse

import pytest
from cryptography import x509

from harness.pki import Pki
from harness.pki_cmd import add_parser


def run(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="drimcheck")
    add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(list(argv))
    return args.func(args)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    out = tmp_path_factory.mktemp("cmd") / "pki"
    assert run("pki", "init", "--out", str(out), "--organisation", "ACME TEST", "--base-url", "http://127.0.0.1:9") == 0
    return out


def error_line(capsys) -> str:
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and captured.out == "", captured
    return lines[0]


def test_init_prints_what_it_wrote(tmp_path, capsys):
    assert run("pki", "init", "--out", str(tmp_path / "p")) == 0
    out = capsys.readouterr().out
    assert f"wrote {tmp_path / 'p' / 'ca.pem'}" in out and "TEST AC IGC-SANTE ELEMENTAIRE ORGANISATIONS" in out
    assert Pki.open(tmp_path / "p").base_url == "http://127.0.0.1:8088"


def test_issue_show_revoke(folder, capsys):
    assert run("pki", "issue", "--out", str(folder), "--name", "acme-auth", "--cn", "db.acme.test", "--ou",
               "399999999800019", "--usage", "client", "--dns", "db.acme.test", "--days", "30") == 0
    out = capsys.readouterr().out
    assert f"wrote {folder / 'acme-auth.pem'}" in out and "CN=db.acme.test,OU=399999999800019,O=ACME TEST,C=FR" in out
    cert = Pki.open(folder).certificate("acme-auth")
    assert cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(
        x509.DNSName) == ["db.acme.test"]
    assert 29 <= (cert.not_valid_after_utc - cert.not_valid_before_utc).days <= 30
    assert run("pki", "revoke", "--out", str(folder), "--name", "acme-auth", "--reason", "affiliationChanged") == 0
    assert f"revoked acme-auth (serial {cert.serial_number:x}, affiliationChanged" in capsys.readouterr().out
    assert run("pki", "show", "--out", str(folder)) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[1].split() == ["name", "subject", "usage", "serial", "not", "after", "status"]
    row = next(line for line in table if line.startswith("acme-auth "))
    assert "client" in row and f"{cert.serial_number:x}" in row and "revoked" in row and "affiliationChanged" in row


@pytest.mark.parametrize(("argv", "flag"), [
    (["--name", "../up", "--cn", "x", "--usage", "server"], "--name ../up"),
    (["--name", "ca", "--cn", "x", "--usage", "server"], "--name ca"),
    (["--name", "ok", "--cn", "x", "--usage", "server", "--ip", "1.2.3"], "--ip 1.2.3"),
    (["--name", "ok", "--cn", "x", "--usage", "server", "--dns", "bad host"], "--dns bad host"),
    (["--name", "ok", "--cn", "x", "--usage", "server", "--days", "0"], "--days 0"),
])
def test_issue_errors_name_the_flag(folder, capsys, argv, flag):
    assert run("pki", "issue", "--out", str(folder), *argv) == 2
    assert error_line(capsys).startswith(f"drimcheck: error: {flag}: ")
    assert not (folder / "ok.pem").exists() and not (folder.parent / "up.pem").exists()


def test_folder_errors_name_out(tmp_path, folder, capsys):
    assert run("pki", "show", "--out", str(tmp_path / "none")) == 2
    assert error_line(capsys).startswith(f"drimcheck: error: --out {tmp_path / 'none'}: ")
    assert run("pki", "init", "--out", str(folder)) == 2
    assert "already a PKI" in error_line(capsys)
    assert run("pki", "init", "--out", str(tmp_path / "x"), "--base-url", "ftp://h") == 2
    assert error_line(capsys).startswith("drimcheck: error: --base-url ftp://h: ")


def test_revoke_unknown_name(folder, capsys):
    assert run("pki", "revoke", "--out", str(folder), "--name", "nobody") == 2
    assert error_line(capsys).startswith("drimcheck: error: --name nobody: no certificate of that name")


def test_bad_usage_and_reason_refused_by_argparse(folder, capsys):
    with pytest.raises(SystemExit) as exc:
        run("pki", "issue", "--out", str(folder), "--name", "x", "--cn", "x", "--usage", "email")
    assert exc.value.code == 2 and "--usage" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        run("pki", "revoke", "--out", str(folder), "--name", "x", "--reason", "bored")
    assert exc.value.code == 2 and "--reason" in capsys.readouterr().err


def test_help_has_examples(capsys):
    with pytest.raises(SystemExit):
        run("pki", "issue", "--help")
    assert "drimcheck pki issue --out run/pki" in capsys.readouterr().out
