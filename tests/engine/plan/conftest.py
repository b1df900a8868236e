"""The engine's own proof plan: a tiny HTTP peer so capture, reports and exit codes are real."""

from __future__ import annotations

import os

import pytest
from flask import Flask

from harness.capture import CaptureMiddleware
from harness.servers import serve_wsgi


@pytest.fixture(scope="session")
def echo_server():
    app = Flask("echo")

    @app.post("/echo")
    def echo():
        from flask import request

        return request.get_data(), 200, {"Content-Type": "application/xml"}

    with serve_wsgi(CaptureMiddleware(app, actor="echo-simulator"), "echo") as server:
        yield server


@pytest.fixture
def should_fail() -> bool:
    """The failing test fails only when asked, so the same plan shows exit 0 and exit 1."""
    return os.environ.get("DRIMCHECK_ENGINE_FAIL") == "1"
