"""Signed evidence bundles: evidence.zip's manifest signed in CMS (RFC 5652), every tampering named.

A small campaign (one test, one captured exchange) goes through reports.build.write_reports; the
bundle is then altered the ways a forger would, and checked by our code and by the openssl CLI.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import shutil
import subprocess
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs7
from cryptography.x509.oid import NameOID

from reports import signing
from reports.build import evidence_key, write_reports
from reports.signing import MANIFEST_NAME, SIGNATURE_NAME, EvidenceKey, sign_manifest, verify_bundle
from reports.verify_cmd import add_parser

EXCHANGES = "evidence/exchanges.jsonl"


# -- a throwaway PKI: root -> intermediate -> evidence signer ---------------------------------
@dataclass(frozen=True)
class ThrowawayPki:
    ca_pem: bytes  # the root, trust anchor
    key_pem: bytes  # the signer's key
    cert_pem: bytes  # the signer's certificate then the intermediate


def _cert(subject: str, key: ec.EllipticCurvePrivateKey, issuer: str, issuer_key: ec.EllipticCurvePrivateKey,
          ca: bool) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    usage = (x509.KeyUsage(False, False, False, False, False, True, True, False, False) if ca
             else x509.KeyUsage(True, True, False, False, False, False, False, False, False))
    return (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
            .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(hours=1)).not_valid_after(now + dt.timedelta(days=2))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
            .add_extension(usage, critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(issuer_key, hashes.SHA256()))


def make_pki(prefix: str) -> ThrowawayPki:
    keys = [ec.generate_private_key(ec.SECP256R1()) for _ in range(3)]
    root = _cert(f"{prefix} root", keys[0], f"{prefix} root", keys[0], ca=True)
    inter = _cert(f"{prefix} intermediate", keys[1], f"{prefix} root", keys[0], ca=True)
    leaf = _cert("DRIMcheck evidence", keys[2], f"{prefix} intermediate", keys[1], ca=False)
    pem = serialization.Encoding.PEM
    key_pem = keys[2].private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return ThrowawayPki(root.public_bytes(pem), key_pem, leaf.public_bytes(pem) + inter.public_bytes(pem))


@pytest.fixture(scope="module")
def pki() -> ThrowawayPki:
    return make_pki("DRIMcheck test")


@pytest.fixture(scope="module")
def foreign() -> ThrowawayPki:
    return make_pki("Elsewhere")


# -- a small campaign --------------------------------------------------------------------------
def small_results(suts: list[dict] | None = None) -> dict:
    """A results.json of one passed test with one captured exchange (schema 1.x)."""
    test = {"nodeid": "testplans/dmp/test_query.py::test_iti18", "plan": "dmp", "requirements": ["DMP-Q-001"],
            "outcome": "passed", "duration": 0.2, "exchanges": ["ex-1"]}
    exchange = {"id": "ex-1", "test": test["nodeid"], "protocol": "http", "actor": "harness:dmp-client",
                "direction": "outbound", "summary": "POST /registry", "status": "200"}
    return {
        "schema_version": "1.1",
        "campaign": {"id": "signed-1", "started": 1.0, "finished": 2.0, "tool": "drimcheck", "tool_version": "0",
                     "git_revision": None, "catalog_hash": "0" * 64, "plans": ["dmp"], "command": ["drimcheck"],
                     "suts": suts or [{"name": "reference:dmp", "actor": "dmp", "reference": True}]},
        "summary": {"exit_code": 0, "verdict": "pass", "shall_failed": [], "tests": {"passed": 1}, "test_total": 1,
                    "requirements": {"passed": 1, "failed": 0, "inconclusive": 0, "not_run": 0,
                                     "not_applicable": 0, "not_tested": 0}, "requirement_total": 1},
        "requirements": [{"id": "DMP-Q-001", "title": "answers ITI-18", "level": "SHALL", "actor": "dmp",
                          "source": "IHE ITI TF-2a §3.18", "verdict": "passed", "tests": [test["nodeid"]],
                          "failures": []}],
        "tests": [test],
        "exchanges": [exchange],
    }


def campaign(out: Path, key: EvidenceKey | None, suts: list[dict] | None = None) -> Path:
    """Write the small campaign's reports into ``out`` (signed with ``key``); returns evidence.zip."""
    evidence = out / "evidence"
    evidence.mkdir(parents=True)
    line = {"id": "ex-1", "test": "testplans/dmp/test_query.py::test_iti18", "protocol": "http",
            "actor": "harness:dmp-client", "direction": "outbound", "summary": "POST /registry", "status": "200",
            "request": {"headers": [["Content-Type", "application/soap+xml"]], "body": {"text": "<q/>"}},
            "response": {"headers": [["Content-Type", "application/soap+xml"]], "body": {"text": "<r/>"}}}
    (evidence / "exchanges.jsonl").write_text(json.dumps(line) + "\n", encoding="utf-8")
    write_reports(small_results(suts), out, key=key)
    return out / "evidence.zip"


