"""Differential test: every ANS and NIST sample of ../shared/corpus that `drimcheck validate` takes gets the
verdict written in SAMPLES, with the verdict the agency's (or NIST's) own tools give it and the reason beside
it. A new corpus file of a kind we read fails the coverage test until it has its row.

The agency's samples are the reference: where our verdict is not theirs, the row says which rule of which
text the sample breaks that their tool does not check (a stored copy that is not the original bytes, a
head/tail slice, a template with placeholders, a rule their tool leaves out). The XDS submissions also go
through the DMP simulator's metadata validation, and the complete MTOM packages through the simulator itself
(in process). ANS files are checked under profile dmp, NIST files under profile xds (IHE only).
"""

from __future__ import annotations

import re
import tempfile
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path

import pytest

from harness.findings import Severity
from harness.soap.mtom import SoapFault, decode_message
from harness.validators import ValidationOptions, detect_kind, validate_file, validate_files
from harness.validators.capture import read_capture
from harness.xds.query import parse_registry_response
from harness.xds.schema import payload_of
from harness.xmlsafe import UnsafeXmlError, parse_xml

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus"
ANS = ("drim-m-data", "drimbox-poc-samples", "drimbox", "kos", "derived", "cda/cisis", "dmp")
NIST = ("xds/nist-messagevalidator", "xds/nist-testkit", "dicom/nist-idc-dataset-a")
OPTIONS = ValidationOptions(dciodvfy=False)  # dciodvfy's messages never change a verdict (dciodvfy.py)


@dataclass(frozen=True)
class Sample:
    pattern: str  # fnmatch pattern over the corpus-relative path
    errors: frozenset[str]  # our verdict: the error rules (empty: OK)
    agency: str  # the verdict of the agency's (NIST's) own tool, or what the file is for
    reason: str
    dmp: frozenset[str] | None = None  # a submission: the rules of the DMP simulator's refusal (empty: accepted)


def s(pattern: str, errors: str, agency: str, reason: str, dmp: str | None = None) -> Sample:
    return Sample(pattern, frozenset(errors.split()), agency, reason, None if dmp is None else frozenset(dmp.split()))


DM = "drim-m-data"
CROSS = f"{DM}/test a blanc/Cross-validateur"
ECH = f"{DM}/Echantillons validateurs"
JDD = f"{DM}/Référencement DRIMBox/Jeux de données/HL7v2"
MV = "xds/nist-messagevalidator"
TK = "xds/nist-testkit"
SLICE = "head slice of a larger ANS file (MANIFEST-drim-m-data.md): the cut, not the sample, breaks"
SLOT = ("Slot (referenceIdList) after the Classifications: rim.xsd refuses it, the real DMP accepts it "
        "(ANS DRIM-M_DATA informatif/Readme.md)")
TWO_PATIENTS = ("serviceStart/StopTime with a +0100 offset (ITI TF-3 §4.2.3.1.7: DTM in UTC, no offset); "
                "DocumentEntry patientId 274075176079430 vs SubmissionSet 162018885045327 (XDSPatientIdDoesNotMatch)")
