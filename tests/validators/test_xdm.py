"""IHE XDM packages (ITI-32): the ANS samples get their verdict, each finding explained; the clean package of
test_xdm_package.py, changed one way at a time, gets the rule that change breaks.

The ANS samples (../shared/corpus, skipped when absent):
- ``drimbox-poc-samples/XDM/KA202401``, the demonstrator's whole export. No verdict of the agency's analyser is
  in the corpus for it (``Echantillons validateurs/Analyseur contenu de message`` holds an XDM.zip the corpus
  did not copy), so each error is a normative rule the files break, and each is the verdict this project
  already gives the same file alone (test_agency_samples.py, test_corpus_verdicts.py): POC_ERRORS.
- ``drim-m-data/informatif/XDM/KA202401``, an informative copy of METADATA.XML alone, as a fragment that uses
  the ns3: prefix without declaring it: no README.TXT, INDEX.HTM or document, and no XML parser reads it.
"""

from __future__ import annotations

import hashlib
import shutil

import pytest
from test_xdm_package import (
    EXAM,
    KOS,
    META,
    SIGN,
    SUBSET,
    image_path,
    image_uid,
    metadata,
    package,
    submission,
    verdict,
    write_folder,
    write_zip,
)

from harness.findings import Severity
from harness.validators import ValidationOptions, validate_file
from harness.validators.command import main

POC = "drimbox-poc-samples/XDM/KA202401"
INFORMATIF = "drim-m-data/informatif/XDM/KA202401"
POC_ERRORS = {  # rule -> the normative rule broken, and the file
    "XDS-XSD-001": "ebRIM 3.0 rim.xsd (RegistryObjectType: Slot before Name, Description, Classification, "
                   "ExternalIdentifier): the referenceIdList and URI Slots of METADATA.XML come after them",
    "XDS-HASH-002": "ITI TF-3 §4.2.3.2 DocumentEntry.hash: SIGN_1.XML was altered after export (its certificate "
                    "replaced by XXXXX), its SHA-1 is not the slot's",
    "XDS-SIZE-002": "ITI TF-3 §4.2.3.2 DocumentEntry.size: the same altered SIGN_1.XML, 3212 bytes for 6102",
    "KOS-PAT-004": "KOS_1_1.DCM PatientName 'PAT-SIX' without the first given name (Référentiel INS, REM INS)",
}
POC_WARNINGS = {
    "XDM-META-002": "METADATA.XML holds the whole ITI-41 SOAP envelope (with its VIHF assertion), not the bare "
                    "SubmitObjectsRequest",
    "XDM-URI-003": "URIs 'SS000001/KOS_1_1.DCM' are relative to IHE_XDM/, not to the submission set folder",
    "XDM-DOC-002": "CR.TXT, the demonstrator's report identifiers, is named by no DocumentEntry",
    "XDS-CODE-002": "an ExternalIdentifier with scheme '1.2.3' (the demonstrator's entryUUID copy)",
    "XDS-DMP-EVENT-002": "region code with scheme 1.2.250.1.213.2.5, as in the ANS XDS sample",
    "XDS-DMP-SIG-005": "SIGN_1.XML's certificate is XXXXX: its signature value cannot be checked",
    "KOS-DRIM-001": "InstitutionName 'BCOM' without the FINESS",
}


def _errors(checked) -> set[str]:
    return {f.rule for f in checked.findings if f.severity is Severity.ERROR}


def _one(checked, rule: str):
    found = [f for f in checked.findings if f.rule == rule]
    assert len(found) == 1, checked.findings
    return found[0]


# --- the ANS samples ----------------------------------------------------------------------------------------

def test_demonstrator_package_verdict(corpus_file):
    errors, warnings, checked = verdict(corpus_file(POC))
    assert errors == set(POC_ERRORS) and warnings == set(POC_WARNINGS)
    sha1 = _one(checked, "XDS-HASH-002")
    assert "SIGN_1.XML" in sha1.message and "Signature01" in sha1.location
    assert (sha1.expected, sha1.found) == ("646f2131f87c4ef6457e134b5041f517ca579d55",
                                           "dbf809196e25476c9b05c1f021a1487e57d9b54d")
    size = _one(checked, "XDS-SIZE-002")
    assert (size.expected, size.found) == ("3212", "6102")
    assert {f.location for f in checked.findings if f.rule == "XDM-DOC-002"} == {"IHE_XDM/SS000001/CR.TXT"}
    skipped = {s.name: s.reason for s in checked.rule_sets if not s.ran}
    assert skipped["XDM KOS instances present in the package"] == "no DICOM image in the package"


