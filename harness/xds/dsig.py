"""Sign and verify the DMP signature document (``Signature01``): XML-DSig + XAdES over ``#IHEManifest``.

IHE DSG (ITI TF-3 §5.5) puts a ``ds:Manifest`` (Id ``IHEManifest``) listing each document's digest in an enveloping
``ds:Signature``; the DMP asks for an XAdES signature over it (ANS DRIM-M_DATA Validateur XDS/XDS.xml) made with the
structure's IGC-Santé ORG SIGN certificate, like the ANS demonstrator's ``SIGN_1.XML``. The signed ``SignedInfo``
references the manifest and the XAdES ``SignedProperties`` (signing time, digest of the signing certificate); the
certificate travels in ``KeyInfo``.

:func:`sign` fills a placeholder built by :func:`harness.xds.builder.signature_document`;
:func:`verify` recomputes every reference digest and checks ``SignatureValue`` with the public key of the
``KeyInfo`` certificate (XML-DSig core validation, W3C xmldsig-core §3.2). Whether that certificate
chains to a trusted authority is a question for the caller's trust store, not answered here.
"""

from __future__ import annotations

import base64
import functools
import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from lxml import etree

from harness.vihf import private_key

DS_NS = "http://www.w3.org/2000/09/xmldsig#"
XADES_NS = "http://uri.etsi.org/01903/v1.3.2#"
DS = f"{{{DS_NS}}}"
XADES = f"{{{XADES_NS}}}"

EXC_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"
C14N_METHODS = {  # algorithm URI -> (exclusive, with comments)
    "http://www.w3.org/TR/2001/REC-xml-c14n-20010315": (False, False),
    "http://www.w3.org/TR/2001/REC-xml-c14n-20010315#WithComments": (False, True),
    EXC_C14N: (True, False),
    EXC_C14N + "WithComments": (True, True),
}
DIGESTS = {
    "http://www.w3.org/2000/09/xmldsig#sha1": hashlib.sha1,
    "http://www.w3.org/2001/04/xmlenc#sha256": hashlib.sha256,
    "http://www.w3.org/2001/04/xmlenc#sha512": hashlib.sha512,
}
SIGNATURES = {  # algorithm URI -> hash of the signature
    "http://www.w3.org/2000/09/xmldsig#rsa-sha1": hashes.SHA1(),
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256": hashes.SHA256(),
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512": hashes.SHA512(),
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256": hashes.SHA256(),
}
SHA256 = "http://www.w3.org/2001/04/xmlenc#sha256"
SIGNED_PROPERTIES_TYPE = "http://uri.etsi.org/01903#SignedProperties"


class SignatureError(ValueError):
    """The signature document cannot be signed as asked (no placeholder, unusable key)."""


@dataclass
class Verdict:
    """Outcome of :func:`verify`: ``status`` is ``valid``, ``unsigned``, ``unverifiable`` or ``invalid``."""

    status: str
    detail: str = ""
    signer: str = ""
    location: str = ""


def _c14n(elem: etree._Element, algorithm: str) -> bytes:
    exclusive, comments = C14N_METHODS[algorithm]
    return etree.tostring(elem, method="c14n", exclusive=exclusive, with_comments=comments)


def _ids(root: etree._Element) -> dict[str, etree._Element]:
    """The elements by their ``Id``, ``ID`` or ``id``, the first in document order winning: one walk
    of the tree for all the references of a signature."""
    found: dict[str, etree._Element] = {}
    for elem in root.iter(etree.Element):
        for name in ("Id", "ID", "id"):
            value = elem.get(name)
            if value is not None and value not in found:
                found[value] = elem
    return found


def _child(elem: etree._Element, tag: str) -> etree._Element | None:
    """The first child ``tag`` (lxml's ``find`` parses a path; this is the hot path of every PnR)."""
    return next(elem.iterchildren(tag), None)