SAMPLES = [
    # --- ANS: cross-validator (test a blanc / Echantillons validateurs) ---------------------------------------
    s(f"{CROSS}/OK_Cas_Passant/KOS_OK.xml", "", "OK (cross-validator)", "dcm2xml dump of the KOS, read as DICOM"),
    s(f"{CROSS}/OK_Cas_Passant/IMG_OK.xml", "", "OK (cross-validator)",
      "dcm2xml dump of an MR image: not a KOS, identified and compared with the KOS, no KOS rule applies"),
    s(f"{CROSS}/OK_Cas_Passant/HL7_OK.hl7.head", "CDA-XML-001 HL7-FLAG-001 HL7-OBX-001", "OK (cross-validator)",
      SLICE + ": the base64 CDA of OBX-5, OBX-11 and the flag OBXs are in the part not copied"),
    s(f"{CROSS}/OK_CDA_KOS_OtherPatientName_Absent/CR_OK_Absent.xml.head", "CDA-XML-001", "OK (cross-validator)",
      SLICE),
    s(f"{CROSS}/OK_CDA_KOS_OtherPatientName_Absent/kos_OK_Absent.xml.head", "KOS-PARSE-001", "OK (cross-validator)",
      SLICE + " (the XML stops inside the evidence sequence)"),
    s(f"{CROSS}/OK_HL7_XDS_invisible_masque/Metadata_invisible_masque.xml",
      "XDS-LINK-001 XDS-PID-002 XDS-TIME-001 XDS-XSD-001", "OK (cross-validator: masking flags agree with HL7)",
      "the cross-validator compares flags only; as XDS metadata: masking Classifications nested in DocumentKOS "
      "name Signature01 as classifiedObject (ebRIM 3.0 §4.3), " + TWO_PATIENTS + "; " + SLOT,
      dmp="XDS-LINK-001 XDS-TIME-001 XDS-XSD-001"),
    s(f"{ECH}/Cross-validateur/Echantillons de validation/XDS.xml", "XDS-PID-002 XDS-TIME-001 XDS-XSD-001",
      "OK (cross-validator input)", "the cross-validator does not check XDS metadata: " + TWO_PATIENTS + "; " + SLOT,
      dmp="XDS-TIME-001 XDS-XSD-001"),  # XDS-PID-002 is the registry's own check (XDSPatientIdDoesNotMatch)
    s(f"{ECH}/Cross-validateur/Echantillons de validation/CDA.xml.head", "CDA-XML-001", "OK (cross-validator)", SLICE),
    s(f"{ECH}/Validateur XDS/XDS.xml", "XDS-XSD-001", "ANS XDS-validator sample",
      SLOT + "; the MTOM root part is stored without its parts: a warning that hash and size are not checked",
      dmp="XDS-XSD-001"),
    # --- ANS: DICOM standard conformance, KOS ------------------------------------------------------------------
    s(f"{DM}/test a blanc/Validateur DICOM Standard Conformance/OK_KOS_Valide/OK_KOS_Valide.xml",
      "", "OK (DICOM Standard Conformance: IOD level; dciodvfy agrees)",
      "the agency's verdict: the root content item TEXT titled DCM^DCM (PS3.3 C.17.3 wants a CONTAINER, TID "
      "2010 a CID 7010 title) and PatientName 'John Doe' without ^ (REM INS/va1.36) are warnings"),
    s("derived/kos_valide.dcm", "", "OK (xml2dcm of OK_KOS_Valide.xml)",
      "same object as OK_KOS_Valide.xml, same findings"),
    s("derived/kos_ok.dcm", "", "OK (xml2dcm of KOS_OK.xml)", "same object as KOS_OK.xml"),
    s(f"{DM}/informatif/KIN/Manifest_KOS.xml", "", "conforms to the DRIM-M corpus (informatif/Readme.md)",
      "dcm2xml dump of a key-image KOS"),
    s(f"{DM}/_derived/informatif/XDS/publication.xml.cid-0.2.KOS.dcm", "KOS-PAT-004",
      "no KOS verdict published (the DMP that acknowledged the publication does not read the KOS)",
      "the demonstrator's KOS: PatientName 'PAT-SIX' without the first given name (REM INS/va1.36)"),
    # --- ANS: XDS publications -------------------------------------------------------------------------------
    s(f"{DM}/informatif/XDS/publication.xml", "XDS-XSD-001", "acknowledged by the real DMP (informatif/Readme.md)",
      "MTOM package pretty-printed when stored, restored (warning); eventCodes with code-system OIDs accepted "
      "(info); " + SLOT + "; the Signature01 part was re-indented in storage, so its hash, size and signature "
      "value are warnings", dmp="XDS-DMP-SIG-005 XDS-XSD-001"),
    s("drimbox-poc-samples/XDS/publication.xml", "XDS-XSD-001", "acknowledged by the DMP (response.xml beside it)",
      "the demonstrator's copy of the same publication: same findings",
      dmp="XDS-DMP-SIG-005 XDS-XSD-001"),
    s("drimbox-poc-samples/XDS/response.xml", "", "the DMP's acknowledgement (Success)",
      "MIME delimiter and header lines run together in the copy: restored (warning), a valid RegistryResponse"),
    s(f"{DM}/informatif/XDM/KA202401/IHE_XDM/SS000001/METADATA.XML", "XDS-SOAP-001", "no verdict (informative)",
      "the ANS file is a fragment using the ns3: prefix without declaring it: no XML parser reads it (MANIFEST)"),
    s("drimbox-poc-samples/XDM/KA202401/IHE_XDM/SS000001/METADATA.XML", "XDS-XSD-001",
      "the demonstrator's XDM export", SLOT + "; an identifier with scheme 1.2.3 (warning XDS-CODE-002)",
      dmp="XDS-XSD-001"),
    s("drimbox-poc-samples/XDM/KA202401/IHE_XDM/SS000001/KOS_1_1.DCM", "KOS-PAT-004", "the demonstrator's KOS",
      "PatientName 'PAT-SIX' without the first given name (REM INS/va1.36)"),
    s("drimbox-poc-samples/KOS/ko.dcm", "KOS-PAT-004", "the demonstrator's KOS",
      "PatientName 'PAT-SIX' without the first given name (REM INS/va1.36)"),
    s("drimbox-poc-samples/CDA/IMG_CR_IMG_2023.11_CDA-R2-Niveau-1.xml", "", "CI-SIS CR-IMG level 1 example",
      "level-1 templates"),
    # --- ANS: HL7 v2 datasets ----------------------------------------------------------------------------------
    s(f"{DM}/informatif/HL7v2 OMI^O23 Sample/OMI^O23-ImagingOrder.hl7", "",
      "OK: 'en accord avec la définition fournie par le standard' (informatif/Readme.md)",
      "a new order (ORC-1 NW): not an exam change, HL7-IPC-001 gives an info"),
    s(f"{JDD}/Examen W/CR_W_Suppression-OMI.hl7", "", "exam deletion dataset", "ORC-1 CA with IPC-1 and IPC-3"),
    s(f"{JDD}/Examen [CGI]/CR_*.hl7.head", "HL7-FLAG-001 HL7-OBX-001 HL7-OBX-002", "report datasets",
      SLICE + ": the base64 CDA of OBX-5 is cut, OBX-11 and the flag OBXs are in the part not copied"),
    # --- ANS: demonstrator (DRIM-M_DRIMbox) test resources -----------------------------------------------------
    s("drimbox/DOC00002_cda_cr_imagerie.xml", "CDA-HDR-003 CDA-SEV-001", "the demonstrator's test CDA",
      "no setId / versionNumber, no LOINC-coded imaging serviceEvent (Entete_IMG-CR-IMG.sch)"),
    s("drimbox/patient1_oru_r01.hl7",
      "HL7-ENC-001 HL7-FLAG-001 HL7-MSH-002 HL7-OBX-001 HL7-OBX-002 HL7-PID-001", "the demonstrator's test ORU",
      "HL7 v2.3.1 predating IG-hl7v2: no PID, no MSH-21, no OBX-11, older flag names, a blank segment"),
    s("kos/drimbox_kos.dcm", "KOS-IOD-002 KOS-PAT-004", "the demonstrator's test KOS",
      "type 2 AccessionNumber and ReferencedPerformedProcedureStepSequence absent (PS3.3 A.35.4; dciodvfy "
      "agrees); no given name, birth date or sex"),
    # --- ANS: CI-SIS examples ------------------------------------------------------------------------------------
    s("cda/cisis/examples/IMG_CR_IMG_2024.01*.xml", "", "valid (CI-SIS IMG-CR-IMG 2024.01 examples)", "CR-IMG"),
    s("cda/cisis/examples/IMG-DA-IMG_2024.01_*.xml", "CDA-HDR-001 CDA-HDR-002 CDA-SEV-001 CDA-SEV-002",
      "valid as what it is (a 'demande d'acte d'imagerie')", "not a CR-IMG: the CR-IMG rules refuse it, as the "
      "IMG-CR-IMG schematron does (test_cda.py)"),
    s("cda/cisis/examples/DOC_NON_STRUCTURE_CDA-R2-N1.xml", "CDA-HDR-001 CDA-SEV-001 CDA-SEV-002",
      "valid as what it is (a generic unstructured document)", "not a CR-IMG"),
    # --- NIST message validator (profile xds) ----------------------------------------------------------------
    s(f"{MV}/http-mtom-pnr.txt", "", "valid (NIST)", "an HTTP capture of an MTOM PnR, read after its header block",
      dmp=""),
    s(f"{MV}/pnr.xml", "XDS-PNR-002", "valid metadata (NIST checks the metadata only)",
      "a PnR request without xdsb:Document: a repository answers XDSMissingDocument (ITI TF-2b §3.41.4.1.3)",
      dmp=""),
    s(f"{MV}/soap-pnr.xml", "XDS-PNR-002 XDS-WSA-002", "valid metadata",
      "no xdsb:Document; no wsa:MessageID in a request (ITI TF-2x Appendix V)", dmp=""),
    s(f"{MV}/pnr-assoc-to-self.xml", "XDS-ASSOC-001 XDS-ASSOC-002 XDS-PNR-002", "refused (negative case)",
      "an association to itself", dmp="XDS-ASSOC-001 XDS-ASSOC-002"),
    s(f"{MV}/pnr-bad-uplink.xml", "XDS-LINK-001 XDS-PNR-002", "refused (negative case)",
      "a nested Classification naming another object", dmp="XDS-LINK-001"),
    s(f"{MV}/pnr-element-order.xml", "XDS-PNR-002 XDS-XSD-001", "refused (negative case)", "ebRIM element order",
      dmp="XDS-XSD-001"),
    s(f"{MV}/pnr-limited.xml", "XDS-DOC-001 XDS-PNR-002 XDS-SS-002", "valid as XDR limited metadata",
      "limited metadata is an XDR/XDM option, not XDS.b: required attributes missing",
      dmp="XDS-DOC-001 XDS-SS-002"),
    s(f"{MV}/soap-noaction-pnr.xml", "XDS-PNR-002 XDS-WSA-001 XDS-WSA-002", "refused (negative case)",
      "no wsa:Action", dmp=""),
    s(f"{MV}/soap-pnr-element-order.xml", "XDS-PNR-002 XDS-WSA-002 XDS-XSD-001", "refused (negative case)",
      "ebRIM element order; no wsa:MessageID", dmp="XDS-XSD-001"),
    s(f"{MV}/soap-pnr-soap-order.xml", "XDS-SOAP-001", "refused (negative case)", "soap:Body before soap:Header",
      dmp=""),
    s(f"{MV}/empty-soap-wrapper.xml", "XDS-SOAP-001", "refused (negative case)", "an empty soap:Body"),
    s(f"{MV}/xml-parse-error.xml", "XDS-SOAP-001", "refused (negative case)", "not well-formed"),
    s(f"{MV}/regresp-*.xml", "XDS-RESP-001", "refused (negative cases)",
      "Failure without RegistryError / Success with errors"),
    s(f"{MV}/sq-req-bad-code.xml", "XDS-SQ-004", "refused (negative case)", "a bad code parameter"),
    s(f"{MV}/sq-req-bad-*-format*.xml", "XDS-SQ-002", "refused (negative cases)", "badly formatted parameters"),
    s(f"{MV}/sq-req-missing-stat.xml", "XDS-SQ-003", "refused (negative case)", "no $XDSDocumentEntryStatus"),
    s(f"{MV}/sq-resp-lc-no-*.xml", "XDS-RESP-002", "refused (negative cases)", "no objectType / status"),
    s(f"{MV}/sq-resp-nostat-objectref.xml", "XDS-RESP-001 XDS-XSD-001", "refused (negative case)",
      "AdhocQueryResponse without status"),
    s(f"{MV}/soap-ret-req-order.xml", "XDS-RET-001 XDS-XSD-001", "refused (negative case)",
      "element order; and the UIDs elided as in soap-ret-req.xml"),
    s(f"{MV}/soap-ret-req.xml", "XDS-RET-001", "valid for NIST",
      "NIST wrote its UIDs elided ('1.3.6.1.4...1000'): not OIDs (ITI TF-2b §3.43.4.1.2)"),
    s(f"{MV}/soap-xcr-req.xml", "", "valid", "cross-gateway retrieve request"),
    s(f"{MV}/soap-[sx]*-req.xml", "XDS-WSA-002", "valid for NIST", "no wsa:MessageID in a request (ITI TF-2x "
      "Appendix V)"),
    s(f"{MV}/sq-req.xml", "", "valid", "stored query request"),
    s(f"{MV}/*resp*.xml", "", "valid", "responses (an error list in a Failure response is valid)"),
    # --- NIST test kit (profile xds): templates the toolkit fills in, and the IDS test data ---------------------
    s(f"{TK}/tests/11897/*/[Qq]uery.xml", "XDS-SQ-004", "templates", "$patient_id$ placeholders the toolkit fills"),
    s(f"{TK}/tests/idc_4831/selftest-iti-43/retrieve.xml", "XDS-RET-001", "template", "$uid$ placeholder"),
    s(f"{TK}/tests/11966/submit/single_doc.xml", "XDS-XSD-001", "XDS.a era test data",
      "ebXML registry 2.1 namespace, not ebRS 3.0", dmp="XDS-XSD-001"),
    s(f"{TK}/tests/ids_480?/selftest-pnr/metadata.xml", "XDS-XSD-001", "test data",
      "pre-standard namespace urn:oasis:names:tc:ebxml-regrep:registry:xsd:3.0", dmp="XDS-XSD-001"),
    s(f"{TK}/testdata/IDCDEPT00?/metadata.xml", "XDS-ID-001", "templates",
      "SubmissionSet uniqueId placeholder 'SubmissionSet01'", dmp="XDS-ID-001"),
    s(f"{TK}/tests/idc_init/XDS-I-idc-a/metadata-*.xml", "XDS-ID-001", "templates",
      "SubmissionSet uniqueId placeholder 'SubmissionSet01'", dmp="XDS-ID-001"),
    s(f"{TK}/tests/ids_2018-4801?/metadata.xml", "XDS-SOAP-001", "template",
      "an XML comment inside a start tag (line 159): not well-formed as stored"),
    s(f"{TK}/tests/ids_2018-4801?/ValidateMetadata/metadata-evaluate.xml", "XDS-LINK-001 XDS-PNR-002",
      "a SUT's submission to evaluate", "Classifications name 'Document01' inside the urn:uuid entry; no document",
      dmp="XDS-LINK-001"),
    s(f"{TK}/tests/ids_480?/validate-metadata/metadata.xml",
      "XDS-ASSOC-001 XDS-ASSOC-003 XDS-ID-001 XDS-PNR-002 XDS-XSD-001", "template",
      "placeholders, Classifications and Associations without id", dmp="XDS-ASSOC-001 XDS-ASSOC-003 XDS-ID-001 "
      "XDS-XSD-001"),
    s(f"{TK}/tests/ids_4801/ValidateMetadata/metadata.xml", "XDS-PNR-002", "gold standard metadata",
      "a PnR request without its document", dmp=""),
    s(f"{TK}/tests/ids_480[12]/*/metadata.xml", "", "gold standard metadata", "the IDS tests' reference submissions",
      dmp=""),
    s(f"{TK}/tests/11902/*.xml", "", "valid", "registry test data and queries", dmp=""),
    s(f"{TK}/tests/*/*/query*.xml", "", "valid", "stored queries"),
    s(f"{TK}/tests/ids_480?/SelftestPnR/delta.xml", "KOS-EVD-001 KOS-IOD-001 KOS-IOD-002 KOS-SR-001",
      "an edit, not an object", "PS3.19 Native DICOM Model delta that modify_kos.sh applies to kos.dcm"),
    s(f"{TK}/tests/ids_2018-4801?/Validate*/kos-evaluate.dcm", "KOS-IOD-002", "a SUT's KOS to evaluate",
      "type 2 Manufacturer absent (PS3.3 C.7.5.1)"),
    s(f"{TK}/testdata/IDCDEPT002/kos.dcm", "KOS-EVD-002 KOS-SR-002", "test data",
      "instances listed twice in the evidence and in the content tree (PS3.3 C.17.6.2)"),
    s(f"{TK}/*.dcm", "", "valid XDS-I.b manifests", "IHE manifests (the CI-SIS rules are profile dmp)"),
    s("dicom/nist-idc-dataset-a/*", "", "images of the NIST XDS-I data set",
      "DICOM images: identified (dicom-object), no KOS rule applies"),
]