def test_demonstrator_package_errors_are_the_files_own(corpus_file):
    """Read as a package, the demonstrator's files get the errors each gets alone, plus the hash and size of
    the signature file the XDS validator can only check with its bytes at hand."""
    folder = corpus_file(POC) / "IHE_XDM" / "SS000001"
    alone = set()
    for name in ("METADATA.XML", "KOS_1_1.DCM"):
        report = validate_file(folder / name, "dmp", ValidationOptions(dciodvfy=False))
        alone |= {f.rule for f in report.findings if f.severity is Severity.ERROR}
    assert alone | {"XDS-HASH-002", "XDS-SIZE-002"} == verdict(corpus_file(POC))[0]


@pytest.mark.parametrize("prefix", ["", "KA202401/"], ids=["root", "top-folder"])
def test_demonstrator_package_zipped(corpus_file, tmp_path, prefix):
    """Zipped at its root, or with its KAyyyymm folder as the demonstrator's exporter zips it: the same verdict,
    and the folder one level down said (XDM-LAYOUT-006)."""
    root = corpus_file(POC)
    files = {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}
    errors, warnings, _checked = verdict(write_zip(files, tmp_path / "KA202401.zip", prefix))
    assert errors == set(POC_ERRORS)
    assert warnings == set(POC_WARNINGS) | ({"XDM-LAYOUT-006"} if prefix else set())


def test_informative_metadata_alone_is_not_a_package(corpus_file):
    errors, warnings, checked = verdict(corpus_file(INFORMATIF))
    assert errors == {"XDM-LAYOUT-004", "XDM-META-001"} and warnings == set()
    assert {f.expected.split()[0] for f in checked.findings if f.rule == "XDM-LAYOUT-004"} == {"README.TXT",
                                                                                                "INDEX.HTM"}
    assert "ns3" in _one(checked, "XDM-META-001").message


def test_command_on_the_ans_samples(corpus_file, capsys):
    assert main([str(corpus_file(POC)), str(corpus_file(INFORMATIF)), "--no-dciodvfy"]) == 1
    out = capsys.readouterr().out
    assert "KA202401 [xdm] FAILED: 5 error(s), 8 warning(s)" in out
    assert "KA202401 [xdm] FAILED: 3 error(s), 0 warning(s)" in out


# --- documents: hash, size, files -----------------------------------------------------------------------------

def _check(tmp_path, files, profile="dmp", folder="pkg"):
    return verdict(write_folder(files, tmp_path / folder), profile)


def test_a_changed_byte_is_a_hash_mismatch_naming_both_values(tmp_path):
    files = package()
    declared = submission().document("DocumentKOS").hash
    kos = bytearray(files[KOS])
    kos[0] ^= 0xFF  # in the Part 10 preamble: the KOS still reads, its bytes are no longer the ones hashed
    files[KOS] = bytes(kos)
    errors, _warnings, checked = _check(tmp_path, files)
    assert errors == {"XDS-HASH-002", "XDS-DMP-SIG-004"}  # and the signature manifest's digest of the KOS
    found = _one(checked, "XDS-HASH-002")
    assert (found.expected, found.found) == (hashlib.sha1(files[KOS]).hexdigest(), declared)
    assert found.location == f"{META}: ExtrinsicObject[@id='DocumentKOS']/Slot[@name='hash']"
    assert found.message.endswith(KOS)
    assert _errors(verdict(tmp_path / "pkg", "xds")[2]) == {"XDS-HASH-002"}


def test_a_wrong_size_names_both_values(tmp_path):
    sub = submission()
    sub.document("DocumentKOS").size = "12"
    errors, _warnings, checked = _check(tmp_path, package(sub))
    assert errors == {"XDS-SIZE-002"}
    found = _one(checked, "XDS-SIZE-002")
    assert (found.expected, found.found) == (str(len(package()[KOS])), "12")


