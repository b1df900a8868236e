"""XDM media of the reference Consumer (simulators.consumer.xdm): the export goes through the XDM validator with no
error, the package's images are the study's; the import refuses a package with errors and stores nothing of it, and
stores a valid one; the ANS samples are read as the validator reads them.

The KOS entry is the one the DMP simulator returns to ITI-18 GetDocuments for a DMP-style publication
(harness.xds.builder.kos_submission of the good set's KOS, fixtures.mutations.goodset exam1: 2 series of 3 CT
instances); the images are small Part 10 files with the UIDs the KOS lists.
"""

from __future__ import annotations

import hashlib
import io
import zipfile
from pathlib import Path

import pydicom
import pytest
from lxml import etree
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian

from fixtures.mutations.goodset import ACC_ISSUER, EXAMS, INS_OID, SOP_CLASSES, build_kos, dicom_bytes
from harness.findings import Severity
from harness.validators.xdm import check_xdm
from harness.xds.builder import kos_submission
from harness.xds.clients import XdsClient
from simulators.consumer.xdm import Exporter, XdmOptions, import_package, kos_entry, write_package

EXAM = EXAMS[0]
PATIENT = f"{EXAM.ins}^^^&{INS_OID}&ISO^NH"
WHO = Exporter("810001000001", "RADIOLOGUE^Marie", "499700367909006", "DRIMcheck reference Consumer", "1.0")
POC = "drimbox-poc-samples/XDM/KA202401"
INFORMATIF = "drim-m-data/informatif/XDM/KA202401"


def _image(series: int, instance: int, pixels: bytes = b"\x00\x01" * 64) -> bytes:
    ds = Dataset()
    ds.SOPClassUID, ds.SOPInstanceUID = SOP_CLASSES[EXAM.modality], EXAM.uid("image", series, instance)
    ds.StudyInstanceUID, ds.SeriesInstanceUID = EXAM.study_uid, EXAM.uid("series", series)
    ds.Modality, ds.PatientID = EXAM.modality, EXAM.ins
    ds.Rows, ds.Columns, ds.BitsAllocated, ds.BitsStored, ds.HighBit = 8, 8, 16, 16, 15
    ds.SamplesPerPixel, ds.PhotometricInterpretation, ds.PixelRepresentation = 1, "MONOCHROME2", 0
    ds.PixelData = pixels
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID = ds.SOPClassUID, ds.SOPInstanceUID
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta = meta
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


@pytest.fixture(scope="module")
def dmp_entry(tmp_path_factory):
    """(KOS bytes, the KOS ExtrinsicObject as the DMP simulator returns it to GetDocuments)."""
    from simulators.dmp.config import DmpConfig
    from simulators.dmp.reference import start as start_dmp

    dmp = start_dmp(DmpConfig(workdir=tmp_path_factory.mktemp("dmp")))
    try:
        kos = dicom_bytes(build_kos(EXAM))
        sub = kos_submission(kos, patient_id=PATIENT, study_uid=EXAM.study_uid, accession=EXAM.accession,
                             accession_issuer=ACC_ISSUER, document_unique_id=EXAM.uid("kos"))
        client = XdsClient(dmp.endpoints["registry"], dmp.endpoints["repository"])
        assert client.provide_and_register(sub).success
        yield kos, kos_entry(client, EXAM.uid("kos"), PATIENT)
    finally:
        dmp.stop()


def exam_images(root: Path, repeat: int = 64) -> list[dict[str, Path]]:
    """The exam's images as retrieved files, series by series (SOP Instance UID -> file); each pixel pattern
    ``repeat`` times two bytes."""
    out = []
    for s in range(EXAM.series):
        files = {}
        for i in range(EXAM.instances):
            path = root / "retrieved" / f"{s}-{i}.dcm"
            path.parent.mkdir(exist_ok=True)
            path.write_bytes(_image(s, i, bytes([s, i]) * repeat))
            files[EXAM.uid("image", s, i)] = path
        out.append(files)
    return out


@pytest.fixture
def series(tmp_path) -> list[dict[str, Path]]:
    return exam_images(tmp_path)


def _export(tmp_path, dmp_entry, series, options: XdmOptions | None = None) -> Path:
    kos, entry = dmp_entry
    return write_package(tmp_path / "export.zip", entry=entry, kos=kos, series=series, who=WHO,
                         options=options or XdmOptions())


def _errors(checked) -> set[str]:
    return {f.rule for f in checked.findings if f.severity is Severity.ERROR}


# --- export ------------------------------------------------------------------------------------------------

