"""WSGI helpers of the Consumer and its test peers."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any


def bodyless_guard(app: Callable) -> Callable:
    """Declare an empty body for requests without Content-Length and not chunked (a plain GET).

    ``harness.capture.CaptureMiddleware`` reads the request body until EOF when no length is given;
    on a keep-alive connection that waits for the client's next request. RFC 9112 §6.3: without
    Content-Length or Transfer-Encoding, a request has no body.
    """

    def wrapped(environ: dict, start_response: Callable) -> Iterable[bytes]:
        if not environ.get("CONTENT_LENGTH") and not environ.get("wsgi.input_terminated"):
            environ["CONTENT_LENGTH"] = "0"
        return app(environ, start_response)

    return wrapped


def captured(app: Callable, actor: str) -> Any:
    """``CaptureMiddleware`` behind :func:`bodyless_guard`."""
    from harness.capture import CaptureMiddleware

    return bodyless_guard(CaptureMiddleware(app, actor=actor))
