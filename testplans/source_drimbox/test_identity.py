"""The DMP identity of the Source's publications (ANS industriels FAQ, dispositif DRIMbox): whose ORG AUTH CLI
certificate signs each VIHF, and which FINESS the submission set and the VIHF carry under the declared identity mode.

The profile declares the identity mode (``options.identity_mode``: EG, EJ or EJ-EG), the legal entity's FINESS
(``options.finess_ej``), the default structure (``options.finess_eg``) and the certificate of each structure the
Source publishes for (``credentials.structures``: FINESS -> PEM). The plan sends three reports: one of a first
structure and one of a second, each naming its structure in the CR-IMG legalAuthenticator's representedOrganization
(id root 1.2.250.1.71.4.2.2, extension 1 + FINESS), and one of the second structure named in PRT-8 only; then it
cancels the second structure's exam (OMI^O23). Every verdict comes from the requests the DMP simulator captured:
the certificate in the VIHF's ds:KeyInfo, its Identifiant_Structure, the submission set's authorInstitution.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from harness import capture
from harness.checks import expect, inconclusive
from harness.soap import decode_message
from simulators.ris import messages as M
from testplans.source_drimbox.conftest import publish, published_request
from testplans.source_drimbox.support import Captured, is_iti57, wait_dmp

SAML, DS = "{urn:oasis:names:tc:SAML:2.0:assertion}", "{http://www.w3.org/2000/09/xmldsig#}"
FINESS_PREFIX = "1"  # Struct_IdNat = 1 + FINESS (ANS CI-SIS; ansforge IG-FHIR-PDSM4DMP-EEDS StructIdNat)
# report -> (exam key, which declared structure, where the report names it)
REPORTS = {"first-structure-in-cda": ("identity1", 0, "cda"), "second-structure-in-cda": ("identity2", 1, "cda"),
           "second-structure-in-prt8": ("identityprt", 1, "prt8")}


@dataclass(frozen=True)
class Declared:
    """What the profile declares of the Source's DMP identity."""

    mode: str
    finess_ej: str
    finess_eg: str
    certificates: dict[str, bytes]  # structure FINESS -> DER of its ORG AUTH CLI certificate

    def pair(self) -> tuple[str, str]:
        """Two declared structures, the default one first when it is declared: the second's reports then tell
        the report's certificate from the default's."""
        ordered = sorted(self.certificates, key=lambda f: (f != self.finess_eg, f))
        return ordered[0], ordered[1]


def _der(pem: bytes) -> bytes:
    return x509.load_pem_x509_certificates(pem)[0].public_bytes(Encoding.DER)


def declared(env: Any, sut: Any) -> Declared:
    """The declaration (the reference's from the plan's conftest, a vendor's from its profile), or not run with
    the reason when it is missing."""
    if sut.reference:
        data = env.identity
    else:
        options, credentials = sut.options or {}, sut.credentials or {}
        data = None if not options.get("identity_mode") else {
            "mode": options["identity_mode"], "finess_ej": options.get("finess_ej", ""),
            "finess_eg": options.get("finess_eg", ""),
            "structures": {str(f): Path(p).read_bytes() for f, p in (credentials.get("structures") or {}).items()}}
    if not data:
        pytest.skip("not run: the SUT profile declares no DMP identity (options.identity_mode, options.finess_ej, "
                    "credentials.structures)")
    if len(data["structures"]) < 2:
        pytest.skip("not run: credentials.structures declares fewer than two structures: a report of one cannot be "
                    "told from a report of another")
    if data["mode"] in ("EJ", "EJ-EG") and not data["finess_ej"]:
        pytest.skip(f"not run: identity mode {data['mode']} writes the legal entity's FINESS, and options.finess_ej "
                    "does not declare it")
    return Declared(data["mode"], data["finess_ej"], data["finess_eg"],
                    {f: _der(pem) for f, pem in data["structures"].items()})


def _published(env: Any, decl: Declared, report: str) -> tuple[Captured, str]:
    """The RAD-68 request of ``report`` (sent once per session) and the FINESS of the structure it names."""
    key, which, where = REPORTS[report]
    finess = decl.pair()[which]
    ex, structure = env.exams[key], (finess, f"Structure {finess}")
    message = M.oru(ex, cda=M.structure_cda(ex, structure)) if where == "cda" else M.oru(ex, organization=structure)
    publish(env, key, message)
    return published_request(env, key), finess


def _security(c: Captured) -> Any:
    try:
        return decode_message(c.content_type, c.body).envelope.security
    except Exception:
        return None


def vihf_certificate(c: Captured) -> bytes | None:
    """DER of the certificate in the VIHF signature's KeyInfo (saml:Assertion/ds:Signature, ANS CI-SIS Volet
    Authentification indirecte), None when the request carries none."""
    security = _security(c)
    found = None if security is None else security.find(
        f".//{SAML}Assertion/{DS}Signature/{DS}KeyInfo/{DS}X509Data/{DS}X509Certificate")
    if found is None or not (found.text or "").strip():
        return None
    try:
        return base64.b64decode("".join(found.text.split()), validate=True)
    except ValueError:
        return None


