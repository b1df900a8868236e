"""A clean IHE XDM package (ITI TF-2b §3.32) built from this project's own builders passes, as a folder and as
a ZIP; the other XDM tests (test_xdm.py, test_xdm_zip.py) change it one way at a time.

The KOS is the good set's (fixtures.mutations.goodset, exam1: 2 series of 3 CT instances), its metadata
harness.xds.builder.kos_submission with the Signature01 document, each DocumentEntry naming its file with a
URI slot relative to the submission set folder; the images are minimal Part 10 headers with the UIDs the KOS
lists. Files are a dict path -> bytes; :func:`write_folder` and :func:`write_zip` lay them out.
"""

from __future__ import annotations

import copy
import io
import json
import zipfile
from functools import lru_cache
from pathlib import Path

from lxml import etree
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian

from fixtures.mutations.goodset import ACC_ISSUER, EXAMS, INS_OID, PLACER_ISSUER, SOP_CLASSES, build_kos, dicom_bytes
from harness.findings import Severity
from harness.validators.command import main
from harness.validators.rulesets import Checked
from harness.validators.xdm import check_xdm, is_xdm_package
from harness.xds.builder import kos_submission
from harness.xds.ebrim import submission_to_ebrim
from harness.xds.model import Submission

SUBSET = "IHE_XDM/SUBSET01"
META = f"{SUBSET}/METADATA.XML"
KOS = f"{SUBSET}/KOS.DCM"
SIGN = f"{SUBSET}/SIGN.XML"
EXAM = EXAMS[0]


def image_uid(series: int, instance: int) -> str:
    return EXAM.uid("image", series, instance)


def image_path(series: int, instance: int) -> str:
    return f"{SUBSET}/I{series}{instance:03d}.DCM"


def _image(series: int, instance: int) -> bytes:
    ds = Dataset()
    ds.SOPClassUID, ds.SOPInstanceUID = SOP_CLASSES[EXAM.modality], image_uid(series, instance)
    ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.Modality = EXAM.study_uid, EXAM.uid("series", series), EXAM.modality
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID = ds.SOPClassUID, ds.SOPInstanceUID
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta = meta
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


@lru_cache(maxsize=1)
def _base() -> tuple[Submission, tuple[tuple[str, bytes], ...]]:
    kos = dicom_bytes(build_kos(EXAM))
    sub = kos_submission(
        kos, patient_id=f"{EXAM.ins}^^^&{INS_OID}&ISO^NH", study_uid=EXAM.study_uid, accession=EXAM.accession,
        accession_issuer=ACC_ISSUER, order_id=EXAM.placer, order_issuer=PLACER_ISSUER, modalities=(EXAM.modality,),
        regions=(EXAM.region,), document_unique_id=EXAM.uid("kos"), submission_unique_id=EXAM.uid("subset"),
        creation_time="20240105120000", service_start="20240105101500", service_stop="20240105103000",
        source_patient_info=(f"PID-5|{EXAM.birth_name}^{EXAM.given}^^^^^L", f"PID-7|{EXAM.birth_date}",
                             f"PID-8|{EXAM.sex}"))
    sub.document("DocumentKOS").slots["URI"] = ["KOS.DCM"]
    sub.document("Signature01").slots["URI"] = ["SIGN.XML"]
    files = {"README.TXT": b"Emetteur : DRIMCHECK\r\n", "INDEX.HTM": b'<html><a href="README.TXT">README</a></html>',
             KOS: kos, SIGN: sub.document_bytes["Signature01"]}
    files.update({image_path(s, i): _image(s, i) for s in range(EXAM.series) for i in range(EXAM.instances)})
    return sub, tuple(files.items())


def submission() -> Submission:
    """A copy of the clean package's submission, to change before :func:`metadata`."""
    return copy.deepcopy(_base()[0])


def metadata(sub: Submission) -> bytes:
    """METADATA.XML: the bare lcm:SubmitObjectsRequest (ITI TF-2b §3.32.4.1.2.2)."""
    return etree.tostring(submission_to_ebrim(sub), xml_declaration=True, encoding="UTF-8")


