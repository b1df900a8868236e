"""The ANS whitelist of DRIMboxes (``ListeBlancheDRIM-M``): read and verify, write and sign.

ANS DRIM-M_DATA ``Liste blanche TEST/Readme.md``: ``<ListeBlancheDRIM-M versionFormat="1.0.0">`` with
``DateDeGeneration`` and, per ``Domaine``, ``Identifiant``, ``db`` (the DRIMbox's WADO-RS host), ``vi`` (its viewer
host; empty or absent in lists before 2025), ``Denomination``, ``DNCertificatOperateur``, ``SupportContact``,
``DateMAJ``. The ANS signs it with an enveloped XAdES-BASELINE-B signature (ETSI EN 319 132-1 §6.3) from an IGC-Santé
ORG SIGN certificate ``CN=Liste Blanche DRIM-M, OU=318751275100020``. After each fetch a DRIMbox checks
(``drim-m-data/informatif/listeblanche/Readme.md``): the signature, the chain to the IGC-Santé CAs, the signer's CN and
OU, its validity and that it is not revoked (CRL).

The signature is verified by hand for the shapes W3C XML-DSig 1.1 allows and the ANS uses: one
reference to the whole document with the signature taken out (the enveloped-signature transform, or
XPath Filter 2.0 ``subtract`` of ``ds:Signature``), one reference to the XAdES SignedProperties, each
canonicalized (exc-c14n, or Canonical XML 1.0 when no transform says otherwise, XML-DSig 1.1
§4.4.3.2), an RSA or ECDSA signature over the canonical SignedInfo, and a SigningCertificate(V2)
naming the certificate that signed (EN 319 132-1 §5.2.2). The chain and the CRL are checked as
RFC 5280 §6 and §6.3 describe, by :func:`harness.pki.check_chain`.

Lists are signed with signxml's XAdES signer (:func:`sign_whitelist`), shaped as the ANS signs them.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import re
import ssl
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.x509.oid import ExtensionOID, NameOID
from lxml import etree
from signxml.algorithms import CanonicalizationMethod, DigestAlgorithm, SignatureMethod
from signxml.util import SigningSettings
from signxml.xades import XAdESDataObjectFormat, XAdESSigner

from harness.pki import check_chain
from harness.xmlsafe import UnsafeXmlError, parse_xml

DS_NS = "http://www.w3.org/2000/09/xmldsig#"
DS = f"{{{DS_NS}}}"
XADES = "{http://uri.etsi.org/01903/v1.3.2#}"
LIST_NS = "https://github.com/ansforge/DRIM-M_DATA"  # the namespace of the ANS test lists since 2024
ROOT = "ListeBlancheDRIM-M"
VERSION = "1.0.0"
SIGNER_CN = "Liste Blanche DRIM-M"  # ANS DRIM-M_DATA informatif/listeblanche/Readme.md
SIGNER_OU = "318751275100020"  # the ANS's SIRET
EXC_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"
C14N_10 = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315"
ENVELOPED = "http://www.w3.org/2000/09/xmldsig#enveloped-signature"
FILTER2 = "http://www.w3.org/2002/06/xmldsig-filter2"
SIGNED_PROPERTIES = "http://uri.etsi.org/01903#SignedProperties"
# XML-DSig 1.1 §6.2 digests and §6.4 signatures accepted (SHA-1 is not: EN 319 132-1 §6.1 and ETSI TS 119 312)
DIGESTS = {"http://www.w3.org/2001/04/xmlenc#sha256": hashlib.sha256,
           "http://www.w3.org/2001/04/xmldsig-more#sha384": hashlib.sha384,
           "http://www.w3.org/2001/04/xmlenc#sha512": hashlib.sha512}
SIGNATURES: dict[str, tuple[str, hashes.HashAlgorithm]] = {
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256": ("rsa", hashes.SHA256()),
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512": ("rsa", hashes.SHA512()),
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256": ("ecdsa", hashes.SHA256()),
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384": ("ecdsa", hashes.SHA384()),
}
MAX_BYTES = 4 * 1024 * 1024
# XPath Filter 2.0 expressions that select the signature (the ANS writes the first)
_SUBTRACT_SIGNATURE = re.compile(r"^(?:/descendant::|//)(?P<prefix>[A-Za-z_][\w.-]*):Signature$")
# RFC 4514 §3 short names, plus those IGC-Santé and OpenSSL DNs use
_DN_TYPES = {"E": NameOID.EMAIL_ADDRESS, "EMAIL": NameOID.EMAIL_ADDRESS, "EMAILADDRESS": NameOID.EMAIL_ADDRESS,
             "SERIALNUMBER": NameOID.SERIAL_NUMBER, "GN": NameOID.GIVEN_NAME, "GIVENNAME": NameOID.GIVEN_NAME,
             "SN": NameOID.SURNAME, "SURNAME": NameOID.SURNAME, "T": NameOID.TITLE, "TITLE": NameOID.TITLE,
             "ORGANIZATIONIDENTIFIER": NameOID.ORGANIZATION_IDENTIFIER, "COMMONNAME": NameOID.COMMON_NAME,
             "ORGANIZATIONNAME": NameOID.ORGANIZATION_NAME, "ORGANIZATIONALUNITNAME": NameOID.ORGANIZATIONAL_UNIT_NAME,
             "COUNTRYNAME": NameOID.COUNTRY_NAME, "LOCALITYNAME": NameOID.LOCALITY_NAME,
             "STATEORPROVINCENAME": NameOID.STATE_OR_PROVINCE_NAME, "S": NameOID.STATE_OR_PROVINCE_NAME}


class WhitelistError(ValueError):
    """The list is refused; ``problems`` lists every reason found, each written for a person."""

    def __init__(self, problems: str | Sequence[str]) -> None:
        self.problems = (problems,) if isinstance(problems, str) else tuple(problems)
        super().__init__("; ".join(self.problems))


@dataclass(frozen=True)
class Domain:
    """One ``Domaine`` of the list: a DRIMbox, its viewer and its operator's certificate DN."""

    identifiant: str
    db: str
    vi: str = ""
    denomination: str = ""
    dn: str = ""
    contact: str = ""
    date: str = ""