@pytest.fixture(scope="module")
def signed(pki, tmp_path_factory) -> Path:
    key = EvidenceKey(pki.key_pem, pki.cert_pem, "test PKI")
    return campaign(tmp_path_factory.mktemp("campaign") / "out", key)


def rewrite(src: Path, dst: Path, change: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> Path:
    """A copy of zip ``src`` with the entries of ``change`` replaced (their CRC recomputed, as a forger would)."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", compression=compression) as zout:
        for item in zin.infolist():
            zout.writestr(item.filename, change.get(item.filename, zin.read(item.filename)))
    return dst


def flip_byte(data: bytes, needle: bytes) -> bytes:
    at = data.index(needle)
    return data[:at] + bytes([data[at] ^ 0x01]) + data[at + 1:]


# -- the signed bundle -------------------------------------------------------------------------
def test_campaign_bundle_is_signed_and_verifies_up_to_the_ca(signed, pki):
    check = verify_bundle(signed, pki.ca_pem)
    assert check.ok, check.problems
    assert check.signer == "CN=DRIMcheck evidence"
    assert check.chain_checked
    assert check.notes[-1] == "chain: CN=DRIMcheck evidence <- CN=DRIMcheck test intermediate <- CN=DRIMcheck test root"
    with zipfile.ZipFile(signed) as zf:
        names = set(zf.namelist())
    assert {MANIFEST_NAME, SIGNATURE_NAME, EXCHANGES, "results.json", "report.html"} <= names


def test_results_and_report_say_who_signed(signed):
    out = signed.parent
    evidence = json.loads((out / "results.json").read_text())["evidence"]
    assert evidence["signed"] and evidence["signer"] == "CN=DRIMcheck evidence"
    assert evidence["issuer"] == "CN=DRIMcheck test intermediate"
    header = (out / "report.html").read_text().split("</header>", 1)[0]
    assert "evidence.zip signed by <b>CN=DRIMcheck evidence</b>" in header


def test_signature_carries_the_signer_chain(signed):
    with zipfile.ZipFile(signed) as zf:
        carried = pkcs7.load_der_pkcs7_certificates(zf.read(SIGNATURE_NAME))
    assert [c.subject.rfc4514_string() for c in carried] == ["CN=DRIMcheck evidence",
                                                             "CN=DRIMcheck test intermediate"]


# -- tampering ---------------------------------------------------------------------------------
def test_one_changed_byte_names_the_altered_file(signed, pki, tmp_path):
    with zipfile.ZipFile(signed) as zf:
        original = zf.read(EXCHANGES)
    tampered = rewrite(signed, tmp_path / "t.zip", {EXCHANGES: flip_byte(original, b"200")})
    check = verify_bundle(tampered, pki.ca_pem)
    assert not check.ok
    assert check.altered == [EXCHANGES] and check.missing == [] and check.extra == []
    expected = hashlib.sha256(original).hexdigest()
    assert check.problems == [f"altered: {EXCHANGES} (sha256 expected {expected}, found "
                              f"{hashlib.sha256(flip_byte(original, b'200')).hexdigest()})"]


def test_a_byte_changed_in_the_raw_zip_names_the_file(signed, pki, tmp_path):
    """A byte flipped in the stored data, the zip's CRC left as it was: still named, not a crash."""
    stored = rewrite(signed, tmp_path / "stored.zip", {}, compression=zipfile.ZIP_STORED)
    raw = stored.read_bytes()
    (tmp_path / "raw.zip").write_bytes(flip_byte(raw, b'"status": "200"'))
    check = verify_bundle(tmp_path / "raw.zip", pki.ca_pem)
    assert check.altered == [EXCHANGES]
    assert "unreadable entry (Bad CRC-32" in check.problems[0]


def test_manifest_changed_to_match_breaks_the_signature(signed, pki, tmp_path):
    with zipfile.ZipFile(signed) as zf:
        original, manifest = zf.read(EXCHANGES), zf.read(MANIFEST_NAME)
    forged = flip_byte(original, b"200")
    old, new = (hashlib.sha256(data).hexdigest().encode() for data in (original, forged))
    manifest = manifest.replace(old, new)
    check = verify_bundle(rewrite(signed, tmp_path / "t.zip", {EXCHANGES: forged, MANIFEST_NAME: manifest}),
                          pki.ca_pem)
    assert check.altered == []
    assert check.problems == [f"signature: message digest differs: {MANIFEST_NAME} was changed after it was signed"]


def test_missing_and_unlisted_files_are_named(signed, pki, tmp_path):
    with zipfile.ZipFile(signed) as zf, zipfile.ZipFile(tmp_path / "t.zip", "w") as out:
        for item in zf.infolist():
            if item.filename != "junit.xml":
                out.writestr(item.filename, zf.read(item.filename))
        out.writestr("evidence/planted.txt", b"not from the campaign")
    check = verify_bundle(tmp_path / "t.zip", pki.ca_pem)
    assert check.missing == ["junit.xml"] and check.extra == ["evidence/planted.txt"]
    assert check.problems == ["missing: junit.xml (listed in MANIFEST.sha256, not in the zip)",
                              "extra: evidence/planted.txt (in the zip, not listed in MANIFEST.sha256)"]


def test_signer_of_a_foreign_ca_is_refused(foreign, pki, tmp_path):
    bundle = campaign(tmp_path / "out", EvidenceKey(foreign.key_pem, foreign.cert_pem, "foreign"))
    check = verify_bundle(bundle, pki.ca_pem)
    assert not check.ok and not check.chain_checked
    assert check.problems[0].startswith("chain: CN=DRIMcheck evidence does not chain to the given CA")
    assert verify_bundle(bundle, foreign.ca_pem).ok


def test_without_a_ca_the_chain_is_reported_not_checked(signed):
    check = verify_bundle(signed, None)
    assert check.ok and check.signer == "CN=DRIMcheck evidence"
    assert not check.chain_checked
    assert any(n.startswith("chain: NOT checked") for n in check.notes)
    assert not any("chain: CN=" in n for n in check.notes)


def test_unsigned_bundle_is_a_problem(tmp_path, pki):
    bundle = campaign(tmp_path / "out", None, suts=[_profile_sut(tmp_path, pki.key_pem, b"not a certificate")])
    check = verify_bundle(bundle, pki.ca_pem)
    assert check.problems == [f"not signed: no {SIGNATURE_NAME} in the zip"]
    evidence = json.loads((tmp_path / "out" / "results.json").read_text())["evidence"]
    assert not evidence["signed"] and "unreadable key or certificate" in evidence["problem"]
    assert "evidence.zip is NOT signed" in (tmp_path / "out" / "report.html").read_text()


def test_unsafe_entries_and_an_oversized_manifest_are_refused(signed, pki, tmp_path, monkeypatch):
    with zipfile.ZipFile(signed) as zf, zipfile.ZipFile(tmp_path / "t.zip", "w") as out:
        for item in zf.infolist():
            out.writestr(item.filename, zf.read(item.filename))
        out.writestr("../escape.txt", b"x")
        out.writestr("/etc/cron.d/x", b"x")
    problems = verify_bundle(tmp_path / "t.zip", pki.ca_pem).problems
    assert problems == ["refused entry '../escape.txt' ('..' segment)", "refused entry '/etc/cron.d/x' (absolute path)"]
    monkeypatch.setattr(signing, "MAX_MANIFEST_BYTES", 100)
    assert verify_bundle(signed, pki.ca_pem).problems == [f"{MANIFEST_NAME}: larger than 100 bytes, refused"]


# -- from outside ------------------------------------------------------------------------------
@pytest.mark.skipif(shutil.which("openssl") is None, reason="the openssl CLI is not installed")
def test_openssl_cli_verifies_the_signature(signed, pki, tmp_path):
    with zipfile.ZipFile(signed) as zf:
        (tmp_path / MANIFEST_NAME).write_bytes(zf.read(MANIFEST_NAME))
        (tmp_path / SIGNATURE_NAME).write_bytes(zf.read(SIGNATURE_NAME))
    (tmp_path / "ca.pem").write_bytes(pki.ca_pem)

    def openssl_verify(content: str) -> subprocess.CompletedProcess:
        return subprocess.run(["openssl", "cms", "-verify", "-binary", "-inform", "DER", "-in", SIGNATURE_NAME,
                               "-content", content, "-CAfile", "ca.pem", "-purpose", "any", "-out", "/dev/null"],
                              cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False)

    proc = openssl_verify(MANIFEST_NAME)
    assert proc.returncode == 0 and "Verification successful" in proc.stderr, proc.stderr
    (tmp_path / "forged").write_bytes((tmp_path / MANIFEST_NAME).read_bytes().replace(b"  ", b"  ./", 1))
    assert openssl_verify("forged").returncode != 0


@pytest.mark.skipif(shutil.which("openssl") is None, reason="the openssl CLI is not installed")
def test_a_signature_made_by_openssl_verifies_here(pki, tmp_path):
    (tmp_path / "m").write_bytes(b"0" * 64 + b"  results.json\n")
    (tmp_path / "key.pem").write_bytes(pki.key_pem)
    leaf, intermediate = x509.load_pem_x509_certificates(pki.cert_pem)
    (tmp_path / "leaf.pem").write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "chain.pem").write_bytes(intermediate.public_bytes(serialization.Encoding.PEM))
    subprocess.run(["openssl", "cms", "-sign", "-binary", "-in", "m", "-signer", "leaf.pem", "-inkey", "key.pem",
                    "-certfile", "chain.pem", "-outform", "DER", "-out", "m.p7s", "-md", "sha256"],
                   cwd=tmp_path, capture_output=True, timeout=60, check=True)
    info = signing.verify_signature((tmp_path / "m").read_bytes(), (tmp_path / "m.p7s").read_bytes())
    assert info.signer.subject.rfc4514_string() == "CN=DRIMcheck evidence"
    assert signing.check_chain(info, pki.ca_pem)[-1] == "CN=DRIMcheck test root"


