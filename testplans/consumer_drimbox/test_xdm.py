"""XDM media (IHE ITI-32 on ZIP media): the Consumer exports an exam, and imports a package (ANS DRIM-M_DATA
Référencement DRIMBox/Jeux de données/XDM, informatif/XDM).

Export: the ZIP the driver hands back goes through this project's XDM validator (profile ``dmp``, as
``drimcheck validate`` reads it), then its content is compared with what the plan's peers hold: the KOS the DMP
gave, its entry's uniqueId, and each instance the recording Source served (same SOP Instance UIDs, same pixel
data). Import: the plan writes its own packages (harness.xds.builder metadata, a fresh study on disk that no Source
serves) and judges from what reached the plan's local PACS by C-STORE, as test_import.py does.
"""

from __future__ import annotations

import io
import time
import zipfile
from pathlib import Path

import pydicom
import pytest
from lxml import etree

from harness.checks import expect, expect_equal, expect_no_errors, inconclusive
from harness.findings import Severity
from harness.validators.kos import KOS_SOP_CLASS
from harness.validators.xdm import check_xdm
from harness.xds.builder import kos_submission
from harness.xds.ebrim import parse_pnr, submission_to_ebrim
from harness.xmlsafe import parse_xml
from testplans.consumer_drimbox import conftest
from testplans.consumer_drimbox.exams import build_kos, new_patient, new_uid, patient_cx, write_fixture_study
from testplans.consumer_drimbox.traffic import require_kos

SUBSET = "IHE_XDM/SUBSET01"
MAX_READ = 64 << 20  # a member the plan reads back from an exported package (the fixture studies are small)


# ------------------------------------------------------------------------------------------------ export
def _members(path: Path) -> dict[str, bytes]:
    """The package's files (read once the validator has passed it: sizes and paths already guarded)."""
    with zipfile.ZipFile(path) as zf:
        return {i.filename: zf.read(i) for i in zf.infolist() if not i.is_dir() and i.file_size <= MAX_READ}


def _dicom(members: dict[str, bytes]) -> dict[str, tuple[str, pydicom.Dataset]]:
    """SOP Instance UID -> (member, dataset) of each DICOM Part 10 file of the package."""
    found = {}
    for name, data in members.items():
        if data[128:132] == b"DICM":
            ds = pydicom.dcmread(io.BytesIO(data))
            found[str(ds.SOPInstanceUID)] = (name, ds)
    return found


@pytest.mark.requirement("CON-XDM-EXPORT")
def test_exported_media_is_valid_xdm_holding_the_study_as_served(world, publish):
    exam = publish(series=2, instances=3)
    conftest.open_exam(world, exam)
    require_kos(exam.unique_id)
    data = conftest.driver_step(lambda: world.driver.export_exam(conftest.exam_ref(exam)),
                                "export the exam as XDM media")
    path = world.workdir / "xdm-exports" / f"{exam.accession}.zip"
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(data)
    expect(data[:4] == b"PK\x03\x04", rule="CON-XDM-EXPORT", location="exported file", expected="a ZIP file",
           observed=data[:60], message="the export is not a ZIP file (DICOM PS3.12 Annex V)")
    expect_no_errors(check_xdm(path, "dmp", dciodvfy=False).findings, label="XDM validator")
    members = _members(path)
    entries = parse_pnr(parse_xml(members[f"{SUBSET}/METADATA.XML"])).documents
    kos_entries = [d for d in entries if (d.mimeType or "").lower() == "application/dicom"]
    expect_equal([d.uniqueId for d in kos_entries], [exam.unique_id], rule="CON-XDM-EXPORT",
                 location="METADATA.XML", message="the package's KOS DocumentEntry is not the DMP's entry")
    dicom = _dicom(members)
    koses = [ds for _name, ds in dicom.values() if str(ds.SOPClassUID) == KOS_SOP_CLASS]
    expect(koses and koses[0].SOPInstanceUID == exam.kos_uid, rule="CON-XDM-EXPORT", location="package",
           expected=f"the KOS {exam.kos_uid}", observed=[str(k.SOPInstanceUID) for k in koses],
           message="the package does not hold the exam's KOS")
    _same_images(world, exam, dicom)


def _same_images(world, exam, dicom: dict[str, tuple[str, pydicom.Dataset]]) -> None:
    """Each instance the recording Source served for the exam is in the package, with the same pixel data."""
    for series_uid in exam.series_uids:
        expect(world.source.seen(series_uid), rule="CON-XDM-EXPORT", location=world.source_url,
               expected=f"a WADO-RS request for series {series_uid}", observed="none",
               message="the images were not retrieved from the Source named in the KOS")
        for served in world.source.series[series_uid].files:
            ds = pydicom.dcmread(io.BytesIO(served))
            uid = str(ds.SOPInstanceUID)
            expect(uid in dicom, rule="CON-XDM-EXPORT", location=f"package, series {series_uid}", expected=uid,
                   observed="absent", message="an instance the KOS lists is not in the exported package")
            name, got = dicom[uid]
            expect(got.PixelData == ds.PixelData, rule="CON-XDM-EXPORT", location=name,
                   expected=f"the pixel data the Source served ({len(ds.PixelData)} bytes)",
                   observed=f"{len(got.PixelData)} bytes, different", message="the packaged image differs")