@dataclass(frozen=True)
class Whitelist:
    """A verified list. ``checks`` says what was verified (a list read without CAs has no chain check)."""

    domains: tuple[Domain, ...]
    signer: str  # subject DN of the signing certificate (RFC 4514)
    issuer: str
    generated: str = ""  # DateDeGeneration
    signing_time: str = ""  # xades:SigningTime
    checks: tuple[str, ...] = ()
    signer_certificate: x509.Certificate | None = field(default=None, compare=False, repr=False)

    @property
    def hosts(self) -> tuple[str, ...]:
        """DRIMbox hosts (``db``) the Consumer may send WADO-RS requests to."""
        return tuple(d.db.lower() for d in self.domains if d.db)

    @property
    def updated(self) -> str:
        """The latest ``DateMAJ`` of the list's entries ('' when none carries one)."""
        return max((d.date for d in self.domains if d.date), default="")

    def viewer_for(self, host: str) -> str | None:
        """The ``vi`` host of the DRIMbox ``host``, or None (no entry, or an entry without ``vi``)."""
        domain = self.domain_for_host(host)
        return domain.vi if domain is not None and domain.vi else None

    def domain_for_host(self, host: str) -> Domain | None:
        """The entry whose ``db`` is ``host`` (any case, a ``:port`` or trailing dot ignored)."""
        name = _bare_host(host)
        return next((d for d in self.domains if d.db and _bare_host(d.db) == name), None)

    def domain_for_dn(self, dn: str | x509.Name) -> Domain | None:
        """The entry whose ``DNCertificatOperateur`` is the X.509 name ``dn`` (order of the RDNs, spaces
        and case of the attribute types ignored; values compared as RFC 5280 §7.1 says, case folded).
        None also when ``dn`` cannot be read as a name."""
        try:
            key = dn_key(dn)
        except ValueError:
            return None
        for domain in self.domains:
            try:
                if domain.dn and dn_key(domain.dn) == key:
                    return domain
            except ValueError:
                continue
        return None


def _bare_host(host: str) -> str:
    host = host.strip().lower()
    if host.startswith("["):  # [v6]:port
        return host.partition("]")[0] + "]"
    return host.rsplit(":", 1)[0].rstrip(".") if host.count(":") == 1 else host.rstrip(".")


# -- distinguished names ------------------------------------------------------------------------------
def _split_unescaped(text: str, separators: str) -> list[str]:
    parts, current, escaped = [], [], False
    for char in text:
        if escaped:
            current.append(char)
            escaped = False
        elif char == "\\":
            current.append(char)
            escaped = True
        elif char in separators:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return parts


def parse_dn(dn: str) -> x509.Name:
    """A DN string as an X.509 name: RFC 4514 (``CN=a,OU=b``), ``;`` separators, spaces around ``=`` and
    ``,``, attribute types in any case or long form (``commonName``), dotted OIDs. ValueError if unreadable."""
    rdns = []
    for rdn in _split_unescaped(dn.strip(), ",;"):
        atoms = []
        for atom in _split_unescaped(rdn, "+"):
            kind, eq, value = atom.partition("=")
            kind = kind.strip()
            if not eq or not kind:
                raise ValueError(f"{atom.strip()!r} in DN {dn!r} is not TYPE=value")
            oid = _DN_TYPES.get(kind.upper())
            kind = oid.dotted_string if oid is not None else kind.upper() if kind.isalpha() else kind
            atoms.append(f"{kind}={value.strip()}")
        rdns.append("+".join(atoms))
    # RFC 4514 strings list the RDNs last first; from_rfc4514_string reverses them back
    return x509.Name.from_rfc4514_string(",".join(rdns))


def dn_key(dn: str | x509.Name) -> tuple[tuple[str, str], ...]:
    """What two names must share to be the same subject here: their (type OID, folded value) pairs, sorted."""
    name = dn if isinstance(dn, x509.Name) else parse_dn(dn)
    return tuple(sorted((a.oid.dotted_string, " ".join(str(a.value).split()).casefold()) for a in name))


def same_dn(a: str | x509.Name, b: str | x509.Name) -> bool:
    """True when ``a`` and ``b`` name the same subject (see :func:`dn_key`); False when one is unreadable."""
    try:
        return dn_key(a) == dn_key(b)
    except ValueError:
        return False


# -- reading ------------------------------------------------------------------------------------------
def _local(elem: etree._Element) -> str:
    return etree.QName(elem).localname


def _child_text(elem: etree._Element, *names: str) -> str:
    for name in names:
        found = next((c for c in elem if isinstance(c.tag, str) and _local(c) == name), None)
        if found is not None:
            return (found.text or "").strip()
    return ""


def _domains(root: etree._Element) -> tuple[Domain, ...]:
    # the 2024 informatif list names the host Nom and the operator Description
    return tuple(Domain(_child_text(d, "Identifiant"), _child_text(d, "db", "Nom"), _child_text(d, "vi"),
                        _child_text(d, "Denomination", "Description"), _child_text(d, "DNCertificatOperateur"),
                        _child_text(d, "SupportContact"), _child_text(d, "DateMAJ"))
                 for d in root.iter() if isinstance(d.tag, str) and _local(d) == "Domaine")


def _parse(data: bytes) -> etree._Element:
    try:
        root = parse_xml(data, max_bytes=MAX_BYTES)
    except UnsafeXmlError as exc:
        raise WhitelistError(f"the list cannot be read: {exc}") from None
    if _local(root) != ROOT or root.get("versionFormat") != VERSION:
        raise WhitelistError(f"not a {ROOT} versionFormat {VERSION} document (root element "
                             f"{_local(root)!r}, versionFormat {root.get('versionFormat')!r})")
    return root


