"""The reference Source's DMP identity (ANS industriels FAQ, dispositif DRIMbox): the report's structure (CDA
legalAuthenticator's representedOrganization, PRT-8 as fallback, else the default) picks the ORG AUTH CLI that signs
the VIHF and Signature01; the identity mode (EG, EJ, EJ-EG) decides which FINESS the authorInstitution and the
VIHF's Identifiant_Structure carry; a structure without a certificate is refused AE; an image change keeps the
previous submission's structure (FAQ 8801). Scripted PACS, outbox never started: the queued requests are read."""

from __future__ import annotations

import base64
import json
from dataclasses import replace
from pathlib import Path

import pytest
from cryptography import x509
from lxml import etree

from fixtures.iocm import rejection_note
from harness.hl7 import parse_ack
from harness.soap import decode_message
from harness.vihf import throwaway_pki
from harness.xds import parse_pnr
from harness.xds.builder import DEFAULT_AUTHOR
from simulators.ris import messages as M
from simulators.source.config import SourceConfig
from simulators.source.iocm import parse_rejection
from simulators.source.publish import Identities, Outbox, Professional, publish_behaviour_for, vihf_security
from simulators.source.report import ReportProcessor, report_structure
from simulators.source.serve import structures as parse_structures
from simulators.source.store import CURRENT, SourceStore
from tests.source.test_iocm import headers
from tests.source.test_report import BASE, images_of

S1, S2, S3, EJ = "750803447", "920008059", "120459876", "120456789"  # FINESS of ANS CI-SIS / DRIM-M_DATA samples
SAML, DS = "{urn:oasis:names:tc:SAML:2.0:assertion}", "{http://www.w3.org/2000/09/xmldsig#}"


@pytest.fixture(scope="module")
def pki():
    ca = throwaway_pki("unit identity default")
    return {"default": ca, S1: ca.issue("structure 1", f"1{S1}"), S2: ca.issue("structure 2", f"1{S2}")}


@pytest.fixture
def ex():
    return M.exam("unit-identity", series=1, instances=2)


def identities(pki, mode="EG", fault=None, **kwargs) -> Identities:
    settings = {"mode": mode, "finess_eg": S1, "finess_ej": EJ, "name": "Centre DRIMcheck",
                "structures": {f: (pki[f].key_pem, pki[f].cert_pem) for f in (S1, S2)},
                "default_pair": (pki["default"].key_pem, pki["default"].cert_pem),
                "behaviour": publish_behaviour_for(fault)} | kwargs
    return Identities(**settings)


def processor(tmp_path: Path, ex, ids: Identities, fault=None) -> tuple[ReportProcessor, SourceStore]:
    store = SourceStore(tmp_path / "source.sqlite")
    outbox = Outbox(store, initial=0.1, maximum=1, timeout=1)  # never started: items stay queued
    security = vihf_security(None, None, identities=ids)
    proc = ReportProcessor(store, outbox, lambda study: images_of(ex), lambda: BASE, "http://dmp.test/registry",
                           "http://dmp.test/repository", "Centre^^^^^^^^^750803447", "1.2.250.1.999.1.1", fault,
                           security, None, ids)
    return proc, store


def queued(store: SourceStore, index: int = -1):
    """(the queued request's wsse:Security, its submission or None) of outbox item ``index``."""
    item = store.items()[index]
    msg = decode_message(item.content_type, item.body)
    body = msg.envelope.body
    sub = parse_pnr(body, msg.attachments) if etree.QName(body).localname.startswith("ProvideAndRegister") else None
    return msg.envelope.security, sub


def signer_of(security) -> bytes:
    text = security.find(f".//{SAML}Assertion/{DS}Signature/{DS}KeyInfo/{DS}X509Data/{DS}X509Certificate").text
    return base64.b64decode("".join(text.split()))


def der(pem: bytes) -> bytes:
    from cryptography.hazmat.primitives.serialization import Encoding

    return x509.load_pem_x509_certificate(pem).public_bytes(Encoding.DER)


