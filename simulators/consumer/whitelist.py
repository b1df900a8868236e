"""The ANS whitelist of DRIMboxes (``ListeBlancheDRIM-M``): which Sources the Consumer may call.

FACTS §5: ``<ListeBlancheDRIM-M versionFormat="1.0.0">``, each ``Domaine`` with ``Identifiant``,
``db`` (DRIMbox FQDN), ``vi`` (viewer FQDN), ``Denomination``, ``DNCertificatOperateur``,
``SupportContact``, ``DateMAJ``; an enveloped XAdES-BASELINE-B signature (IGC-Santé ORG SIGN). An
unsigned or tampered list is refused. Verification follows W3C XML-DSig 1.1 by hand for the shape
the ANS signs (sample ``drim-m-data/Référencement DRIMBox/Liste blanche TEST/``): a reference to
the whole document with the signature subtracted (XPath Filter 2.0 ``subtract`` or the
enveloped-signature transform) then exc-c14n, a reference to the XAdES SignedProperties, and an
RSA signature over the exc-c14n SignedInfo. ``trusted_cas`` (PEM) adds the check that the signing
certificate was issued by one of them.
"""

from __future__ import annotations

import base64
import copy
import hashlib
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from lxml import etree

from harness.xmlsafe import UnsafeXmlError, parse_xml

DS = "{http://www.w3.org/2000/09/xmldsig#}"
EXC_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"
ENVELOPED = "http://www.w3.org/2000/09/xmldsig#enveloped-signature"
FILTER2 = "http://www.w3.org/2002/06/xmldsig-filter2"
SIGNED_PROPERTIES = "http://uri.etsi.org/01903#SignedProperties"
# XML-DSig 1.1 §6: digest and signature algorithms accepted
DIGESTS = {"http://www.w3.org/2001/04/xmlenc#sha256": hashlib.sha256,
           "http://www.w3.org/2001/04/xmlenc#sha512": hashlib.sha512}
SIGNATURES = {"http://www.w3.org/2001/04/xmldsig-more#rsa-sha256": hashes.SHA256(),
              "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512": hashes.SHA512()}
MAX_BYTES = 4 * 1024 * 1024


class WhitelistError(ValueError):
    """The list cannot be trusted (unsigned, tampered, unknown algorithm, untrusted signer) or read."""


@dataclass(frozen=True)
class Domain:
    identifiant: str
    db: str
    vi: str
    denomination: str
    dn: str
    contact: str
    date: str


@dataclass(frozen=True)
class Whitelist:
    domains: tuple[Domain, ...]
    signer: str  # subject DN of the signing certificate
    issuer: str

    @property
    def hosts(self) -> tuple[str, ...]:
        """DRIMbox hosts (``db``) the Consumer may send WADO-RS requests to."""
        return tuple(d.db.lower() for d in self.domains if d.db)

    def viewer_for(self, host: str) -> str | None:
        return next((d.vi for d in self.domains if d.db.lower() == host.lower() and d.vi), None)


def _local(elem: etree._Element) -> str:
    return etree.QName(elem).localname


def _child_text(elem: etree._Element, name: str) -> str:
    found = next((c for c in elem if isinstance(c.tag, str) and _local(c) == name), None)
    return (found.text or "").strip() if found is not None else ""


def load_whitelist(data: bytes, *, trusted_cas: tuple[bytes, ...] = ()) -> Whitelist:
    """Parse and verify a ``ListeBlancheDRIM-M``; WhitelistError says why it is refused."""
    try:
        root = parse_xml(data, max_bytes=MAX_BYTES)
    except UnsafeXmlError as exc:
        raise WhitelistError(f"whitelist unreadable: {exc}") from None
    if _local(root) != "ListeBlancheDRIM-M" or root.get("versionFormat") != "1.0.0":
        raise WhitelistError("not a ListeBlancheDRIM-M versionFormat 1.0.0 document")
    signer, issuer = verify_signature(root, trusted_cas)
    domains = tuple(
        Domain(*(_child_text(d, n) for n in ("Identifiant", "db", "vi", "Denomination", "DNCertificatOperateur",
                                              "SupportContact", "DateMAJ")))
        for d in root.iter() if isinstance(d.tag, str) and _local(d) == "Domaine")
    return Whitelist(domains, signer, issuer)


