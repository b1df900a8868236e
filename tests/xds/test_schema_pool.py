"""The pool of compiled XDS schemas under threads: libxml2 must never compile two at once.

Two compilations at once in one process corrupted libxml2's table of built-in types: every later
compilation then failed, and a DMP worker whose first two requests arrived together answered a
Receiver fault to every submission from then on. The fault is a race, so these tests check the
property that prevents it (compilations never overlap) rather than waiting for the race to happen.
"""

from __future__ import annotations

import threading
import time

import pytest
from lxml import etree

from harness import xmlsafe
from harness.xds import schema as xds_schema


@pytest.fixture
def overlap_probe(monkeypatch):
    """Replace etree.XMLSchema by a slow stand-in that records how many compilations run at once."""
    state = {"now": 0, "most": 0}
    guard = threading.Lock()
    real = etree.XMLSchema

    def slow_compile(doc):
        with guard:
            state["now"] += 1
            state["most"] = max(state["most"], state["now"])
        time.sleep(0.05)
        with guard:
            state["now"] -= 1
        return real(etree.XML(b'<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema">'
                              b'<xs:element name="a"/></xs:schema>'))

    monkeypatch.setattr(xmlsafe.etree, "XMLSchema", slow_compile)
    return state


def _together(count: int, work) -> list[BaseException]:
    start, errors = threading.Barrier(count), []

    def run() -> None:
        start.wait()
        try:
            work()
        except BaseException as exc:  # reported by the test
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors


def test_schema_compilations_never_overlap(overlap_probe, monkeypatch):
    monkeypatch.setattr(xds_schema, "_idle", type(xds_schema._idle)())  # empty pool: every caller compiles
    assert _together(4, xds_schema.schema) == []
    assert overlap_probe["most"] == 1, f"{overlap_probe['most']} XSD compilations ran at once"


def test_cda_xsd_compilation_shares_the_lock(overlap_probe, tmp_path):
    from harness.validators import schematron

    xsd = tmp_path / "a.xsd"
    xsd.write_bytes(b'<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema"><xs:element name="a"/></xs:schema>')
    schematron._schema.cache_clear()
    try:
        assert _together(2, lambda: schematron._schema(str(xsd))) + _together(
            2, lambda: xmlsafe.compile_xsd(etree.parse(str(xsd)))) == []
    finally:
        schematron._schema.cache_clear()
    assert overlap_probe["most"] == 1


def test_concurrent_validations_keep_their_own_errors():
    good = etree.XML(b'<rs:RegistryResponse xmlns:rs="urn:oasis:names:tc:ebxml-regrep:xsd:rs:3.0" '
                     b'status="urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Success"/>')
    bad = etree.XML(b'<rs:RegistryResponse xmlns:rs="urn:oasis:names:tc:ebxml-regrep:xsd:rs:3.0"/>')
    seen: dict[str, list] = {"good": [], "bad": []}

    def check() -> None:
        for _ in range(20):
            seen["good"].append(xds_schema.schema_errors(etree.fromstring(etree.tostring(good))))
            seen["bad"].append(xds_schema.schema_errors(etree.fromstring(etree.tostring(bad))))

    assert _together(4, check) == []
    assert all(errors == [] for errors in seen["good"])
    assert all(errors and "status" in errors[0][1] for errors in seen["bad"])
