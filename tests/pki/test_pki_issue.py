"""harness.pki: the folder a PKI makes, what each usage's certificate carries, names refused, re-issue,
expired certificates, concurrent creation and the network's PKI."""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import stat
import subprocess
import threading

import pytest
from cryptography import x509
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID, NameOID

import harness.pki as pki_module
from harness.pki import INTERMEDIATE_CN, Pki, PkiError, default_folder, network_pki


def openssl(*args: object) -> subprocess.CompletedProcess:
    return subprocess.run(["openssl", *map(str, args)], capture_output=True, text=True, timeout=30, check=False)


def ext(cert: x509.Certificate, kind: type) -> object:
    return cert.extensions.get_extension_for_class(kind)


def test_init_writes_the_ca_files_keys_private(pki):
    for name in ("ca.pem", "intermediate.pem", "root.key", "intermediate.key", "index.json", "crl.pem", "crl.der"):
        assert (pki.folder / name).is_file(), name
    for key in ("root.key", "intermediate.key", "server.key"):
        assert stat.S_IMODE((pki.folder / key).stat().st_mode) == 0o600, key
    root, inter = pki.certificate("ca"), pki.certificate("intermediate")
    assert root.subject == root.issuer and inter.issuer == root.subject
    assert inter.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == INTERMEDIATE_CN
    assert inter.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == "DRIMCHECK TEST"
    assert ext(inter, x509.BasicConstraints).value.ca and ext(inter, x509.BasicConstraints).value.path_length == 0
    assert ext(inter, x509.KeyUsage).value.key_cert_sign and ext(inter, x509.KeyUsage).value.crl_sign


def test_index_lists_what_was_issued(pki):
    index = json.loads((pki.folder / "index.json").read_text())
    entry = next(e for e in index["certificates"] if e["name"] == "client")
    assert entry["serial"] == pki.certificate("client").serial_number
    assert (entry["cn"], entry["usage"], entry["revoked_at"], entry["reason"]) == (
        "db.drimcheck.test", "client", None, None)


def test_chain_file_is_leaf_then_intermediate_and_key_is_pkcs8(pki):
    certs = x509.load_pem_x509_certificates(pki.cert_path("server").read_bytes())
    assert [c.subject for c in certs] == [pki.certificate("server").subject, pki.certificate("intermediate").subject]
    assert pki.key_path("server").read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")


@pytest.mark.parametrize("name", ["server", "client", "signer"])
def test_openssl_verifies_each_usage(pki, name):
    result = openssl("verify", "-CAfile", pki.ca_path, "-untrusted", pki.intermediate_path, pki.cert_path(name))
    assert result.returncode == 0 and result.stdout.strip().endswith(": OK"), result.stdout + result.stderr


def test_server_certificate_extensions(pki):
    cert = pki.certificate("server")
    assert ext(cert, x509.BasicConstraints).critical and not ext(cert, x509.BasicConstraints).value.ca
    usage = ext(cert, x509.KeyUsage).value
    assert usage.digital_signature and usage.key_encipherment and not usage.content_commitment
    assert list(ext(cert, x509.ExtendedKeyUsage).value) == [ExtendedKeyUsageOID.SERVER_AUTH]
    san = ext(cert, x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["db.drimcheck.test", "localhost"]
    assert san.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("127.0.0.1")]
    aia = {d.access_method: d.access_location.value for d in ext(cert, x509.AuthorityInformationAccess).value}
    assert aia[AuthorityInformationAccessOID.OCSP] == "http://127.0.0.1:8088/ocsp"
    assert aia[AuthorityInformationAccessOID.CA_ISSUERS] == "http://127.0.0.1:8088/intermediate.der"
    points = ext(cert, x509.CRLDistributionPoints).value
    assert [n.value for n in points[0].full_name] == ["http://127.0.0.1:8088/crl.der"]
    inter = pki.certificate("intermediate")
    aki = ext(cert, x509.AuthorityKeyIdentifier).value.key_identifier
    assert aki == ext(inter, x509.SubjectKeyIdentifier).value.digest


def test_client_and_sign_usages(pki):
    client, signer = pki.certificate("client"), pki.certificate("signer")
    assert list(ext(client, x509.ExtendedKeyUsage).value) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    assert ext(client, x509.KeyUsage).value.digital_signature and not ext(client, x509.KeyUsage).value.key_encipherment
    assert client.subject.rfc4514_string() == "CN=db.drimcheck.test,OU=399999999800019,O=DRIMCHECK TEST,C=FR"
    with pytest.raises(x509.ExtensionNotFound):
        ext(signer, x509.ExtendedKeyUsage)
    with pytest.raises(x509.ExtensionNotFound):
        ext(signer, x509.SubjectAlternativeName)
    assert ext(signer, x509.KeyUsage).value.content_commitment  # nonRepudiation


def test_server_without_loopback_and_with_an_ip_cn(pki):
    pki.issue("ip-only", cn="10.1.2.3", loopback=False)
    san = ext(pki.certificate("ip-only"), x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == []
    assert san.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("10.1.2.3")]


@pytest.mark.parametrize("name", ["../escape", "a/b", ".hidden", "", "with space", "ca", "intermediate", "x" * 65])
def test_bad_names_refused(pki, name):
    with pytest.raises(PkiError, match="name"):
        pki.issue(name, cn="x")
    assert not list(pki.folder.parent.glob("escape*"))


