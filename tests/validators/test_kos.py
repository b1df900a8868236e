"""KOS validator: the good manifests pass, each rule fails on a broken one, locations are tag paths."""

from __future__ import annotations

import io
from dataclasses import replace

import pydicom
import pytest

from fixtures.mutations import MUTATIONS
from fixtures.mutations.goodset import EXAMS, build_kos, dicom_bytes
from harness.findings import Severity
from harness.validators import kos as kos_module
from harness.validators.kos import kos_facts, read_kos, validate_kos


def errors(findings):
    return [f for f in findings if f.severity is Severity.ERROR]


def test_good_kos_has_no_error_or_warning(good):
    for name in ("exam1/kos.dcm", "exam2/kos.dcm"):
        findings = validate_kos(good[name])
        assert [f for f in findings if f.severity is not Severity.INFO] == [], name


def test_implicit_vr_kos_is_read_like_explicit(good):
    ds = pydicom.dcmread(io.BytesIO(good["exam1/kos.dcm"]))
    ds.file_meta.TransferSyntaxUID = pydicom.uid.ImplicitVRLittleEndian
    buf = io.BytesIO()
    ds.save_as(buf, implicit_vr=True, little_endian=True)
    assert errors(validate_kos(buf.getvalue())) == []


def test_big_endian_is_refused():
    ds = build_kos(EXAMS[0])
    ds.file_meta.TransferSyntaxUID = pydicom.uid.ExplicitVRBigEndian
    buf = io.BytesIO()
    pydicom.dcmwrite(buf, ds, enforce_file_format=True)
    assert {f.rule for f in errors(validate_kos(buf.getvalue()))} == {"KOS-PARSE-001"}


def test_location_is_a_tag_path(good):
    data = MUTATIONS["missing-retrieve-url"].apply(good["exam1/kos.dcm"])
    [finding] = errors(validate_kos(data))
    assert finding.location == "(0040,A375)[0]>(0008,1115)[0]>(0008,1190)"
    assert finding.rule == "KOS-URL-001"


def test_profile_xds_skips_the_ci_sis_rules(good):
    data = MUTATIONS["missing-retrieve-url"].apply(good["exam1/kos.dcm"])
    assert errors(validate_kos(data, profile="xds")) == []
    broken = MUTATIONS["kos-wrong-title"].apply(good["exam1/kos.dcm"])
    assert {f.rule for f in errors(validate_kos(broken, profile="xds"))} == {"KOS-SR-001"}


@pytest.mark.parametrize("mutation", [m for m in MUTATIONS.values() if m.target.endswith(".dcm")],
                         ids=lambda m: m.name)
def test_fast_reader_agrees_with_pydicom(good, mutation, monkeypatch):
    """The raw-bytes reader and the pydicom path give the same findings on every broken KOS."""
    data = mutation.apply(good[mutation.target])
    fast = validate_kos(data)
    monkeypatch.setattr(kos_module, "_references",
                        lambda ds, cut: (kos_module.evidence_from_dataset(cut.full() if cut else ds), None))
    slow = validate_kos(data)
    assert sorted(map(str, fast)) == sorted(map(str, slow))


def test_fast_reader_agrees_on_large_manifest():
    exam = replace(EXAMS[0], key="large", series=3, instances=400)
    ds = build_kos(exam)
    ds.ContentSequence.pop(7)  # one instance without content item: located by the slow path
    findings = validate_kos(dicom_bytes(ds))
    assert [f.rule for f in errors(findings)] == ["KOS-SR-002"]
    assert errors(findings)[0].location == "(0040,A375)[0]>(0008,1115)[0]>(0008,1199)[7]>(0008,1155)"


def test_undefined_length_sequences_use_the_fast_reader(good):
    ds = pydicom.dcmread(io.BytesIO(good["exam1/kos.dcm"]))
    for elem in ds.iterall():
        if elem.VR == "SQ":
            elem.is_undefined_length = True
            for item in elem.value:
                item.is_undefined_length_sequence_item = True
    data = dicom_bytes(ds)
    ds, cut = kos_module._read_fast(data)
    refs = kos_module.Refs(ds, cut)
    assert refs.scan is not None and len(refs.sop_list) == 6  # walked item by item, not by pydicom
    assert "CurrentRequestedProcedureEvidenceSequence" not in ds  # cut out before pydicom read the rest
    assert errors(validate_kos(data)) == []


def test_facts_for_cross_validation(good):
    facts = kos_facts(read_kos(good["exam2/kos.dcm"]))
    assert facts["ins"] == EXAMS[1].ins
    assert facts["modalities"] == {"MR"}
    assert facts["used_names"] == [(EXAMS[1].used_name, EXAMS[1].used_given)]
    assert facts["accessions"] == {EXAMS[1].accession}


def test_nir_key():
    from harness.validators.common import nir_key_ok

    assert nir_key_ok("279035121518989")
    assert not nir_key_ok("279035121518988")
    assert nir_key_ok("1800175123456" + "60")
    assert not nir_key_ok("27903512151898")


def test_profile_xds_needs_a_retrieve_location(good):
    ds = pydicom.dcmread(io.BytesIO(good["exam1/kos.dcm"]))
    del ds.CurrentRequestedProcedureEvidenceSequence[0].ReferencedSeriesSequence[1].RetrieveURL
    del ds.CurrentRequestedProcedureEvidenceSequence[0].ReferencedSeriesSequence[1].RetrieveLocationUID
    findings = errors(validate_kos(dicom_bytes(ds), profile="xds"))
    assert [(f.rule, f.location) for f in findings] == [
        ("KOS-EVD-003", "(0040,A375)[0]>(0008,1115)[1]>(0040,E011)")]
    ds.CurrentRequestedProcedureEvidenceSequence[0].ReferencedSeriesSequence[1].RetrieveLocationUID = "1.2.3.4"
    assert errors(validate_kos(dicom_bytes(ds), profile="xds")) == []


@pytest.mark.parametrize("url", [
    "ftp://host/wado/studies/{st}/series/{se}",
    "https:///wado/studies/{st}/series/{se}",
    "https://host/wado/studies/{st}/series/{se}/metadata",
    "https://host/wado/studies/{st}/series/{se}/instances/1.2.3",
    "https://host/wado/studies/{st}",
    "https://host/wado/studies/{st}/series/{se}#frag",
    "https://host/wado/studies/{st}/series/1.2.3",
    "https://host/wado/studies/{st}/series/{se}%2F..",
    "https://host/wado/series/{se}/studies/{st}",
])
def test_retrieve_url_must_be_the_series_resource(good, url):
    ds = pydicom.dcmread(io.BytesIO(good["exam1/kos.dcm"]))
    item = ds.CurrentRequestedProcedureEvidenceSequence[0].ReferencedSeriesSequence[0]
    item.RetrieveURL = url.format(st=ds.StudyInstanceUID, se=item.SeriesInstanceUID)
    assert [f.rule for f in errors(validate_kos(dicom_bytes(ds)))] == ["KOS-URL-002"]


def test_retrieve_url_with_query_and_other_base_is_accepted_but_warned(good):
    ds = pydicom.dcmread(io.BytesIO(good["exam1/kos.dcm"]))
    item = ds.CurrentRequestedProcedureEvidenceSequence[0].ReferencedSeriesSequence[0]
    item.RetrieveURL = f"http://other:8080/rs/studies/{ds.StudyInstanceUID}/series/{item.SeriesInstanceUID}?x=1"
    findings = validate_kos(dicom_bytes(ds))
    assert errors(findings) == [] and [f.rule for f in findings if f.severity is Severity.WARNING] == ["KOS-URL-003"]