# -- XML signature (XML-DSig 1.1 §3.2 core validation, XAdES baseline B) -------------------------------
@dataclass(frozen=True)
class SignatureInfo:
    """What a valid signature tells: the certificate that signed, the other KeyInfo certificates, when."""

    certificate: x509.Certificate
    others: tuple[x509.Certificate, ...]
    signing_time: str


def _canonical(node: etree._Element | etree._ElementTree, algorithm: str, prefixes: list[str] | None = None) -> bytes:
    exclusive = algorithm == EXC_C14N
    return etree.tostring(node, method="c14n", exclusive=exclusive, with_comments=False,
                          inclusive_ns_prefixes=prefixes if exclusive else None)


def _prefixes(transform: etree._Element) -> list[str] | None:
    found = next((c for c in transform if isinstance(c.tag, str) and _local(c) == "InclusiveNamespaces"), None)
    return found.get("PrefixList", "").split() if found is not None else None


def _removes_signature(algorithm: str, transform: etree._Element) -> bool:
    if algorithm == ENVELOPED:
        return True
    if algorithm != FILTER2:
        return False
    paths = [c for c in transform if isinstance(c.tag, str) and _local(c) == "XPath"]
    matches = [(p, _SUBTRACT_SIGNATURE.match((p.text or "").strip())) for p in paths]
    return bool(paths) and all(p.get("Filter") == "subtract" and m and p.nsmap.get(m["prefix"]) == DS_NS
                               for p, m in matches)


def _reference_octets(root: etree._Element, ref: etree._Element, where: str) -> bytes:
    """The octets a reference digests (XML-DSig 1.1 §4.4.3): the whole list less its signature, or one element."""
    uri = ref.get("URI")
    transforms = ref.findall(f"{DS}Transforms/{DS}Transform")
    algorithms = [t.get("Algorithm", "") for t in transforms]
    removing = [a for a, t in zip(algorithms, transforms, strict=True) if _removes_signature(a, t)]
    c14n = [(a, t) for a, t in zip(algorithms, transforms, strict=True) if a in (EXC_C14N, C14N_10)]
    if len(removing) + len(c14n) != len(algorithms) or len(c14n) > 1 or (c14n and algorithms[-1] != c14n[0][0]):
        raise WhitelistError(f"the {where} uses transforms this verifier does not accept: {', '.join(algorithms)}")
    algorithm, prefixes = (c14n[0][0], _prefixes(c14n[0][1])) if c14n else (C14N_10, None)
    if uri == "":
        if not removing:
            raise WhitelistError("the signature's reference to the whole list does not take the signature out "
                                 "(no enveloped-signature or XPath Filter 2.0 subtract transform)")
        tree = copy.deepcopy(root.getroottree())
        for sig in tree.getroot().iter(f"{DS}Signature"):
            _remove_keeping_tail(sig)
        return _canonical(tree, algorithm, prefixes)
    if removing or not uri or not uri.startswith("#"):
        raise WhitelistError(f"the {where} has a reference this verifier does not accept (URI {uri!r})")
    targets = [e for e in root.iter() if isinstance(e.tag, str) and (e.get("Id") or e.get("ID")) == uri[1:]]
    if len(targets) != 1:
        raise WhitelistError(f"the signature's reference {uri} names {len(targets)} elements, not one")
    return _canonical(targets[0], algorithm, prefixes)


def _remove_keeping_tail(elem: etree._Element) -> None:
    parent, previous = elem.getparent(), elem.getprevious()
    if elem.tail:
        if previous is not None:
            previous.tail = (previous.tail or "") + elem.tail
        else:
            parent.text = (parent.text or "") + elem.tail
    parent.remove(elem)


def _digest_matches(method: etree._Element | None, data: bytes, expected: str, where: str) -> bool:
    algorithm = method.get("Algorithm", "") if method is not None else ""
    if algorithm not in DIGESTS:
        raise WhitelistError(f"the {where} uses a digest algorithm this verifier does not accept: {algorithm!r}")
    return base64.b64encode(DIGESTS[algorithm](data).digest()).decode() == "".join(expected.split())


def _the_signature(root: etree._Element) -> etree._Element:
    sigs = list(root.iter(f"{DS}Signature"))
    if not sigs:
        raise WhitelistError("the list is not signed (no ds:Signature): it must be treated as corrupted")
    if len(sigs) > 1:
        raise WhitelistError(f"the list carries {len(sigs)} signatures where the ANS puts one")
    if sigs[0].getparent() is not root:
        raise WhitelistError("the signature is not enveloped in the list (ds:Signature is not a child of the root)")
    return sigs[0]


def _check_references(root: etree._Element, info: etree._Element) -> etree._Element:
    """Check every reference digest (XML-DSig 1.1 §3.2.1); the SignedProperties element referenced."""
    refs = info.findall(f"{DS}Reference")
    if sum(r.get("URI") == "" for r in refs) != 1:
        raise WhitelistError("the signature does not cover the whole list (no reference with URI=\"\")")
    props = [r for r in refs if r.get("Type") == SIGNED_PROPERTIES]
    if len(props) != 1:
        raise WhitelistError("not a XAdES signature: it must sign exactly one SignedProperties "
                             "(ETSI EN 319 132-1 §4.3.5.1)")
    for ref in refs:
        uri = ref.get("URI")
        where = "reference to the whole list" if uri == "" else f"reference {uri}"
        if not _digest_matches(ref.find(f"{DS}DigestMethod"), _reference_octets(root, ref, where),
                               ref.findtext(f"{DS}DigestValue") or "", where):
            what = "the list was altered after it was signed" if uri == "" else \
                "the signed properties were altered after signing" if ref in props else "a signed part was altered"
            raise WhitelistError(f"{what}: the digest of the {where} differs")
    target = props[0].get("URI", "")[1:]
    found = next(e for e in root.iter() if isinstance(e.tag, str) and (e.get("Id") or e.get("ID")) == target)
    if _local(found) != "SignedProperties" or info.getparent() not in found.iterancestors():
        raise WhitelistError(f"the SignedProperties reference #{target} names a {_local(found)} element, not the "
                             "signature's xades:SignedProperties")
    return found


