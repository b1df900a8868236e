"""The public documents a requirement may cite, and the check that its ``source`` names one.

An assessor must be able to open every source: a requirement cites an IHE Technical Framework volume
and section, a DICOM part and section, an HL7 v2.5 chapter, an RFC, a W3C or OASIS specification, a
CI-SIS document, an ANS DRIM-M_DATA path or an ANS FAQ entry, never a file outside the product or a
tracker number. ``docs/sources.md`` lists the same documents, with their versions and where each is
published; ``drimcheck requirements --check`` refuses a source that names none of them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Document:
    key: str  # how a source names it (a regular expression)
    title: str
    version: str
    published: str


DOCUMENTS: tuple[Document, ...] = (
    Document(r"IHE ITI TF-(1|2|2a|2b|2x|3)\b", "IHE IT Infrastructure Technical Framework (XDS.b: ITI-18, ITI-41, "
             "ITI-43, ITI-57; metadata in Vol. 3)", "Revision 20.0, 2023", "https://profiles.ihe.net/ITI/TF/"),
    Document(r"IHE RAD TF-(1|2|3|4)\b", "IHE Radiology Technical Framework (XDS-I.b: RAD-68, RAD-69; WIA: RAD-107)",
             "Revision 22.0, 2023", "https://www.ihe.net/resources/technical_frameworks/#radiology"),
    Document(r"IHE DSG\b", "IHE ITI Document Digital Signature (DSG) content profile", "Revision 3.1, 2023",
             "https://profiles.ihe.net/ITI/DSG/"),
    Document(r"DICOM PS3\.\d+", "DICOM Standard (PS3.3 IODs, PS3.4 services, PS3.5 encoding, PS3.8 network, "
             "PS3.16 templates, PS3.18 DICOMweb, PS3.19 application hosting)", "2024b",
             "https://www.dicomstandard.org/current"),
    Document(r"HL7 v2\.5", "HL7 Version 2.5 (chapters 2 control, 4 orders, 7 observations, 9 documents)", "2.5, 2003",
             "https://www.hl7.org/implement/standards/product_brief.cfm?product_id=144"),
    Document(r"HL7 CDA R2", "HL7 Clinical Document Architecture, Release 2", "2005",
             "https://www.hl7.org/implement/standards/product_brief.cfm?product_id=7"),
    Document(r"IG-hl7v2", "ANS IG HL7 v2 Volet Transmission de document CDA R2 (MDM, ORU, OMI)", "current",
             "https://interop.esante.gouv.fr/ig/hl7v2/transmission-document-cda-r2/ (ansforge/IG-hl7v2-volet-"
             "transmission-document-cda-r2)"),
    Document(r"(ANS )?CI-SIS", "ANS Cadre d'Interopérabilité des SIS: volets Compte rendu d'imagerie médicale "
             "(CR-IMG), Partage de documents de santé (DMP), Authentification indirecte (VIHF 3.0), jeux de valeurs",
             "CR-IMG 2024.01; volets as published", "https://esante.gouv.fr/interoperabilite/ci-sis"),
    Document(r"ANS NOS\b", "ANS Nomenclatures des Objets de Santé: terminologies de référence (e.g. "
             "TRE_A09-DICOMuidRegistry, TRE_R270-AvailabilityStatus)", "as published", "https://mos.esante.gouv.fr/NOS/"),
    Document(r"TestContenuCDA", "ANS TestContenuCDA: CI-SIS CDA schematrons and examples", "3.0",
             "https://github.com/ansforge/TestContenuCDA-3-0"),
    Document(r"(ANS )?DRIM-M_DATA", "ANS DRIM-M_DATA: official test dataset of the DRIMbox label (Echantillons "
             "validateurs, test a blanc, Référencement DRIMBox, informatif)", "main branch, 2025-2026",
             "https://github.com/ansforge/DRIM-M_DATA"),
    Document(r"DMPi\b", "Assurance Maladie / GIE SESAM-Vitale, Service DMP intégré aux LPS (DMPi, SEL-MP-037)",
             "as published", "https://www.sesam-vitale.fr/documents/20182/54758/SEL-MP-037+DMPi.pdf"),
    Document(r"ANS FAQ", "ANS industriels FAQ, Ségur vague 2, dispositif DRIMbox couloir imagerie", "as published",
             "https://industriels.esante.gouv.fr/segur-numerique/"),
    Document(r"ANS (PoC|demonstrator)", "ANS / b<>com DRIMbox demonstrator (reference behaviour, not normative)",
             "main branch", "https://github.com/ansforge/DRIM-M_DRIMbox"),
    Document(r"Référentiel INS", "ANS Référentiel Identifiant National de Santé (INS)", "2.0",
             "https://esante.gouv.fr/identifiant-national-de-sante"),
    Document(r"RFC \d+", "IETF RFCs (HTTP, multipart, OAuth 2.0, bearer tokens, PKCE, introspection, mTLS)",
             "as numbered", "https://www.rfc-editor.org/"),
    Document(r"W3C", "W3C specifications (SOAP 1.2, XOP, SOAP MTOM, WS-Addressing 1.0, XML Signature, C14N)",
             "Recommendations", "https://www.w3.org/TR/"),
    Document(r"OASIS", "OASIS specifications (ebXML RIM/RS 3.0, SAML 2.0, WS-Security and its SAML token profile)",
             "Standards", "https://www.oasis-open.org/standards/"),
    Document(r"ETSI TS 101 903", "ETSI XAdES (XML Advanced Electronic Signatures)", "v1.4.2",
             "https://www.etsi.org/deliver/etsi_ts/101900_101999/101903/"),
    Document(r"NIST\b", "NIST IHE test tools (iheos-toolkit2): XDS message-validator test messages, XDS-I.b test kits",
             "as published", "https://github.com/usnistgov/iheos-toolkit2"),
    Document(r"OpenID Connect", "OpenID Connect Core 1.0", "1.0 errata set 2", "https://openid.net/specs/"),
    Document(r"OWASP ASVS", "OWASP Application Security Verification Standard", "4.0.3", "https://owasp.org/ASVS/"),
    Document(r"IGC-Santé", "ANS IGC-Santé certificate policies (ORG AUTH CLI, signature)", "as published",
             "https://igc-sante.esante.gouv.fr/"),
)
FORBIDDEN = (
    (re.compile(r"\bFACTS\b"), "cites a file outside the product (FACTS): cite the public document behind it"),
    (re.compile(r"\bissue \d+", re.IGNORECASE), "cites a tracker issue: cite the public document instead"),
)
_KEYS = [re.compile(d.key) for d in DOCUMENTS]


def source_problem(source: str) -> str | None:
    """Why ``source`` is not a citation an assessor can open, or None."""
    for pattern, why in FORBIDDEN:
        if pattern.search(source):
            return why
    if not any(key.search(source) for key in _KEYS):
        return "names no listed public document (harness/sources.py, docs/sources.md)"
    return None