# cross-document groups as the agency's cross-validator takes them: (files, our cross verdict, why)
CROSS_GROUPS = [
    ((f"{CROSS}/OK_Cas_Passant/IMG_OK.xml", f"{CROSS}/OK_Cas_Passant/KOS_OK.xml",
      f"{CROSS}/OK_Cas_Passant/HL7_OK.hl7.head"), "", "OK_Cas_Passant: image, KOS and the HL7 head (PID)"),
    (("derived/kos_ok.dcm", f"{CROSS}/OK_Cas_Passant/HL7_OK.hl7.head",
      f"{CROSS}/OK_HL7_XDS_invisible_masque/Metadata_invisible_masque.xml"), "",
     "the KOS with the masking sample's metadata: same patient, study, accession, flags"),
]


def corpus_files() -> list[tuple[str, str]]:
    """(corpus-relative path, profile) of every ANS and NIST file `drimcheck validate` takes."""
    out = []
    for roots, profile in ((ANS, "dmp"), (NIST, "xds")):
        for root in roots:
            for path in sorted((CORPUS / root).rglob("*")):
                if path.is_file():
                    with path.open("rb") as fh:
                        if detect_kind(fh.read(65536), path.name) != "unknown":
                            out.append((path.relative_to(CORPUS).as_posix(), profile))
    return out


