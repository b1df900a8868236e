"""harness.tlsscan: testssl.sh's findings mapped to what fails C17, and real scans of three loopback servers
(the project's own TLS settings, a deliberately weak one, one demanding a client certificate).

The mapping tests use documents shaped as testssl.sh 3.0 writes them and run without it; the scans skip
when testssl.sh is not installed. One scan per server (20 to 45 s each), each in a test of its own so that
xdist workers share them out; the PKI is made once per module.
"""

from __future__ import annotations

import os
import ssl
import stat
import warnings
from pathlib import Path

import pytest

from harness import tlsscan
from harness.pki import network_pki
from harness.servers import serve_wsgi
from harness.tls import server_context

try:
    SCANNER = tlsscan.find_scanner()
except tlsscan.ScannerUnavailable:
    SCANNER = None
needs_scanner = pytest.mark.skipif(SCANNER is None, reason=f"testssl.sh not installed; {tlsscan.INSTALL_HINT}")

GOOD = {
    "protocols": [("SSLv2", "OK", "not offered"), ("SSLv3", "OK", "not offered"), ("TLS1", "INFO", "not offered"),
                  ("TLS1_1", "INFO", "not offered"), ("TLS1_2", "OK", "offered"),
                  ("TLS1_3", "OK", "offered with final")],
    "ciphers": [("cipherlist_NULL", "OK", "not offered"), ("cipherlist_aNULL", "OK", "not offered"),
                ("cipherlist_EXPORT", "OK", "not offered"), ("cipherlist_LOW", "OK", "not offered"),
                ("cipherlist_3DES_IDEA", "INFO", "not offered"), ("cipherlist_AVERAGE", "INFO", "not offered"),
                ("cipherlist_STRONG", "OK", "offered")],
    "serverDefaults": [("cert_signatureAlgorithm", "OK", "SHA256 with RSA"), ("cert_keySize", "INFO", "RSA 2048 bits"),
                       ("cert_trust", "OK", "Ok via SAN"), ("cert_chain_of_trust", "OK", "passed."),
                       ("cert_expirationStatus", "OK", "824 >= 60 days"),
                       ("cert_validityPeriod", "HIGH", "1095 days"), ("OCSP_stapling", "LOW", "not offered")],
    "vulnerabilities": [("CRIME_TLS", "OK", "not vulnerable")],
}


def document(sections: dict[str, list[tuple[str, str, str]]], scan_time: object = 25) -> dict:
    """A --jsonfile-pretty document as testssl.sh 3.0 writes it."""
    result: dict = {"targetHost": "127.0.0.1", "ip": "127.0.0.1", "port": "8443", "service": "HTTP"}
    for section, items in sections.items():
        result[section] = [{"id": i, "severity": s, "finding": f} for i, s, f in items]
    return {"clientProblem1": [{"id": "engine_problem", "severity": "WARN", "finding": "No engine or GOST support"}],
            "Invocation": "testssl ...", "version": "3.0.8  from ", "openssl": "OpenSSL 3.0.19",
            "scanResult": [result], "scanTime": scan_time}


def changed(**replace: tuple[str, str]) -> dict[str, list[tuple[str, str, str]]]:
    """GOOD with some ids' (severity, finding) replaced."""
    return {section: [(i, *replace[i]) if i in replace else (i, s, f) for i, s, f in items]
            for section, items in GOOD.items()}


def report(sections: dict) -> tlsscan.ScanReport:
    return tlsscan.report_from_json(document(sections), target="127.0.0.1:8443")


# --------------------------------------------------------------------------- mapping (no scanner needed)
def test_a_clean_scan_has_no_problem_and_keeps_its_evidence():
    got = report(GOOD)
    assert got.problems() == [] and got.unchecked() == []
    assert got.scanner == "testssl.sh 3.0.8"
    assert got.protocols == {"SSLv2": False, "SSLv3": False, "TLS 1.0": False, "TLS 1.1": False, "TLS 1.2": True,
                             "TLS 1.3": True}
    assert got.cipher_categories["OBSOLETED"] is False  # 3.0's cipherlist_AVERAGE, under 3.1's name
    assert got.compression is False
    assert got.certificate["cert_chain_of_trust"] == "passed."
    # testssl.sh's own severities stay evidence: a 3-year IGC-Santé certificate is no C17 failure
    assert got.concerns() == ["testssl.sh rates HIGH: cert_validityPeriod: 1095 days"]
    assert got.to_dict()["problems"] == []


