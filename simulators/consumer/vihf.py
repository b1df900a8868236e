"""The VIHF the Consumer puts in wsse:Security of its ITI-18 / ITI-43 requests (ANS DRIM-M_DATA Validateur XDS/XDS.xml).

The assertion itself is ``harness.vihf`` (shaped like the ANS sample ``Validateur XDS/XDS.xml``);
here only who it speaks for: the professional logged in at PSC (NameID = national id, roles from
userinfo) and this software (structure, ``LPS_*``). Signed (RSA, exc-c14n) when the Consumer is
given its structure's key and certificate; otherwise the assertion goes unsigned with the
configured X509SubjectName as Issuer (a DMP test environment will refuse it).
"""

from __future__ import annotations

from lxml import etree

from harness.soap import WSSE_NS
from harness.vihf import RESOURCE_ID, VihfIdentity, build_assertion
from harness.vihf import build_vihf as signed_vihf
from simulators.consumer.config import ConsumerConfig
from simulators.consumer.session import Professional

__all__ = ["RESOURCE_ID", "build_vihf", "identity_of"]
ROLE_SYSTEMS = {"profession": "1.2.250.1.71.1.2.7", "specialty": "1.2.250.1.71.4.2.5"}  # TRE_G15, TRE_R38


def identity_of(config: ConsumerConfig, professional: Professional) -> VihfIdentity:
    roles = [(professional.profession or "10", ROLE_SYSTEMS["profession"], "")]
    if professional.specialty:
        roles.append((professional.specialty, ROLE_SYSTEMS["specialty"], ""))
    return VihfIdentity(name_id=professional.id, subject_name=professional.display, structure_id=config.structure_id,
                        sector=config.secteur_activite, lps_id=config.lps_id, lps_name=config.lps_name,
                        lps_version=config.lps_version, lps_homologation=config.lps_homologation, roles=roles)


def build_vihf(config: ConsumerConfig, professional: Professional, patient_cx: str | None) -> etree._Element:
    """wsse:Security holding the VIHF for ``professional`` acting on ``patient_cx``."""
    identity = identity_of(config, professional)
    if config.vihf_key and config.vihf_cert:
        return signed_vihf(identity, patient=patient_cx or "", key_pem=config.vihf_key, cert_pem=config.vihf_cert)
    assertion = build_assertion(identity, patient=patient_cx or "", issuer=config.vihf_issuer)
    placeholder = assertion.find("{http://www.w3.org/2000/09/xmldsig#}Signature")
    if placeholder is not None:
        assertion.remove(placeholder)
    security = etree.Element(f"{{{WSSE_NS}}}Security", nsmap={"wsse": WSSE_NS})
    security.append(assertion)
    return security