def _digest(method: etree._Element | None, data: bytes) -> str:
    algo = DIGESTS.get(method.get("Algorithm", "") if method is not None else "")
    if algo is None:
        raise WhitelistError("unsupported digest algorithm")
    return base64.b64encode(algo(data).digest()).decode()


def _document_without_signature(root: etree._Element, ref: etree._Element) -> bytes:
    transforms = [t.get("Algorithm", "") for t in ref.iter(f"{DS}Transform")]
    subtracts = any(t == ENVELOPED for t in transforms) or any(
        t == FILTER2 and any(x.get("Filter") == "subtract" and "Signature" in (x.text or "") for x in tr)
        for t, tr in zip(transforms, ref.iter(f"{DS}Transform"), strict=True))
    if not subtracts or transforms[-1] != EXC_C14N or any(t not in (ENVELOPED, FILTER2, EXC_C14N) for t in transforms):
        raise WhitelistError(f"unsupported transforms {transforms} on the document reference")
    doc = copy.deepcopy(root)
    for sig in doc.findall(f".//{DS}Signature"):
        sig.getparent().remove(sig)
    return etree.tostring(doc, method="c14n", exclusive=True, with_comments=False)


def _referenced(root: etree._Element, ref: etree._Element) -> bytes:
    uri = ref.get("URI")
    if uri == "":
        return _document_without_signature(root, ref)
    if not uri or not uri.startswith("#"):
        raise WhitelistError(f"unsupported reference URI {uri!r}")
    target = [e for e in root.iter() if isinstance(e.tag, str) and (e.get("Id") or e.get("ID")) == uri[1:]]
    if len(target) != 1:
        raise WhitelistError(f"reference {uri} names {len(target)} elements")
    return etree.tostring(target[0], method="c14n", exclusive=True, with_comments=False)


def verify_signature(root: etree._Element, trusted_cas: tuple[bytes, ...] = ()) -> tuple[str, str]:
    """Check every reference digest and the RSA signature; (signer DN, issuer DN) when all hold."""
    sigs = root.findall(f".//{DS}Signature")
    if not sigs:
        raise WhitelistError("whitelist is not signed (no ds:Signature): refused")
    if len(sigs) > 1:
        raise WhitelistError("whitelist carries several signatures: refused")
    sig = sigs[0]
    info = sig.find(f"{DS}SignedInfo")
    refs = info.findall(f"{DS}Reference") if info is not None else []
    if not any(r.get("URI") == "" for r in refs):
        raise WhitelistError("the signature does not cover the whole list")
    for ref in refs:
        if _digest(ref.find(f"{DS}DigestMethod"), _referenced(root, ref)) != (ref.findtext(f"{DS}DigestValue") or
                                                                             "").strip():
            raise WhitelistError(f"digest of reference {ref.get('URI')!r} differs: the list was altered")
    c14n = info.find(f"{DS}CanonicalizationMethod")
    method = SIGNATURES.get(info.find(f"{DS}SignatureMethod").get("Algorithm", "")
                            if info.find(f"{DS}SignatureMethod") is not None else "")
    if c14n is None or c14n.get("Algorithm") != EXC_C14N or method is None:
        raise WhitelistError("unsupported canonicalization or signature algorithm")
    try:
        cert = x509.load_der_x509_certificate(base64.b64decode(sig.findtext(f".//{DS}X509Certificate") or ""))
        value = base64.b64decode(sig.findtext(f"{DS}SignatureValue") or "")
        signed = etree.tostring(info, method="c14n", exclusive=True, with_comments=False)
        cert.public_key().verify(value, signed, padding.PKCS1v15(), method)  # type: ignore[union-attr, call-arg]
    except (ValueError, TypeError, InvalidSignature) as exc:
        raise WhitelistError(f"signature does not verify ({type(exc).__name__})") from None
    if trusted_cas and not any(_issued_by(cert, ca) for ca in trusted_cas):
        raise WhitelistError(f"signing certificate {cert.subject.rfc4514_string()} is not issued by a trusted CA")
    return cert.subject.rfc4514_string(), cert.issuer.rfc4514_string()


def _issued_by(cert: x509.Certificate, ca_pem: bytes) -> bool:
    try:
        cert.verify_directly_issued_by(x509.load_pem_x509_certificate(ca_pem))
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True