def test_each_failing_id_gives_a_plain_problem():
    got = report(changed(TLS1=("LOW", "offered (deprecated)"), TLS1_1=("LOW", "offered (deprecated)"),
                         cipherlist_LOW=("HIGH", "offered"), cipherlist_AVERAGE=("LOW", "offered"),
                         CRIME_TLS=("HIGH", "VULNERABLE"),
                         cert_trust=("HIGH", "certificate does not match supplied URI"),
                         cert_chain_of_trust=("CRITICAL", "failed (chain incomplete)."),
                         cert_expirationStatus=("CRITICAL", "expired"),
                         cert_signatureAlgorithm=("MEDIUM", "SHA1 with RSA"), cert_keySize=("HIGH", "RSA 1024 bits")))
    problems = "\n".join(got.problems())
    for expected in ("TLS 1.0 offered", "TLS 1.1 offered", "cipher suite category 'LOW' offered",
                     "cipher suite category 'OBSOLETED' offered", "TLS compression (CRIME) offered",
                     "certificate does not name the host", "certificate chain not trusted: failed (chain incomplete)",
                     "certificate expired", "certificate signed with SHA1 with RSA", "certificate key too small"):
        assert expected in problems
    assert "RFC 9325 §3.1.1" in problems and "RFC 9325 §3.3" in problems
    assert len(got.problems()) == 10
    assert got.weak_cipher_categories == ["LOW", "OBSOLETED"]


def test_no_tls_12_nor_13_is_a_problem_but_tls_13_alone_is_not():
    only13 = report(changed(TLS1_2=("MEDIUM", "not offered")))
    assert only13.problems() == []
    neither = report(changed(TLS1_2=("MEDIUM", "not offered"), TLS1_3=("INFO", "not offered")))
    assert neither.problems() == [f"neither TLS 1.2 nor TLS 1.3 offered ({tlsscan.FAILING_IDS['TLS1_2']})"]


def test_a_check_testssl_could_not_make_is_unchecked_never_passed():
    got = report(changed(SSLv2=("WARN", "couldn't be tested, socket problem"),
                         CRIME_TLS=("WARN", "Check failed, couldn't connect")))
    assert got.protocols["SSLv2"] is None and got.compression is None
    assert got.problems() == []
    assert got.unchecked() == ["SSLv2: testssl.sh could not tell whether it is offered "
                               "(couldn't be tested, socket problem)",
                               "TLS compression not checked (Check failed, couldn't connect)"]


def test_ids_of_a_second_certificate_are_judged_too():
    sections = changed()
    sections["serverDefaults"].append(("cert_chain_of_trust <hostCert#2>", "CRITICAL", "failed (self signed)."))
    assert report(sections).problems() == [
        "certificate chain not trusted: failed (self signed). [cert_chain_of_trust <hostCert#2>] "
        f"({tlsscan.FAILING_IDS['cert_chain_of_trust']})"]


def test_an_interrupted_or_incomplete_scan_is_no_report():
    stopped = {"version": "3.0.8  from ", "scanTime": "Scan interrupted",
               "scanResult": [{"id": "scanProblem", "severity": "FATAL",
                               "finding": "Can't connect to '127.0.0.1:1' Make sure a firewall is not between"}]}
    with pytest.raises(tlsscan.ScanFailed, match="Can't connect"):
        tlsscan.report_from_json(stopped, target="127.0.0.1:1", returncode=246)
    with pytest.raises(tlsscan.ScanFailed, match="lacks CRIME_TLS"):
        report({s: [i for i in items if i[0] != "CRIME_TLS"] for s, items in GOOD.items()})
    with pytest.raises(tlsscan.ScanFailed, match="exit status 245"):
        tlsscan.report_from_json(document(GOOD), target="x:1", returncode=245)


def test_targets():
    assert tlsscan._target("https://dmp.example:8443/wado/studies") == ("dmp.example", 8443)
    assert tlsscan._target("127.0.0.1") == ("127.0.0.1", 443)
    assert tlsscan._target("https://[::1]:9443") == ("::1", 9443)
    with pytest.raises(ValueError, match="plain HTTP"):
        tlsscan._target("http://127.0.0.1:8080")
    args = tlsscan.command("/usr/bin/testssl", "::1", 9443, Path("/tmp/x.json"))
    assert args[-2:] == ["-6", "[::1]:9443"] and "--mtls" not in args


def test_a_client_certificate_goes_to_mtls_in_a_private_file(tmp_path):
    cert, key = tmp_path / "c.pem", tmp_path / "c.key"
    cert.write_text("-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n")
    key.write_text("-----BEGIN PRIVATE KEY-----\nAA==\n-----END PRIVATE KEY-----\n")
    work = tmp_path / "work"
    work.mkdir()
    pem = tlsscan._client_pem((cert, key), work)
    assert stat.S_IMODE(pem.stat().st_mode) == 0o600
    assert pem.read_text() == cert.read_text() + key.read_text()
    args = tlsscan.command("/usr/bin/testssl", "127.0.0.1", 8443, work / "x.json", client_pem=pem)
    assert args[args.index("--mtls") + 1] == str(pem)
    key.write_text("-----BEGIN ENCRYPTED PRIVATE KEY-----\nAA==\n-----END ENCRYPTED PRIVATE KEY-----\n")
    with pytest.raises(ValueError, match="unencrypted"):
        tlsscan._client_pem((cert, key), tmp_path)