def test_bad_usage_dns_ip_refused(pki):
    with pytest.raises(PkiError, match="usage"):
        pki.issue("bad", cn="x", usage="email")
    with pytest.raises(PkiError, match="host name"):
        pki.issue("bad", cn="x", dns=["not a host"])
    with pytest.raises(PkiError, match="IP address"):
        pki.issue("bad", cn="x", ips=["300.1.1.1"])
    assert "bad" not in pki.current()


def test_reissue_replaces_with_a_new_serial(pki):
    first = pki.issue("renewed", cn="renewed.drimcheck.test")
    second = pki.issue("renewed", cn="renewed.drimcheck.test")
    assert first.serial != second.serial
    assert pki.certificate("renewed").serial_number == second.serial
    assert pki.current()["renewed"]["serial"] == second.serial
    assert [e["serial"] for e in pki.entries() if e["name"] == "renewed"] == [first.serial, second.serial]


def test_not_after_in_the_past_gives_an_expired_certificate(pki):
    end = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    pki.issue("expired-one", cn="old.drimcheck.test", usage="client", not_after=end)
    cert = pki.certificate("expired-one")
    assert cert.not_valid_after_utc == end and cert.not_valid_before_utc < end
    result = openssl("verify", "-CAfile", pki.ca_path, "-untrusted", pki.intermediate_path,
                     pki.cert_path("expired-one"))
    assert result.returncode != 0 and "expired" in result.stdout + result.stderr


def test_init_refuses_a_non_empty_folder_and_an_existing_pki(tmp_path, pki):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(PkiError, match="not empty"):
        Pki.init(tmp_path)
    with pytest.raises(PkiError, match="already a PKI"):
        Pki.init(pki.folder)
    assert (tmp_path / "notes.txt").read_text() == "mine" and not (tmp_path / "ca.pem").exists()


def test_open_names_the_folder_that_is_not_a_pki(tmp_path):
    with pytest.raises(PkiError, match=str(tmp_path)):
        Pki.open(tmp_path)
    with pytest.raises(PkiError, match="does not exist"):
        Pki.open(tmp_path / "missing")


def test_ensure_racing_threads_make_one_pki(tmp_path):
    folder, results, errors = tmp_path / "shared", [], []

    def make() -> None:
        try:
            results.append(Pki.ensure(folder).ca_path.read_bytes())
        except Exception as exc:  # collected: the assertion below shows it
            errors.append(exc)

    threads = [threading.Thread(target=make) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == [] and len(results) == 3 and len(set(results)) == 1
    assert Pki.ensure(folder).ca_path.read_bytes() == results[0]


def test_status_and_revoke(pki):
    issued = pki.issue("to-revoke", cn="gone.drimcheck.test", usage="client")
    assert pki.status(issued.serial) == ("good", None)
    pki.revoke("to-revoke", "superseded")
    state, when = pki.status(issued.serial)
    assert state == "revoked" and abs(when - dt.datetime.now(dt.UTC)) < dt.timedelta(minutes=1)
    assert pki.reason(issued.serial) == x509.ReasonFlags.superseded
    assert pki.status(12345) == ("unknown", None)
    with pytest.raises(PkiError, match="no certificate named"):
        pki.revoke("never-issued")
    with pytest.raises(PkiError, match="reason"):
        pki.revoke("to-revoke", "bored")


def test_network_pki_issues_the_simulators_certificates_once(tmp_path, monkeypatch):
    first = network_pki(tmp_path / "net")
    serials = {name: e["serial"] for name, e in first.current().items()}
    assert set(serials) == {"dmp", "source", "consumer", "psc", "pacs", "ocsp", "source-client", "consumer-client",
                            "source-sign", "consumer-sign", "whitelist-signer", "evidence"}
    signer = first.certificate("whitelist-signer")
    assert signer.subject.rfc4514_string() == ("CN=Liste Blanche DRIM-M,OU=318751275100020,"
                                               "O=AGENCE DU NUMERIQUE EN SANTE,C=FR")
    assert signer.issuer.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == INTERMEDIATE_CN
    assert first.current()["source-client"]["usage"] == "client"

    def no_keys(*_args, **_kwargs):
        raise AssertionError("a key was generated")

    monkeypatch.setattr(pki_module.rsa, "generate_private_key", no_keys)
    again = network_pki(tmp_path / "net")
    assert {name: e["serial"] for name, e in again.current().items()} == serials


def test_network_pki_reissues_a_server_for_new_hosts_and_a_revoked_one(tmp_path):
    pki = network_pki(tmp_path / "net")
    before = {name: e["serial"] for name, e in pki.current().items()}
    pki.revoke("source-client")
    network_pki(tmp_path / "net", hosts=("127.0.0.1", "localhost", "drimbox.example.test"))
    after = {name: e["serial"] for name, e in pki.current().items()}
    changed = {name for name in before if before[name] != after[name]}
    assert changed == {"dmp", "source", "consumer", "psc", "pacs", "ocsp", "source-client"}  # CN stays localhost
    san = ext(pki.certificate("dmp"), x509.SubjectAlternativeName).value
    assert "drimbox.example.test" in san.get_values_for_type(x509.DNSName)


def test_default_folder_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("DRIMCHECK_PKI", str(tmp_path / "here"))
    assert default_folder() == tmp_path / "here" and (tmp_path / "here").is_dir()
    monkeypatch.delenv("DRIMCHECK_PKI")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert default_folder() == tmp_path / "cache" / "drimcheck" / "pki"


def test_init_arguments_checked_before_anything_is_written(tmp_path):
    with pytest.raises(PkiError, match="base URL"):
        Pki.init(tmp_path / "a", base_url="ftp://example.test")
    with pytest.raises(PkiError, match="days"):
        Pki.ensure(tmp_path / "b", days=0)
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()