# -- which key signs ---------------------------------------------------------------------------
def _profile_sut(folder: Path, key_pem: bytes, cert_pem: bytes) -> dict:
    """A results.json SUT entry whose profile file sets credentials.evidence_key/evidence_cert."""
    (folder / "certs").mkdir(exist_ok=True)
    (folder / "certs" / "evidence.key").write_bytes(key_pem)
    (folder / "certs" / "evidence.pem").write_bytes(cert_pem)
    profile = {"name": "acme", "actor": "dmp", "endpoints": {"registry": "http://127.0.0.1:1/registry"},
               "credentials": {"evidence_key": "certs/evidence.key", "evidence_cert": "certs/evidence.pem"}}
    (folder / "acme.yaml").write_text(yaml.safe_dump(profile), encoding="utf-8")
    return {"name": "acme", "actor": "dmp", "reference": False, "source": str(folder / "acme.yaml")}


def test_the_profile_evidence_credentials_sign(foreign, tmp_path):
    key, problem = evidence_key(small_results([_profile_sut(tmp_path, foreign.key_pem, foreign.cert_pem)]))
    assert problem == "" and key is not None
    assert key.issuer == "CN=Elsewhere intermediate"
    assert key.source == f"profile {tmp_path / 'acme.yaml'} (credentials.evidence_key)"