def structure_id(security) -> str:
    attr = security.find(f".//{SAML}Attribute[@Name='Identifiant_Structure']/{SAML}AttributeValue")
    return attr.text


def institution(sub) -> str:
    return sub.submission_set.authors[0].institutions[0]


def signature01_signer(sub) -> bytes:
    sig = next(d for d in sub.documents if d.mimeType == "text/xml")
    root = etree.fromstring(sub.document_bytes[sig.id])
    return base64.b64decode("".join(root.find(f".//{DS}X509Certificate").text.split()))


# -- where the structure comes from -------------------------------------------------------------------------
@pytest.mark.parametrize(("how", "expected"), [("cda", S2), ("prt", S2), ("cda-over-prt", S1), ("none", S1)])
def test_the_reports_structure_picks_the_certificate(tmp_path, ex, pki, how, expected):
    proc, store = processor(tmp_path, ex, identities(pki))
    message = {"cda": M.oru(ex, cda=M.structure_cda(ex, (S2, "Clinique B"))),
               "prt": M.oru(ex, organization=(S2, "Clinique B")),
               "cda-over-prt": M.oru(ex, cda=M.structure_cda(ex, (S1, "Centre A")), organization=(S2, "Clinique B")),
               "none": M.oru(ex)}[how]
    out = proc.handle(message)
    assert out.code == "AA", out.text
    security, sub = queued(store)
    assert signer_of(security) == der(pki[expected].cert_pem)
    assert signature01_signer(sub) == der(pki[expected].cert_pem)  # the same structure signs Signature01
    assert structure_id(security) == f"1{expected}"
    assert institution(sub).endswith(f"^^^^^&1.2.250.1.71.4.2.2&ISO^IDNST^^^1{expected}")
    assert all(d.authors[0].institutions == [institution(sub)] for d in sub.documents)


def test_structure_name_comes_from_the_report(tmp_path, ex, pki):
    proc, store = processor(tmp_path, ex, identities(pki))
    proc.handle(M.oru(ex, organization=(S2, "Clinique B & fils")))
    assert institution(queued(store)[1]) == f"Clinique B \\T\\ fils^^^^^&1.2.250.1.71.4.2.2&ISO^IDNST^^^1{S2}"


@pytest.mark.parametrize(("mode", "vihf", "author"), [("EG", S2, S2), ("EJ", EJ, EJ), ("EJ-EG", EJ, S2)])
def test_identity_mode_decides_the_finess(tmp_path, ex, pki, mode, vihf, author):
    proc, store = processor(tmp_path, ex, identities(pki, mode))
    assert proc.handle(M.oru(ex, cda=M.structure_cda(ex, (S2, "Clinique B")))).code == "AA"
    security, sub = queued(store)
    assert structure_id(security) == f"1{vihf}"
    assert institution(sub).rsplit("^", 1)[1] == f"1{author}"
    assert signer_of(security) == der(pki[S2].cert_pem)  # the mode never changes whose certificate signs


# -- what is refused --------------------------------------------------------------------------------------
@pytest.mark.parametrize("how", ["cda", "prt", "no-default"])
def test_a_structure_without_certificate_is_refused_and_nothing_published(tmp_path, ex, pki, how):
    ids = identities(pki, finess_eg="", finess_ej="") if how == "no-default" else identities(pki)
    proc, store = processor(tmp_path, ex, ids)
    message = {"cda": M.oru(ex, cda=M.structure_cda(ex, (S3, "Inconnue"))), "prt": M.oru(ex, organization=(S3, "X")),
               "no-default": M.oru(ex)}[how]
    ack = parse_ack(proc.acknowledge(message))
    assert ack.code == "AE" and ack.error_code == "103", ack
    assert "no ORG AUTH CLI certificate for structure FINESS" in ack.text
    assert (S3 if how != "no-default" else "(none named)") in ack.text
    assert store.kos_of_study(ex.study_uid) == [] and store.items() == []


