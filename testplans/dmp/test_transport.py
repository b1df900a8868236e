"""SOAP 1.2 / WS-Addressing / MTOM transport, and bad input: every broken message gets a SOAP fault
and leaves nothing registered."""

from __future__ import annotations

import re

import pytest

from harness.checks import expect, expect_equal
from harness.soap import ITI18_ACTION, ITI41_ACTION, ITI41_RESPONSE_ACTION
from harness.xds import build_pnr_message
from testplans.dmp.entries import listing, status_name
from testplans.dmp.helpers import expect_fault, expect_registry_response, get_documents

SOAP_CT = f'application/soap+xml; charset=UTF-8; action="{ITI41_ACTION}"'


def _nothing_registered(client, sub, rule):
    left = get_documents(client, rule, unique_ids=[d.uniqueId for d in sub.documents])
    expect(not left, rule=rule, location="registry after the refused message", expected="no entry",
           observed=listing(f"{e['mimeType']} entry {e['uniqueId']} ({status_name(e['status'])})" for e in left),
           message="a refused message registered documents")


@pytest.mark.requirement("DMP-SOAP-003")
def test_response_addressing_headers(client, make_submission, patient):
    """The RegistryResponse to a PnR, whatever its status, carries the response wsa:Action and a
    wsa:RelatesTo naming the request (ITI TF-2x §V.3.2.1.1-2)."""
    message_id = "urn:uuid:6c2b1e9e-8a53-4b0e-9d3c-1f0d2c7e5a01"
    ctype, body = build_pnr_message(make_submission(), message_id=message_id, to=client.repository_url,
                                    header_extra=client.security_headers(patient))
    result = client.post(client.repository_url, ctype, body)
    expect_registry_response(result, "DMP-SOAP-003", "PnR")
    env = result.envelope
    expect_equal(env.action or "no wsa:Action", ITI41_RESPONSE_ACTION, rule="DMP-SOAP-003",
                 location="response wsa:Action", message="not the PnR response action")
    expect_equal(env.relates_to or "no wsa:RelatesTo", message_id, rule="DMP-SOAP-003",
                 location="response wsa:RelatesTo", message="the response does not name the request it answers")


@pytest.mark.requirement("DMP-SOAP-004")
def test_mtom_request_gets_mtom_response(client, make_submission):
    """The RegistryResponse to an MTOM PnR, whatever its status, is MTOM (ITI TF-2x §V.3.6)."""
    result = client.provide_and_register(make_submission(), mtom=True)
    expect_registry_response(result, "DMP-SOAP-004", "PnR in MTOM")
    expect(result.message.mtom, rule="DMP-SOAP-004", location="response Content-Type",
           expected='multipart/related; type="application/xop+xml"', observed=result.content_type,
           message="the response to an MTOM request is not MTOM")


@pytest.mark.requirement("DMP-SOAP-005")
@pytest.mark.parametrize("body", [b"<notsoap/>", b"<?xml version='1.0'?><Envelope><Body/></Envelope>",
                                  b"\x00\x01garbage", b""])
def test_not_a_soap_envelope(client, body):
    expect_fault(client.post(client.repository_url, SOAP_CT, body), "DMP-SOAP-005", "non-SOAP body")


@pytest.mark.requirement("DMP-SOAP-006")
@pytest.mark.parametrize("case", ["wrong", "missing"])
def test_wrong_or_missing_action(client, make_submission, patient, case):
    sub = make_submission()
    ctype, body = build_pnr_message(sub, mtom=False, header_extra=client.security_headers(patient),
                                    action=ITI18_ACTION if case == "wrong" else "urn:x")
    if case == "missing":
        body = re.sub(rb"<wsa:Action[^>]*>urn:x</wsa:Action>", b"", body)
    expect_fault(client.post(client.repository_url, ctype, body), "DMP-SOAP-006", f"{case} wsa:Action")
    _nothing_registered(client, sub, "DMP-SOAP-006")


@pytest.mark.requirement("DMP-SOAP-007")
@pytest.mark.parametrize("ctype", ["text/plain", "application/json",
                                   'multipart/related; boundary="b"; type="text/xml"'])
def test_wrong_content_type(client, make_submission, patient, ctype):
    """A valid PnR (VIHF included) under a media type that is not SOAP 1.2 (SOAP 1.2 Part 2 §7.1.4):
    the media type alone must make the fault, and nothing is registered."""
    sub = make_submission()
    _, body = build_pnr_message(sub, mtom=False, header_extra=client.security_headers(patient))
    expect_fault(client.post(client.repository_url, ctype, body), "DMP-SOAP-007", f"Content-Type {ctype}")
    _nothing_registered(client, sub, "DMP-SOAP-007")


def _boundary(ctype: str) -> bytes:
    return re.search(r'boundary="([^"]+)"', ctype).group(1).encode()


@pytest.mark.requirement("DMP-SOAP-008")
@pytest.mark.parametrize("case", ["truncated", "missing-xop-part", "wrong-boundary"])
def test_broken_mtom_package(client, make_submission, patient, case):
    sub = make_submission()
    ctype, body = build_pnr_message(sub, mtom=True, header_extra=client.security_headers(patient))
    boundary = _boundary(ctype)
    if case == "truncated":
        body = body[: len(body) * 2 // 3]
    elif case == "missing-xop-part":
        parts = body.split(b"--" + boundary)
        body = (b"--" + boundary).join(parts[:2] + parts[3:])  # drop the first attachment part
    else:
        ctype = ctype.replace(boundary.decode(), "OtherBoundary_123")
    expect_fault(client.post(client.repository_url, ctype, body), "DMP-SOAP-008", f"MTOM {case}")
    _nothing_registered(client, sub, "DMP-SOAP-008")


XXE = b'<?xml version="1.0"?>\n<!DOCTYPE foo [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>\n'
LAUGHS = (b'<?xml version="1.0"?>\n<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">'
          b'<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;">]>\n')


@pytest.mark.requirement("DMP-SEC-001")
@pytest.mark.parametrize("prolog", [XXE, LAUGHS, b'<?xml version="1.0"?>\n<!DOCTYPE Envelope>\n'])
def test_doctype_and_entities_are_refused(client, make_submission, patient, prolog):
    sub = make_submission()
    _, body = build_pnr_message(sub, mtom=False, header_extra=client.security_headers(patient))
    body = prolog + re.sub(rb"^<\?xml[^>]*\?>\s*", b"", body)
    body = body.replace(b"<wsa:MessageID>", b"<wsa:MessageID>&xxe;" if prolog is XXE else b"<wsa:MessageID>", 1)
    expect_fault(client.post(client.repository_url, SOAP_CT, body), "DMP-SEC-001", "DOCTYPE / entities")
    _nothing_registered(client, sub, "DMP-SEC-001")
