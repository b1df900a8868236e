"""Reading what the Consumer sent to the harness's peers (captured exchanges), for the plan's checks."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from lxml import etree

from harness import capture
from harness.soap import ITI18_ACTION, ITI43_ACTION, decode_message
from harness.xds.query import QueryRequest, parse_query

SAML = "{urn:oasis:names:tc:SAML:2.0:assertion}"
XDSB = "{urn:ihe:iti:xds-b:2007}"


@dataclass
class SoapRequest:
    exchange: capture.Exchange
    action: str
    body: etree._Element | None
    security: etree._Element | None
    message_id: str | None = None
    to: str | None = None
    mtom: bool = False


def _header(exchange: capture.Exchange, name: str) -> str:
    return next((v for k, v in exchange.request_headers if k.lower() == name.lower()), "")


def _decoded(action: str) -> list[SoapRequest]:
    found = []
    for ex in capture.recorder().exchanges(actor="dmp-simulator", test=capture.current_test()):
        try:
            msg = decode_message(_header(ex, "Content-Type"), ex.request_body.read())
        except Exception:  # a request that does not decode is not one of ours to read here
            continue
        env = msg.envelope
        if env.action == action:
            mtom = "application/xop+xml" in _header(ex, "Content-Type").lower()
            found.append(SoapRequest(ex, env.action, env.body, env.security, env.message_id, env.to, mtom))
    return found


def dmp_requests(action: str, until: Callable[[list[SoapRequest]], bool] | None = None,
                 timeout: float = 5.0) -> list[SoapRequest]:
    """The SOAP requests of ``action`` the DMP simulator saw during this test.

    The simulator records an exchange once its answer is sent, a moment after the Consumer has
    read it: wait (bounded) until one is there and ``until`` holds, or the time is up.
    """
    deadline = time.monotonic() + timeout
    while True:
        found = _decoded(action)
        if (found and (until is None or until(found))) or time.monotonic() >= deadline:
            return found
        time.sleep(0.02)


def queries(until: Callable[[list[QueryRequest]], bool] | None = None) -> list[tuple[SoapRequest, QueryRequest]]:
    def parsed(reqs: list[SoapRequest]) -> list[tuple[SoapRequest, QueryRequest]]:
        return [(r, parse_query(r.body)) for r in reqs if r.body is not None]

    reqs = dmp_requests(ITI18_ACTION, None if until is None else lambda found: until([q for _, q in parsed(found)]))
    return parsed(reqs)


def retrieves() -> list[tuple[SoapRequest, list[tuple[str, str]]]]:
    out = []
    for req in dmp_requests(ITI43_ACTION):
        pairs = [((d.findtext(f"{XDSB}RepositoryUniqueId") or "").strip(),
                  (d.findtext(f"{XDSB}DocumentUniqueId") or "").strip())
                 for d in (req.body.iter(f"{XDSB}DocumentRequest") if req.body is not None else [])]
        out.append((req, pairs))
    return out


def vihf_attributes(security: etree._Element | None) -> dict[str, list[Any]]:
    """SAML attribute name -> values (text, or the coded element) of the VIHF assertion."""
    attrs: dict[str, list[Any]] = {}
    if security is None:
        return attrs
    for attr in security.iter(f"{SAML}Attribute"):
        values = []
        for v in attr.findall(f"{SAML}AttributeValue"):
            children = [c for c in v if isinstance(c.tag, str)]
            values.append(children[0] if children else (v.text or "").strip())
        attrs[attr.get("Name", "")] = values
    return attrs


def psc_token_requests(grant_type: str, timeout: float = 3.0) -> list[capture.Exchange]:
    """Token requests of ``grant_type`` the PSC simulator saw during this test (bounded wait)."""
    deadline = time.monotonic() + timeout
    while True:
        out = []
        for ex in capture.recorder().exchanges(actor="psc-simulator", test=capture.current_test()):
            if ex.summary.startswith("POST ") and ex.summary.split("?")[0].endswith("/token"):
                if parse_qs(ex.request_body.read().decode("latin-1")).get("grant_type") == [grant_type]:
                    out.append(ex)
        if out or time.monotonic() >= deadline:
            return out
        time.sleep(0.02)


def form_of(exchange: capture.Exchange) -> dict[str, list[str]]:
    return parse_qs(exchange.request_body.read().decode("latin-1"))


def saw_find_documents(patient: str) -> bool:
    """Whether the DMP has seen, during this test, a FindDocuments for ``patient`` (a driver's ``until``)."""
    for req in _decoded(ITI18_ACTION):
        if req.body is not None:
            query = parse_query(req.body)
            if query.name == "FindDocuments" and query.one("$XDSDocumentEntryPatientId") == patient:
                return True
    return False


def kos_returned(unique_id: str, timeout: float = 5.0) -> bool:
    """Whether the DMP simulator, during this test, answered the Consumer's ITI-43 for ``unique_id`` with
    the document (a DocumentResponse holding a Document, IHE ITI TF-2b §3.43.4.2.2). Waits (bounded, as
    :func:`dmp_requests`) for such a request to be recorded, then judges its answers."""
    deadline = time.monotonic() + timeout
    while True:
        asked = [req.exchange for req in _decoded(ITI43_ACTION) if req.body is not None and any(
            (d.findtext(f"{XDSB}DocumentUniqueId") or "").strip() == unique_id
            for d in req.body.iter(f"{XDSB}DocumentRequest"))]
        if asked or time.monotonic() >= deadline:
            return any(_returns(ex, unique_id) for ex in asked)
        time.sleep(0.02)


def _returns(exchange: capture.Exchange, unique_id: str) -> bool:
    ctype = next((v for k, v in exchange.response_headers if k.lower() == "content-type"), "")
    try:
        body = decode_message(ctype, exchange.response_body.read()).envelope.body
    except Exception:  # an answer that does not decode returned no document
        return False
    return any((r.findtext(f"{XDSB}DocumentUniqueId") or "").strip() == unique_id and r.find(f"{XDSB}Document")
               is not None for r in (body.iter(f"{XDSB}DocumentResponse") if body is not None else []))


def require_kos(unique_id: str) -> None:
    """Inconclusive unless the Consumer got the exam's KOS from the DMP: what it does with the images
    cannot be judged without it, and the ITI-43 request is CON-RET-ITI43's question (STYLE §17)."""
    from harness.checks import inconclusive

    if not kos_returned(unique_id):
        inconclusive(f"the DMP returned no KOS {unique_id} to the Consumer's ITI-43 (the exam could not be opened)")


def saw_retrieve(unique_id: str) -> bool:
    """Whether the DMP has seen, during this test, an ITI-43 asking for document ``unique_id``."""
    return any(unique_id == (d.findtext(f"{XDSB}DocumentUniqueId") or "").strip()
               for req in _decoded(ITI43_ACTION) if req.body is not None
               for d in req.body.iter(f"{XDSB}DocumentRequest"))