@pytest.mark.parametrize("attr", ["hash", "size"])
def test_hash_and_size_are_required_on_media(tmp_path, attr):
    sub = submission()
    setattr(sub.document("Signature01"), attr, None)
    errors, _warnings, checked = _check(tmp_path, package(sub))
    assert errors == {"XDM-META-003"}
    assert "Signature01" in _one(checked, "XDM-META-003").location


def test_a_missing_document_file(tmp_path):
    files = package()
    del files[SIGN]
    errors, _warnings, checked = _check(tmp_path, files)
    assert errors == {"XDM-DOC-001"}
    assert _one(checked, "XDM-DOC-001").expected.startswith(SIGN)


def test_a_file_no_entry_names_is_a_warning(tmp_path):
    files = package()
    files[f"{SUBSET}/NOTES.TXT"] = b"not in the metadata"
    errors, warnings, checked = _check(tmp_path, files)
    assert errors == set() and warnings == {"XDM-DOC-002"}
    assert _one(checked, "XDM-DOC-002").location == f"{SUBSET}/NOTES.TXT"


# --- URIs -----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("uri", ["../../README.TXT", "../SUBSET01/KOS.DCM", "/etc/passwd", "C:\\KOS.DCM",
                                 "file:///etc/passwd", "%2E%2E/%2E%2E/README.TXT", "IMG\\..\\KOS.DCM"])
def test_a_uri_leaving_the_folder_is_refused(tmp_path, uri):
    sub = submission()
    sub.document("DocumentKOS").slots["URI"] = [uri]
    errors, warnings, checked = _check(tmp_path, package(sub))
    assert errors == {"XDM-URI-002"}
    assert _one(checked, "XDM-URI-002").found == uri
    assert "XDM-DOC-002" in warnings  # the KOS was not followed there: its own file is left unnamed


def test_a_document_entry_without_uri(tmp_path):
    sub = submission()
    del sub.document("Signature01").slots["URI"]
    assert _check(tmp_path, package(sub))[0] == {"XDM-URI-001"}


def test_a_uri_split_over_values_is_joined(tmp_path):
    sub = submission()
    sub.document("DocumentKOS").slots["URI"] = ["2|S.DCM", "1|KO"]
    assert _check(tmp_path, package(sub))[2].findings == []


@pytest.mark.parametrize(("uri", "how"), [("SUBSET01/KOS.DCM", "relative to IHE_XDM/"),
                                          ("IHE_XDM/SUBSET01/KOS.DCM", "relative to the root"),
                                          ("kos.dcm", "ignoring letter case")])
def test_a_uri_found_elsewhere_is_read_with_a_warning(tmp_path, uri, how):
    sub = submission()
    sub.document("DocumentKOS").slots["URI"] = [uri]
    errors, warnings, checked = _check(tmp_path, package(sub))
    assert errors == set() and warnings == {"XDM-URI-003"}
    assert how in _one(checked, "XDM-URI-003").message


# --- layout and METADATA.XML ----------------------------------------------------------------------------------

def test_missing_metadata(tmp_path):
    files = package()
    del files[META]
    errors, _warnings, checked = _check(tmp_path, files)
    assert errors == {"XDM-LAYOUT-003"}
    assert _one(checked, "XDM-LAYOUT-003").location == SUBSET


@pytest.mark.parametrize("name", ["README.TXT", "INDEX.HTM"])
def test_missing_readme_or_index(tmp_path, name):
    files = package()
    del files[name]
    errors, _warnings, checked = _check(tmp_path, files)
    assert errors == {"XDM-LAYOUT-004"}
    assert _one(checked, "XDM-LAYOUT-004").expected.startswith(name)


def test_no_submission_set_folder_and_no_ihe_xdm(tmp_path):
    root = write_folder({"README.TXT": b"r", "INDEX.HTM": b"<html/>"}, tmp_path / "a")
    (root / "IHE_XDM").mkdir()
    assert _errors(verdict(root)[2]) == {"XDM-LAYOUT-002"}
    shutil.rmtree(root / "IHE_XDM")
    assert _errors(verdict(root)[2]) == {"XDM-LAYOUT-001"}


