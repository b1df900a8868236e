"""How a DRIMbox authenticated its calls to Pro Santé Connect, read from what the plan's PSC simulator
captured: by its certificate (RFC 8705 §2.1 tls_client_auth: a client certificate the TLS layer verified,
``client_id`` in the form) and never by a secret (no HTTP Basic, no ``client_secret``, RFC 6749 §2.3.1),
as the label wants every call to PSC made through mutual TLS."""

from __future__ import annotations

import base64
from urllib.parse import parse_qs

from harness import capture
from harness.checks import expect


def psc_calls(endpoint: str, test: str | None = None) -> list[capture.Exchange]:
    """The POSTs to PSC's ``endpoint`` (``/token``, ``/token/introspect``) the PSC simulator captured during
    ``test`` (default: the running test)."""
    out = []
    for ex in capture.recorder().exchanges(actor="psc-simulator", test=test or capture.current_test()):
        if ex.summary.startswith("POST ") and ex.summary.split(" ")[1].split("?")[0].endswith(endpoint):
            out.append(ex)
    return out


def client_auth_problem(exchange: capture.Exchange) -> str | None:
    """What is wrong with how the call authenticated its client, or None when it used its certificate alone."""
    problems = []
    authorization = next((v for k, v in exchange.request_headers if k.lower() == "authorization"), "")
    if authorization.lower().startswith("basic "):
        client = ""
        try:
            client = base64.b64decode(authorization.split(" ", 1)[1]).decode("utf-8", "replace").split(":", 1)[0]
        except ValueError:
            pass
        problems.append(f"HTTP Basic client credentials (client {client or '?'}) with a secret")
    form = parse_qs(exchange.request_body.read().decode("latin-1"))
    if form.get("client_secret"):
        problems.append("a client_secret in the form")
    if not exchange.tls_client:
        problems.append("no client certificate verified by the TLS layer")
    return "; ".join(problems) or None


def describe(exchange: capture.Exchange) -> str:
    """One line for a verdict: the call and how its client authenticated."""
    how = f"certificate {exchange.tls_client}" if exchange.tls_client else "no client certificate"
    return f"{exchange.summary} ({how})"


def expect_by_certificate(calls: list[capture.Exchange], rule: str, who: str) -> None:
    """Each call authenticated its client by certificate alone, else ``rule`` fails naming how it did."""
    for call in calls:
        problem = client_auth_problem(call)
        expect(problem is None, rule=rule, location=describe(call),
               expected=f"{who}'s certificate verified by the TLS layer and client_id, no secret "
                        "(RFC 8705 §2.1 tls_client_auth)", observed=problem,
               message=f"{who} authenticates to Pro Santé Connect by mutual TLS")
