"""XSD validation of registry/repository payloads with the schemas this project wrote.

Public: :func:`schema`, :func:`borrowed_schema`, :func:`payload_of`, :func:`validate_payload`, :func:`schema_errors`.
The compiled lxml schema (``schemas/xsd/all.xsd``: ebRIM/ebRS 3.0 + IHE XDS.b) is built once and
shared; lxml validates a PnR request in well under a millisecond (DESIGN "Measured here").
"""

from __future__ import annotations

import queue
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

from lxml import etree

from harness.findings import Finding, error
from harness.soap.envelope import SOAP12_NS
from harness.xmlsafe import compile_xsd

XSD_DIR = Path(__file__).resolve().parents[2] / "schemas" / "xsd"
SOAP11_NS = "http://schemas.xmlsoap.org/soap/envelope/"
_idle: queue.SimpleQueue[etree.XMLSchema] = queue.SimpleQueue()  # compiled schemas not in use


@lru_cache(maxsize=1)
def _schema_doc() -> etree._ElementTree:
    return etree.parse(str(XSD_DIR / "all.xsd"))


def schema() -> etree.XMLSchema:
    """A compiled schema for the caller's own use (lxml schemas keep an error log per instance,
    so concurrent validations each need one). Prefer :func:`borrowed_schema`, which reuses them."""
    try:
        return _idle.get_nowait()
    except queue.Empty:
        return compile_xsd(_schema_doc())


@contextmanager
def borrowed_schema() -> Iterator[etree.XMLSchema]:
    """A compiled schema used by one thread at a time and returned to the pool afterwards: compiled
    once per concurrent user, not once per thread (a server with a thread per request would
    otherwise compile it, some milliseconds, for every request)."""
    compiled = schema()
    try:
        yield compiled
    finally:
        _idle.put(compiled)


def payload_of(root: etree._Element) -> etree._Element | None:
    """The first child of soap:Body for a SOAP 1.2/1.1 envelope, else ``root`` itself."""
    if root.tag in (f"{{{SOAP12_NS}}}Envelope", f"{{{SOAP11_NS}}}Envelope"):
        ns = etree.QName(root).namespace
        body = root.find(f"{{{ns}}}Body")
        children = [] if body is None else [c for c in body if isinstance(c.tag, str)]
        return children[0] if children else None
    return root


def schema_errors(elem: etree._Element) -> list[tuple[int, str]]:
    """(line, message) of every XSD violation of ``elem`` (empty when valid)."""
    with borrowed_schema() as compiled:
        if compiled.validate(elem):
            return []
        return [(e.line, e.message) for e in compiled.error_log]


def validate_payload(elem: etree._Element, rule: str = "XDS-XSD-001") -> list[Finding]:
    """Findings (origin ``xsd``) for each XSD violation of a registry/repository payload."""
    return [error(rule, f"line {line}", message, origin="xsd") for line, message in schema_errors(elem)]
