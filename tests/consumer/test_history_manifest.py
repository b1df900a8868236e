"""History (ITI-18 answer to exams) and manifest (KOS to series, allowlist) of the reference Consumer."""

from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree

from harness.xds import kos_submission
from harness.xds.ebrim import documententry_to_extrinsic
from harness.xds.query import build_query_response
from simulators.consumer.context import parse_contextual_call
from simulators.consumer.history import APPROVED, DEPRECATED, KOS_TYPE_CODE, exams_from_response, query_params
from simulators.consumer.manifest import ManifestError, host_allowed, parse_manifest
from testplans.consumer_drimbox.exams import (
    build_kos,
    contextual_form,
    new_patient,
    nir,
    patient_cx,
    write_fixture_study,
)

RIM = "{urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0}"


def _call(**optional):
    return parse_contextual_call(contextual_form(new_patient(), **optional))


def test_find_documents_params():
    call = _call()
    name, params = query_params(call)
    assert name == "FindDocuments"
    assert params["$XDSDocumentEntryPatientId"] == call.dmp_patient_id
    assert params["$XDSDocumentEntryStatus"] == [APPROVED]
    assert params["$XDSDocumentEntryTypeCode"] == [KOS_TYPE_CODE] == ["IMG-KOS^^1.2.250.1.213.1.1.4.12"]


def test_reference_id_params():
    name, params = query_params(_call(StudyInstanceUID="1.2.3", AccessionNumber="A1"))
    assert name == "FindDocumentsByReferenceId"
    assert params["$XDSDocumentEntryReferenceIdList"] == ["1.2.3^^^^urn:ihe:iti:xds:2016:studyInstanceUID",
                                                          "A1^^^^urn:ihe:iti:xds:2013:accession"]


@pytest.fixture(scope="module")
def kos_extrinsic(tmp_path_factory):
    patient = new_patient()
    refs = write_fixture_study(tmp_path_factory.mktemp("st"), patient, series=1, instances=1)
    kos, _ = build_kos(refs, patient, "http://src/wado-rs", "ACC1")
    sub = kos_submission(kos, patient_id=patient_cx(patient), study_uid=refs[0].study_instance_uid, accession="ACC1",
                         regions=[("51185008", "Thorax")], service_start="20250314101500")
    sub.documents[0].availabilityStatus = APPROVED
    kos_x = documententry_to_extrinsic(sub.documents[0])
    sub.documents[1].availabilityStatus = APPROVED
    sig_x = documententry_to_extrinsic(sub.documents[1])
    return kos_x, sig_x


def _copies(elem, n, status=APPROVED):
    old = elem.get("id")
    text = etree.tostring(elem).decode()
    out = []
    for i in range(n):
        c = etree.fromstring(text.replace(old, f"urn:uuid:00000000-0000-0000-0000-{i:012d}"))
        c.set("status", status)
        out.append(c)
    return out


def test_exams_from_response_hides_deprecated_and_non_kos(kos_extrinsic):
    kos_x, sig_x = kos_extrinsic
    body = build_query_response(_copies(kos_x, 2) + _copies(kos_x, 1, DEPRECATED) + [sig_x])
    history = exams_from_response(body)
    assert history.total == 2 and len(history.exams) == 2
    exam = history.exams[0]
    assert exam.modalities == ["CT"] and exam.regions == ["Thorax"] and exam.source == "BCOM"
    assert exam.display_date == "14/03/2025" and exam.accession == "ACC1"
    assert exams_from_response(body, hide_deprecated=False).total == 3


def test_thousands_of_entries_are_cut_to_the_limit(kos_extrinsic):
    body = build_query_response(_copies(kos_extrinsic[0], 3000))
    history = exams_from_response(body, limit=500)
    assert history.total == 3000 and len(history.exams) == 500 and history.cut == 2500


@pytest.mark.parametrize(("url", "allowed", "ok"), [
    ("http://src.example/wado-rs/x", ("src.example",), True),
    ("https://SRC.example:8443/wado-rs/x", ("src.example:8443",), True),
    ("http://src.example:8080/x", ("src.example:8443",), False),
    ("http://evil.example/x", ("src.example",), False),
    ("ftp://src.example/x", ("src.example",), False),
    ("http://src.example@evil.example/x", ("src.example",), False),
    ("http://[::1/x", ("src.example",), False),
    ("not a url", ("src.example",), False),
])
def test_host_allowed(url, allowed, ok):
    assert host_allowed(url, allowed) is ok


def test_parse_manifest_marks_outside_hosts(tmp_path: Path):
    patient = new_patient()
    refs = write_fixture_study(tmp_path, patient, series=2, instances=2)
    outside = refs[0].series_instance_uid
    kos, kos_uid = build_kos(refs, patient, "http://src.example/wado-rs", "ACC1",
                             url_for={outside: f"http://evil.example/wado-rs/studies/{refs[0].study_instance_uid}/series/{outside}"})
    manifest = parse_manifest(kos, ("src.example",))
    assert manifest.sop_instance_uid == kos_uid and not manifest.errors
    by_uid = {s.series_uid: s for s in manifest.series}
    assert "allowlist" in by_uid[outside].refused
    inside = by_uid[refs[-1].series_instance_uid]
    assert not inside.refused and set(inside.instances) == {r.sop_instance_uid for r in refs[1:]} - {
        r.sop_instance_uid for r in refs if r.series_instance_uid == outside}


def test_unreadable_kos_is_a_manifest_error():
    with pytest.raises(ManifestError):
        parse_manifest(b"not dicom", ())


def test_fetch_manifest_refuses_another_patients_kos(tmp_path: Path):
    from types import SimpleNamespace

    from simulators.consumer.history import Exam
    from simulators.consumer.manifest import IdentityMismatch, fetch_manifest

    patient = new_patient()
    refs = write_fixture_study(tmp_path, patient, series=1, instances=1)
    kos, _ = build_kos(refs, patient, "http://src.example/wado-rs", "ACC1")
    doc = SimpleNamespace(document_unique_id="9.9", data=kos)
    client = SimpleNamespace(retrieve=lambda docs, patient: SimpleNamespace(fault=None, decode_error=None,
                                                                           documents=[doc], error_codes=[]))
    exam = Exam("urn:uuid:x", "9.9", "1.2.3", "Approved")
    assert fetch_manifest(client, exam, "cx", ("src.example",), patient.ins).patient_id == patient.ins
    with pytest.raises(IdentityMismatch):
        fetch_manifest(client, exam, "cx", ("src.example",), nir(999) if patient.ins != nir(999) else nir(998))
