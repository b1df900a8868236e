"""PnR builder: the DMP KOS submission carries the values of ANS DRIM-M_DATA Validateur XDS/XDS.xml and the
Signature01 document."""

from __future__ import annotations

import base64
import hashlib

from lxml import etree

from harness.soap import ITI41_ACTION, decode_message
from harness.xds.builder import build_pnr_message, signature_document
from harness.xds.model import ASSOCIATION_TYPES


def test_kos_submission_values(good):
    kos, sig = good.documents
    assert (kos.classCode.code, kos.typeCode.code, kos.formatCode.code) == (
        ("31", "1.2.250.1.213.1.1.4.1"), ("IMG-KOS", "1.2.250.1.213.1.1.4.12"),
        ("1.2.840.10008.5.1.4.1.1.88.59", "1.2.840.10008.2.6.1"))
    assert kos.mimeType == "application/dicom" and kos.languageCode == "fr-FR"
    assert kos.hash == hashlib.sha1(good.document_bytes["DocumentKOS"]).hexdigest()
    assert kos.size == str(len(good.document_bytes["DocumentKOS"]))
    assert [r.rsplit("^", 1)[1] for r in kos.referenceIdList] == [
        "urn:ihe:iti:xds:2013:accession", "urn:ihe:iti:xds:2016:studyInstanceUID", "urn:ihe:iti:xds:2013:order"]
    assert sig.id == "Signature01" and sig.mimeType == "text/xml" and sig.typeCode.node == "E1762"
    signs = [a for a in good.associations if a.type == ASSOCIATION_TYPES["signs"]]
    assert [(a.source, a.target) for a in signs] == [("Signature01", "SubmissionSet01")]


def test_signature_manifest_digests_the_kos(good):
    root = etree.fromstring(good.document_bytes["Signature01"])
    ns = {"ds": "http://www.w3.org/2000/09/xmldsig#"}
    ref = root.find("ds:Object/ds:Manifest[@Id='IHEManifest']/ds:Reference", ns)
    assert ref.get("URI") == "urn:oid:1.2.250.1.999.3.1"
    digest = base64.b64decode(ref.findtext("ds:DigestValue", namespaces=ns))
    assert digest == hashlib.sha1(good.document_bytes["DocumentKOS"]).digest()
    assert signature_document([]).startswith(b"<?xml")


def test_messages_are_posts_ready(good):
    ctype, body = build_pnr_message(good, mtom=False, message_id="urn:uuid:1", to="http://x/repository")
    assert ctype == f'application/soap+xml; charset=UTF-8; action="{ITI41_ACTION}"'
    env = decode_message(ctype, body).envelope
    assert (env.action, env.message_id, env.to) == (ITI41_ACTION, "urn:uuid:1", "http://x/repository")
    ctype, body = build_pnr_message(good)
    msg = decode_message(ctype, body)
    assert msg.mtom and sorted(msg.attachments.values()) == sorted(good.document_bytes.values())
