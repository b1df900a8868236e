"""server_context and client_context in a real TLS handshake on loopback: server authentication, TLS 1.2
as the floor, and client certificates required, optional, missing or from another PKI."""

from __future__ import annotations

import socket
import ssl
import threading
from typing import Any

import pytest

from harness.pki import PkiError


def handshake(server_ctx: ssl.SSLContext, client_ctx: ssl.SSLContext, hostname: str = "localhost") -> dict[str, Any]:
    """One connection between the two contexts; what each side saw."""
    seen: dict[str, Any] = {}
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(10)

    def serve() -> None:
        try:
            conn, _ = listener.accept()
        except OSError as exc:
            seen["server_error"] = exc
            return
        with conn:
            try:
                with server_ctx.wrap_socket(conn, server_side=True) as tls:
                    seen["client_cert"] = tls.getpeercert()
                    seen["version"] = tls.version()
                    tls.sendall(b"hello")
            except (ssl.SSLError, OSError) as exc:
                seen["server_error"] = exc

    thread = threading.Thread(target=serve)
    thread.start()
    try:
        with socket.create_connection(listener.getsockname(), timeout=10) as raw, \
                client_ctx.wrap_socket(raw, server_hostname=hostname) as tls:
            seen["server_cert"] = tls.getpeercert()
            seen["data"] = tls.recv(5)
    except (ssl.SSLError, OSError) as exc:
        seen["client_error"] = exc
    finally:
        thread.join(10)
        listener.close()
    return seen


def cn(cert: dict) -> str:
    return next(v for rdn in cert["subject"] for k, v in rdn if k == "commonName")


def test_server_authenticated_by_name_and_ip(pki):
    for hostname in ("localhost", "db.drimcheck.test", "127.0.0.1"):
        seen = handshake(pki.server_context("server"), pki.client_context(), hostname)
        assert seen.get("data") == b"hello", seen
        assert cn(seen["server_cert"]) == "db.drimcheck.test" and seen["version"] in ("TLSv1.2", "TLSv1.3")


def test_wrong_host_name_refused(pki):
    seen = handshake(pki.server_context("server"), pki.client_context(), "other.example.test")
    assert "data" not in seen and "match" in str(seen["client_error"]), seen


def test_foreign_server_refused(pki, foreign):
    seen = handshake(foreign.server_context("server"), pki.client_context())
    assert "data" not in seen and "CERTIFICATE_VERIFY_FAILED" in str(seen["client_error"]), seen


@pytest.mark.filterwarnings("ignore:ssl.TLSVersion.TLSv1_1 is deprecated:DeprecationWarning")
def test_tls_1_1_client_refused(pki):
    old = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    old.check_hostname, old.verify_mode = False, ssl.CERT_NONE
    try:
        old.minimum_version = old.maximum_version = ssl.TLSVersion.TLSv1_1
        old.set_ciphers("DEFAULT:@SECLEVEL=0")
    except (ValueError, ssl.SSLError):
        pytest.skip("this OpenSSL cannot offer TLS 1.1")
    lenient = pki.server_context("server")
    lenient.minimum_version = ssl.TLSVersion.TLSv1_1
    lenient.set_ciphers("DEFAULT:@SECLEVEL=0")
    if handshake(lenient, old).get("version") != "TLSv1.1":
        pytest.skip("this OpenSSL does not negotiate TLS 1.1 even when allowed")
    seen = handshake(pki.server_context("server"), old)
    assert "data" not in seen and "UNSUPPORTED_PROTOCOL" in str(seen.get("server_error")), seen


def test_client_certificate_required_and_presented(pki):
    seen = handshake(pki.server_context("server", client_auth="required"), pki.client_context("client"))
    assert seen.get("data") == b"hello", seen
    assert cn(seen["client_cert"]) == "db.drimcheck.test"
    assert ("organizationalUnitName", "399999999800019") in [kv for rdn in seen["client_cert"]["subject"] for kv in rdn]


def test_client_without_certificate_refused_when_required(pki):
    seen = handshake(pki.server_context("server", client_auth="required"), pki.client_context())
    assert "data" not in seen and "server_error" in seen, seen
    assert "client_cert" not in seen


def test_client_from_a_foreign_pki_refused(pki, foreign, twin):
    for other in (foreign, twin):
        client = pki.client_context()
        client.load_cert_chain(other.cert_path("client"), other.key_path("client"))
        seen = handshake(pki.server_context("server", client_auth="required"), client)
        assert "data" not in seen and "server_error" in seen, seen
        assert "client_cert" not in seen


def test_optional_client_certificate(pki):
    seen = handshake(pki.server_context("server", client_auth="optional"), pki.client_context())
    assert seen.get("data") == b"hello" and seen["client_cert"] in ({}, None)


def test_context_arguments_checked(pki):
    with pytest.raises(PkiError, match="client_auth"):
        pki.server_context("server", client_auth="maybe")
    with pytest.raises(PkiError, match="does not exist"):
        pki.server_context("never-issued")
    assert pki.client_context().minimum_version == ssl.TLSVersion.TLSv1_2
    assert pki.server_context("server").options & ssl.OP_NO_COMPRESSION
