"""Who may do what: every page and API call refused without a session or token, roles, CSRF on every form,
expiring sessions, hashed secrets (harness/console/security.py)."""

from __future__ import annotations

import hashlib
import re
import time

import pytest
import sqlalchemy as sa

from harness.console.security import IDLE_SECONDS, MAX_SECONDS
from harness.console.storage import api_tokens, users
from tests.console.conftest import PASSWORD, Session, csrf_of, token_of

VALUES = {"campaign_id": "1", "profile_id": "1", "version": "1", "exchange_id": "x", "rid": "R-1",
          "name": "report.html", "token_id": "1", "filename": "console.css", "prompt_id": "1"}


def _rules(app, prefix: str) -> list[tuple[str, str]]:
    """(method, concrete URL) of every route of the blueprint ``prefix``."""
    out = []
    for rule in app.url_map.iter_rules():
        if not rule.endpoint.startswith(prefix):
            continue
        url = re.sub(r"<(?:\w+:)?(\w+)>", lambda m: VALUES[m.group(1)], rule.rule)
        out += [(m, url) for m in sorted(rule.methods - {"HEAD", "OPTIONS"})]
    return out


def test_every_page_without_a_session_goes_to_the_login_page(app):
    client = app.test_client()
    rules = [(m, u) for m, u in _rules(app, "pages.") if u != "/login"]
    assert len(rules) > 20
    for method, url in rules:
        response = client.open(url, method=method)
        assert response.status_code == 302, (method, url, response.status_code)
        assert response.location.startswith("/login"), (method, url, response.location)


def test_every_api_call_without_a_token_is_401(app):
    client = app.test_client()
    rules = [(m, u) for m, u in _rules(app, "api.") + _rules(app, "evs.") if u != "/api/v1/openapi.json"]
    assert len(rules) >= 12
    for method, url in rules:
        for headers in ({}, {"Authorization": "Bearer dck_not-a-token"}, {"Authorization": "Basic eDp5"}):
            response = client.open(url, method=method, headers=headers, json={})
            assert response.status_code == 401, (method, url, headers, response.status_code)
            assert response.headers["WWW-Authenticate"].startswith("Bearer")
            assert "error" in response.json


def test_every_post_form_needs_the_sessions_csrf_token(app, admin):
    posts = [u for m, u in _rules(app, "pages.") if m == "POST"]
    assert len(posts) >= 10
    for url in posts:
        for token in (None, "forged"):
            data = {} if token is None else {"csrf_token": token}
            response = admin.client.post(url, data=data)
            assert response.status_code == 400, (url, token, response.status_code)
            assert "CSRF" in response.text


def test_the_login_form_needs_its_csrf_token_too(app):
    client = app.test_client()
    client.get("/login")
    response = client.post("/login", data={"name": "vendor", "password": PASSWORD})
    assert response.status_code == 400


def test_a_wrong_password_is_refused_and_says_no_more(app):
    client = app.test_client()
    for name in ("vendor", "nobody"):
        page = client.get("/login")
        response = client.post("/login", data={"name": name, "password": "wrong password!",
                                               "csrf_token": csrf_of(page.text)})
        assert response.status_code == 401
        assert "unknown name or wrong password" in response.text


def test_login_never_redirects_off_the_console(app):
    client = app.test_client()
    page = client.get("/login?next=//evil.example/x")
    response = client.post("/login?next=//evil.example/x",
                           data={"name": "vendor", "password": PASSWORD, "csrf_token": csrf_of(page.text)})
    assert response.location == "/"


def test_a_vendor_gets_403_for_sign_off_and_accounts(app, vendor):
    store = app.extensions["console"].store
    cid = store.add_campaign(sut="reference:content", plans=["content"], only=[],
                             user_id=store.user_by_name("vendor")["id"])
    store.set_state(cid, "finished", verdict="pass")
    assert vendor.post(f"/campaigns/{cid}/signoff", {"comment": "looks fine"}).status_code == 403
    assert vendor.get("/users").status_code == 403
    assert store.signoffs(cid) == []