def package(sub: Submission | None = None, images: bool = True) -> dict[str, bytes]:
    """The clean package's files (``sub`` replaces its metadata; ``images=False`` leaves the images out)."""
    files = dict(_base()[1])
    files[META] = metadata(sub if sub is not None else _base()[0])
    return {k: v for k, v in files.items() if images or not k.endswith(".DCM") or k == KOS}


def write_folder(files: dict[str, bytes], root: Path) -> Path:
    for name, data in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root


def write_zip(files: dict[str, bytes], path: Path, prefix: str = "") -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            zf.writestr(prefix + name, data)
    return path


# --- the clean package passes, as a folder, as a ZIP, through the command ------------------------------------

def verdict(path: Path, profile: str = "dmp") -> tuple[set[str], set[str], Checked]:
    """(error rules, warning rules, the whole result); dciodvfy off: its messages never change a verdict."""
    checked = check_xdm(path, profile, dciodvfy=False)
    return ({f.rule for f in checked.findings if f.severity is Severity.ERROR},
            {f.rule for f in checked.findings if f.severity is Severity.WARNING}, checked)


def test_clean_folder_passes_with_no_finding(tmp_path):
    root = write_folder(package(), tmp_path / "pkg")
    assert is_xdm_package(root)
    _errors, _warnings, checked = verdict(root)
    assert checked.kind == "xdm" and checked.findings == []
    ran = {s.name: s.ran for s in checked.rule_sets}
    assert ran["IHE XDM media rules (ITI-32)"] and ran["document hash and size"] and ran["CI-SIS / DMP rules"]
    assert ran["DICOM KOS IOD + TID 2010 rules"] and ran["XDM KOS instances present in the package"]


def test_clean_zip_passes_with_no_finding(tmp_path):
    path = write_zip(package(), tmp_path / "export.zip")
    assert is_xdm_package(path)
    assert verdict(path)[2].findings == []


def test_zip_with_a_top_folder_is_read_with_a_warning(tmp_path):
    """The ANS demonstrator zips its KAyyyymm folder: IHE_XDM/ one level down is read, and said not to be at the
    root of the media (ITI TF-2b §3.32.4.1.2.2)."""
    path = write_zip(package(), tmp_path / "KA202401.zip", prefix="KA202401/")
    errors, warnings, checked = verdict(path)
    assert errors == set() and warnings == {"XDM-LAYOUT-006"}
    assert next(f for f in checked.findings).found == "KA202401/IHE_XDM/"


def test_profile_xds_leaves_the_dmp_rules_out(tmp_path):
    checked = verdict(write_folder(package(), tmp_path / "pkg"), profile="xds")[2]
    assert checked.findings == []
    assert {s.name for s in checked.rule_sets if not s.ran} >= {"CI-SIS / DMP rules", "CI-SIS / DRIMbox KOS rules"}


def test_command_validates_a_folder_and_a_zip(tmp_path, capsys):
    root = write_folder(package(), tmp_path / "pkg")
    zipped = write_zip(package(), tmp_path / "export.zip")
    assert main([str(root), str(zipped), "--no-dciodvfy", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [(d["kind"], d["findings"]) for d in data] == [("xdm", []), ("xdm", [])]
    assert main([str(root), "--no-dciodvfy"]) == 0
    assert f"{root} [xdm] OK: 0 error(s), 0 warning(s)" in capsys.readouterr().out


def test_a_folder_without_ihe_xdm_is_still_not_readable(tmp_path, capsys):
    (tmp_path / "plain").mkdir()
    assert not is_xdm_package(tmp_path / "plain")
    assert main([str(tmp_path / "plain")]) == 2
    assert "not a readable file" in capsys.readouterr().err


def test_a_zip_without_ihe_xdm_is_not_a_package(tmp_path):
    path = tmp_path / "other.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("word/document.xml", "<w/>")
    assert not is_xdm_package(path)
