"""ITI-18 request rules: a good FindDocuments is clean; each mutation breaks exactly its rule;
the NIST message-validator queries get the verdict their names state."""

from __future__ import annotations

import pytest
from xds_testdata import INS, corpus_file

from harness.findings import Severity
from harness.soap import ITI18_ACTION, build_envelope
from harness.xds.query import build_query
from harness.xds.validate import validate_message, validate_submission
from harness.xmlsafe import parse_xml

APPROVED = "urn:oasis:names:tc:ebxml-regrep:StatusType:Approved"
GOOD = {"$XDSDocumentEntryPatientId": INS, "$XDSDocumentEntryStatus": [APPROVED],
        "$XDSDocumentEntryClassCode": ["31^^1.2.250.1.213.1.1.4.1"]}


def _errors(findings):
    return {f.rule for f in findings if f.severity is Severity.ERROR}


def test_good_query_is_clean_as_element_and_message():
    req = build_query("FindDocuments", GOOD)
    assert validate_submission(req, "dmp") == []
    body = build_envelope(req, action=ITI18_ACTION)
    assert validate_message("application/soap+xml", body, "dmp", ITI18_ACTION) == []


MUTATIONS = [
    ("unknown-query", "urn:uuid:00000000-0000-0000-0000-000000000000", GOOD, "XDS-SQ-001"),
    ("missing-status", "FindDocuments", {k: v for k, v in GOOD.items() if "Status" not in k}, "XDS-SQ-003"),
    ("get-documents-without-ids", "GetDocuments", {}, "XDS-SQ-003"),
    ("pid-not-cx", "FindDocuments", {**GOOD, "$XDSDocumentEntryPatientId": "12345"}, "XDS-SQ-004"),
    ("status-word", "FindDocuments", {**GOOD, "$XDSDocumentEntryStatus": ["Approved"]}, "XDS-SQ-004"),
    ("code-without-scheme", "FindDocuments", {**GOOD, "$XDSDocumentEntryClassCode": ["31^^"]}, "XDS-SQ-004"),
]


@pytest.mark.parametrize(("name", "query", "params", "rule"), MUTATIONS, ids=[m[0] for m in MUTATIONS])
def test_mutation_breaks_exactly_its_rule(name, query, params, rule):
    assert _errors(validate_submission(build_query(query, params), "xds")) == {rule}


def test_value_syntax():
    req = build_query("FindDocuments", GOOD)
    slot_value = req.find(".//{urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0}Value")
    slot_value.text = slot_value.text.strip("'")  # unquoted string
    assert _errors(validate_submission(req, "xds")) == {"XDS-SQ-002"}


NIST = {
    "sq-req.xml": set(),
    "soap-sq-req.xml": set(),
    "sq-req-bad-code.xml": {"XDS-SQ-004"},  # ('value^^'): no scheme
    "sq-req-bad-pid-format.xml": {"XDS-SQ-002"},  # patient id not quoted
    "sq-req-bad-stat-format1.xml": {"XDS-SQ-002"},  # status neither quoted nor in a list
    "sq-req-bad-stat-format2.xml": {"XDS-SQ-002"},  # (urn:...) list of unquoted strings
    "sq-req-missing-stat.xml": {"XDS-SQ-003"},  # FindDocuments without $XDSDocumentEntryStatus
}


@pytest.mark.parametrize(("name", "expected"), sorted(NIST.items()))
def test_nist_queries(name, expected):
    root = parse_xml(corpus_file("xds", "nist-messagevalidator", name).read_bytes())
    assert _errors(validate_submission(root, "xds")) == expected


def test_nist_testkit_templates_hold_placeholders():
    """The NIST test kit queries are templates: their patient id is the placeholder $patient_id$,
    which is all we flag (XDS-SQ-004)."""
    root = parse_xml(corpus_file("xds", "nist-testkit", "tests", "11897", "classcode_one", "query.xml").read_bytes())
    findings = validate_submission(root, "xds")
    assert _errors(findings) == {"XDS-SQ-004"} and {f.found for f in findings} == {"$patient_id$"}


# NIST responses: file -> rules expected (WS-Addressing is checked for the enveloped ones)
NIST_RESPONSES = {
    "regresp-fail-noerr.xml": {"XDS-RESP-001"},  # Failure without RegistryErrorList
    "regresp-suc-err.xml": {"XDS-RESP-001"},  # Success carrying an Error
    "sq-resp-lc.xml": set(),
    "sq-resp-objectref.xml": set(),
    "sq-resp-lc-no-status.xml": {"XDS-RESP-002"},
    "sq-resp-lc-no-objectType.xml": {"XDS-RESP-002"},
    "sq-resp-nostat-objectref.xml": {"XDS-RESP-001", "XDS-XSD-001"},  # status is required by rs.xsd too
    "soap-pnr-resp.xml": set(),
    "soap-ret-resp.xml": set(),
    "soap-xcq-resp-error.xml": set(),
}


@pytest.mark.parametrize(("name", "expected"), sorted(NIST_RESPONSES.items()))
def test_nist_responses(name, expected):
    data = corpus_file("xds", "nist-messagevalidator", name).read_bytes()
    if name.startswith("soap-"):
        findings = validate_message("application/soap+xml", data, "xds")
    else:
        findings = validate_submission(parse_xml(data), "xds")
    assert _errors(findings) == expected


def test_response_without_relates_to():
    from harness.soap import ITI41_RESPONSE_ACTION
    from harness.xds.query import build_registry_response
    good = build_envelope(build_registry_response(), action=ITI41_RESPONSE_ACTION, relates_to="urn:uuid:1")
    assert validate_message("application/soap+xml", good, "xds") == []
    bad = build_envelope(build_registry_response(), action=ITI41_RESPONSE_ACTION)
    assert _errors(validate_message("application/soap+xml", bad, "xds")) == {"XDS-WSA-003"}


def _retrieve(repo: str, doc: str) -> bytes:
    ns = "urn:ihe:iti:xds-b:2007"
    return (f'<x:RetrieveDocumentSetRequest xmlns:x="{ns}"><x:DocumentRequest><x:RepositoryUniqueId>{repo}'
            f"</x:RepositoryUniqueId><x:DocumentUniqueId>{doc}</x:DocumentUniqueId></x:DocumentRequest>"
            f"</x:RetrieveDocumentSetRequest>").encode()


@pytest.mark.parametrize(("repo", "doc", "expected"), [
    ("1.2.250.1.999.9", "1.2.250.1.999.3.1", set()),
    ("1.2.250.1.999.9", "1.2.250.1.999.3.1^abc", set()),
    ("repo-1", "1.2.250.1.999.3.1", {"XDS-RET-001"}),
    ("1.2.250.1.999.9", "doc 1", {"XDS-RET-001"}),
])
def test_retrieve_request(repo, doc, expected):
    assert _errors(validate_submission(parse_xml(_retrieve(repo, doc)), "xds")) == expected


def test_nist_retrieve_request():
    """NIST's sample elides its OIDs ("1.3.6.1.4...1000"): schema-valid, but not OIDs."""
    root = parse_xml(corpus_file("xds", "nist-messagevalidator", "soap-ret-req.xml").read_bytes())
    findings = validate_submission(root, "xds")
    assert _errors(findings) == {"XDS-RET-001"} and all("..." in f.found for f in findings)