def test_export_passes_the_xdm_validator_with_no_error(tmp_path, dmp_entry, series):
    path = _export(tmp_path, dmp_entry, series)
    checked = check_xdm(path, "dmp", dciodvfy=False)
    assert _errors(checked) == set(), checked.findings
    assert [f.rule for f in checked.findings] == []
    assert not path.with_name("export.zip.part").exists()


def test_export_layout_and_metadata(tmp_path, dmp_entry, series):
    kos, entry = dmp_entry
    with zipfile.ZipFile(_export(tmp_path, dmp_entry, series)) as zf:
        names = zf.namelist()
        meta = etree.fromstring(zf.read("IHE_XDM/SUBSET01/METADATA.XML"))
        assert zf.read("IHE_XDM/SUBSET01/KOS.DCM") == kos
        stored = {i.filename: i.compress_type for i in zf.infolist()}
    assert names[:2] == ["README.TXT", "INDEX.HTM"]
    assert sum(n.startswith("IHE_XDM/SUBSET01/IMAGES/") for n in names) == EXAM.series * EXAM.instances
    assert {t for n, t in stored.items() if n.endswith(".DCM") and "IMAGES" in n} == {zipfile.ZIP_STORED}
    assert etree.QName(meta).localname == "SubmitObjectsRequest"
    rim = "{urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0}"
    packaged = meta.find(f".//{rim}ExtrinsicObject[@id='{entry.get('id')}']")
    slots = {s.get("name"): [v.text for v in s.iter(f"{rim}Value")] for s in packaged.findall(f"{rim}Slot")}
    assert slots["URI"] == ["KOS.DCM"]
    assert slots["hash"] == [hashlib.sha1(kos).hexdigest()] and slots["size"] == [str(len(kos))]
    original = {s.get("name"): [v.text for v in s.iter(f"{rim}Value")] for s in entry.findall(f"{rim}Slot")}
    assert {k: v for k, v in slots.items() if k != "URI"} == original  # the DMP's metadata, as it returned it
    assert [c.get("nodeRepresentation") for c in packaged.findall(f"{rim}Classification")] == \
        [c.get("nodeRepresentation") for c in entry.findall(f"{rim}Classification")]


def test_export_images_are_the_files_given(tmp_path, dmp_entry, series):
    given = {uid: path.read_bytes() for files in series for uid, path in files.items()}
    with zipfile.ZipFile(_export(tmp_path, dmp_entry, series)) as zf:
        packaged = {}
        for name in zf.namelist():
            if "/IMAGES/" in name:
                data = zf.read(name)
                packaged[str(pydicom.dcmread(io.BytesIO(data)).SOPInstanceUID)] = data
    assert packaged == given


@pytest.mark.parametrize(("options", "rules"), [
    (XdmOptions(hash_size=False), {"XDM-META-003"}),
    (XdmOptions(first_series_only=True), {"XDM-KOS-002"}),
], ids=["no-hash-size", "first-series-only"])
def test_the_faults_exports_fail_the_validator(tmp_path, dmp_entry, series, options, rules):
    assert _errors(check_xdm(_export(tmp_path, dmp_entry, series, options), "dmp", dciodvfy=False)) == rules


def test_a_failed_write_leaves_no_package(tmp_path, dmp_entry, series):
    series[1][next(iter(series[1]))] = tmp_path / "absent.dcm"
    with pytest.raises(FileNotFoundError):
        _export(tmp_path, dmp_entry, series)
    assert list(tmp_path.glob("export.zip*")) == []


# --- import --------------------------------------------------------------------------------------------------

@pytest.fixture
def pacs(tmp_path):
    from harness.dicom.client import Peer
    from simulators.pacs import start_pacs

    server = start_pacs(tmp_path / "pacs", aet="LOCALPACS", dicomweb=False)
    try:
        host, port = server.endpoints["dimse"].split("@", 1)[1].rsplit(":", 1)
        yield server, Peer(host, int(port), "LOCALPACS", "DRIMCONSUMER")
    finally:
        server.stop()


def _stored(server) -> dict[str, Path]:
    return {r["SOPInstanceUID"]: r.path for r in server.store.records()}


