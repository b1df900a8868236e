"""harness.vihf: build, sign and verify VIHF assertions; every check can fail (throwaway CA, nothing committed)."""

from __future__ import annotations

import datetime as dt

import pytest
from lxml import etree

from harness.vihf import ATTRIBUTES, RESOURCE_ID, VihfIdentity, build_vihf, throwaway_pki, verify_vihf

PATIENT = "248098765432112^^^&1.2.250.1.213.1.4.10&ISO^NH"


@pytest.fixture(scope="module")
def pki():
    return throwaway_pki()


@pytest.fixture(scope="module")
def security(pki):
    return build_vihf(VihfIdentity(), patient=PATIENT, key_pem=pki.key_pem, cert_pem=pki.cert_pem)


def rules(findings):
    return sorted({f.rule for f in findings})


def test_valid_assertion_has_no_finding(pki, security):
    assert verify_vihf(security, trust_store=[pki.ca_pem], patient=PATIENT) == []


def test_assertion_carries_the_dmp_attributes(security):
    names = {a.get("Name") for a in security.iter("{urn:oasis:names:tc:SAML:2.0:assertion}Attribute")}
    assert set(ATTRIBUTES) <= names


def test_missing_security_header():
    assert rules(verify_vihf(None, trust_store=[])) == ["DMP-VIHF-001"]


def test_untrusted_ca(security):
    assert rules(verify_vihf(security, trust_store=[throwaway_pki().ca_pem], patient=PATIENT)) == ["DMP-VIHF-002"]


def test_tampered_assertion(pki, security):
    tampered = etree.fromstring(etree.tostring(security).replace(b"Medecin", b"Pirate"))
    found = verify_vihf(tampered, trust_store=[pki.ca_pem], patient=PATIENT)
    assert rules(found) == ["DMP-VIHF-002"] and "signature" in found[0].message


def test_other_patient(pki, security):
    found = verify_vihf(security, trust_store=[pki.ca_pem], patient="1^^^&1.2.3&ISO^NH")
    assert rules(found) == ["DMP-VIHF-002"] and found[0].location.endswith(f"'{RESOURCE_ID}']")


@pytest.mark.parametrize("shift", [dt.timedelta(hours=2), dt.timedelta(hours=-2)])
def test_outside_time_window(pki, security, shift):
    now = dt.datetime.now(dt.UTC) + shift
    assert rules(verify_vihf(security, trust_store=[pki.ca_pem], patient=PATIENT, now=now)) == ["DMP-VIHF-002"]


def test_missing_attribute(pki):
    sec = build_vihf(VihfIdentity(), patient=PATIENT, key_pem=pki.key_pem, cert_pem=pki.cert_pem)
    attr = next(a for a in sec.iter("{*}Attribute") if a.get("Name") == "LPS_ID")
    attr.getparent().remove(attr)  # breaks the signature too: both are reported
    assert rules(verify_vihf(sec, trust_store=[pki.ca_pem], patient=PATIENT)) == ["DMP-VIHF-001", "DMP-VIHF-002"]
    assert verify_vihf(sec, trust_store=[pki.ca_pem], patient=PATIENT, check_signature=False)[0].expected == "LPS_ID"


def test_dmp_sample_assertion_is_read(corpus):
    """The ANS sample's assertion has every attribute; its signature is a placeholder and is refused."""
    from harness.soap import parse_envelope

    sample = corpus / "drim-m-data" / "Echantillons validateurs" / "Validateur XDS" / "XDS.xml"
    if not sample.exists():
        pytest.skip(f"corpus file missing: {sample}")
    env = parse_envelope(sample.read_bytes())
    found = verify_vihf(env.security, trust_store=[], patient="162018885045327^^^&1.2.250.1.213.1.4.10&ISO^NH",
                        check_signature=False, now=dt.datetime(2023, 11, 3, 15, 18, tzinfo=dt.UTC))
    assert found == []
    assert rules(verify_vihf(env.security, trust_store=[], patient=None,
                             now=dt.datetime(2023, 11, 3, 15, 18, tzinfo=dt.UTC))) == ["DMP-VIHF-002"]