def test_without_profile_credentials_the_default_test_pki_signs(tmp_path, monkeypatch):
    pki_module = pytest.importorskip("harness.pki")
    monkeypatch.setenv("DRIMCHECK_PKI", str(tmp_path / "pki"))
    bundle = campaign(tmp_path / "out", None)
    ca_pem = pki_module.Pki.open(tmp_path / "pki").ca_path.read_bytes()
    check = verify_bundle(bundle, ca_pem)
    assert check.ok, check.problems
    assert check.signer.startswith("CN=DRIMcheck evidence,")
    evidence = json.loads((tmp_path / "out" / "results.json").read_text())["evidence"]
    assert evidence["key_source"] == f"default test PKI {tmp_path / 'pki'}"


def test_a_key_not_matching_its_certificate_does_not_sign(pki, foreign):
    with pytest.raises(signing.SigningError, match="not the one of the certificate"):
        sign_manifest(b"x", foreign.key_pem, pki.cert_pem)


# -- drimcheck verify-bundle -------------------------------------------------------------------
def verify_cli(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="drimcheck")
    add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["verify-bundle", *argv])
    return args.func(args)


def test_cli_exit_0_when_intact_and_chained(signed, pki, tmp_path, capsys):
    (tmp_path / "ca.pem").write_bytes(pki.ca_pem)
    assert verify_cli(str(signed), "--ca", str(tmp_path / "ca.pem")) == 0
    out = capsys.readouterr().out
    assert "ok: every file matches the manifest signed by CN=DRIMcheck evidence, who chains" in out


def test_cli_exit_1_lists_each_problem(signed, pki, tmp_path, capsys):
    with zipfile.ZipFile(signed) as zf:
        original = zf.read(EXCHANGES)
    tampered = rewrite(signed, tmp_path / "t.zip", {EXCHANGES: flip_byte(original, b"200")})
    assert verify_cli(str(tampered)) == 1
    out = capsys.readouterr().out
    assert f"altered: {EXCHANGES} (sha256 expected {hashlib.sha256(original).hexdigest()}, found " in out
    assert "chain: NOT checked" in out


@pytest.mark.parametrize("case", ["no zip", "not a zip", "bad ca"])
def test_cli_exit_2_on_unreadable_input(signed, tmp_path, capsys, case):
    (tmp_path / "junk").write_bytes(b"not pem, not zip")
    argv = {"no zip": [str(tmp_path / "absent.zip")], "not a zip": [str(tmp_path / "junk")],
            "bad ca": [str(signed), "--ca", str(tmp_path / "junk")]}[case]
    assert verify_cli(*argv) == 2
    assert capsys.readouterr().err.startswith("drimcheck: error: ")