def row_of(rel: str) -> Sample | None:
    """The first row whose pattern matches (rows go from the most to the least specific)."""
    return next((r for r in SAMPLES if fnmatchcase(rel, r.pattern)), None)


@pytest.fixture(scope="module")
def files(corpus) -> list[tuple[str, str]]:
    return corpus_files()


def error_rules(report) -> set[str]:
    return {f.rule for f in report.findings if f.severity is Severity.ERROR}


def test_every_sample_has_its_row(files):
    missing = [rel for rel, _p in files if row_of(rel) is None]
    unused = [r.pattern for r in SAMPLES if not any(row_of(rel) is r for rel, _p in files)]
    assert not missing, f"corpus files without a row in SAMPLES: {missing}"
    assert not unused, f"rows matching no corpus file: {unused}"
    assert all(r.reason or not r.errors for r in SAMPLES), "a row with errors says why"


def test_every_sample_gets_its_verdict(files):
    wrong = []
    for rel, profile in files:
        row = row_of(rel)
        got = error_rules(validate_file(CORPUS / rel, profile, OPTIONS))
        if row is not None and got != row.errors:
            wrong.append(f"{rel}: expected {sorted(row.errors) or 'OK'} ({row.reason}), got {sorted(got) or 'OK'}")
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize(("group", "errors", "why"), CROSS_GROUPS, ids=[g[2].split(":")[0] for g in CROSS_GROUPS])
def test_cross_groups(corpus, group, errors, why):
    paths = [corpus / rel for rel in group]
    cross = validate_files(paths, cross_groups=[paths], options=OPTIONS)[-1]
    assert error_rules(cross) == set(errors.split()), (why, [str(f) for f in cross.findings])