def _keyinfo_certificates(sig: etree._Element) -> list[x509.Certificate]:
    certs = []
    for text in sig.findall(f"{DS}KeyInfo/{DS}X509Data/{DS}X509Certificate"):
        try:
            certs.append(x509.load_der_x509_certificate(base64.b64decode("".join((text.text or "").split()))))
        except ValueError:
            raise WhitelistError("a certificate of the signature's KeyInfo cannot be read") from None
    if not certs:
        raise WhitelistError("the signature carries no certificate (ds:KeyInfo/ds:X509Data/ds:X509Certificate)")
    return certs


def _verifies(cert: x509.Certificate, method: str, value: bytes, signed: bytes) -> bool:
    kind, digest = SIGNATURES[method]
    key: Any = cert.public_key()
    try:
        if kind == "rsa" and isinstance(key, rsa.RSAPublicKey):
            key.verify(value, signed, padding.PKCS1v15(), digest)
        elif kind == "ecdsa" and isinstance(key, ec.EllipticCurvePublicKey):
            half = len(value) // 2  # XML-DSig 1.1 §6.4.3: r || s
            der = encode_dss_signature(int.from_bytes(value[:half], "big"), int.from_bytes(value[half:], "big"))
            key.verify(der, signed, ec.ECDSA(digest))
        else:
            return False
    except InvalidSignature:
        return False
    return True


def _signed_certificate_digests(props: etree._Element) -> list[tuple[etree._Element | None, str]]:
    """(DigestMethod, DigestValue) of each xades:Cert of SigningCertificateV2 / SigningCertificate."""
    holders = [e for e in props.iter() if isinstance(e.tag, str) and _local(e) in ("SigningCertificateV2",
                                                                                    "SigningCertificate")]
    certs = [c for h in holders for c in h.iter() if isinstance(c.tag, str) and _local(c) == "CertDigest"]
    return [(c.find(f"{DS}DigestMethod"), c.findtext(f"{DS}DigestValue") or "") for c in certs]


def verify_signature(root: etree._Element) -> SignatureInfo:
    """XML-DSig 1.1 core validation of the list's enveloped XAdES signature; WhitelistError says what failed."""
    sig = _the_signature(root)
    info = sig.find(f"{DS}SignedInfo")
    if info is None:
        raise WhitelistError("the signature has no ds:SignedInfo")
    c14n = info.find(f"{DS}CanonicalizationMethod")
    c14n_algorithm = c14n.get("Algorithm", "") if c14n is not None else ""
    method = info.find(f"{DS}SignatureMethod")
    method_algorithm = method.get("Algorithm", "") if method is not None else ""
    if c14n_algorithm not in (EXC_C14N, C14N_10) or method_algorithm not in SIGNATURES:
        raise WhitelistError(f"the signature uses algorithms this verifier does not accept: canonicalization "
                             f"{c14n_algorithm!r}, signature {method_algorithm!r}")
    props = _check_references(root, info)
    try:
        value = base64.b64decode("".join((sig.findtext(f"{DS}SignatureValue") or "").split()), validate=True)
    except ValueError:
        raise WhitelistError("the signature value is not base64") from None
    certs = _keyinfo_certificates(sig)
    signed = _canonical(info, c14n_algorithm, _prefixes(c14n) if c14n is not None else None)
    signer = next((c for c in certs if _verifies(c, method_algorithm, value, signed)), None)
    if signer is None:
        raise WhitelistError("the signature value does not verify with the certificate it carries: the list "
                             "or its signature was altered")
    return SignatureInfo(signer, tuple(c for c in certs if c is not signer), _xades_checks(props, signer))


def _xades_checks(props: etree._Element, signer: x509.Certificate) -> str:
    """ETSI EN 319 132-1 §6.3 (baseline B): SigningTime, and a SigningCertificate naming the signer."""
    der = signer.public_bytes(serialization.Encoding.DER)
    digests = _signed_certificate_digests(props)
    if not digests:
        raise WhitelistError("the XAdES signed properties name no signing certificate (SigningCertificateV2)")
    if not any(_digest_matches(m, der, v, "signing-certificate reference") for m, v in digests):
        raise WhitelistError(f"the XAdES SigningCertificate does not name the certificate that signed "
                             f"({signer.subject.rfc4514_string()}): a certificate was substituted")
    signing_time = next((e.text or "" for e in props.iter() if isinstance(e.tag, str)
                         and _local(e) == "SigningTime"), "").strip()
    if not signing_time:
        raise WhitelistError("the XAdES signed properties carry no SigningTime (ETSI EN 319 132-1 §5.2.1)")
    return signing_time


