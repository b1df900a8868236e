"""Users file loading, loopback redirect rule, claims shape, and the ``drimcheck serve psc`` adapter."""

from __future__ import annotations

import argparse

import pytest
import requests

from simulators.psc import serve
from simulators.psc.config import DEFAULT_USERS, Client, PscConfigError, load_users


def test_default_users_file_loads():
    users, clients = load_users(DEFAULT_USERS)
    assert len(users) >= 3 and {c.client_id for c in clients} >= {"drimbox-consumer", "drimbox-source"}
    info = users[0].userinfo()
    assert info["SubjectNameID"] == "8" + users[0].rpps == info["preferred_username"]
    assert info["SubjectRefPro"]["exercices"][0]["activities"][0]["raisonSocialeSite"]
    assert info["sub"].endswith(":" + info["SubjectNameID"])


@pytest.mark.parametrize(("text", "message"), [
    ("users: [{rpps: '123', given_name: A, family_name: B}]", "11 digits"),
    ("users: [{rpps: '10001000001', given_name: A}]", "family_name"),
    ("users: [{rpps: '10001000001', given_name: A, family_name: B, shoe_size: 42}]", "shoe_size"),
    ("clients: [{client_id: a, client_secret: s}, {client_id: a, client_secret: t}]", "duplicate client_id"),
    ("users: [x]", "not a mapping"),
    ("[1, 2]", "expected a mapping"),
    ("users: [", "cannot read"),
])
def test_bad_users_file(tmp_path, text, message):
    path = tmp_path / "users.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(PscConfigError, match=message):
        load_users(path)


def test_missing_users_file(tmp_path):
    with pytest.raises(PscConfigError, match="cannot read"):
        load_users(tmp_path / "absent.yaml")


@pytest.mark.parametrize(("uri", "allowed"), [
    ("http://127.0.0.1/cb", True),
    ("http://127.0.0.1:49152/cb", True),  # RFC 8252 §7.3: any port on loopback
    ("http://localhost:8080/cb", True),
    ("http://127.0.0.1:8080/other", False),
    ("https://127.0.0.1:8080/cb", False),
    ("http://127.0.0.1:8080/cb?x=1", False),
    ("http://evil.example/cb", False),
    ("http://127.0.0.1.evil.example/cb", False),
    ("https://drimbox.example/cb", True),
    ("https://drimbox.example:444/cb", False),
])
def test_redirect_rule(uri, allowed):
    client = Client("c", "s", ("http://127.0.0.1/cb", "http://localhost/cb", "https://drimbox.example/cb"))
    assert client.redirect_allowed(uri) is allowed


def test_serve_adapter(tmp_path):
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--host", default="127.0.0.1")
    serve.add_arguments(parser)
    args = parser.parse_args(["--token-ttl", "42"])
    service = serve.start(args)
    try:
        assert set(service.endpoints) >= {"issuer", "token", "introspect", "userinfo", "jwks", "authorization"}
        doc = requests.get(service.endpoints["discovery"], timeout=10).json()
        assert doc["issuer"] == service.endpoints["issuer"]
        token = requests.post(service.endpoints["issue_token"], data={"sub": "10001000001"},
                              auth=("drimcheck", "drimcheck-secret"), timeout=10).json()
        assert token["expires_in"] == 42
    finally:
        service.stop()