def submission(data: bytes):
    """(PnR or SubmitObjectsRequest element, MIME parts) of a stored XDS file, or None when it is not one."""
    cap = read_capture(data)
    try:
        msg = decode_message(cap.content_type, cap.body)
        root, parts = msg.envelope.body, msg.attachments
    except SoapFault:
        try:
            root, parts = payload_of(parse_xml(data)), {}
        except UnsafeXmlError:
            return None
    name = "" if root is None else root.tag.rsplit("}", 1)[-1]
    return (root, parts) if name in ("ProvideAndRegisterDocumentSetRequest", "SubmitObjectsRequest") else None


def test_submissions_through_the_dmp_simulator_validation(files):
    """What the DMP simulator's metadata validation refuses (simulators/dmp/validation.py, the registry
    checking hash, size, documents and patient itself)."""
    from simulators.dmp.validation import metadata_errors

    wrong = []
    for rel, profile in files:
        found = submission((CORPUS / rel).read_bytes()) if rel.endswith((".xml", ".XML", ".txt")) else None
        if found is None:
            continue
        row = row_of(rel)
        rules = {re.match(r"\[([^\]]+)\]", e.context).group(1) for e in metadata_errors(*found[:1], profile,
                                                                                        found[1])}
        if row is None or row.dmp is None or rules != row.dmp:
            wrong.append(f"{rel}: simulator expected {None if row is None else row.dmp}, got {sorted(rules)}")
    assert not wrong, "\n".join(wrong)