def _rezip(src: Path, target: Path, change) -> Path:
    """``src`` written again with ``change(name, data)`` applied to each member (None drops it)."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(target, "w") as zout:
        for info in zin.infolist():
            data = change(info.filename, zin.read(info))
            if data is not None:
                zout.writestr(info.filename, data)
    return target


def test_a_valid_package_is_stored_whole_and_identical(tmp_path, dmp_entry, series, pacs):
    server, peer = pacs
    outcome = import_package(_export(tmp_path, dmp_entry, series), tmp_path / "work", peer, expected_ins=EXAM.ins)
    assert outcome.status == "imported" and outcome.errors == [], outcome.message
    stored = _stored(server)
    given = {uid: path for files in series for uid, path in files.items()}
    assert set(stored) == set(given)
    for uid, path in given.items():
        assert pydicom.dcmread(stored[uid]).PixelData == pydicom.dcmread(path).PixelData
    assert sorted(r.imported for r in outcome.results) == [EXAM.instances] * EXAM.series
    assert not (tmp_path / "work").exists()


def test_the_local_patient_id_rewrite_applies(tmp_path, dmp_entry, series, pacs):
    server, peer = pacs
    outcome = import_package(_export(tmp_path, dmp_entry, series), tmp_path / "work", peer, local_id="LOC-1",
                             local_issuer="CABINET", log_dir=tmp_path)
    assert outcome.status == "imported"
    for path in _stored(server).values():
        ds = pydicom.dcmread(path, stop_before_pixels=True)
        assert str(ds.PatientID) == "LOC-1"
        assert EXAM.ins in [str(o.PatientID) for o in ds.OtherPatientIDsSequence]
    assert (tmp_path / "reconciliation.jsonl").exists()


def _drop_one_image(name: str, data: bytes) -> bytes | None:
    return None if name.endswith("S002/I0000001.DCM") else data


def _change_kos_byte(name: str, data: bytes) -> bytes:
    return data[:-1] + bytes([data[-1] ^ 1]) if name.endswith("KOS.DCM") else data


@pytest.mark.parametrize(("change", "rule"), [(_drop_one_image, "XDM-KOS-002"), (_change_kos_byte, "XDS-HASH-002")],
                         ids=["image-missing", "kos-altered"])
def test_a_tampered_package_is_refused_with_nothing_stored(tmp_path, dmp_entry, series, pacs, change, rule):
    server, peer = pacs
    tampered = _rezip(_export(tmp_path, dmp_entry, series), tmp_path / "tampered.zip", change)
    outcome = import_package(tampered, tmp_path / "work", peer, expected_ins=EXAM.ins)
    assert outcome.status == "refused" and rule in {f.rule for f in outcome.errors}
    assert _stored(server) == {}
    assert not (tmp_path / "work").exists()


def test_without_validation_the_rest_of_a_refused_package_is_stored(tmp_path, dmp_entry, series, pacs):
    """The named fault xdm-import-unvalidated: what makes the plan's check fail."""
    server, peer = pacs
    tampered = _rezip(_export(tmp_path, dmp_entry, series), tmp_path / "tampered.zip", _drop_one_image)
    outcome = import_package(tampered, tmp_path / "work", peer, options=XdmOptions(validate_import=False))
    assert outcome.status == "imported"
    assert len(_stored(server)) == EXAM.series * EXAM.instances - 1


def test_a_package_of_another_patient_is_refused(tmp_path, dmp_entry, series, pacs):
    server, peer = pacs
    outcome = import_package(_export(tmp_path, dmp_entry, series), tmp_path / "work", peer,
                             expected_ins="277026912345678")
    assert outcome.status == "refused" and EXAM.ins in outcome.message
    assert _stored(server) == {}


def test_a_package_without_images_stores_its_kos_and_says_so(tmp_path, dmp_entry, pacs):
    server, peer = pacs
    kos, _entry = dmp_entry
    outcome = import_package(_export(tmp_path, dmp_entry, []), tmp_path / "work", peer, expected_ins=EXAM.ins)
    assert outcome.status == "imported" and "seul le KOS" in outcome.message
    assert set(_stored(server)) == {str(pydicom.dcmread(io.BytesIO(kos)).SOPInstanceUID)}


def test_a_file_that_is_no_zip_is_refused(tmp_path, pacs):
    server, peer = pacs
    path = tmp_path / "not.zip"
    path.write_bytes(b"PK\x03\x04 truncated")
    outcome = import_package(path, tmp_path / "work", peer)
    assert outcome.status == "refused" and {f.rule for f in outcome.errors} == {"XDM-ZIP-001"}
    assert _stored(server) == {}


# --- the ANS samples -----------------------------------------------------------------------------------------

def _sample(corpus: Path, rel: str) -> Path:
    path = corpus / rel
    if not path.is_dir():
        pytest.skip(f"ANS sample missing: {path}")
    return path


def _zip_folder(root: Path, target: Path) -> Path:
    with zipfile.ZipFile(target, "w") as zf:
        for p in sorted(root.rglob("*")):
            if p.is_file():
                zf.write(p, p.relative_to(root).as_posix())
    return target


