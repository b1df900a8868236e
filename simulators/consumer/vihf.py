"""The VIHF the Consumer puts in wsse:Security of its ITI-18 / ITI-43 requests (FACTS §3).

A SAML 2.0 assertion shaped like the ANS sample (DRIM-M_DATA ``Echantillons validateurs/
Validateur XDS/XDS.xml``): Issuer = X509SubjectName of the structure's certificate, NameID = the
professional's national id, AuthnContextClassRef TLSClient, and the CI-SIS attributes
(``VIHF_Version`` 3.0, ``Secteur_Activite``, ``Ressource_URN``, xspa subject-id, role, purpose of use,
``Identifiant_Structure``, ``LPS_*``, xacml resource-id = patient INS, ``Authentification_Mode``).
Not signed here: the test bed holds no IGC-Santé key (known gap, see the plan's catalog).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from lxml import etree

from harness.soap import WSSE_NS
from simulators.consumer.config import ConsumerConfig
from simulators.consumer.session import Professional

SAML_NS = "urn:oasis:names:tc:SAML:2.0:assertion"
HL7_NS = "urn:hl7-org:v3"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
_S = f"{{{SAML_NS}}}"
SUBJECT_ID = "urn:oasis:names:tc:xspa:1.0:subject:subject-id"
ROLE = "urn:oasis:names:tc:xacml:2.0:subject:role"
PURPOSE = "urn:oasis:names:tc:xspa:1.0:subject:purposeofuse"
RESOURCE_ID = "urn:oasis:names:tc:xacml:2.0:resource:resource-id"
ROLE_SYSTEMS = {"profession": "1.2.250.1.71.1.2.7", "specialty": "1.2.250.1.71.4.2.5"}  # TRE_G15, TRE_R38
PURPOSE_SYSTEM = "1.2.250.1.213.1.1.4.248"  # mode d'accès VIHF


def _iso(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def _attr(stmt: etree._Element, name: str, *values: str | etree._Element) -> None:
    attr = etree.SubElement(stmt, _S + "Attribute", Name=name)
    for v in values:
        av = etree.SubElement(attr, _S + "AttributeValue")
        if isinstance(v, str):
            av.text = v
        else:
            av.append(v)


def _ce(tag: str, code: str, system: str, display: str = "") -> etree._Element:
    el = etree.Element(f"{{{HL7_NS}}}{tag}", nsmap={None: HL7_NS, "xsi": XSI_NS}, code=code, codeSystem=system,
                       displayName=display)
    el.set(f"{{{XSI_NS}}}type", "CE")
    return el


def build_vihf(config: ConsumerConfig, professional: Professional, patient_cx: str | None,
               now: datetime | None = None) -> etree._Element:
    """wsse:Security holding the VIHF assertion for ``professional`` acting on ``patient_cx``."""
    now = now or datetime.now(UTC)
    security = etree.Element(f"{{{WSSE_NS}}}Security", nsmap={"wsse": WSSE_NS})
    a = etree.SubElement(security, _S + "Assertion", nsmap={"saml2": SAML_NS}, ID=f"_{uuid.uuid4()}",
                         IssueInstant=_iso(now), Version="2.0")
    etree.SubElement(a, _S + "Issuer", Format="urn:oasis:names:tc:SAML:1.1:nameid-format:X509SubjectName"
                     ).text = config.vihf_issuer
    etree.SubElement(etree.SubElement(a, _S + "Subject"), _S + "NameID").text = professional.id
    etree.SubElement(a, _S + "Conditions", NotBefore=_iso(now - timedelta(minutes=1)),
                     NotOnOrAfter=_iso(now + timedelta(minutes=10)))
    ctx = etree.SubElement(etree.SubElement(a, _S + "AuthnStatement", AuthnInstant=_iso(now)), _S + "AuthnContext")
    etree.SubElement(ctx, _S + "AuthnContextClassRef").text = "urn:oasis:names:tc:SAML:2.0:ac:classes:TLSClient"
    stmt = etree.SubElement(a, _S + "AttributeStatement")
    _attr(stmt, "VIHF_Version", "3.0")
    _attr(stmt, "Secteur_Activite", config.secteur_activite)
    _attr(stmt, "Ressource_URN", "urn:dmp")
    _attr(stmt, SUBJECT_ID, professional.display)
    _attr(stmt, "Identifiant_Structure", config.structure_id)
    _attr(stmt, "LPS_ID", config.lps_id)
    _attr(stmt, "LPS_Nom", config.lps_name)
    _attr(stmt, "LPS_Version", config.lps_version)
    _attr(stmt, "LPS_ID_HOMOLOGATION_DMP", config.lps_homologation)
    if patient_cx:
        _attr(stmt, RESOURCE_ID, patient_cx)
    _attr(stmt, "Authentification_Mode", "INDIRECTE")
    _attr(stmt, PURPOSE, _ce("PurposeOfUse", "normal", PURPOSE_SYSTEM, "Acces normal"))
    roles = [_ce("Role", professional.profession or "10", ROLE_SYSTEMS["profession"])]
    if professional.specialty:
        roles.append(_ce("Role", professional.specialty, ROLE_SYSTEMS["specialty"]))
    _attr(stmt, ROLE, *roles)
    return security
