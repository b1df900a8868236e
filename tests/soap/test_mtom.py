"""MTOM/XOP codec: one table drives encode, decode, byte-at-a-time feed and refusals."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from lxml import etree

from harness.soap import ITI41_ACTION, MtomReader, SoapFault, build_envelope, decode_message, encode_mtom
from harness.soap.mtom import parse_content_type, xop_include

CORPUS = Path(__file__).resolve().parents[3] / "shared" / "corpus"
B = "b1"
XDSB = "urn:ihe:iti:xds-b:2007"


def _env(cids: list[str]) -> bytes:
    req = etree.Element(f"{{{XDSB}}}Req", nsmap={"x": XDSB})
    for i, cid in enumerate(cids):
        doc = etree.SubElement(req, f"{{{XDSB}}}Document", id=f"d{i}")
        doc.append(xop_include(cid))
    return build_envelope(req, action=ITI41_ACTION, message_id="urn:uuid:m")


ENV0 = _env([])
ENV1 = _env(["a@x"])
ENV2 = _env(["a@x", "b@x"])
HEAD = (b"Content-Type: application/xop+xml; charset=UTF-8; type=\"application/soap+xml\"\r\n"
        b"Content-Transfer-Encoding: binary\r\nContent-ID: <root.message@drimcheck>\r\n\r\n")


def _part(cid: str, data: bytes) -> bytes:
    return (b"\r\n--b1\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: binary\r\n"
            b"Content-ID: <" + cid.encode() + b">\r\n\r\n" + data)


# ((envelope, attachments), raw multipart body)
CASES = [
    ((ENV0, {}), b"--b1\r\n" + HEAD + ENV0 + b"\r\n--b1--\r\n"),
    ((ENV1, {"a@x": b"DICM\x00\r\n--b1x"}),
     b"--b1\r\n" + HEAD + ENV1 + _part("a@x", b"DICM\x00\r\n--b1x") + b"\r\n--b1--\r\n"),
    ((ENV2, {"a@x": b"", "b@x": b"\r\n\r\n"}),
     b"--b1\r\n" + HEAD + ENV2 + _part("a@x", b"") + _part("b@x", b"\r\n\r\n") + b"\r\n--b1--\r\n"),
]
CTYPE = (f'multipart/related; boundary="{B}"; type="application/xop+xml"; start="<root.message@drimcheck>"; '
         f'start-info="application/soap+xml"; action="{ITI41_ACTION}"')


@pytest.mark.parametrize(("obj", "raw"), CASES)
def test_encode(obj, raw):
    assert encode_mtom(obj[0], obj[1], action=ITI41_ACTION, boundary=B) == (CTYPE, raw)


def _check(msg, obj):
    assert msg.mtom and msg.xml == obj[0] and msg.attachments == obj[1]
    assert msg.action == ITI41_ACTION and msg.envelope.action == ITI41_ACTION
    docs = msg.envelope.body.findall(f"{{{XDSB}}}Document")
    assert [msg.document_bytes(d) for d in docs] == list(obj[1].values())


@pytest.mark.parametrize(("obj", "raw"), CASES)
def test_decode(obj, raw):
    _check(decode_message(CTYPE, raw), obj)


@pytest.mark.parametrize(("obj", "raw"), CASES)
def test_decode_one_byte_at_a_time(obj, raw):
    reader = MtomReader(CTYPE)
    results = [reader.feed(raw[i:i + 1]) for i in range(len(raw))]
    assert all(r is None for r in results[:-3])  # complete once the close delimiter is seen
    done = [r for r in results if r is not None]
    _check(done[0], obj)


@pytest.mark.parametrize(("obj", "raw"), CASES)
def test_decode_with_preamble_and_epilogue(obj, raw):
    _check(decode_message(CTYPE, b"preamble\r\n" + raw + b"epilogue --b1 garbage\r\n"), obj)


@pytest.mark.parametrize(("obj", "raw"), [CASES[0], CASES[2]])  # CASES[1] has CRLF inside binary content
def test_decode_with_bare_lf_line_ends(obj, raw):
    lf = raw.replace(b"\r\n--b1", b"\n--b1").replace(HEAD, HEAD.replace(b"\r\n", b"\n"))
    msg = decode_message(CTYPE, lf)
    assert msg.attachments == obj[1]


@pytest.mark.parametrize(("obj", "raw"), CASES)
def test_truncated_anywhere_is_refused(obj, raw):
    close = raw.rindex(b"--b1--")
    for cut in range(0, close + 5, 7):
        with pytest.raises(SoapFault) as info:
            decode_message(CTYPE, raw[:cut])
        assert info.value.code == "Sender"
    with pytest.raises(SoapFault):
        MtomReader(CTYPE).close()


def test_plain_soap_with_inline_base64():
    req = etree.Element(f"{{{XDSB}}}Req")
    etree.SubElement(req, f"{{{XDSB}}}Document").text = base64.b64encode(b"hello").decode()
    raw = build_envelope(req, action=ITI41_ACTION)
    msg = decode_message(f'application/soap+xml; charset=UTF-8; action="{ITI41_ACTION}"', raw)
    assert not msg.mtom and msg.action == ITI41_ACTION
    assert msg.document_bytes(msg.envelope.body[0]) == b"hello"
    reader = MtomReader("application/soap+xml", content_length=len(raw))
    assert [reader.feed(raw[i:i + 1]) for i in range(len(raw))][-1].xml == raw


def _swap(raw: bytes, old: bytes, new: bytes) -> bytes:
    assert old in raw
    return raw.replace(old, new, 1)


RAW1 = CASES[1][1]
REFUSED = [
    ("text/xml", RAW1, "neither"),
    ("", RAW1, "neither"),
    ('multipart/related; boundary="b1"; type="text/xml"', RAW1, "xop+xml"),
    ('multipart/related; type="application/xop+xml"', RAW1, "boundary"),
    ('multipart/related; boundary="zz"; type="application/xop+xml"', RAW1, "wrong boundary"),
    ('multipart/related; boundary="b"; type="application/xop+xml"', RAW1, "wrong boundary"),
    (CTYPE, RAW1[: RAW1.rindex(b"--b1--")], "truncated"),
    (CTYPE.replace("<root.message@drimcheck>", "<nope>"), RAW1, "start part"),
    (CTYPE, _swap(RAW1, b"Content-ID: <a@x>", b"Content-ID: <c@x>"), "cid:a@x"),
    (CTYPE, _swap(RAW1, b"application/xop+xml; charset", b"text/xml; charset"), "root MIME part"),
    (CTYPE, _swap(RAW1, b'type="application/soap+xml"\r\n', b'type="text/xml"\r\n'), "type parameter"),
    (CTYPE, _swap(RAW1, b"Content-Transfer-Encoding: binary\r\nContent-ID: <a",
                  b"Content-Transfer-Encoding: x-gzip\r\nContent-ID: <a"), "Transfer-Encoding"),
    (CTYPE, _swap(RAW1, b"\r\n\r\nDICM", b"\r\nDICM"), "header"),
    (CTYPE, _swap(RAW1, b"<wsa:MessageID>", b"<wsa:MessageID"), "well-formed"),
    (CTYPE, b"--b1--\r\n", "no part"),
]


@pytest.mark.parametrize(("ctype", "raw", "needle"), REFUSED)
def test_refused(ctype, raw, needle):
    with pytest.raises(SoapFault) as info:
        decode_message(ctype, raw)
    assert info.value.code == "Sender"
    assert needle.lower() in info.value.reason.lower()


def test_xop_include_in_plain_soap_is_refused():
    with pytest.raises(SoapFault, match="not an XOP package"):
        decode_message("application/soap+xml", ENV1)


def test_non_cid_href_and_bad_base64():
    raw = _swap(RAW1, b'href="cid:a@x"', b'href="http://x/a"')
    with pytest.raises(SoapFault, match="cid"):
        decode_message(CTYPE, raw)
    req = etree.Element(f"{{{XDSB}}}Req")
    etree.SubElement(req, f"{{{XDSB}}}Document").text = "!!"
    msg = decode_message("application/soap+xml", build_envelope(req, action="urn:a"))
    with pytest.raises(SoapFault, match="base64"):
        msg.document_bytes(msg.envelope.body[0])


def test_size_limit():
    with pytest.raises(SoapFault, match="limit"):
        decode_message(CTYPE, RAW1, max_bytes=100)
    with pytest.raises(SoapFault, match="limit"):
        MtomReader(CTYPE, max_bytes=10).feed(RAW1)


def test_base64_part_and_percent_encoded_cid():
    raw = _swap(RAW1, b"Content-Transfer-Encoding: binary\r\nContent-ID: <a@x>\r\n\r\nDICM\x00\r\n--b1x",
                b"Content-Transfer-Encoding: base64\r\nContent-ID: <a@x>\r\n\r\nRElDTQ==")
    raw = _swap(raw, b'href="cid:a@x"', b'href="cid:a%40x"')
    assert decode_message(CTYPE, raw).attachments == {"a@x": b"DICM"}


def test_parse_content_type():
    assert parse_content_type('Multipart/Related; boundary="a;b\\"c"; type=x') == (
        "multipart/related", {"boundary": 'a;b"c', "type": "x"})
    with pytest.raises(SoapFault):
        parse_content_type("a/b; =x")


def test_nist_axis2_capture():
    path = CORPUS / "xds" / "nist-messagevalidator" / "http-mtom-pnr.txt"
    if not path.exists():
        pytest.skip(f"corpus missing: {path}")
    raw = path.read_bytes()
    head, _, body = raw.partition(b"\n\n")
    ctype = next(line.split(b":", 1)[1] for line in head.splitlines()
                 if line.lower().startswith(b"content-type"))
    msg = decode_message(ctype.decode().strip(), body)
    assert msg.mtom and msg.envelope.action == ITI41_ACTION
    docs = msg.envelope.body.findall(f"{{{XDSB}}}Document")
    assert docs and all(msg.document_bytes(d) for d in docs)
