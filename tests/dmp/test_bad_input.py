"""Bad input at the DMP endpoints: each gets a SOAP fault, stores nothing, and the server keeps serving."""

from __future__ import annotations

import re

import pytest
import requests

from harness.soap import ITI18_ACTION, ITI41_ACTION, ITI43_ACTION, parse_envelope, parse_fault
from harness.xds import build_pnr_message

from .dmp_testing import client_of, find, kos_sub

SOAP_CT = f'application/soap+xml; charset=UTF-8; action="{ITI41_ACTION}"'


def _boundary(ctype: str) -> str:
    return re.search(r'boundary="([^"]+)"', ctype).group(1)


def _mutations():
    """(name, function(ctype, body) -> (ctype, body)) for a valid MTOM or inline PnR."""
    def xxe(c, b):
        return SOAP_CT, (b'<?xml version="1.0"?><!DOCTYPE e [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
                         + re.sub(rb"^<\?xml[^>]*\?>", b"", _inline(b)).replace(b"<wsa:MessageID>",
                                                                                  b"<wsa:MessageID>&x;", 1))

    def laughs(c, b):
        bomb = b'<!DOCTYPE e [<!ENTITY a "aaaaaaaaaa">' + b"".join(
            b'<!ENTITY a%d "%s">' % (i, (b"&a;" if i == 1 else b"&a%d;" % (i - 1)) * 10) for i in range(1, 9)) + b"]>"
        return SOAP_CT, bomb + re.sub(rb"^<\?xml[^>]*\?>", b"", _inline(b))

    def doctype(c, b):
        return SOAP_CT, b"<!DOCTYPE Envelope>" + re.sub(rb"^<\?xml[^>]*\?>", b"", _inline(b))

    def truncated(c, b):
        return c, b[: len(b) // 2]

    def missing_xop_part(c, b):
        delim = b"--" + _boundary(c).encode()
        parts = b.split(delim)
        return c, delim.join(parts[:2] + parts[3:])

    def wrong_boundary(c, b):
        return c.replace(_boundary(c), "NotTheBoundary"), b

    def no_boundary(c, b):
        return re.sub(r'boundary="[^"]+";\s*', "", c), b

    def wrong_type(c, b):
        return "text/xml; charset=UTF-8", _inline(b)

    def garbage(c, b):
        return SOAP_CT, b"\xff\xfe not xml at all"

    def wrong_action(c, b):
        return c.replace(ITI41_ACTION, ITI43_ACTION), b.replace(ITI41_ACTION.encode(), ITI18_ACTION.encode())

    return [("xxe", xxe), ("billion-laughs", laughs), ("doctype", doctype), ("truncated-mime", truncated),
            ("missing-xop-part", missing_xop_part), ("wrong-boundary", wrong_boundary),
            ("no-boundary", no_boundary), ("wrong-content-type", wrong_type), ("garbage", garbage),
            ("wrong-action", wrong_action)]


_INLINE: dict[int, bytes] = {}


def _inline(body: bytes) -> bytes:
    return _INLINE[id(body)]


@pytest.mark.parametrize("name,mutate", _mutations(), ids=[m[0] for m in _mutations()])
def test_bad_message_gets_a_fault_and_stores_nothing(sqlite_server, name, mutate):
    client = client_of(sqlite_server)
    sub = kos_sub()
    ctype, body = build_pnr_message(sub, mtom=True)
    _INLINE[id(body)] = build_pnr_message(sub, mtom=False)[1]
    bad_ctype, bad_body = mutate(ctype, body)
    resp = requests.post(client.repository_url, data=bad_body, headers={"Content-Type": bad_ctype}, timeout=30)
    assert resp.status_code == 400, resp.text[:500]
    assert resp.headers["Content-Type"].startswith("application/soap+xml")
    fault = parse_fault(parse_envelope(resp.content))
    assert fault is not None and fault.code == "Sender", resp.text[:500]
    assert b"root:" not in resp.content  # no /etc/passwd content echoed
    storage = sqlite_server.app.storage
    assert storage.count() == 0 and storage.document_count() == 0
    assert client.provide_and_register(sub).success  # still serving, and the same submission now goes in
    assert len(find(client, sub.submission_set.patientId)) == 2


def test_oversized_body_is_refused_before_parsing(sqlite_server):
    client = client_of(sqlite_server)
    sub = kos_sub()
    kos = next(d for d in sub.documents if d.mimeType == "application/dicom")
    sub.document_bytes[kos.id] = b"\0" * (3 * 1024 * 1024)  # over the 2 MB limit of this server
    kos.hash = kos.size = None
    result = client.provide_and_register(sub)
    assert result.http_status == 400 and result.fault is not None and "exceeds" in result.fault.reason
    assert sqlite_server.app.storage.count() == 0
    assert client_of(sqlite_server).provide_and_register(kos_sub()).success


def test_unknown_path_and_method(sqlite_server):
    base = sqlite_server.endpoints["base"]
    assert requests.post(base + "/nowhere", data=b"x", timeout=10).status_code == 404
    assert requests.get(sqlite_server.endpoints["repository"], timeout=10).status_code == 405


def test_huge_body_is_drained_not_stored(sqlite_server):
    """A body far over the limit (here 40 MB for a 2 MB limit; 500 MB behaves the same) gets a fault
    after being read and discarded: nothing stored, nothing spooled, the server keeps serving."""
    client = client_of(sqlite_server)
    resp = requests.post(client.repository_url, data=b"\0" * (40 << 20), timeout=60,
                         headers={"Content-Type": SOAP_CT})
    assert resp.status_code == 400 and b"exceeds the limit" in resp.content
    assert sqlite_server.app.storage.count() == 0
    assert client.provide_and_register(kos_sub()).success
