"""Replay: every ANS KOS sample of ../shared/corpus is read by the reference Consumer DRIMbox the way it reads the
KOS of an exam, and gives the outcome written in READINGS (the study, series, instances and Retrieve URLs the
exam page lists, the content errors it reports, or the refusal and why), with the agency's verdict on the
sample and the reason beside it.

The real path: one DMP simulator (VIHF off) serves the module; each sample is published to it as the KOS
document of a RAD-68 submission (``harness.xds.kos_submission``), filed under the KOS's own PatientID as INS,
and the Consumer fetches it by ITI-43 with ``simulators.consumer.manifest.fetch_manifest`` over the real XDS
client, checking that the KOS names the patient of the call and its Retrieve URLs against its allowlist.
The history page (ITI-18) and the PSC login in front of it are not replayed: the entry is named directly.

A dcm2xml dump (``KOS_OK.xml``, ``OK_KOS_Valide.xml``, ``Manifest_KOS.xml``) is what a validator is given,
not what a DMP holds: it is turned into the Part 10 file it describes with the validators' own reader
(``harness.validators.dicom.read_dicom``), as ``drimcheck validate`` reads it, and that file is published.
A dump the reader cannot take (a head or tail slice) is published as stored, as a Source that published
it would.

The Consumer's allowlist holds the two DRIMbox hosts the samples name: the ANS demonstrator's Source
(``localhost:4200``, ``/api/source``) and the agency's test-bench Source (``79.137.56.229:10368``,
``/drim-so/v1/rs``). ``localhost:8080/dcm4chee-arc/...`` is a PACS archive's own DICOMweb, not a DRIMbox:
its series are listed and not requested (ANS DRIM-M_DATA Liste blanche TEST: only the DRIMboxes of the
whitelist are called).

Also here: the case of ``OK_KOS_Valide.xml`` (the agency's DICOM conformance tool says OK although its root
item is TEXT), decided by ``test_ok_kos_valide_gets_the_agencys_verdict``.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

import pytest
import requests

from harness.validators import ValidationOptions, detect_kind, validate_file
from harness.validators.dicom import is_xml, read_dicom
from harness.validators.kos import KosReadError, read_kos
from harness.xds import kos_submission
from harness.xds.clients import XdsClient
from simulators.consumer.history import APPROVED, Exam
from simulators.consumer.manifest import Manifest, ManifestError, fetch_manifest
from simulators.dmp import DmpConfig
from simulators.dmp.reference import start as start_dmp

ANS = ("drim-m-data", "drimbox-poc-samples", "drimbox", "kos", "derived", "cda/cisis", "dmp")
DM = "drim-m-data"
CROSS = f"{DM}/test a blanc/Cross-validateur"
CONFORMANCE = f"{DM}/test a blanc/Validateur DICOM Standard Conformance/OK_KOS_Valide/OK_KOS_Valide.xml"
INS_OID = "1.2.250.1.213.1.4.10"  # test INS-NIR (ANS DRIM-M_DATA Validateur XDS)
PAT_TROIS, PAT_HUIT = "279035121518989", "274075176079430"  # INS of the cross-validator cases (HL7 PID-3)
NO_STUDY, NO_ACCESSION = "1.2.250.1.999.9.9", "REPLAY"  # the metadata of a sample without them

POC = "http://localhost:4200/api/source"  # the ANS demonstrator's Source DRIMbox
BENCH = "http://79.137.56.229:10368/drim-so/v1/rs"  # the agency's test-bench Source DRIMbox
ARCHIVE = "http://localhost:8080/dcm4chee-arc/aets/AS_RECEIVED/rs"  # a dcm4chee archive, not a DRIMbox
ALLOWED = ("localhost:4200", "79.137.56.229:10368")
PADDING = "\n" + " " * 28  # what KOS_OK.xml's RetrieveURL values start with (see its row)

S116 = "1.3.6.1.4.1.5962.99.1.3711725607.829148806.1687338938407.3.116"
S18 = "1.3.6.1.4.1.5962.99.1.3711725607.829148806.1687338938407.3.18"
S835 = "1.2.840.113745.101000.1008000.38425.5599.7073835"
PAT_SIX = "PatientName 'PAT-SIX' without the first given name (KOS-PAT-004, REM INS/va1.36): reported on the exam page"


@dataclass(frozen=True)
class Reading:
    pattern: str  # fnmatch pattern over the corpus-relative path
    outcome: str  # "shown": the exam page lists the KOS's series; else a fragment of the Consumer's refusal
    study: str  # the KOS's Study Instance UID ("" when refused)
    series: int  # series in the evidence (0008,1115)
    instances: int  # instances they reference (0008,1199)
    base: str  # every series' Retrieve URL is <base>/studies/<study>/series/<series> ("" when none)
    requested: int  # series the Consumer may ask for (URL on its allowlist); the others are not requested
    errors: frozenset[str]  # KOS content errors the exam page reports (validate_kos)
    agency: str
    reason: str
    ins: str = ""  # the INS the DMP files it under and the call names (default: the KOS's own PatientID)


def k(pattern: str, outcome: str, agency: str, reason: str, *, study: str = "", series: int = 0,
      instances: int = 0, base: str = "", requested: int = 0, errors: str = "", ins: str = "") -> Reading:
    return Reading(pattern, outcome, study, series, instances, base, requested, frozenset(errors.split()), agency,
                   reason, ins)


READINGS = [
    # --- cross-validator and DICOM conformance samples (test a blanc), and their xml2dcm files (derived/) ------
    k(f"{CROSS}/OK_Cas_Passant/KOS_OK.xml", "shown", "OK (cross-validator)",
      "two series of 10 MR images at the test-bench Source. Each RetrieveURL value starts with a line feed and 28 "
      "spaces in the object itself (dcm2xml wrote it as &#10; and len=208 = 29 + the 179-character URL): PS3.5 "
      "§6.2 gives UR no leading space; the allowlist check (urlsplit) and the HTTP request (requests strips "
      "leading whitespace) both read the URL behind it, so the Consumer asks the right place",
      study=S18, series=2, instances=20, base=PADDING + BENCH, requested=2),
    k("derived/kos_ok.dcm", "shown", "OK (xml2dcm of KOS_OK.xml)",
      "the same KOS, its values' padding collapsed when it was made (corpus MANIFEST.md)",
      study=S18, series=2, instances=20, base=BENCH, requested=2),
    k(f"{CROSS}/OK_CDA_KOS_OtherPatientName_Absent/kos_OK_Absent.xml.head", "KOS unreadable",
      "OK (cross-validator)",
      "head slice of a 657 KB dump (MANIFEST-drim-m-data.md): the XML stops inside the evidence sequence, so "
      "there is no object to rebuild; published as stored, it is not a DICOM Part 10 file and the Consumer "
      "refuses the manifest (the exam page says 'Manifeste indisponible'); filed under PAT-TROIS, the patient "
      "of the case", ins=PAT_TROIS),
    k(f"{CROSS}/OK_CDA_KOS_OtherPatientName_Absent/kos_OK_Absent.xml.tail", "KOS unreadable",
      "OK (cross-validator)", "tail slice of the same dump: the end of the reference list, no object; refused as "
      "the head slice", ins=PAT_TROIS),
    k(f"{CROSS}/OK_Cas_Passant/IMG_OK.xml", "names patient '62702897707386938', the contextual call "
      f"'{PAT_HUIT}'", "OK (cross-validator: one image the KOS references)",
      "an MR image, not a KOS, filed as PAT-HUIT's KOS: its PatientID is the RIS's local id (PID-3 type PI of "
      "HL7_OK), not the INS, so the Consumer's identity check refuses it before reading anything else (it would "
      "otherwise list no series and report every KOS rule it breaks)", ins=PAT_HUIT),
    k(CONFORMANCE, "shown", "OK (DICOM Standard Conformance: IOD level; dciodvfy agrees)",
      "one series of 3 CT images in a dcm4chee archive (not a DRIMbox: not requested). Root content item TEXT "
      "titled (DCM, DCM) and PatientName 'John Doe' without ^: warnings, as the agency's tool accepts them "
      "(see test_ok_kos_valide_gets_the_agencys_verdict)",
      study=S835, series=1, instances=3, base=ARCHIVE, requested=0, errors=""),
    k("derived/kos_valide.dcm", "shown", "OK (xml2dcm of OK_KOS_Valide.xml)", "the same object, the same reading",
      study=S835, series=1, instances=3, base=ARCHIVE, requested=0, errors=""),
    # --- informative key-image KOS -----------------------------------------------------------------------------
    k(f"{DM}/informatif/KIN/Manifest_KOS.xml", "shown", "conforms to the DRIM-M corpus (informatif/Readme.md)",
      "key images: three series of one instance each at the demonstrator's Source, two CT images and, in "
      "series ...299, another KOS (the COMPOSITE reference of its content tree)",
      study="1.2.250.1.213.4.5.2.1.101", series=3, instances=3, base=POC, requested=3),
    # --- the demonstrator's KOS: the published one, its XDM export, its sample ---------------------------------
    k(f"{DM}/_derived/informatif/XDS/publication.xml.cid-0.2.KOS.dcm", "shown",
      "acknowledged by the real DMP inside informatif/XDS/publication.xml",
      "two series of 10 images at the demonstrator's Source; " + PAT_SIX,
      study=S116, series=2, instances=20, base=POC, requested=2, errors="KOS-PAT-004"),
    k("drimbox-poc-samples/KOS/ko.dcm", "shown", "the demonstrator's KOS sample",
      "byte for byte the published one; " + PAT_SIX,
      study=S116, series=2, instances=20, base=POC, requested=2, errors="KOS-PAT-004"),
    k("drimbox-poc-samples/XDM/KA202401/IHE_XDM/SS000001/KOS_1_1.DCM", "shown", "the demonstrator's XDM export",
      "one series of 10 images at the demonstrator's Source; " + PAT_SIX,
      study="1.3.6.1.4.1.5962.99.1.3711725607.829148806.1687338938407.3.12", series=1, instances=10, base=POC,
      requested=1, errors="KOS-PAT-004"),
    k("kos/drimbox_kos.dcm", "shown", "the demonstrator's test KOS (Backend/src/test/resources/kos.dcm)",
      "one CT image in a dcm4chee archive (not a DRIMbox: not requested); type 2 AccessionNumber and "
      "ReferencedPerformedProcedureStepSequence absent (KOS-IOD-002, PS3.3 A.35.4); no given name, birth date or "
      "sex (KOS-PAT-004)",
      study="2.16.840.1.113669.632.20.1211.10000231621", series=1, instances=1, base=ARCHIVE, requested=0,
      errors="KOS-IOD-002 KOS-PAT-004"),
]


# --- the corpus and the table ---------------------------------------------------------------------------------

def kos_samples(corpus: Path) -> list[str]:
    """Corpus-relative paths of the ANS samples the validators read as DICOM, and every file named as a KOS."""
    out = []
    for root in ANS:
        for path in sorted((corpus / root).rglob("*")):
            if not path.is_file():
                continue
            with path.open("rb") as fh:
                if "kos" in path.name.lower() or detect_kind(fh.read(65536), path.name) == "dicom":
                    out.append(path.relative_to(corpus).as_posix())
    return out


def row_of(rel: str) -> Reading | None:
    return next((row for row in READINGS if fnmatchcase(rel, row.pattern)), None)


def test_every_kos_sample_has_its_row(corpus):
    samples = kos_samples(corpus)
    missing = [rel for rel in samples if row_of(rel) is None]
    unused = [row.pattern for row in READINGS if not any(row_of(rel) is row for rel in samples)]
    assert not missing, f"KOS samples without a row in READINGS: {missing}"
    assert not unused, f"rows matching no corpus file: {unused}"
    assert all(row.reason and row.agency for row in READINGS)


# --- publication to the DMP simulator and the Consumer's reading ----------------------------------------------

def part10(data: bytes) -> bytes:
    """The Part 10 file a dcm2xml dump describes, read as the validators read it; anything else as stored."""
    if not is_xml(data):
        return data
    try:
        ds = read_dicom(data)
    except KosReadError:
        return data
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def identity(kos: bytes) -> tuple[str, str, str]:
    """(PatientID, StudyInstanceUID, AccessionNumber) of a KOS, to file it under (the referenceIdList needs a
    study and an accession, IHE ITI TF-3 referenceIdList); placeholders for what it does not have or when it
    cannot be read."""
    try:
        ds = read_kos(kos)
    except KosReadError:
        ds = {}
    return (str(ds.get("PatientID", "") or ""), str(ds.get("StudyInstanceUID", "") or NO_STUDY),
            str(ds.get("AccessionNumber", "") or NO_ACCESSION))


@dataclass
class Dmp:
    ref: Any
    client: XdsClient

    def publish(self, kos: bytes, ins: str = "") -> tuple[Exam, str]:
        """RAD-68 of ``kos`` under ``ins`` (default its PatientID); the exam entry and the INS it is filed under."""
        own, study, accession = identity(kos)
        ins = ins or own
        sub = kos_submission(kos, patient_id=f"{ins}^^^&{INS_OID}&ISO^NH", study_uid=study, accession=accession)
        result = self.client.provide_and_register(sub)
        assert result.success, f"the DMP simulator refused the submission: {result.errors or result.fault}"
        uid = sub.documents[0].uniqueId
        return Exam("", uid, self.ref.endpoints["repository_unique_id"], APPROVED), ins


@pytest.fixture(scope="module")
def dmp(corpus, tmp_path_factory) -> Iterator[Dmp]:
    ref = start_dmp(DmpConfig(workdir=tmp_path_factory.mktemp("agency-kos-dmp"), vihf="off"))
    try:
        yield Dmp(ref, XdsClient(ref.endpoints["registry"], ref.endpoints["repository"], actor="consumer:dmp-client"))
    finally:
        ref.stop()


def read_through_the_dmp(dmp: Dmp, data: bytes, ins: str = "") -> Manifest | str:
    """Publish, then fetch as the Consumer does for a call naming the INS it is filed under: the Manifest, or
    the text of its refusal."""
    exam, ins = dmp.publish(part10(data), ins)
    try:
        return fetch_manifest(dmp.client, exam, f"{ins}^^^&{INS_OID}&ISO^NH", ALLOWED, expected_ins=ins)
    except ManifestError as exc:
        return str(exc)


def differences(row: Reading, got: Manifest | str) -> list[str]:
    """What the Consumer did that the row does not say."""
    if isinstance(got, str):
        return [] if row.outcome != "shown" and row.outcome in got else [f"expected {row.outcome}, got {got!r}"]
    if row.outcome != "shown":
        return [f"expected the refusal {row.outcome!r}, the Consumer read it"]
    found = (got.study_uid, len(got.series), sum(len(s.instances) for s in got.series),
             sum(not s.refused for s in got.series), {f.rule for f in got.errors})
    wanted = (row.study, row.series, row.instances, row.requested, row.errors)
    out = [f"expected (study, series, instances, requested, errors) {wanted}, got {found}"] if found != wanted else []
    return out + [f"Retrieve URL {s.retrieve_url!r} is not {row.base!r}/studies/<study>/series/<series>"
                  for s in got.series if s.retrieve_url != f"{row.base}/studies/{s.study_uid}/series/{s.series_uid}"]


def test_every_kos_sample_is_read_by_the_consumer_as_written(corpus, dmp):
    wrong = []
    for rel in kos_samples(corpus):
        row = row_of(rel)
        if row is not None:
            got = read_through_the_dmp(dmp, (corpus / rel).read_bytes(), row.ins)
            wrong += [f"{rel}: {d} ({row.reason})" for d in differences(row, got)]
    assert not wrong, "\n".join(wrong)


def test_padded_retrieve_url_is_requested_at_the_url_behind_the_padding(corpus, dmp):
    """KOS_OK.xml: the value starts with LF and spaces; the Consumer's HTTP client (requests) asks for the URL."""
    got = read_through_the_dmp(dmp, (corpus / f"{CROSS}/OK_Cas_Passant/KOS_OK.xml").read_bytes())
    assert isinstance(got, Manifest) and got.series
    for ref in got.series:
        assert ref.retrieve_url.startswith(PADDING) and not ref.refused
        assert requests.Request("GET", ref.retrieve_url).prepare().url == ref.retrieve_url.strip()


