"""VIHF: the SAML 2.0 assertion a DMP client puts in wsse:Security (ANS DRIM-M_DATA Validateur XDS/XDS.xml),
built, signed, verified.

Public:
- ``build_vihf(identity, *, patient, key_pem, cert_pem, ...) -> etree._Element`` (a signed wsse:Security)
- ``verify_vihf(security, *, trust_store, patient=None, now=None) -> list[Finding]``
- ``VihfIdentity`` (who the professional and the software are), ``ATTRIBUTES`` (required names)
- ``throwaway_pki(common_name) -> TestPki``: a CA and a leaf certificate made at run time for tests
  (no key is ever committed).

Sources: ANS DRIM-M_DATA (VIHF attributes, sample ``Echantillons validateurs/Validateur XDS/XDS.xml``,
``dmp/VIHF_example_...xml``), OASIS SAML 2.0 Core §2.3-2.7, WSS SAML Token Profile 1.1 §3,
W3C XML-DSig (enveloped signature, exc-c14n). Rule ids are catalog ids DMP-VIHF-00x.
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import uuid
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from lxml import etree

from harness.findings import Finding, error

SAML_NS = "urn:oasis:names:tc:SAML:2.0:assertion"
DS_NS = "http://www.w3.org/2000/09/xmldsig#"
WSSE_NS = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
HL7_NS = "urn:hl7-org:v3"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
_S, _DS = f"{{{SAML_NS}}}", f"{{{DS_NS}}}"

RESOURCE_ID = "urn:oasis:names:tc:xacml:2.0:resource:resource-id"
SUBJECT_ID = "urn:oasis:names:tc:xspa:1.0:subject:subject-id"
PURPOSE_OF_USE = "urn:oasis:names:tc:xspa:1.0:subject:purposeofuse"
ROLE = "urn:oasis:names:tc:xacml:2.0:subject:role"
# VIHF 3.0 attributes (ANS DRIM-M_DATA Validateur XDS/XDS.xml): every DMP assertion carries
ATTRIBUTES = ("VIHF_Version", "Secteur_Activite", "Ressource_URN", SUBJECT_ID, "Identifiant_Structure", "LPS_ID",
              "LPS_Nom", "LPS_Version", RESOURCE_ID, "Authentification_Mode", PURPOSE_OF_USE, ROLE)
TLS_CLIENT = "urn:oasis:names:tc:SAML:2.0:ac:classes:TLSClient"


@dataclass
class VihfIdentity:
    """The professional and the software behind a request (ANS DRIM-M_DATA Validateur XDS/XDS.xml values by default)."""

    name_id: str = "899700367909"
    subject_name: str = "Kit DOC0036790"
    structure_id: str = "499700367909006"
    sector: str = "SA25^1.2.250.1.71.4.2.4"
    lps_id: str = "DRIMCHECK"
    lps_name: str = "DRIMcheck"
    lps_version: str = "0.1"
    lps_homologation: str = "DRIMCHECK-TEST"
    auth_mode: str = "INDIRECTE"
    roles: list[tuple[str, str, str]] = field(default_factory=lambda: [
        ("10", "1.2.250.1.71.1.2.7", "Medecin"), ("SM26", "1.2.250.1.71.4.2.5", "Qualifie en Medecine Generale")])


def _attr(parent: etree._Element, name: str, *values: str | etree._Element) -> None:
    attr = etree.SubElement(parent, _S + "Attribute", Name=name)
    for v in values:
        av = etree.SubElement(attr, _S + "AttributeValue")
        if isinstance(v, str):
            av.text = v
        else:
            av.append(v)


def _ce(tag: str, code: str, system: str, display: str) -> etree._Element:
    elem = etree.Element(f"{{{HL7_NS}}}{tag}", code=code, codeSystem=system, displayName=display,
                         nsmap={None: HL7_NS, "xsi": XSI_NS})
    elem.set(f"{{{XSI_NS}}}type", "CE")
    return elem


def _time(t: dt.datetime) -> str:
    return t.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def build_assertion(identity: VihfIdentity, *, patient: str, issuer: str, now: dt.datetime | None = None,
                    lifetime: dt.timedelta = dt.timedelta(minutes=10)) -> etree._Element:
    """The unsigned saml2:Assertion, with a signature placeholder right after Issuer (SAML Core §2.3.3)."""
    now = now or dt.datetime.now(dt.UTC)
    a = etree.Element(_S + "Assertion", nsmap={"saml2": SAML_NS}, ID=f"_{uuid.uuid4()}",
                      IssueInstant=_time(now), Version="2.0")
    etree.SubElement(a, _S + "Issuer", Format="urn:oasis:names:tc:SAML:1.1:nameid-format:X509SubjectName").text = issuer
    etree.SubElement(a, _DS + "Signature", Id="placeholder", nsmap={"ds": DS_NS})
    etree.SubElement(etree.SubElement(a, _S + "Subject"), _S + "NameID").text = identity.name_id
    etree.SubElement(a, _S + "Conditions", NotBefore=_time(now - dt.timedelta(minutes=1)),
                     NotOnOrAfter=_time(now + lifetime))
    authn = etree.SubElement(a, _S + "AuthnStatement", AuthnInstant=_time(now))
    etree.SubElement(etree.SubElement(authn, _S + "AuthnContext"), _S + "AuthnContextClassRef").text = TLS_CLIENT
    st = etree.SubElement(a, _S + "AttributeStatement")
    _attr(st, "VIHF_Version", "3.0")
    _attr(st, "Secteur_Activite", identity.sector)
    _attr(st, "Ressource_URN", "urn:dmp")
    _attr(st, SUBJECT_ID, identity.subject_name)
    _attr(st, "Identifiant_Structure", identity.structure_id)
    _attr(st, "LPS_ID", identity.lps_id)
    _attr(st, "LPS_Nom", identity.lps_name)
    _attr(st, "LPS_ID_HOMOLOGATION_DMP", identity.lps_homologation)
    _attr(st, "LPS_Version", identity.lps_version)
    _attr(st, RESOURCE_ID, patient)
    _attr(st, "Authentification_Mode", identity.auth_mode)
    _attr(st, PURPOSE_OF_USE, _ce("PurposeOfUse", "normal", "1.2.250.1.213.1.1.4.248", "Acces normal"))
    _attr(st, ROLE, *[_ce("Role", c, s, d) for c, s, d in identity.roles])
    return a


def sign_assertion(assertion: etree._Element, key_pem: bytes, cert_pem: bytes) -> etree._Element:
    """Enveloped RSA-SHA256 signature with exc-c14n over the assertion (ANS DRIM-M_DATA Validateur XDS/XDS.xml:
    signed, exc-c14n)."""
    from signxml import XMLSigner
    from signxml.algorithms import CanonicalizationMethod

    signer = XMLSigner(c14n_algorithm=CanonicalizationMethod.EXCLUSIVE_XML_CANONICALIZATION_1_0)
    return signer.sign(assertion, key=private_key(key_pem), cert=cert_pem.decode(), id_attribute="ID",
                       reference_uri=assertion.get("ID"))


@functools.lru_cache(maxsize=16)
def private_key(key_pem: bytes) -> Any:
    """The key of ``key_pem``, loaded once: loading an RSA key checks it (~40 ms), and a signer (VIHF
    assertions, Signature01 of each publication) signs many times with the same key."""
    return serialization.load_pem_private_key(key_pem, password=None)


def build_vihf(identity: VihfIdentity, *, patient: str, key_pem: bytes, cert_pem: bytes,
               now: dt.datetime | None = None, lifetime: dt.timedelta = dt.timedelta(minutes=10)) -> etree._Element:
    """A wsse:Security header holding a signed VIHF assertion for ``patient`` (CX, NH form)."""
    cert = x509.load_pem_x509_certificate(cert_pem)
    issuer = cert.subject.rfc4514_string()
    signed = sign_assertion(build_assertion(identity, patient=patient, issuer=issuer, now=now, lifetime=lifetime),
                            key_pem, cert_pem)
    security = etree.Element(f"{{{WSSE_NS}}}Security", nsmap={"wsse": WSSE_NS})
    security.append(signed)
    return security


# --------------------------------------------------------------------------- verification

def _parse_time(text: str | None) -> dt.datetime | None:
    if not text:
        return None
    try:
        return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def attributes(assertion: etree._Element) -> dict[str, list[etree._Element]]:
    out: dict[str, list[etree._Element]] = {}
    for attr in assertion.iter(_S + "Attribute"):
        out.setdefault(attr.get("Name", ""), []).extend(attr.findall(_S + "AttributeValue"))
    return out


def _signature_findings(assertion: etree._Element, trust_store: list[bytes], now: dt.datetime) -> list[Finding]:
    from signxml import InvalidInput, SignatureConfiguration, XMLVerifier

    loc = "wsse:Security/saml2:Assertion/ds:Signature"
    text = assertion.findtext(f"{_DS}Signature/{_DS}KeyInfo/{_DS}X509Data/{_DS}X509Certificate")
    if not text:
        return [error("DMP-VIHF-002", loc, "no X509Certificate in the signature's KeyInfo")]
    try:
        leaf = x509.load_der_x509_certificate(base64.b64decode("".join(text.split())))
    except ValueError:
        return [error("DMP-VIHF-002", loc, "the KeyInfo certificate is not a DER X.509 certificate")]
    if not (leaf.not_valid_before_utc <= now <= leaf.not_valid_after_utc):
        return [error("DMP-VIHF-002", loc, "the signing certificate is outside its validity period",
                      found=f"{leaf.not_valid_before_utc} .. {leaf.not_valid_after_utc}")]
    if not any(issued_by(leaf, ca) for ca in trust_store):
        return [error("DMP-VIHF-002", loc, "the signing certificate is not issued by a trusted CA",
                      found=leaf.issuer.rfc4514_string())]
    try:
        XMLVerifier().verify(etree.tostring(assertion), x509_cert=leaf, id_attribute="ID",
                             expect_config=SignatureConfiguration(require_x509=True))
    except (InvalidSignature, InvalidInput, Exception) as exc:  # signxml raises several types
        return [error("DMP-VIHF-002", loc, f"XML signature does not verify: {exc.__class__.__name__}: {exc}")]
    return []


def issued_by(leaf: x509.Certificate, ca_pem: bytes) -> bool:
    """Whether one of the PEM CA certificates in ``ca_pem`` signed ``leaf`` directly."""
    try:
        for ca in x509.load_pem_x509_certificates(ca_pem):
            try:
                leaf.verify_directly_issued_by(ca)
                return True
            except (ValueError, TypeError, InvalidSignature):
                continue
    except ValueError:
        return False
    return False


def verify_vihf(security: etree._Element | None, *, trust_store: list[bytes], patient: str | None = None,
                now: dt.datetime | None = None, skew: dt.timedelta = dt.timedelta(minutes=5),
                check_signature: bool = True) -> list[Finding]:
    """Findings about the VIHF of a request: presence, attributes, time window, patient, signature."""
    now = now or dt.datetime.now(dt.UTC)
    assertion = None if security is None else security.find(_S + "Assertion")
    if assertion is None:
        return [error("DMP-VIHF-001", "soap:Header/wsse:Security", "no VIHF saml2:Assertion in wsse:Security")]
    findings: list[Finding] = []
    attrs = attributes(assertion)
    for name in ATTRIBUTES:
        if not attrs.get(name):
            findings.append(error("DMP-VIHF-001", f"saml2:Attribute[@Name='{name}']", "required VIHF attribute "
                                  "missing", expected=name))
    cond = assertion.find(_S + "Conditions")
    start = _parse_time(cond.get("NotBefore")) if cond is not None else None
    end = _parse_time(cond.get("NotOnOrAfter")) if cond is not None else None
    issued = _parse_time(assertion.get("IssueInstant"))
    if issued is None:
        findings.append(error("DMP-VIHF-002", "saml2:Assertion/@IssueInstant", "IssueInstant missing or invalid"))
    lower = start or (issued - skew if issued else None)
    upper = end or (issued + dt.timedelta(hours=1) if issued else None)
    if lower and upper and not (lower - skew <= now < upper + skew):
        findings.append(error("DMP-VIHF-002", "saml2:Assertion/saml2:Conditions", "assertion outside its time "
                              "window", expected=f"{lower} <= now < {upper}", found=str(now)))
    if patient is not None:
        values = ["".join(v.itertext()).strip() for v in attrs.get(RESOURCE_ID, [])]
        if patient not in values:
            findings.append(error("DMP-VIHF-002", f"saml2:Attribute[@Name='{RESOURCE_ID}']", "resource-id is not "
                                  "the patient of the request", expected=patient, found=values))
    if check_signature:
        findings += _signature_findings(assertion, trust_store, now)
    return findings


# --------------------------------------------------------------------------- throwaway PKI (tests)

@dataclass
class TestPki:
    ca_pem: bytes
    cert_pem: bytes
    key_pem: bytes
    ca_key_pem: bytes = b""  # kept in memory only, to issue more leaves (:meth:`issue`)

    __test__ = False  # not a pytest class

    def issue(self, common_name: str, org_unit: str | None = None, days: int = 2) -> TestPki:
        """Another leaf of the same CA (so a trust store holding ``ca_pem`` accepts it), e.g. one ORG AUTH CLI
        certificate per structure, whose subject OU is the structure's national identifier as in ANS DRIM-M_DATA
        Validateur XDS/XDS.xml (Issuer ``CN=DRIMbox, OU=499700367909006, ...``)."""
        if not self.ca_key_pem:
            raise ValueError("this TestPki was made without its CA key: it cannot issue certificates")
        ca_key = serialization.load_pem_private_key(self.ca_key_pem, password=None)
        ca = x509.load_pem_x509_certificate(self.ca_pem)
        key, leaf = _leaf(ca, ca_key, _name(common_name, org_unit), days)
        return TestPki(self.ca_pem, leaf, key, self.ca_key_pem)


def _name(cn: str, org_unit: str | None = None) -> x509.Name:
    unit = [x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, org_unit)] if org_unit else []
    return x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "FR"),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "DRIMcheck test"), *unit,
                      x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _leaf(ca: x509.Certificate, ca_key: Any, subject: x509.Name, days: int) -> tuple[bytes, bytes]:
    """(key PEM, certificate PEM) of an RSA 2048 leaf that ``ca`` issues to ``subject``."""
    now = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    leaf = (x509.CertificateBuilder().subject_name(subject).issuer_name(ca.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now).not_valid_after(now + dt.timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .sign(ca_key, hashes.SHA256()))
    pem = serialization.Encoding.PEM
    return (key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()),
            leaf.public_bytes(pem))


def throwaway_pki(common_name: str = "DRIMbox test", days: int = 2) -> TestPki:
    """A fresh CA and an ORG-like leaf certificate (RSA 2048), generated in memory at run time."""
    now = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ca = (x509.CertificateBuilder().subject_name(_name("DRIMcheck throwaway CA")).issuer_name(_name(
        "DRIMcheck throwaway CA")).public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now).not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(ca_key, hashes.SHA256()))
    key_pem, leaf_pem = _leaf(ca, ca_key, _name(common_name), days)
    pem = serialization.Encoding.PEM
    return TestPki(ca.public_bytes(pem), leaf_pem, key_pem,
                   ca_key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