# the complete packages, posted to the simulator as sent: the registry response's (code, rule or context)
POSTED = {
    f"{DM}/informatif/XDS/publication.xml": ("dmp", {
        ("XDSRepositoryMetadataError", "hash"), ("XDSRepositoryMetadataError", "size"),  # Signature01 re-indented
        ("XDSRegistryMetadataError", "XDS-XSD-001"), ("XDSRegistryMetadataError", "XDS-DMP-SIG-005")}),
    "drimbox-poc-samples/XDS/publication.xml": ("dmp", {
        ("XDSRepositoryMetadataError", "hash"), ("XDSRepositoryMetadataError", "size"),
        ("XDSRegistryMetadataError", "XDS-XSD-001"), ("XDSRegistryMetadataError", "XDS-DMP-SIG-005")}),
    f"{MV}/http-mtom-pnr.txt": ("xds", set()),
}


@pytest.mark.parametrize("rel", sorted(POSTED))
def test_complete_packages_posted_to_the_dmp_simulator(corpus, rel):
    """In process (werkzeug's test client on the simulator's WSGI app). The ANS publication is no longer
    refused for its eventCodes (code-system OIDs); what remains: the XSD's Slot order, which the real DMP
    tolerates (see the report), and the Signature01 part the stored copy re-indented."""
    from werkzeug.test import Client

    from simulators.dmp.app import create_app
    from simulators.dmp.config import DmpConfig

    profile, expected = POSTED[rel]
    cap = read_capture((corpus / rel).read_bytes())
    config = DmpConfig(workdir=Path(tempfile.mkdtemp()), vihf="off", profile=profile)
    app = create_app(config)
    try:
        resp = Client(app).post(config.repository_path, data=cap.body, headers={"Content-Type": cap.content_type})
        msg = decode_message(resp.headers["Content-Type"], resp.get_data())
    finally:
        app.close()
    status, errors = parse_registry_response(msg.envelope.body)
    got = {(e.code, m.group(1) if (m := re.match(r"\[([^\]]+)\]", e.context)) else e.context.split()[0])
           for e in errors}
    assert got == expected and status.endswith("Success" if not expected else "Failure"), got
    assert not any("EVENT" in rule for _code, rule in got)


