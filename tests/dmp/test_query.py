"""harness.xds.query: the stored-query value syntax, request/response round trips, error paths."""

from __future__ import annotations

import pytest

from harness.xds.query import (
    FAILURE,
    PARTIAL_SUCCESS,
    STORED_QUERIES,
    SUCCESS,
    QueryError,
    RegistryError,
    build_query,
    build_query_response,
    build_registry_response,
    decode_values,
    encode_value,
    parse_query,
    parse_query_response,
    parse_registry_response,
)

# (python value, wire text) -- ITI TF-2a §3.18.4.1.2.3.5
CASES = [
    ("abc", "'abc'"),
    ("O'Brien", "'O''Brien'"),
    (20240101, "20240101"),
    (["a", "b"], "('a','b')"),
    (["x^^1.2.3"], "('x^^1.2.3')"),
    ([1, "a"], "(1,'a')"),
]


@pytest.mark.parametrize("value,text", CASES)
def test_encode_decode(value, text):
    assert encode_value(value) == text
    expected = value if isinstance(value, list) else [value]
    assert decode_values(text) == expected
    assert decode_values(text.replace(",", " , ")) == expected  # whitespace tolerated


@pytest.mark.parametrize("text", ["", "()", "'unterminated", "('a',)", "('a' 'b')", "a", "'a','b'", "('a'"])
def test_decode_rejects_malformed(text):
    with pytest.raises(ValueError):
        decode_values(text)


def test_request_round_trip_and_and_of_ors():
    params = {"$XDSDocumentEntryPatientId": "1^^^&1.2&ISO", "$XDSDocumentEntryStatus": ["urn:s:A", "urn:s:B"],
              "$XDSDocumentEntryEventCodeList": [["CT^^x", "MR^^x"], ["US^^x"]],
              "$XDSDocumentEntryCreationTimeFrom": 2024}
    req = parse_query(build_query("FindDocuments", params, "ObjectRef"))
    assert (req.name, req.return_type) == ("FindDocuments", "ObjectRef")
    assert req.one("$XDSDocumentEntryPatientId") == "1^^^&1.2&ISO"
    assert req.params["$XDSDocumentEntryEventCodeList"] == [["CT^^x", "MR^^x"], ["US^^x"]]
    assert req.any_of("$XDSDocumentEntryStatus") == ["urn:s:A", "urn:s:B"]
    assert req.one("$XDSDocumentEntryCreationTimeFrom") == 2024


def test_unknown_query_and_bad_value_codes():
    with pytest.raises(QueryError) as exc:
        parse_query(build_query("urn:uuid:00000000-0000-0000-0000-000000000000", {}))
    assert exc.value.code == "XDSUnknownStoredQuery"
    bad = build_query("FindDocuments", {"$x": "placeholder"})
    bad.find(".//{*}Value").text = "(unquoted)"
    with pytest.raises(QueryError) as exc:
        parse_query(bad)
    assert exc.value.code == "XDSRegistryError"


def test_every_stored_query_id_is_a_urn_uuid():
    assert all(v.startswith("urn:uuid:") and len(v) == 45 for v in STORED_QUERIES.values())
    assert len(set(STORED_QUERIES.values())) == len(STORED_QUERIES)


def test_registry_response_statuses():
    assert parse_registry_response(build_registry_response()) == (SUCCESS, [])
    err = RegistryError("XDSDocumentUniqueIdError", "no such document", "2.25.1")
    status, errors = parse_registry_response(build_registry_response([err]))
    assert (status, errors) == (FAILURE, [err])
    assert parse_registry_response(build_registry_response([err], partial=True))[0] == PARTIAL_SUCCESS


def test_query_response_leaf_and_refs():
    from lxml import etree

    obj = etree.Element("{urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0}ExtrinsicObject", id="urn:uuid:1")
    leaf = parse_query_response(build_query_response([obj]))
    assert leaf.status == SUCCESS and leaf.ids == ["urn:uuid:1"] and leaf.refs == []
    obj2 = etree.Element("{urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0}ExtrinsicObject", id="urn:uuid:2")
    refs = parse_query_response(build_query_response([obj2], return_type="ObjectRef"))
    assert refs.refs == ["urn:uuid:2"] and refs.objects == []