# --- OK_KOS_Valide.xml: the agency says OK; PS3.3 C.17.3 wants a CONTAINER root ----------------------------------

def test_ok_kos_valide_gets_the_agencys_verdict(corpus):
    """Decided: the agency's samples are ground truth, so the verdict is the agency's (OK), and what PS3.3 C.17.3
    and TID 2010 would say is shown as warnings. The dump's root is ``ValueType TEXT`` titled
    ``(DCM, DCM, "MANIFEST")``, and dcmtk's xml2dcm (derived/kos_valide.dcm, made from this dump) gives the same
    values: our reader does not misread the dcm2xml form. Its ``len`` attributes (10 for ``TEXT``, 6 for the
    code value ``DCM``) fit ``CONTAINER `` and ``113030``: the values were edited after the dump. The agency's
    IOD-level check (like dciodvfy) does not look at the root item's value type or title; a title that is
    another DICOM KOS title (a rejection note, say) stays an error (``kos-wrong-title``)."""
    from harness.findings import Severity

    dump = (corpus / CONFORMANCE).read_bytes()
    for ds in (read_dicom(dump), read_kos((corpus / "derived/kos_valide.dcm").read_bytes())):
        concept = ds.ConceptNameCodeSequence[0]
        assert (ds.ValueType, concept.CodeValue, concept.CodingSchemeDesignator) == ("TEXT", "DCM", "DCM")
    assert b'len="10" name="ValueType">TEXT<' in dump and b'len="6" name="CodeValue">DCM<' in dump
    assert len(b"CONTAINER ") == 10 and len(b"113030") == 6
    findings = validate_file(corpus / CONFORMANCE, "dmp", ValidationOptions(dciodvfy=False)).findings
    assert not [f for f in findings if f.severity is Severity.ERROR]
    assert {(f.rule, f.location, f.found) for f in findings if f.severity is Severity.WARNING
            and f.rule in ("KOS-SR-001", "KOS-PAT-004")} == {
        ("KOS-SR-001", "(0040,A040)", "TEXT"), ("KOS-SR-001", "(0040,A043)[0]", "DCM^DCM"),
        ("KOS-PAT-004", "(0010,0010)", "John Doe")}