# --- regressions: the false failures found by trying `drimcheck validate` as a new user -----------------------

def test_dicom_written_as_xml_is_read_not_refused_as_unknown(corpus_file):
    for name in ("IMG_OK.xml", "KOS_OK.xml"):
        report = validate_file(corpus_file(f"{CROSS}/OK_Cas_Passant/{name}"), options=OPTIONS)
        assert report.kind in ("dicom", "dicom-object") and report.ok, [str(f) for f in report.findings]


def test_cross_check_is_not_ok_on_files_it_could_not_read(tmp_path, corpus_file):
    broken = tmp_path / "KOS_OK.xml"
    broken.write_bytes(corpus_file(f"{CROSS}/OK_Cas_Passant/KOS_OK.xml").read_bytes()[:5000])
    img = corpus_file(f"{CROSS}/OK_Cas_Passant/IMG_OK.xml")
    cross = validate_files([img, broken], cross_groups=[[img, broken]], options=OPTIONS)[-1]
    assert not cross.ok and [f.location for f in cross.findings if f.rule == "XVAL-INPUT-001"
                             and f.severity is Severity.ERROR] == [str(broken)]


def test_mime_package_is_validated_as_mtom_not_refused_as_bad_xml(corpus_file):
    report = validate_file(corpus_file(f"{DM}/informatif/XDS/publication.xml"), options=OPTIONS)
    assert "XDS-SOAP-001" not in error_rules(report)
    assert any(f.rule == "XDS-MTOM-001" and "pretty-printed" in f.message for f in report.findings)


def test_new_order_is_not_refused_as_an_exam_change(corpus_file):
    report = validate_file(corpus_file(f"{DM}/informatif/HL7v2 OMI^O23 Sample/OMI^O23-ImagingOrder.hl7"))
    assert report.ok


def test_code_system_event_codes_are_accepted(corpus_file):
    report = validate_file(corpus_file(f"{DM}/informatif/XDS/publication.xml"), options=OPTIONS)
    assert not any(f.rule.startswith("XDS-DMP-EVENT") and f.severity is Severity.ERROR for f in report.findings)
    assert {f.found for f in report.findings if f.rule.startswith("XDS-DMP-EVENT") and f.severity is Severity.INFO} \
        == {"1.2.840.10008.2.16.4", "2.16.840.1.113883.6.96"}