# ------------------------------------------------------------------------------------------------ import
def _package(world, patient, refs, *, drop: int = 0) -> Path:
    """An XDM ZIP of ``refs`` (ITI TF-2b §3.32.4.1.2) built by the plan: DMP-style metadata with URI slots, the
    KOS, its signature, the images; ``drop`` images left out though the KOS lists them."""
    study_uid = refs[0].study_instance_uid
    accession = f"ACC{study_uid[-6:]}"
    kos, _kos_uid = build_kos(refs, patient, world.source_url, accession)
    sub = kos_submission(kos, patient_id=patient_cx(patient), study_uid=study_uid, accession=accession,
                         accession_issuer="1.2.250.1.999.1.1.7", modalities=("CT",), regions=conftest.REGIONS,
                         document_unique_id=new_uid(), service_start="20250314101500")
    sub.document("DocumentKOS").slots["URI"] = ["KOS.DCM"]
    sub.document("Signature01").slots["URI"] = ["SIGN.XML"]
    files = {"README.TXT": b"Emetteur : DRIMcheck (plan consumer_drimbox)\r\n",
             "INDEX.HTM": b'<html><body><a href="README.TXT">README.TXT</a></body></html>\r\n',
             f"{SUBSET}/METADATA.XML": etree.tostring(submission_to_ebrim(sub), xml_declaration=True,
                                                      encoding="UTF-8"),
             f"{SUBSET}/KOS.DCM": kos, f"{SUBSET}/SIGN.XML": sub.document_bytes["Signature01"]}
    for i, ref in enumerate(refs[drop:], 1):
        files[f"{SUBSET}/IMAGES/I{i:07d}.DCM"] = Path(ref.path).read_bytes()
    path = world.workdir / "xdm-imports" / f"{accession}{'-bad' if drop else ''}.zip"
    path.parent.mkdir(exist_ok=True)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return path


def _stored(world, refs) -> dict[str, object]:
    records = world.pacs.store.records({"sop_instance_uid": [r.sop_instance_uid for r in refs]})
    return {r["SOPInstanceUID"]: r for r in records}


def _import(world, patient, path: Path, refs) -> dict:
    """Contextual call for the package's patient, then the import through the driver."""
    conftest.open_patient(world, patient)
    outcome = conftest.driver_step(
        lambda: world.driver.import_package(path, until=lambda: len(_stored(world, refs)) == len(refs)),
        "import the XDM package")
    conftest.answered(world, f"XDM import of {path.name}", outcome)
    return outcome


@pytest.mark.requirement("CON-XDM-IMPORT")
def test_a_valid_package_is_imported_whole_and_identical(world):
    patient = new_patient()
    refs = write_fixture_study(world.workdir / "xdm-studies", patient, series=2, instances=2)
    path = _package(world, patient, refs)
    if any(f.severity is Severity.ERROR for f in check_xdm(path, "dmp", dciodvfy=False).findings):
        inconclusive("the plan's own XDM package does not pass the XDM validator")
    _import(world, patient, path, refs)
    stored = _stored(world, refs)
    for ref in refs:
        rec = stored.get(ref.sop_instance_uid)
        expect(rec is not None, rule="CON-XDM-IMPORT", location=f"local PACS {ref.sop_instance_uid}",
               expected="stored", observed="absent", message="an instance of a valid XDM package was not imported")
        sent, got = pydicom.dcmread(ref.path), pydicom.dcmread(rec.path)
        differing = [str(e.tag) for e in sent if e.tag not in got or got[e.tag].value != e.value]
        expect_equal(differing, [], rule="CON-XDM-IMPORT", location=f"local PACS {ref.sop_instance_uid}",
                     message="the imported instance differs from the package's")


@pytest.mark.requirement("CON-XDM-IMPORT")
def test_a_package_with_an_error_is_refused_and_nothing_of_it_stored(world):
    patient = new_patient()
    refs = write_fixture_study(world.workdir / "xdm-studies", patient, series=2, instances=2)
    path = _package(world, patient, refs, drop=1)
    rules = {f.rule for f in check_xdm(path, "dmp", dciodvfy=False).findings if f.severity is Severity.ERROR}
    if rules != {"XDM-KOS-002"}:
        inconclusive(f"the plan's tampered package should break XDM-KOS-002 alone, the validator says {rules}")
    outcome = _import(world, patient, path, refs[1:])
    time.sleep(0.5)  # a Consumer that stores after answering has had the time to
    stored = sorted(_stored(world, refs))
    expect_equal(stored, [], rule="CON-XDM-IMPORT", location="local PACS",
                 message="instances of an XDM package with an error (an image its KOS lists is missing) were "
                         "stored: the package must be validated first and refused whole")
    expect(outcome.get("status") != "imported", rule="CON-XDM-IMPORT", location="import result",
           expected="the package refused", observed=outcome,
           message="the Consumer showed a package with an error as imported")