def vihf_structure(c: Captured) -> str | None:
    """The VIHF's Identifiant_Structure, None when absent."""
    security = _security(c)
    found = None if security is None else security.find(
        f".//{SAML}Attribute[@Name='Identifiant_Structure']/{SAML}AttributeValue")
    return None if found is None else "".join(found.itertext()).strip()


def institution_ids(c: Captured) -> list[str]:
    """XON-10 (the structure's identifier) of each authorInstitution of the submission set."""
    ss = c.submission.submission_set if c.submission is not None else None
    return [xon.split("^")[9] if xon.count("^") >= 9 else xon
            for author in (ss.authors if ss is not None else []) for xon in author.institutions]


def _describe(decl: Declared, der: bytes | None) -> str:
    if der is None:
        return "no certificate in the VIHF's ds:KeyInfo"
    owners = [f for f, known in decl.certificates.items() if known == der]
    subject = x509.load_der_x509_certificate(der).subject.rfc4514_string()
    return f"{subject} ({'the certificate of ' + ', '.join(owners) if owners else 'no declared structure'})"


@pytest.mark.requirement("SRC-DMP-STRUCTURE-CERT")
@pytest.mark.parametrize("report", sorted(REPORTS))
def test_the_vihf_is_signed_with_the_reports_structure_certificate(env, sut, report):
    decl = declared(env, sut)
    pnr, finess = _published(env, decl, report)
    der = vihf_certificate(pnr)
    expect(der == decl.certificates[finess], rule="SRC-DMP-STRUCTURE-CERT",
           location=f"VIHF ds:Signature/ds:KeyInfo of {pnr.exchange.summary}",
           expected=f"the declared certificate of structure {finess}", observed=_describe(decl, der),
           message=f"the report names structure {finess} ({REPORTS[report][2]}): its ORG AUTH CLI signs the VIHF")


@pytest.mark.requirement("SRC-DMP-STRUCTURE-CERT")
def test_an_exam_cancellation_is_signed_for_the_previous_submissions_structure(env, sut):
    decl = declared(env, sut)
    pnr, finess = _published(env, decl, "second-structure-in-cda")
    entry = pnr.kos_entry()
    if entry is None:
        inconclusive("the second structure's publication carries no KOS entry (see SRC-XDS-KOS)")
    state = env.published.setdefault("identity2:cancelled", {})
    if "ack" not in state:
        _raw, state["ack"] = env.send(M.omi_cancel(env.exams["identity2"]))
        got = wait_dmp(entry.id, predicate=is_iti57) if state["ack"] and state["ack"].code == "AA" else []
        state["update"] = got[0] if got else None
    if state["ack"] is None or state["ack"].code != "AA":
        inconclusive("the exam cancellation (OMI^O23 ORC-1 CA) was not acknowledged AA (see SRC-CANCEL)")
    if state["update"] is None:
        inconclusive("no ITI-57 followed the exam cancellation (see SRC-CANCEL)")
    capture.cite(state["update"].exchange)
    der = vihf_certificate(state["update"])
    expect(der == decl.certificates[finess], rule="SRC-DMP-STRUCTURE-CERT",
           location=f"VIHF ds:Signature/ds:KeyInfo of {state['update'].exchange.summary}",
           expected=f"the declared certificate of structure {finess}", observed=_describe(decl, der),
           message="the deletion after an exam change is made for the previous submission's structure (FAQ 8801)")


def _expected(decl: Declared, finess: str) -> tuple[set[str], set[str]]:
    """(what the VIHF's Identifiant_Structure may be, what the submission set's authorInstitution may name), as
    Struct_IdNat; EJ-EG [?]: no public text says which FINESS goes where, so each may be either."""
    eg, ej = FINESS_PREFIX + finess, FINESS_PREFIX + decl.finess_ej
    return {"EG": ({eg}, {eg}), "EJ": ({ej}, {ej})}.get(decl.mode, ({eg, ej}, {eg, ej}))


@pytest.mark.requirement("SRC-DMP-IDENTITY-MODE")
@pytest.mark.parametrize("report", sorted(REPORTS))
def test_the_finess_written_follow_the_identity_mode(env, sut, report):
    decl = declared(env, sut)
    pnr, finess = _published(env, decl, report)
    in_vihf, in_set = _expected(decl, finess)
    wanted = " or ".join(sorted(in_vihf))
    expect(vihf_structure(pnr) in in_vihf, rule="SRC-DMP-IDENTITY-MODE",
           location=f"VIHF saml:Attribute[@Name='Identifiant_Structure'] of {pnr.exchange.summary}",
           expected=wanted, observed=vihf_structure(pnr),
           message=f"identity mode {decl.mode}, report of structure {finess}: the VIHF names "
                   f"{'the structure' if decl.mode == 'EG' else 'the legal entity' if decl.mode == 'EJ' else 'one'}"
                   " by its Struct_IdNat (1 + FINESS)")
    ids = institution_ids(pnr)
    expect(bool(ids) and set(ids) <= in_set, rule="SRC-DMP-IDENTITY-MODE",
           location="RegistryPackage (submission set) Classification[author]/Slot[@name='authorInstitution'] XON-10",
           expected=" or ".join(sorted(in_set)), observed=ids or "no authorInstitution",
           message=f"identity mode {decl.mode}: the submission set's authorInstitution names the FINESS the mode says")
