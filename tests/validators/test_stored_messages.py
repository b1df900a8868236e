"""Stored XDS messages read as they were sent (harness/validators/capture.py): each stored form of an MTOM
package, byte for byte, then the ANS copies that were pretty-printed when written to a file."""

from __future__ import annotations

import base64
import hashlib
import re

import pytest

from harness.soap import ITI41_ACTION, build_envelope, encode_mtom, xop_include
from harness.soap.mtom import decode_message
from harness.validators.capture import boundary_of, is_mime, read_capture
from harness.xds.model import XDSB_NS

KOS = bytes(range(256)) * 3
SIGNATURE = b'<?xml version="1.0"?>\n<Signature xmlns="http://www.w3.org/2000/09/xmldsig#">\n  <x/>\n</Signature>'


def package() -> tuple[str, bytes]:
    from lxml import etree

    req = etree.Element(f"{{{XDSB_NS}}}ProvideAndRegisterDocumentSetRequest")
    for doc_id, cid in (("DocumentKOS", "0.2"), ("Signature01", "0.3")):
        etree.SubElement(req, f"{{{XDSB_NS}}}Document", id=doc_id).append(xop_include(cid))
    return encode_mtom(build_envelope(req, action=ITI41_ACTION), {"0.2": KOS, "0.3": SIGNATURE},
                       action=ITI41_ACTION, boundary="MIMEBoundary_Bound", start="0.1",
                       content_types={"0.3": "text/xml"})


def pretty(body: bytes) -> bytes:
    """What the ANS copy of informatif/XDS/publication.xml looks like: LF, every line of the root part and of
    the signature part indented, delimiters indented, the KOS part in base64."""
    text = body.replace(b"\r\n", b"\n")
    text = text.replace(KOS, b"@KOS@").replace(b"Content-Transfer-Encoding: binary\nContent-ID: <0.2>",
                                               b"Content-Transfer-Encoding: BASE64\nContent-ID: <0.2>")
    lines = text.split(b"\n")
    out, indent = [], b""
    for i, line in enumerate(lines):
        if line.startswith(b"--MIMEBoundary_Bound") and i:
            indent += b"  "
        out.append(indent + line if i and not line.startswith(b"@KOS@") else line)
    return b"\n".join(out).replace(b"@KOS@", base64.b64encode(KOS))


def test_plain_soap_and_payload_are_left_alone():
    for data in (b"<s:Envelope xmlns:s='http://www.w3.org/2003/05/soap-envelope'/>", b"<lcm:SubmitObjectsRequest/>"):
        cap = read_capture(data)
        assert (cap.form, cap.body, cap.content_type) == ("soap", data, "application/soap+xml; charset=UTF-8")


def test_mtom_without_its_header_block():
    _ctype, body = package()
    cap = read_capture(body)
    assert cap.form == "mtom" and cap.body == body and 'boundary="MIMEBoundary_Bound"' in cap.content_type
    assert decode_message(cap.content_type, cap.body).attachments == {"0.2": KOS, "0.3": SIGNATURE}


@pytest.mark.parametrize("first_line", [b"", b"POST /repository HTTP/1.1\r\nHost: dmp\r\n"])
def test_mtom_after_an_http_header_block(first_line):
    ctype, body = package()
    cap = read_capture(first_line + b"Content-Type: " + ctype.encode() + b"\r\n\r\n" + body)
    assert (cap.form, cap.content_type, cap.body) == ("http", ctype, body)


def test_pretty_printed_package_is_restored():
    _ctype, body = package()
    cap = read_capture(pretty(body))
    assert cap.form == "mime-restored" and cap.altered == {"0.3"}
    assert any("indented" in n for n in cap.notes) and any("LF, not CRLF" in n for n in cap.notes)
    msg = decode_message(cap.content_type, cap.body)
    assert msg.attachments["0.2"] == KOS  # base64 part: exact
    assert msg.attachments["0.3"] == SIGNATURE.replace(b"\r\n", b"\n")  # dedented: the text, not the bytes sent
    assert msg.envelope.action == ITI41_ACTION


def test_delimiters_and_headers_run_together_are_restored():
    """drimbox-poc-samples/XDS/response.xml: the line breaks of the delimiter and header lines were lost."""
    _ctype, body = package()
    run = re.sub(rb"(--MIMEBoundary_Bound|Content-Type: [^\r]*|Content-Transfer-Encoding: binary)\r\n", rb"\1",
                 body, count=3)
    cap = read_capture(run)
    assert cap.form == "mime-restored" and "run together" in cap.notes[0]
    assert decode_message(cap.content_type, cap.body).attachments["0.2"] == KOS


def test_unrestorable_package_is_passed_on_for_the_decoder_to_refuse():
    cap = read_capture(b"--b\r\nContent-Type: application/xop+xml\r\n\r\n<x/>\r\n--b--")
    assert cap.form == "mtom" and cap.body.startswith(b"--b")


def test_boundary_and_mime_detection():
    assert boundary_of(b"--uuid:ab-cdContent-Type: x\n<e/>--uuid:ab-cd--") == "uuid:ab-cd"
    assert boundary_of(b"--MIME42 \r\nContent-Type: x\r\n") == "MIME42"
    assert is_mime(b"  --b\n") and is_mime(b"Content-Type: x\r\n") and is_mime(b"POST /r HTTP/1.1\r\n")
    assert not is_mime(b"<s:Envelope/>")


@pytest.mark.parametrize("rel", ["drim-m-data/informatif/XDS/publication.xml",
                                 "drimbox-poc-samples/XDS/publication.xml"])
def test_ans_publications_are_restored(corpus_file, rel):
    """The KOS part (base64) is the one the metadata hash names (MANIFEST: SHA-1 58408c11..., 8450 bytes);
    the signature part was re-indented when the file was written."""
    cap = read_capture(corpus_file(rel).read_bytes())
    msg = decode_message(cap.content_type, cap.body)
    assert cap.form == "mime-restored" and cap.altered == {"0.3"}
    assert hashlib.sha1(msg.attachments["0.2"]).hexdigest() == "58408c116b51497c0f2084c90da3c85c7098455a"
    assert msg.envelope.message_id == "urn:uuid:a6ba8f7f-b214-4a2d-96f1-54293d537ce3"


def test_ans_acknowledgement_is_restored(corpus_file):
    cap = read_capture(corpus_file("drimbox-poc-samples/XDS/response.xml").read_bytes())
    msg = decode_message(cap.content_type, cap.body)
    assert msg.envelope.relates_to == "urn:uuid:a6ba8f7f-b214-4a2d-96f1-54293d537ce3"
