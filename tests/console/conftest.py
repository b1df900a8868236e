"""Fixtures of the console's tests: an app on a temporary data folder, accounts of each role, logged-in clients."""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.console import ConsoleConfig, create_app, stop_app
from harness.console.security import hash_password

FAKE_RUN = [sys.executable, str(Path(__file__).with_name("fake_run.py"))]
PASSWORD = "correct horse battery"


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Any]:
    """The console, its worker not started (tests start it when they want jobs to run), drimcheck run faked."""
    application = create_app(ConsoleConfig(data=tmp_path / "data", start_worker=False, worker_command=FAKE_RUN))
    store = application.extensions["console"].store
    for name, role in (("vendor", "vendor"), ("other", "vendor"), ("assessor", "assessor"), ("admin", "admin")):
        store.add_user(name, hash_password(PASSWORD), role)
    yield application
    stop_app(application)


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "no CSRF field on the page"
    return match.group(1)


class Session:
    """A logged-in test client that knows its CSRF token."""

    def __init__(self, app: Any, name: str) -> None:
        self.client = app.test_client()
        page = self.client.get("/login")
        response = self.client.post("/login", data={"name": name, "password": PASSWORD,
                                                    "csrf_token": csrf_of(page.text)})
        assert response.status_code == 302, response.text
        self.csrf = csrf_of(self.client.get("/").text)

    def get(self, url: str, **kw: Any) -> Any:
        return self.client.get(url, **kw)

    def post(self, url: str, data: dict[str, Any] | None = None, **kw: Any) -> Any:
        return self.client.post(url, data={**(data or {}), "csrf_token": self.csrf}, **kw)


@pytest.fixture
def vendor(app: Any) -> Session:
    return Session(app, "vendor")


@pytest.fixture
def assessor(app: Any) -> Session:
    return Session(app, "assessor")


@pytest.fixture
def admin(app: Any) -> Session:
    return Session(app, "admin")


def token_of(session: Session) -> dict[str, str]:
    """Headers of a fresh API token of the session's user."""
    page = session.post("/tokens", {"name": "test"})
    token = re.search(r'id="new-token">([^<]+)<', page.text).group(1)
    return {"Authorization": f"Bearer {token}"}