# -- the signer's certificate (RFC 5280) ------------------------------------------------------------
def _when(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def name_problems(cert: x509.Certificate, signer_cn: str | None, signer_ou: str | None) -> list[str]:
    """The signer's CN and OU against the configured ones (ANS DRIM-M_DATA listeblanche/Readme.md:
    CN=Liste Blanche DRIM-M, OU=SIRET)."""
    problems = []
    for label, oid, wanted in (("CN", NameOID.COMMON_NAME, signer_cn), ("OU", NameOID.ORGANIZATIONAL_UNIT_NAME,
                                                                        signer_ou)):
        found = [str(a.value) for a in cert.subject.get_attributes_for_oid(oid)]
        if wanted is not None and wanted not in found:
            problems.append(f"the list is signed by {cert.subject.rfc4514_string()} whose {label} is "
                            f"{' / '.join(found) or 'absent'}, not {label}={wanted} as the whitelist signer's must be")
    return problems


def validity_problems(cert: x509.Certificate, at: datetime) -> list[str]:
    """RFC 5280 §4.1.2.5: ``at`` within notBefore..notAfter."""
    subject = cert.subject.rfc4514_string()
    if at < cert.not_valid_before_utc:
        return [f"the signing certificate {subject} is not valid before {_when(cert.not_valid_before_utc)} "
                f"(checked at {_when(at)})"]
    if at > cert.not_valid_after_utc:
        return [f"the signing certificate {subject} expired on {_when(cert.not_valid_after_utc)} "
                f"(checked at {_when(at)})"]
    return []


def crl_urls(cert: x509.Certificate) -> list[str]:
    """HTTP(S) URLs of the certificate's CRL distribution points (RFC 5280 §4.2.1.13)."""
    try:
        points = cert.extensions.get_extension_for_oid(ExtensionOID.CRL_DISTRIBUTION_POINTS).value
    except x509.ExtensionNotFound:
        return []
    return [n.value for p in points for n in p.full_name or ()
            if isinstance(n, x509.UniformResourceIdentifier) and n.value.lower().startswith(("http://", "https://"))]


def download_crl(cert: x509.Certificate, timeout: float = 10.0) -> bytes:
    """The CRL from the certificate's distribution point (plain HTTP is allowed for CRLs, C17)."""
    urls = crl_urls(cert)
    if not urls:
        raise WhitelistError(f"the signing certificate {cert.subject.rfc4514_string()} names no HTTP CRL "
                             "distribution point: its revocation cannot be checked")
    failures = []
    for url in urls:
        try:
            response = requests.get(url, timeout=timeout)
            response.raise_for_status()
            return response.content
        except requests.RequestException as exc:
            failures.append(f"{url}: {exc}")
    raise WhitelistError(f"the CRL of the signing certificate could not be fetched ({'; '.join(failures)}): "
                         "its revocation is unknown, so the list is refused")


def _pem(certs: Iterable[x509.Certificate]) -> bytes:
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs)


def _anchors(trusted_cas: bytes | Sequence[bytes]) -> bytes:
    blobs = [trusted_cas] if isinstance(trusted_cas, bytes) else list(trusted_cas)
    return b"\n".join(b.strip() for b in blobs if b.strip())


def chain_problems(info: SignatureInfo, trusted_cas: bytes, at: datetime, crl: bytes | None) -> list[str]:
    """RFC 5280 §6 path validation of the signer to ``trusted_cas`` (intermediates from KeyInfo), and
    §6.3 revocation when a CRL is given, by :func:`harness.pki.check_chain`."""
    return check_chain(_pem([info.certificate]), trusted_cas, at=at, crl=crl, intermediates=_pem(info.others))


# -- the verdict: what was verified, and at what time ---------------------------------------------------
AT_NOW, AT_SIGNING_TIME = "now", "signing-time"


@dataclass(frozen=True)
class Verdict:
    """What :func:`verify_whitelist` found. ``status``: ``refused`` (``problems`` says why), ``not anchored``
    (every check that could be made passed, but no trust anchor vouches for the signer: ``unverified``
    says what is missing) or ``verified``. ``verified`` and ``unverified`` are sentences for a person;
    ``notes`` are facts that do not change the verdict (a signer expired since the signing time)."""

    problems: tuple[str, ...]
    verified: tuple[str, ...]
    unverified: tuple[str, ...]
    notes: tuple[str, ...]
    at: datetime  # the time the signer's validity (and the chain's) was checked at
    at_label: str  # "now", "signing time" or "given time"
    anchored: bool
    anchor: str = ""  # where the trust anchor came from (the CA bundle given, or the system trust store)
    unanchored_reason: str = ""
    signing_time: datetime | None = None
    signer: x509.Certificate | None = field(default=None, compare=False, repr=False)
    path: tuple[x509.Certificate, ...] = field(default=(), compare=False, repr=False)  # signer first
    whitelist: Whitelist | None = None  # None when refused

    @property
    def status(self) -> str:
        return "refused" if self.problems else "verified" if self.anchored else "not anchored"


def signer_label(cert: x509.Certificate) -> str:
    """``CN=..., OU=...`` of a certificate (its whole DN when it has neither)."""
    parts = [f"{label}={a.value}" for label, oid in (("CN", NameOID.COMMON_NAME),
                                                     ("OU", NameOID.ORGANIZATIONAL_UNIT_NAME))
             for a in cert.subject.get_attributes_for_oid(oid)]
    return ", ".join(parts) or cert.subject.rfc4514_string()


def parse_signing_time(text: str) -> datetime:
    """xades:SigningTime (an xs:dateTime, ETSI EN 319 132-1 §5.2.1) as an aware UTC time; UTC when it
    carries no offset. WhitelistError when unreadable."""
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise WhitelistError(f"the XAdES SigningTime {text!r} is not an xs:dateTime") from None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)


def signing_time_problems(cert: x509.Certificate, signed: datetime) -> list[str]:
    """A signature whose SigningTime falls outside the signer's validity (RFC 5280 §4.1.2.5) was made by a
    certificate that could not sign then: refused whatever the verification time."""
    who = signer_label(cert)
    if signed > cert.not_valid_after_utc:
        return [f"the list says it was signed on {_when(signed)}, after its signer {who} expired on "
                f"{_when(cert.not_valid_after_utc)}: a signature made by an expired signer is refused"]
    if signed < cert.not_valid_before_utc:
        return [f"the list says it was signed on {_when(signed)}, before its signer {who} became valid on "
                f"{_when(cert.not_valid_before_utc)}: a signature made outside the signer's validity is refused"]
    return []


def expired_since_signing(cert: x509.Certificate, signed: datetime, at: datetime, when: str = "today") -> str:
    """The sentence for a signer valid at the signing time that has expired by ``at`` ('' when it has not)."""
    if not cert.not_valid_before_utc <= signed <= cert.not_valid_after_utc < at:
        return ""
    return (f"the signer {signer_label(cert)} expired on {_when(cert.not_valid_after_utc)}, after the list was "
            f"signed on {_when(signed)}: valid at signing time; a DRIMbox fetching this list {when} must refuse it")


