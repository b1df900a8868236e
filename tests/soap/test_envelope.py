"""SOAP 1.2 envelope codec: round trips and every refusal (W3C SOAP 1.2 Part 1 §5)."""

from __future__ import annotations

import pytest
from lxml import etree

from harness.soap import (
    FAULT_ACTION,
    ITI41_ACTION,
    SOAP12_NS,
    SoapFault,
    build_envelope,
    build_fault,
    parse_envelope,
    parse_fault,
)

BODY = b'<x:Ping xmlns:x="urn:test"><x:n>1</x:n></x:Ping>'

# (fields, raw envelope) -- one table drives encode and decode
CASES = [
    ({"action": ITI41_ACTION, "message_id": "urn:uuid:1"},
     b"<?xml version='1.0' encoding='UTF-8'?>\n"
     b'<soap:Envelope xmlns:soap="http://www.w3.org/2003/05/soap-envelope" '
     b'xmlns:wsa="http://www.w3.org/2005/08/addressing"><soap:Header>'
     b'<wsa:Action soap:mustUnderstand="true">urn:ihe:iti:2007:ProvideAndRegisterDocumentSet-b</wsa:Action>'
     b"<wsa:MessageID>urn:uuid:1</wsa:MessageID></soap:Header><soap:Body>"
     b'<x:Ping xmlns:x="urn:test"><x:n>1</x:n></x:Ping></soap:Body></soap:Envelope>'),
    ({"action": "urn:a", "message_id": "urn:uuid:2", "relates_to": "urn:uuid:1", "to": "http://h/r"},
     b"<?xml version='1.0' encoding='UTF-8'?>\n"
     b'<soap:Envelope xmlns:soap="http://www.w3.org/2003/05/soap-envelope" '
     b'xmlns:wsa="http://www.w3.org/2005/08/addressing"><soap:Header>'
     b'<wsa:Action soap:mustUnderstand="true">urn:a</wsa:Action>'
     b"<wsa:MessageID>urn:uuid:2</wsa:MessageID><wsa:RelatesTo>urn:uuid:1</wsa:RelatesTo>"
     b"<wsa:To>http://h/r</wsa:To></soap:Header><soap:Body>"
     b'<x:Ping xmlns:x="urn:test"><x:n>1</x:n></x:Ping></soap:Body></soap:Envelope>'),
]


@pytest.mark.parametrize(("fields", "raw"), CASES)
def test_encode(fields, raw):
    assert build_envelope(etree.fromstring(BODY), **fields) == raw


@pytest.mark.parametrize(("fields", "raw"), CASES)
def test_decode(fields, raw):
    env = parse_envelope(raw)
    for key, value in fields.items():
        assert getattr(env, key) == value
    assert etree.QName(env.body).localname == "Ping"
    assert env.security is None


def test_body_list_and_header_extra_and_security():
    sec = etree.fromstring(b'<wsse:Security xmlns:wsse="http://docs.oasis-open.org/wss/2004/01/'
                           b'oasis-200401-wss-wssecurity-secext-1.0.xsd"/>')
    raw = build_envelope([etree.fromstring(BODY), etree.fromstring(b"<b/>")], action="urn:a",
                         header_extra=[sec])
    env = parse_envelope(raw)
    assert env.security is not None and env.message_id.startswith("urn:uuid:")
    assert len(env.body.getparent()) == 2


def test_body_element_with_parent_is_copied_not_moved():
    tree = etree.fromstring(b"<r>" + BODY + b"</r>")
    build_envelope(tree[0], action="urn:a")
    assert len(tree) == 1


BAD = [
    (b"<Envelope/>", "envelope"),
    (b"<Foo/>", "soap:Envelope"),
    (b'<e:Envelope xmlns:e="http://schemas.xmlsoap.org/soap/envelope/"><e:Body/></e:Envelope>', "SOAP 1.2"),
    (b'<e:Envelope xmlns:e="http://www.w3.org/2003/05/soap-envelope"/>', "soap:Body"),
    (b'<e:Envelope xmlns:e="http://www.w3.org/2003/05/soap-envelope"><e:Body/><e:Body/></e:Envelope>',
     "soap:Body"),
    (b'<e:Envelope xmlns:e="http://www.w3.org/2003/05/soap-envelope"><e:Body/><e:Header/></e:Envelope>',
     "soap:Body"),
    (b'<e:Envelope xmlns:e="http://www.w3.org/2003/05/soap-envelope"><e:Body>', "well-formed"),
    (b'<!DOCTYPE x [<!ENTITY a "b">]><e:Envelope xmlns:e="http://www.w3.org/2003/05/soap-envelope">'
     b"<e:Body/></e:Envelope>", "DOCTYPE"),
    (b"", "XML"),
]


@pytest.mark.parametrize(("raw", "needle"), BAD)
def test_parse_refuses(raw, needle):
    with pytest.raises(SoapFault) as info:
        parse_envelope(raw)
    assert info.value.code == "Sender"
    assert needle.lower() in info.value.reason.lower() or needle.lower() in str(info.value).lower()


@pytest.mark.parametrize(("fields", "raw"), CASES)
def test_trailing_garbage_is_refused(fields, raw):
    with pytest.raises(SoapFault):
        parse_envelope(raw + b"<junk/>")


def test_fault_round_trip():
    raw = build_fault(SoapFault("Sender", "bad action", "wsa:ActionNotSupported"), relates_to="urn:uuid:9")
    env = parse_envelope(raw)
    assert env.action == FAULT_ACTION and env.relates_to == "urn:uuid:9" and env.is_fault
    fault = parse_fault(env)
    assert (fault.code, fault.reason, fault.subcode) == ("Sender", "bad action", "wsa:ActionNotSupported")
    assert env.body.findtext(f"{{{SOAP12_NS}}}Code/{{{SOAP12_NS}}}Value") == "soap:Sender"


def test_fault_code_is_checked():
    with pytest.raises(ValueError):
        SoapFault("Client", "x")
    assert parse_fault(parse_envelope(CASES[0][1])) is None