def test_autorun_at_the_root(tmp_path):
    files = {**package(), "AUTORUN.INF": b"[autorun]\r\nopen=viewer.exe\r\n"}
    assert _check(tmp_path, files)[0] == {"XDM-LAYOUT-005"}


def test_metadata_with_a_doctype_is_refused(tmp_path):
    files = package()
    files[META] = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>'
    errors, _warnings, checked = _check(tmp_path, files)
    assert errors == {"XDM-META-001"} and _one(checked, "XDM-META-001").found == "doctype"


def test_metadata_without_submit_objects_request(tmp_path):
    files = {**package(), META: b"<html/>"}
    assert _check(tmp_path, files)[0] == {"XDM-META-001"}


def test_metadata_wrapped_in_a_pnr_request_is_read_with_a_warning(tmp_path):
    body = metadata(submission()).split(b"?>", 1)[1]
    files = {**package(), META: b'<ProvideAndRegisterDocumentSetRequest xmlns="urn:ihe:iti:xds-b:2007">'
             + body + b"</ProvideAndRegisterDocumentSetRequest>"}
    errors, warnings, _checked = _check(tmp_path, files)
    assert errors == set() and warnings == {"XDM-META-002"}


def test_metadata_rules_are_the_xds_validators(tmp_path):
    """The XDS.b metadata rules run on METADATA.XML: a DocumentEntry without classCode is XDS-DOC-001."""
    sub = submission()
    sub.document("DocumentKOS").classCode = None
    errors = _check(tmp_path, package(sub))[0]
    assert "XDS-DOC-001" in errors


# --- the KOS and the images -----------------------------------------------------------------------------------

def test_a_kos_instance_absent_from_the_package(tmp_path):
    files = package()
    del files[image_path(1, 2)]
    errors, _warnings, checked = _check(tmp_path, files)
    assert errors == {"XDM-KOS-002"}
    found = _one(checked, "XDM-KOS-002")
    assert found.expected == image_uid(1, 2)
    assert found.location == f"{KOS}: (0040,A375)[0]>(0008,1115)[1]>(0008,1199)[2]"


def test_without_images_the_instances_are_not_looked_for(tmp_path):
    errors, warnings, checked = _check(tmp_path, package(images=False))
    assert errors == set() and warnings == set()
    assert {s.name: s.reason for s in checked.rule_sets if not s.ran}[
        "XDM KOS instances present in the package"] == "no DICOM image in the package"


def test_images_elsewhere_in_the_package_count(tmp_path):
    """Images in a DICOM folder at the root (a PDI-style layout beside IHE_XDM/) are looked for too."""
    files = package()
    for name in [n for n in files if n.startswith(f"{SUBSET}/I")]:
        files[f"DICOM/{name.rsplit('/', 1)[1]}"] = files.pop(name)
    assert _check(tmp_path, files)[2].findings == []
    del files["DICOM/I0000.DCM"]
    assert _check(tmp_path, files, folder="without-one")[0] == {"XDM-KOS-002"}


def test_kos_of_another_study_than_reference_id_list(tmp_path):
    sub = submission()
    entry = sub.document("DocumentKOS")
    entry.referenceIdList = [v.replace(EXAM.study_uid, "1.2.250.1.999.77") for v in entry.referenceIdList]
    errors, _warnings, checked = _check(tmp_path, package(sub))
    assert errors == {"XDM-KOS-001"}
    found = _one(checked, "XDM-KOS-001")
    assert found.expected.startswith(EXAM.study_uid) and found.found == "1.2.250.1.999.77"


def test_kos_rules_run_on_the_packaged_kos(tmp_path):
    """An unreadable KOS is the KOS validator's KOS-PARSE-001, located in the package."""
    files = package()
    files[KOS] = b"not DICOM at all"
    sub = submission()
    sub.document("DocumentKOS").hash = hashlib.sha1(files[KOS]).hexdigest()
    sub.document("DocumentKOS").size = str(len(files[KOS]))
    files[META] = metadata(sub)
    errors, _warnings, checked = _check(tmp_path, files)
    assert "KOS-PARSE-001" in errors
    assert any(f.location.startswith(KOS) for f in checked.findings if f.rule == "KOS-PARSE-001")