def test_an_assessor_signs_a_finished_campaign_off_with_who_and_when(app, assessor):
    store = app.extensions["console"].store
    cid = store.add_campaign(sut="reference:content", plans=["content"], only=[],
                             user_id=store.user_by_name("vendor")["id"])
    assert assessor.post(f"/campaigns/{cid}/signoff", {"comment": "early"}).status_code == 409  # queued
    store.set_state(cid, "finished", verdict="pass")
    before = time.time()
    response = assessor.post(f"/campaigns/{cid}/signoff", {"comment": "evidence read, KOS checked"})
    after = time.time()
    assert response.status_code == 302
    [signoff] = store.signoffs(cid)
    assert (signoff["by"], signoff["role"]) == ("assessor", "assessor")
    assert signoff["comment"] == "evidence read, KOS checked"
    assert before <= signoff["created"] <= after  # when it was signed, not a speed
    assert "Reviewed by <strong>assessor</strong>" in assessor.get(f"/campaigns/{cid}").text


def test_a_vendor_sees_only_its_own_campaigns_and_profiles(app, vendor):
    store = app.extensions["console"].store
    other = store.user_by_name("other")["id"]
    cid = store.add_campaign(sut="reference:content", plans=["content"], only=[], user_id=other)
    pid = store.add_profile("Other product", "content", "name: x", other)
    assert vendor.get(f"/campaigns/{cid}").status_code == 404
    assert vendor.get(f"/profiles/{pid}").status_code == 404
    assert "Other product" not in vendor.get("/profiles").text


@pytest.mark.parametrize("key, age", [("seen_at", IDLE_SECONDS + 5), ("login_at", MAX_SECONDS + 5)])
def test_sessions_expire_when_idle_and_after_their_maximum_life(app, vendor, key, age):
    assert vendor.get("/campaigns").status_code == 200
    with vendor.client.session_transaction() as sess:
        sess[key] = time.time() - age
    response = vendor.get("/campaigns")
    assert response.status_code == 302 and response.location.startswith("/login")


def test_session_cookie_flags(tmp_path):
    from harness.console import ConsoleConfig, create_app, stop_app

    app = create_app(ConsoleConfig(data=tmp_path / "d", https=True, start_worker=False))
    try:
        response = app.test_client().get("/login", base_url="https://localhost")
        cookie = response.headers["Set-Cookie"]
        assert cookie.startswith("__Host-drimcheck=")
        assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
        assert "frame-ancestors 'self'" in response.headers["Content-Security-Policy"]
    finally:
        stop_app(app)


def test_passwords_and_tokens_are_stored_hashed(app, vendor):
    headers = token_of(vendor)
    token = headers["Authorization"].split()[1]
    store = app.extensions["console"].store
    with store.tx() as c:
        stored = c.execute(sa.select(users.c.password_hash).where(users.c.name == "vendor")).scalar_one()
        digests = c.execute(sa.select(api_tokens.c.token_hash)).scalars().all()
    assert PASSWORD not in stored and stored.startswith("scrypt:")
    assert digests == [hashlib.sha256(token.encode()).hexdigest()]
    assert vendor.client.get("/api/v1/campaigns", headers=headers).status_code == 200


def test_a_revoked_token_is_refused(app, vendor):
    headers = token_of(vendor)
    store = app.extensions["console"].store
    [row] = store.tokens_of(store.user_by_name("vendor")["id"])
    assert vendor.post(f"/tokens/{row['id']}/revoke").status_code == 302
    assert vendor.client.get("/api/v1/campaigns", headers=headers).status_code == 401


def test_an_admin_makes_accounts_and_a_short_password_is_refused(app, admin):
    admin.post("/users", {"name": "newbie", "password": "0123456789", "role": "vendor"})
    admin.post("/users", {"name": "short", "password": "123", "role": "vendor"})
    store = app.extensions["console"].store
    assert store.user_by_name("newbie")["role"] == "vendor"
    assert store.user_by_name("short") is None
    assert Session(app, "vendor").get("/").status_code == 200