def _load_pem_blocks(pem: bytes) -> list[x509.Certificate]:
    """The certificates of a PEM bundle, one block at a time: a block cryptography cannot read is skipped
    (a system store may hold certificates that RFC 5280 disallows, such as negative serial numbers)."""
    certs = []
    for block in re.findall(rb"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", pem, re.S):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                certs.append(x509.load_pem_x509_certificate(block))
            except ValueError:
                continue
    return certs


def system_trust_store() -> tuple[str, bytes]:
    """The system's CA certificates as OpenSSL finds them (``SSL_CERT_FILE`` / ``SSL_CERT_DIR`` honoured):
    (where, PEM bundle), or ('', b'') when there is none."""
    paths = ssl.get_default_verify_paths()
    if paths.cafile and Path(paths.cafile).is_file():
        return paths.cafile, Path(paths.cafile).read_bytes()
    if paths.capath and Path(paths.capath).is_dir():
        blobs = [p.read_bytes() for p in sorted(Path(paths.capath).iterdir())
                 if p.suffix in (".pem", ".crt") and p.is_file()]
        if blobs:
            return paths.capath, b"\n".join(blobs)
    return "", b""


def _issued(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    if cert.issuer != issuer.subject:
        return False
    try:
        cert.verify_directly_issued_by(issuer)
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True


def embedded_path(leaf: x509.Certificate, others: Sequence[x509.Certificate]) -> list[x509.Certificate]:
    """The signer then each issuer found among the certificates the signature carries (name and signature,
    RFC 5280 §6.1), up to a self-signed one or the first issuer that is not carried."""
    path = [leaf]
    while len(path) <= 8 and path[-1].issuer != path[-1].subject:
        issuer = next((c for c in others if c not in path and _issued(path[-1], c)), None)
        if issuer is None:
            break
        path.append(issuer)
    return path


def _system_anchor(path: Sequence[x509.Certificate], system: Sequence[x509.Certificate]) -> x509.Certificate | None:
    """The first certificate of the system store, going up ``path``, that is on it or issued one of it."""
    ders = {c.public_bytes(serialization.Encoding.DER) for c in system}
    for cert in path:
        if cert.public_bytes(serialization.Encoding.DER) in ders:
            return cert
        issuer = next((c for c in system if _issued(cert, c)), None)
        if issuer is not None:
            return issuer
    return None


def _short(name: x509.Name) -> str:
    cns = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    return f"CN={cns[0].value}" if cns else name.rfc4514_string()


def _unanchored_reason(path: Sequence[x509.Certificate], store: str) -> str:
    """Why nobody vouches for ``path``; ``store`` names the trust store consulted besides the signature."""
    top = path[-1]
    nowhere = f"not in {store}"
    if top.subject == top.issuer and len(path) > 1:
        return (f"no --ca given and the root {_short(top.subject)} is carried only by the signature itself (which "
                f"proves nothing) and is {nowhere}")
    if top.subject == top.issuer:
        return f"no --ca given and the signer's certificate is self-signed and {nowhere}"
    carried = "" if len(path) == 1 else f" of {_short(top.subject)}"
    return f"no --ca given and the issuer {_short(top.issuer)}{carried} is {nowhere}"


def _without_leaf_validity(problems: list[str], leaf: x509.Certificate) -> list[str]:
    """check_chain's problems less its sentence on the signer's own validity, which verify_whitelist words."""
    prefix = f"certificate {leaf.subject.rfc4514_string()} "
    return [p for p in problems if not (p.startswith(prefix) and ("expired on" in p or "not valid before" in p))]


def at_phrase(label: str, when: datetime) -> str:
    """``now (...)``, ``at the SigningTime (...)`` or ``at the given time (...)``."""
    return f"{'now' if label == 'now' else f'at the {label}'} ({_when(when)})".replace("signing time", "SigningTime")


def _check_time(at: datetime | str | None, signed: datetime | None) -> tuple[datetime, str]:
    if at is None or at == AT_NOW:
        return datetime.now(UTC), "now"
    if at == AT_SIGNING_TIME:
        if signed is None:
            raise WhitelistError("the list carries no readable SigningTime to verify it at")
        return signed, "signing time"
    if isinstance(at, datetime):
        return (at if at.tzinfo else at.replace(tzinfo=UTC)).astimezone(UTC), "given time"
    raise ValueError(f"at must be a datetime, {AT_NOW!r} or {AT_SIGNING_TIME!r}, not {at!r}")


def verify_whitelist(data: bytes, trusted_cas: bytes | Sequence[bytes] = (), *,
                     at: datetime | str | None = AT_NOW, crl: bytes | None = None, fetch_crl: bool = False,
                     system_cas: bytes | None = None, signer_cn: str | None = SIGNER_CN,
                     signer_ou: str | None = SIGNER_OU, timeout: float = 10.0) -> Verdict:
    """Verify a ``ListeBlancheDRIM-M`` and say what was verified and what was not; never raises on the list.

    The XAdES signature (XML-DSig 1.1 core validation), the signer's CN and OU, a SigningTime within the
    signer's validity (whatever ``at``), the signer's validity at ``at``: ``now`` (what a DRIMbox does
    with a list it fetches), ``signing-time`` (what a verifier of a XAdES-BASELINE-B signature without
    timestamp can do for a list signed in the past, ETSI EN 319 132-1 §6.3 and EN 319 102-1) or a given
    time. The chain (RFC 5280 §6) goes to ``trusted_cas`` when given, else as far as the certificates the
    signature carries and ``system_cas`` go (None reads the system trust store, b'' uses none): a root
    carried by the signature is no anchor. Revocation (RFC 5280 §6.3) with ``crl`` or ``fetch_crl`` only
    (no network otherwise); a signer revoked at any time is refused, since B-level SigningTime is the
    signer's claim and proves nothing about when it signed.
    """
    verified: list[str] = []
    unverified: list[str] = []
    try:
        root = _parse(data)
        info = verify_signature(root)
    except WhitelistError as exc:
        return Verdict(exc.problems, (), (), (), datetime.now(UTC), "now", False)
    cert = info.certificate
    verified.append("the XAdES signature: both reference digests and the signature value, with the "
                    "SigningCertificateV2 naming the certificate that signed")
    problems = name_problems(cert, signer_cn, signer_ou)
    wanted = " and ".join(n for n, w in (("CN", signer_cn), ("OU", signer_ou)) if w)
    if wanted and not problems:
        verified.append(f"the signer's {wanted}")

    # when: the SigningTime must fall within the signer's validity; then the validity at the chosen time
    try:
        signed: datetime | None = parse_signing_time(info.signing_time)
    except WhitelistError as exc:
        problems += exc.problems
        signed = None
    try:
        when, label = _check_time(at, signed)
    except WhitelistError as exc:
        return Verdict((*problems, *exc.problems), tuple(verified), (), (), datetime.now(UTC), "signing time",
                       False, signer=cert)
    validity = signing_time_problems(cert, signed) if signed else []
    if signed and not validity:
        verified.append(f"the signer was valid at the list's SigningTime {_when(signed)}")
        expired = expired_since_signing(cert, signed, when, "today" if label == "now" else f"on {when:%Y-%m-%d}")
        validity = [expired] if expired else validity_problems(cert, when)
    problems += validity
    if not validity and label != "signing time":
        verified.append(f"the signer is valid {at_phrase(label, when)}")
    now = datetime.now(UTC)
    since = expired_since_signing(cert, signed, now) if signed and label != "now" and not validity else ""
    notes = (since,) if since else ()

    # who vouches for the signer: the CAs given, else the system trust store, else nobody
    anchors = _anchors(trusted_cas)
    path = embedded_path(cert, info.others)
    anchor_from, unanchored = ("the CA certificate(s) given" if anchors else ""), ""
    if not anchors:
        store = "the trust store given"
        if system_cas is None:
            where, system_cas = system_trust_store()
            store = f"the system trust store ({where})" if where else "any system trust store (none found)"
        found = _system_anchor(path, _load_pem_blocks(system_cas))
        if found is not None:
            anchors, anchor_from = _pem([found]), store
        else:
            unanchored = _unanchored_reason(path, store)
    chain_to = anchors or (_pem([path[-1]]) if len(path) > 1 else b"")  # else: as far as the signature goes
    wants_crl = crl is not None or fetch_crl
    if wants_crl and crl is None and chain_to:
        try:
            crl = download_crl(cert, timeout)
        except WhitelistError as exc:
            problems += exc.problems
    chain_ok = False
    if chain_to:
        chain = _without_leaf_validity(check_chain(_pem([cert]), chain_to, at=when, crl=crl,
                                                   intermediates=_pem(info.others)), cert)
        problems += chain
        chain_ok = not chain and not validity  # check_chain stops at an invalid signer
    carried = " <- ".join(signer_label(c) for c in path)
    if anchors:
        (verified if chain_ok else unverified).append(
            f"the chain to a trust anchor of {anchor_from}, each certificate valid {at_phrase(label, when)}")
    else:
        if chain_ok:
            verified.append(f"the chain the signature carries ({carried}): each signature, and each certificate "
                            f"valid {at_phrase(label, when)}")
        unverified.append("the chain to a trust anchor: NOT anchored")
    if not wants_crl:
        unverified.append("revocation: no CRL given (--crl FILE or --fetch-crl), and no network access by default")
    elif crl is not None and chain_ok:
        unanchored_crl = ", whose signature verifies with the issuer the signature carries (itself not anchored)"
        verified.append("revocation: the signer is not on its CA's CRL" + ("" if anchors else unanchored_crl))
    elif not chain_to:
        unverified.append("revocation: a CRL's signature cannot be checked without the issuer's certificate, "
                          "which the signature does not carry (give --ca)")
    elif crl is not None:
        unverified.append("revocation: not checked, the chain was refused first")
    else:
        unverified.append("revocation: the CRL could not be fetched")
    extra: dict[str, Any] = {"anchor": anchor_from, "unanchored_reason": unanchored, "signing_time": signed,
                             "signer": cert, "path": tuple(path)}
    if problems:  # anchored stays a fact about the chain, even when the list is refused for another reason
        return Verdict(tuple(problems), tuple(verified), tuple(unverified), notes, when, label,
                       bool(anchors) and chain_ok, **extra)
    checks = ["signature", "signer name", "validity"]
    if anchors:
        checks += ["chain"] + (["revocation"] if crl is not None else [])
    wl = Whitelist(_domains(root), cert.subject.rfc4514_string(), cert.issuer.rfc4514_string(),
                   _child_text(root, "DateDeGeneration"), info.signing_time, tuple(checks), cert)
    return Verdict((), tuple(verified), tuple(unverified), notes, when, label, bool(anchors), whitelist=wl, **extra)


def load_whitelist(data: bytes, trusted_cas: bytes | Sequence[bytes] = (), *, at: datetime | str | None = None,
                   crl: bytes | None = None, fetch_crl: bool = False, signer_cn: str | None = SIGNER_CN,
                   signer_ou: str | None = SIGNER_OU, timeout: float = 10.0) -> Whitelist:
    """Parse and verify a ``ListeBlancheDRIM-M``; WhitelistError lists every reason it is refused.

    :func:`verify_whitelist` at ``at`` (default now) without the system trust store: with ``trusted_cas``
    (PEM, one bundle or several) the chain to one of them and, with ``crl`` (PEM or DER) or ``fetch_crl``
    (from the certificate's distribution point), revocation; without, the list is returned unanchored
    (``checks`` has no ``chain``).
    """
    anchors = _anchors(trusted_cas)
    if (crl is not None or fetch_crl) and not anchors:
        raise WhitelistError("a CRL check needs the CA bundle (trusted_cas): the CRL's signature cannot be checked")
    verdict = verify_whitelist(data, anchors, at=at, crl=crl, fetch_crl=fetch_crl, system_cas=b"",
                               signer_cn=signer_cn, signer_ou=signer_ou, timeout=timeout)
    if verdict.problems or verdict.whitelist is None:
        raise WhitelistError(verdict.problems or ("the list could not be verified",))
    return verdict.whitelist


# -- writing and signing --------------------------------------------------------------------------------
def _utc(moment: datetime | None) -> str:
    return (moment or datetime.now(UTC)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def build_whitelist(domains: Iterable[Domain], version: str = VERSION, *, generated: datetime | None = None,
                    namespace: str = LIST_NS) -> bytes:
    """An unsigned ``ListeBlancheDRIM-M`` in the ANS layout (``vi`` always written, empty when unknown)."""
    root = etree.Element(f"{{{namespace}}}{ROOT}", nsmap={None: namespace}, versionFormat=version)
    etree.SubElement(root, f"{{{namespace}}}DateDeGeneration").text = _utc(generated)
    entries = etree.SubElement(root, f"{{{namespace}}}ListeDomaines")
    for d in domains:
        entry = etree.SubElement(entries, f"{{{namespace}}}Domaine")
        for name, value in (("Identifiant", d.identifiant), ("db", d.db), ("vi", d.vi), ("Denomination",
                            d.denomination), ("DNCertificatOperateur", d.dn), ("SupportContact", d.contact),
                            ("DateMAJ", d.date or _utc(generated))):
            etree.SubElement(entry, f"{{{namespace}}}{name}").text = value or None
    etree.indent(root, space="    ")
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", standalone=False)


def _certificates(pem: bytes) -> list[x509.Certificate]:
    return x509.load_pem_x509_certificates(pem) if pem.strip() else []


class _ListSigner(XAdESSigner):
    """signxml's XAdES signer, shaped as the ANS signs the list.

    signxml digests the SignedProperties and KeyInfo references with exc-c14n but writes no transform
    saying so, which an XML-DSig 1.1 verifier reads as Canonical XML 1.0 (§4.4.3.2; signxml's own
    verifier then refuses the signature). Here each reference names its exc-c14n transform, KeyInfo is
    not a reference (SigningCertificateV2 binds the certificate, as in the ANS lists) and SigningTime is
    the given UTC time.
    """

    def __init__(self, key: Any, signing_time: datetime) -> None:
        ecdsa = isinstance(key, ec.EllipticCurvePrivateKey)
        super().__init__(signature_algorithm=SignatureMethod.ECDSA_SHA256 if ecdsa else SignatureMethod.RSA_SHA256,
                         digest_algorithm=DigestAlgorithm.SHA256,
                         c14n_algorithm=CanonicalizationMethod.EXCLUSIVE_XML_CANONICALIZATION_1_0,
                         data_object_format=XAdESDataObjectFormat(Description=ROOT, MimeType="text/xml"))
        self._signing_time = signing_time

    def _add_reference_to_signed_info(self, sig_root: etree._Element, node_to_reference: etree._Element,
                                      **attrs: str) -> None:
        if _local(node_to_reference) == "KeyInfo":
            return
        ref = etree.SubElement(sig_root.find(f"{DS}SignedInfo"), f"{DS}Reference",
                               URI=f"#{node_to_reference.get('Id')}", **attrs)
        etree.SubElement(etree.SubElement(ref, f"{DS}Transforms"), f"{DS}Transform", Algorithm=EXC_C14N)
        etree.SubElement(ref, f"{DS}DigestMethod", Algorithm=DigestAlgorithm.SHA256.value)
        digest = hashlib.sha256(_canonical(node_to_reference, EXC_C14N)).digest()
        etree.SubElement(ref, f"{DS}DigestValue").text = base64.b64encode(digest).decode()

    def add_signing_time(self, signed_signature_properties: etree._Element, sig_root: etree._Element,
                         signing_settings: SigningSettings) -> None:
        etree.SubElement(signed_signature_properties, f"{XADES}SigningTime").text = _utc(self._signing_time)


def _spki(key: Any) -> bytes:
    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def sign_whitelist(xml_bytes: bytes, key_pem: bytes, cert_pem: bytes, chain_pem: bytes = b"", *,
                   signing_time: datetime | None = None) -> bytes:
    """The list with an enveloped XAdES-BASELINE-B signature of the ANS's shape (ETSI EN 319 132-1 §6.3):
    reference ``URI=""`` less the signature then exc-c14n, RSA-SHA256 (ECDSA-SHA256 for an EC key),
    SignedProperties with SigningTime and SigningCertificateV2. ``cert_pem`` may hold the leaf then its
    intermediates; ``chain_pem`` adds intermediates. A signature already there is replaced."""
    root = _parse(xml_bytes)
    for old in list(root.iter(f"{DS}Signature")):
        _remove_keeping_tail(old)
    try:
        certs = _certificates(cert_pem) + _certificates(chain_pem)
        key = serialization.load_pem_private_key(key_pem, password=None)
    except ValueError as exc:
        raise WhitelistError(f"the signer's key or certificate cannot be read: {exc}") from None
    if not certs:
        raise WhitelistError("no certificate in cert_pem: the signer's certificate is needed")
    if _spki(key.public_key()) != _spki(certs[0].public_key()):
        raise WhitelistError(f"the key does not belong to the certificate {certs[0].subject.rfc4514_string()}")
    signer = _ListSigner(key, signing_time or datetime.now(UTC))
    signed = signer.sign(root, key=key, cert=certs, always_add_key_value=False)
    return etree.tostring(signed, xml_declaration=True, encoding="UTF-8", standalone=False)
