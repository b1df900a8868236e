"""Checks of what a Source sent the DMP, shared by the per-exam tests and the end-of-plan sweep.

Each takes a captured request (``support.Captured``) and judges it from its bytes only: the DMP's answer
(RegistryResponse, SOAP fault), the full XDS validator under the DMP rules (IHE ITI TF-3 §4.2, CI-SIS),
the VIHF (SAML 2.0 assertion in wsse:Security, verified against the CA the profile declares) and the
Signature01 document (XAdES over ``#IHEManifest``, whose references are the documents' SHA-1).
"""

from __future__ import annotations

import base64
import datetime as dt
from typing import Any

from cryptography import x509

from harness.checks import expect, expect_no_errors, fail, inconclusive
from harness.soap import ITI41_ACTION, ITI57_ACTION, decode_message
from harness.vihf import issued_by, verify_vihf
from harness.xds.dsig import verify as verify_signature
from harness.xds.validate import validate_message
from harness.xmlsafe import parse_xml
from testplans.source_drimbox.support import Captured, is_pnr

SIGNATURE_FORMAT = "http://www.w3.org/2000/09/xmldsig#"
_DS = "{http://www.w3.org/2000/09/xmldsig#}"


def expect_valid_request(pnr: Captured, label: str = "") -> None:
    """The request passes the XDS validator under the DMP rules (errors fail; warnings are attached)."""
    action = ITI41_ACTION if is_pnr(pnr) else ITI57_ACTION
    findings = validate_message(pnr.content_type, pnr.body, "dmp", expected_action=action)
    expect_no_errors(findings, label=label or f"XDS validator, dmp rules: {pnr.exchange.summary}")


def request_patient(pnr: Captured) -> str | None:
    """The patient a RAD-68 or ITI-57 request is about (the submission set's patientId)."""
    if pnr.submission is not None and pnr.submission.submission_set is not None:
        return pnr.submission.submission_set.patientId
    if pnr.xml is None:
        return None
    for ei in pnr.xml.iter("{urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0}ExternalIdentifier"):
        if ei.get("identificationScheme") in ("urn:uuid:6b5aea1a-874d-4603-a4bc-96a0a7b38446",  # SS patientId
                                              "urn:uuid:58a6f841-87b3-4a3e-92fd-a8ffeff98427"):  # DE patientId
            return ei.get("value")
    return None


def expect_vihf(env: Any, pnr: Captured) -> None:
    """The request carries a VIHF: every required attribute, the request's patient as resource-id, valid
    when it was sent, signed by a certificate issued by the CA the profile declares (credentials.vihf_ca)."""
    if not env.trust:
        inconclusive("the SUT profile gives no credentials.vihf_ca (the CA of the Source's VIHF signer): the "
                     "VIHF signature cannot be verified")
    try:
        security = decode_message(pnr.content_type, pnr.body).envelope.security
    except Exception as exc:
        fail("SRC-XDS-VIHF", "HTTP body", "a SOAP 1.2 message", f"undecodable ({exc})",
             "the request could not be read")
    sent = dt.datetime.fromtimestamp(pnr.exchange.started, dt.UTC)
    findings = verify_vihf(security, trust_store=env.trust, patient=request_patient(pnr), now=sent)
    expect_no_errors(findings, label=f"VIHF of {pnr.exchange.summary}")


def expect_signature01(env: Any, pnr: Captured) -> None:
    """Signature01 verifies: its SignatureValue over SignedInfo (which references ``#IHEManifest``), the
    manifest's digests are the SHA-1 of each document of the submission, and, when the profile declares
    the signer's CA, the signing certificate is issued by it."""
    sub = pnr.submission
    sigs = [d for d in sub.documents if d.formatCode is not None and d.formatCode.node == SIGNATURE_FORMAT]
    if len(sigs) != 1 or sub.document_bytes.get(sigs[0].id) is None:
        fail("SRC-XDS-SIGNATURE", "ExtrinsicObject[@mimeType='text/xml']", "one signature document with its bytes",
             f"{len(sigs)} signature document(s)", "Signature01 cannot be verified")
    findings = validate_message(pnr.content_type, pnr.body, "dmp", expected_action=ITI41_ACTION)
    expect_no_errors([f for f in findings if f.rule.startswith("XDS-DMP-SIG")], label="Signature01 rules")
    root = parse_xml(sub.document_bytes[sigs[0].id], max_bytes=16 * 1024 * 1024)
    verdict = verify_signature(root)
    expect(verdict.status == "valid", rule="SRC-XDS-SIGNATURE", location=f"Signature01/{verdict.location}",
           expected="a signature that verifies with its KeyInfo certificate", observed=f"{verdict.status}: "
           f"{verdict.detail}", message="Signature01 does not verify")
    if env.trust:
        cert_text = root.findtext(f"{_DS}KeyInfo/{_DS}X509Data/{_DS}X509Certificate") or ""
        leaf = x509.load_der_x509_certificate(base64.b64decode("".join(cert_text.split())))
        expect(any(issued_by(leaf, ca) for ca in env.trust), rule="SRC-XDS-SIGNATURE",
               location="Signature01/KeyInfo/X509Certificate", expected="a certificate issued by the CA of the "
               "SUT profile (credentials.vihf_ca)", observed=f"issued by {leaf.issuer.rfc4514_string()}",
               message="Signature01 is signed by a certificate the DMP does not trust")