def test_a_structure_named_by_something_else_than_a_finess_is_refused(tmp_path, ex, pki):
    cda = M.structure_cda(ex, (S2, "Clinique B")).replace(f'extension="1{S2}"'.encode(),
                                                           b'extension="312345678900012"')
    proc, store = processor(tmp_path, ex, identities(pki))
    ack = parse_ack(proc.acknowledge(M.oru(ex, cda=cda)))
    assert ack.code == "AE" and "not identified by a FINESS" in ack.text and "312345678900012" in ack.text
    assert ack.errors[0].location.startswith("OBX^1^5")
    assert store.items() == []


# -- image changes keep the previous submission's structure (FAQ 8801) ----------------------------------------
def test_an_image_change_keeps_the_previous_structure(tmp_path, ex, pki):
    proc, store = processor(tmp_path, ex, identities(pki))
    assert proc.handle(M.oru(ex, organization=(S2, "Clinique B"))).code == "AA"
    proc.reject(parse_rejection(rejection_note(headers(ex, [(0, 1)]))))
    security, sub = queued(store)
    assert sub is not None and signer_of(security) == der(pki[S2].cert_pem) and structure_id(security) == f"1{S2}"
    assert proc.handle(M.omi_cancel(ex)).code == "AA"
    security, sub = queued(store)
    assert sub is None and signer_of(security) == der(pki[S2].cert_pem)  # the ITI-57 too
    [stored] = [k for k in store.kos_of_study(ex.study_uid) if k.status != CURRENT][-1:]
    assert Professional.loads(store.professional(stored.sop_uid)).structure == S2


# -- the named faults --------------------------------------------------------------------------------------
def test_signs_with_default_structure_fault_signs_every_report_with_the_default(tmp_path, ex, pki):
    proc, store = processor(tmp_path, ex, identities(pki, fault="signs-with-default-structure"))
    assert proc.handle(M.oru(ex, cda=M.structure_cda(ex, (S2, "Clinique B")))).code == "AA"
    security, sub = queued(store)
    assert signer_of(security) == der(pki[S1].cert_pem)
    assert structure_id(security) == f"1{S2}" and institution(sub).endswith(f"^1{S2}")  # the rest unchanged


def test_identity_mode_ej_fault_writes_the_legal_entity(tmp_path, ex, pki):
    proc, store = processor(tmp_path, ex, identities(pki, fault="identity-mode-ej"))
    assert proc.handle(M.oru(ex, cda=M.structure_cda(ex, (S2, "Clinique B")))).code == "AA"
    security, sub = queued(store)
    assert structure_id(security) == f"1{EJ}" and institution(sub).endswith(f"^1{EJ}")
    assert signer_of(security) == der(pki[S2].cert_pem)


# -- nothing configured: one identity, as before ------------------------------------------------------------
def test_a_source_without_identity_keeps_its_single_identity(tmp_path, ex, pki):
    ids = Identities(default_pair=(pki["default"].key_pem, pki["default"].cert_pem))
    proc, store = processor(tmp_path, ex, ids)
    assert proc.handle(M.oru(ex, cda=M.structure_cda(ex, (S3, "Inconnue")))).code == "AA"  # not refused
    security, sub = queued(store)
    assert signer_of(security) == der(pki["default"].cert_pem)
    assert structure_id(security) == "499700367909006"
    assert institution(sub) == DEFAULT_AUTHOR.institutions[0]
    stored = store.kos_of_study(ex.study_uid)[0]
    assert json.loads(store.professional(stored.sop_uid)) == {"id": M.FIRST_AUTHOR[0], "name": "Jacques BIDEAULT"}


# -- reading the structure, configuring it -----------------------------------------------------------------
def _structure(message: bytes):
    from harness.validators.cda import parse_cda
    from harness.validators.hl7v2 import decode_document, document_obx, parse_hl7

    msg = parse_hl7(message)
    return report_structure(parse_cda(decode_document(msg, document_obx(msg))), msg)