# --------------------------------------------------------------------------- the scanner as a program
def test_no_scanner_on_path_raises_with_the_install_hint(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(tlsscan.ScannerUnavailable, match=r"apt-get install testssl\.sh") as caught:
        tlsscan.scan("https://127.0.0.1:8443")
    assert caught.value.hint == tlsscan.INSTALL_HINT


def fake_scanner(folder: Path, body: str, monkeypatch) -> None:
    """A ``testssl.sh`` that is a shell script, first on PATH."""
    script = folder / "testssl.sh"
    script.write_text("#!/bin/sh\n" + body)
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ['PATH']}")


def test_a_crash_raises_with_the_scanner_output(tmp_path, monkeypatch):
    fake_scanner(tmp_path, 'case "$1" in --help) exit 0;; esac\necho "Fatal error: openssl went away" >&2\n'
                           "exit 250\n", monkeypatch)
    with pytest.raises(tlsscan.ScanFailed, match="openssl went away") as caught:
        tlsscan.scan("https://127.0.0.1:8443")
    assert caught.value.stderr_tail.endswith("openssl went away")
    assert caught.value.command[0] == str(tmp_path / "testssl.sh")


def test_a_scan_over_time_is_stopped_and_raises(tmp_path, monkeypatch):
    fake_scanner(tmp_path, 'echo "probing TLS 1.0" >&2\nsleep 30 &\nwait\n', monkeypatch)
    with pytest.raises(tlsscan.ScanTimeout, match=r"probing TLS 1\.0"):
        tlsscan.scan("https://127.0.0.1:8443", timeout=1)


# --------------------------------------------------------------------------- real scans
APP_BODY = b"ok"


def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(APP_BODY)))])
    return [APP_BODY]


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return network_pki(tmp_path_factory.mktemp("tlsscan-pki"))


def serve_and_scan(pki, name: str, context: ssl.SSLContext, **scan_kwargs) -> tlsscan.ScanReport:
    with serve_wsgi(app, name, ssl_context=context) as server:
        return tlsscan.scan(server.url, ca=pki.ca_path, **scan_kwargs)


@needs_scanner
def test_the_projects_own_tls_settings_pass(pki):
    got = serve_and_scan(pki, "tlsscan-good", server_context(pki.cert_path("dmp"), pki.key_path("dmp")))
    print(f"\n{got.scanner}, {got.seconds} s: {' '.join(got.command)}")
    assert got.problems() == [], got.to_dict()
    assert got.unchecked() == []
    assert got.protocols["TLS 1.2"] is True and got.protocols["TLS 1.0"] is False
    assert got.compression is False
    assert got.certificate["cert_chain_of_trust"].startswith("passed")


@needs_scanner
def test_a_weak_server_is_named_for_its_old_protocols_and_suites(pki):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # TLS 1.0 is deprecated: that is the point
        context.minimum_version = ssl.TLSVersion.TLSv1
    context.maximum_version = ssl.TLSVersion.TLSv1_2
    # Debian's OpenSSL refuses TLS 1.0/1.1 and SHA-1 suites above security level 0
    context.set_ciphers("AES128-SHA:AECDH-AES128-SHA:ECDHE-RSA-AES128-GCM-SHA256:@SECLEVEL=0")
    context.load_cert_chain(pki.cert_path("dmp"), pki.key_path("dmp"))
    got = serve_and_scan(pki, "tlsscan-weak", context)
    print(f"\n{got.scanner}, {got.seconds} s")
    problems = got.problems()
    assert any(p.startswith("TLS 1.0 offered") for p in problems), problems
    assert any(p.startswith("TLS 1.1 offered") for p in problems), problems
    assert set(got.weak_cipher_categories) >= {"OBSOLETED", "aNULL"}, problems  # AES128-SHA, AECDH-AES128-SHA
    assert got.protocols["TLS 1.3"] is False
    assert not any("chain" in p or "name" in p for p in problems), problems  # same certificate as the good one


@needs_scanner
def test_a_server_demanding_a_client_certificate_is_scanned_to_the_end(pki):
    context = server_context(pki.cert_path("dmp"), pki.key_path("dmp"), client_ca=pki.ca_path,
                             client_auth="required")
    client = (pki.cert_path("consumer-client"), pki.key_path("consumer-client"))
    got = serve_and_scan(pki, "tlsscan-mtls", context, client_cert=client)
    print(f"\n{got.scanner}, {got.seconds} s; notes: {got.notes}")
    assert got.problems() == [], got.to_dict()
    assert got.unchecked() == []
    assert got.protocols["TLS 1.2"] is True
    assert got.certificate["cert_chain_of_trust"].startswith("passed")
    if not tlsscan.supports_mtls(SCANNER):
        assert any("--mtls" in note for note in got.notes)