def _reference_octets(ids: dict[str, etree._Element], ref: etree._Element) -> bytes:
    """Same-document reference ``#id``: the element, through its c14n transforms or, without one,
    inclusive C14N 1.0 without comments (xmldsig-core §4.4.3.3)."""
    uri = ref.get("URI") or ""
    if not uri.startswith("#"):
        raise SignatureError(f"reference URI {uri!r} is not a same-document reference")
    target = ids.get(uri[1:])
    if target is None:
        raise SignatureError(f"no element with Id {uri[1:]!r}")
    algorithms = [t.get("Algorithm") for t in ref.iterfind(f"{DS}Transforms/{DS}Transform")]
    algorithm = next((a for a in algorithms if a in C14N_METHODS), "http://www.w3.org/TR/2001/REC-xml-c14n-20010315")
    unknown = [a for a in algorithms if a not in C14N_METHODS]
    if unknown:
        raise SignatureError(f"unsupported transform {unknown[0]}")
    return _c14n(target, algorithm)


def _digest(algorithm: str, data: bytes) -> str:
    if algorithm not in DIGESTS:
        raise SignatureError(f"unsupported digest {algorithm}")
    return base64.b64encode(DIGESTS[algorithm](data).digest()).decode()


def _add_reference(signed_info: etree._Element, uri: str, type_: str | None = None) -> etree._Element:
    ref = etree.SubElement(signed_info, f"{DS}Reference", URI=uri, **({"Type": type_} if type_ else {}))
    transforms = etree.SubElement(ref, f"{DS}Transforms")
    etree.SubElement(transforms, f"{DS}Transform", Algorithm=EXC_C14N)
    etree.SubElement(ref, f"{DS}DigestMethod", Algorithm=SHA256)
    etree.SubElement(ref, f"{DS}DigestValue")
    return ref


def _signed_properties(sig: etree._Element, cert: x509.Certificate, signing_time: datetime) -> etree._Element:
    obj = etree.SubElement(sig, f"{DS}Object")
    qp = etree.SubElement(obj, f"{XADES}QualifyingProperties", nsmap={"xades": XADES_NS},
                          Target=f"#{sig.get('Id')}")
    sp = etree.SubElement(qp, f"{XADES}SignedProperties", Id=f"{sig.get('Id')}-SignedProperties")
    ssp = etree.SubElement(sp, f"{XADES}SignedSignatureProperties")
    etree.SubElement(ssp, f"{XADES}SigningTime").text = signing_time.strftime("%Y-%m-%dT%H:%M:%SZ")
    cert_ref = etree.SubElement(etree.SubElement(ssp, f"{XADES}SigningCertificateV2"), f"{XADES}Cert")
    digest = etree.SubElement(cert_ref, f"{XADES}CertDigest")
    etree.SubElement(digest, f"{DS}DigestMethod", Algorithm=SHA256)
    etree.SubElement(digest, f"{DS}DigestValue").text = _digest(SHA256, cert.public_bytes(serialization.Encoding.DER))
    return sp


def sign(document: bytes, key_pem: bytes, cert_pem: bytes, signing_time: datetime | None = None) -> bytes:
    """Sign the placeholder ``document`` (a ``ds:Signature`` with ``IHEManifest``): XAdES-BES with RSA-SHA256."""
    from harness.xmlsafe import parse_xml

    root = parse_xml(document, max_bytes=16 * 1024 * 1024)
    if root.tag != f"{DS}Signature" or "IHEManifest" not in _ids(root):
        raise SignatureError("not a ds:Signature with a ds:Manifest Id='IHEManifest'")
    key = private_key(key_pem)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise SignatureError("the signature document is signed with an RSA key (IGC-Santé ORG SIGN)")
    cert = x509.load_pem_x509_certificate(cert_pem)
    root.set("Id", root.get("Id") or "Signature01")
    signed_info = root.find(f"{DS}SignedInfo")
    for child in list(signed_info):
        if child.tag == f"{DS}Reference":
            signed_info.remove(child)
    signed_info.find(f"{DS}CanonicalizationMethod").set("Algorithm", EXC_C14N)
    signed_info.find(f"{DS}SignatureMethod").set("Algorithm", "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256")
    manifest_ref = _add_reference(signed_info, "#IHEManifest", f"{DS_NS}Manifest")
    props = _signed_properties(root, cert, signing_time or datetime.now(UTC))
    props_ref = _add_reference(signed_info, f"#{props.get('Id')}", SIGNED_PROPERTIES_TYPE)
    ids = _ids(root)
    for ref in (manifest_ref, props_ref):
        ref.find(f"{DS}DigestValue").text = _digest(SHA256, _reference_octets(ids, ref))
    value = key.sign(_c14n(signed_info, EXC_C14N), padding.PKCS1v15(), hashes.SHA256())
    sig_value = root.find(f"{DS}SignatureValue")
    sig_value.text = base64.b64encode(value).decode()
    for old in root.findall(f"{DS}KeyInfo"):
        root.remove(old)
    key_info = etree.Element(f"{DS}KeyInfo")
    etree.SubElement(etree.SubElement(key_info, f"{DS}X509Data"), f"{DS}X509Certificate").text = \
        base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()
    sig_value.addnext(key_info)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def _certificate(root: etree._Element) -> x509.Certificate | None:
    text = root.findtext(f"{DS}KeyInfo/{DS}X509Data/{DS}X509Certificate")
    if not text or not text.strip():
        return None
    return _load_certificate("".join(text.split()))


