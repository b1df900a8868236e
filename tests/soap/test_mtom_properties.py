"""Property test: any set of binary parts survives encode_mtom -> decode_message, whole or fed
one chunk at a time (RFC 2046 delimiters never confused with content that is not a delimiter line)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from harness.soap import ITI41_ACTION, MtomReader, build_envelope, decode_message, encode_mtom, xop_include

XDSB = "urn:ihe:iti:xds-b:2007"
parts = st.dictionaries(st.from_regex(r"[a-z0-9]{1,8}@[a-z]{1,5}", fullmatch=True),
                        st.binary(max_size=300), max_size=4)


def _envelope(cids):
    req = etree.Element(f"{{{XDSB}}}Req")
    for cid in cids:
        etree.SubElement(req, f"{{{XDSB}}}Document").append(xop_include(cid))
    return build_envelope(req, action=ITI41_ACTION)


@settings(max_examples=150, deadline=None)
@given(parts, st.integers(min_value=1, max_value=97))
def test_round_trip(attachments, chunk):
    env = _envelope(attachments)
    ctype, body = encode_mtom(env, attachments, action=ITI41_ACTION)
    msg = decode_message(ctype, body)
    assert msg.attachments == attachments and msg.xml == env
    reader = MtomReader(ctype)
    done = [m for i in range(0, len(body), chunk) if (m := reader.feed(body[i:i + chunk])) is not None]
    assert done and done[0].attachments == attachments