def test_the_demonstrator_export_is_refused_with_the_validators_findings(corpus, tmp_path, pacs):
    """The ANS demonstrator's XDM export (a KOS, its signature, no image) breaks five rules (tests/validators/
    test_xdm.py POC_ERRORS: SIGN_1.XML altered after export, Slot order, the KOS's PatientName): refused, the
    findings shown, nothing stored."""
    server, peer = pacs
    outcome = import_package(_zip_folder(_sample(corpus, POC), tmp_path / "KA202401.zip"), tmp_path / "work", peer)
    assert outcome.status == "refused"
    assert {f.rule for f in outcome.errors} == {"XDS-XSD-001", "XDS-HASH-002", "XDS-SIZE-002", "KOS-PAT-004"}
    assert len(outcome.errors) == 5
    assert _stored(server) == {}


def test_the_informative_metadata_alone_is_refused(corpus, tmp_path, pacs):
    server, peer = pacs
    outcome = import_package(_zip_folder(_sample(corpus, INFORMATIF), tmp_path / "info.zip"), tmp_path / "work", peer)
    assert outcome.status == "refused"
    assert {f.rule for f in outcome.errors} == {"XDM-LAYOUT-004", "XDM-META-001"}
    assert _stored(server) == {}


# --- the pages: upload through the app (the plan drives them end to end) --------------------------------------

@pytest.fixture
def app_client(tmp_path, pacs):
    """The Consumer's app with a logged-in session holding a contextual call for the good set's patient."""
    from simulators.consumer import ConsumerConfig, create_app
    from simulators.consumer.app import COOKIE
    from simulators.consumer.context import parse_contextual_call
    from testplans.consumer_drimbox.exams import contextual_form, new_patient

    server, peer = pacs
    app = create_app(ConsumerConfig(workdir=tmp_path / "consumer", psc_issuer="http://psc.test/realm",
                                    public_url="http://consumer.test", pacs=f"LOCALPACS@{peer.host}:{peer.port}"))
    login = app.extensions["consumer"].sessions.new()
    login.access_token = "token"
    login.calls["ctx"] = parse_contextual_call({**contextual_form(new_patient()),
                                                "Patient.identifier.value": EXAM.ins})
    client = app.test_client()
    client.set_cookie(COOKIE, login.id)
    return client, server


def _upload(client, path: Path, name: str = "package.zip"):
    with path.open("rb") as fh:
        return client.post("/exams/ctx/xdm", data={"package": (fh, name)}, content_type="multipart/form-data")


def test_an_upload_beyond_the_app_form_limit_is_imported(tmp_path, dmp_entry, app_client):
    """The app caps forms at 64 KiB; the XDM upload has its own limit (xdm.MAX_UPLOAD)."""
    client, server = app_client
    big = []
    for s in range(EXAM.series):
        files = {}
        for i in range(EXAM.instances):
            path = tmp_path / "big" / f"{s}-{i}.dcm"
            path.parent.mkdir(exist_ok=True)
            path.write_bytes(_image(s, i, bytes([s, i]) * 8 * 1024))
            files[EXAM.uid("image", s, i)] = path
        big.append(files)
    package = _export(tmp_path, dmp_entry, big)
    assert package.stat().st_size > 64 * 1024
    resp = _upload(client, package)
    assert resp.status_code == 200, resp.text
    assert 'data-status="imported"' in resp.text
    assert len(_stored(server)) == EXAM.series * EXAM.instances


def test_a_refused_upload_shows_the_findings(tmp_path, dmp_entry, series, app_client):
    client, server = app_client
    tampered = _rezip(_export(tmp_path, dmp_entry, series), tmp_path / "tampered.zip", _drop_one_image)
    resp = _upload(client, tampered)
    assert resp.status_code == 422
    assert 'data-status="refused"' in resp.text and 'data-rule="XDM-KOS-002"' in resp.text
    assert _stored(server) == {}


def test_an_oversized_upload_is_refused_and_nothing_kept(tmp_path, dmp_entry, series, app_client, monkeypatch):
    from simulators.consumer import xdm

    client, server = app_client
    monkeypatch.setattr(xdm, "MAX_UPLOAD", 4096)
    resp = _upload(client, _export(tmp_path, dmp_entry, series))
    assert resp.status_code == 413 and "trop volumineux" in resp.text
    assert _stored(server) == {}
    assert not list((tmp_path / "consumer").glob("xdm-import-*"))


def test_an_upload_without_a_file_and_an_unknown_context(app_client):
    client, _server = app_client
    assert client.post("/exams/ctx/xdm", data={}, content_type="multipart/form-data").status_code == 400
    assert client.post("/exams/nope/xdm", data={}).status_code == 404
    assert client.get("/exams/nope/1.2.3/export.zip").status_code == 404
    assert 'id="xdm-import"' in client.get("/exams/ctx/xdm").text