@functools.lru_cache(maxsize=64)
def _load_certificate(b64: str) -> x509.Certificate | None:
    """Parsed once per distinct certificate: a DRIMbox signs every submission with the same one."""
    try:
        return x509.load_der_x509_certificate(base64.b64decode(b64, validate=True))
    except ValueError:
        return None


@functools.lru_cache(maxsize=64)
def _subject(cert: x509.Certificate) -> str:
    """The signer's name (RFC 4514), formatted once per certificate as it is parsed once."""
    return cert.subject.rfc4514_string()


def _check_value(cert: x509.Certificate, algorithm: str, value: bytes, data: bytes) -> None:
    public = cert.public_key()
    if algorithm not in SIGNATURES:
        raise SignatureError(f"unsupported signature method {algorithm}")
    if isinstance(public, rsa.RSAPublicKey) and "rsa" in algorithm:
        public.verify(value, data, padding.PKCS1v15(), SIGNATURES[algorithm])
    elif isinstance(public, ec.EllipticCurvePublicKey) and "ecdsa" in algorithm:
        from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

        half = len(value) // 2
        der = encode_dss_signature(int.from_bytes(value[:half], "big"), int.from_bytes(value[half:], "big"))
        public.verify(der, data, ec.ECDSA(SIGNATURES[algorithm]))
    else:
        raise SignatureError(f"the certificate's key does not fit {algorithm}")


def verify(root: etree._Element) -> Verdict:
    """XML-DSig core validation of a parsed signature document (see module docstring)."""
    value_text = "".join((root.findtext(f"{DS}SignatureValue") or "").split())
    if not value_text:
        return Verdict("unsigned", "SignatureValue is empty: the signature document is a placeholder",
                       location="Signature/SignatureValue")
    cert = _certificate(root)
    if cert is None:
        return Verdict("unverifiable", "KeyInfo carries no readable X509Certificate", location="Signature/KeyInfo")
    signer = _subject(cert)
    signed_info = _child(root, f"{DS}SignedInfo")
    if signed_info is None:
        return Verdict("invalid", "no SignedInfo", signer, "Signature")
    refs = list(signed_info.iterchildren(f"{DS}Reference"))
    if not any(r.get("URI") == "#IHEManifest" for r in refs):
        return Verdict("invalid", "SignedInfo does not reference #IHEManifest", signer, "Signature/SignedInfo")
    try:
        ids = _ids(root)
        for i, ref in enumerate(refs, 1):
            expected = _digest(_child(ref, f"{DS}DigestMethod").get("Algorithm"), _reference_octets(ids, ref))
            value = _child(ref, f"{DS}DigestValue")
            found = ((value.text if value is not None else None) or "").strip()
            if expected != found:
                return Verdict("invalid", f"digest of {ref.get('URI')} is {expected}, the signature says {found}",
                               signer, f"Signature/SignedInfo/Reference[{i}]")
        c14n = _child(signed_info, f"{DS}CanonicalizationMethod").get("Algorithm")
        if c14n not in C14N_METHODS:
            raise SignatureError(f"unsupported canonicalization {c14n}")
        _check_value(cert, _child(signed_info, f"{DS}SignatureMethod").get("Algorithm"),
                     base64.b64decode(value_text), _c14n(signed_info, c14n))
    except InvalidSignature:
        return Verdict("invalid", "SignatureValue does not verify with the KeyInfo certificate's key", signer,
                       "Signature/SignatureValue")
    except (SignatureError, AttributeError, ValueError) as exc:
        return Verdict("unverifiable", str(exc), signer, "Signature/SignedInfo")
    return Verdict("valid", "", signer)