@pytest.mark.parametrize(("prt8", "finess", "name"), [
    (f"Centre A^^^^^ASIP-SANTE-ST&1.2.250.1.71.4.2.2&ISO^FINEG^^^{S1}", S1, "Centre A"),
    (f"Centre A^^^^^ASIP-SANTE-ST&1.2.250.1.71.4.2.2&ISO^FINEJ^^^{EJ}", EJ, "Centre A"),
    (f"A \\T\\ B^^^^^&1.2.250.1.71.4.2.2&ISO^IDNST^^^1{S1}", S1, "A & B"),
    ("Cabinet^^^^^&1.2.250.1.71.4.2.2&ISO^IDNST^^^499700367909006", "", "Cabinet"),
    ("Centre A^^^^^LOCAL&1.2.3&ISO^XX^^^42", "", "Centre A"),
])
def test_prt8_forms(ex, prt8, finess, name):
    message = M.oru(ex, organization=(S1, "Centre A")).replace(
        f"Centre A^^^^^ASIP-SANTE-ST&1.2.250.1.71.4.2.2&ISO^FINEG^^^{S1}".encode(), prt8.encode())
    found = _structure(message)
    assert (found.finess, found.name, found.location) == (finess, name, "PRT^1^8")


def test_no_structure_named(ex):
    assert _structure(M.oru(ex)) is None


@pytest.mark.parametrize(("settings", "problem"), [
    ({"mode": "EH"}, "identity mode 'EH'"),
    ({"finess_eg": "75080344"}, "EG FINESS '75080344' is not a FINESS"),
    ({"mode": "EJ", "finess_ej": ""}, "give the EJ FINESS"),
    ({"structures": {"2A1234567": None}}, "structure 2A1234567: key or certificate is not PEM"),
    ({"mismatched": True}, f"structure {S2}: the key is not the certificate's"),
])
def test_bad_identity_settings_are_refused(pki, settings, problem):
    if settings.pop("mismatched", False):
        settings = {"structures": {S2: (pki[S1].key_pem, pki[S2].cert_pem)}}
    if "structures" in settings and settings["structures"].get("2A1234567", 1) is None:
        settings = {"structures": {"2A1234567": (b"not a key", b"not a certificate")}}
    with pytest.raises(ValueError, match=problem.replace("(", r"\(").replace(")", r"\)")):
        identities(pki, **settings)


def test_source_config_builds_its_identities(pki):
    config = SourceConfig(vihf_key=pki["default"].key_pem, vihf_cert=pki["default"].cert_pem, finess_eg=S1,
                          structures={S2: (pki[S2].key_pem, pki[S2].cert_pem)})
    ids = config.identities()
    assert ids.signer(S1) == (pki["default"].key_pem, pki["default"].cert_pem)  # the default's: the VIHF pair
    assert ids.signer(S2) == (pki[S2].key_pem, pki[S2].cert_pem)
    assert ids.name == "Centre de radiologie DRIMcheck"
    assert not replace(config, signing_key=b"k", signing_cert=b"c").identities().signature_signer(S2, None)


def test_structure_options(tmp_path, pki):
    (tmp_path / "k.pem").write_bytes(pki[S2].key_pem)
    (tmp_path / "c.pem").write_bytes(pki[S2].cert_pem)
    assert parse_structures([f"{S2}={tmp_path}/k.pem,{tmp_path}/c.pem"]) == {S2: (pki[S2].key_pem, pki[S2].cert_pem)}
    for bad, why in ((f"{S2}={tmp_path}/k.pem", "expected FINESS=KEYPEM,CERTPEM"),
                     (f"{S2}={tmp_path}/k.pem,{tmp_path}/missing.pem", "No such file"),):
        with pytest.raises(SystemExit, match=why):
            parse_structures([bad])
    with pytest.raises(SystemExit, match="given twice"):
        parse_structures([f"{S2}={tmp_path}/k.pem,{tmp_path}/c.pem"] * 2)
