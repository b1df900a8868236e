"""simulators.source.kos against the shared fixture builder (fixtures.documents.kos): for the same exam the two
KOS differ only where the Source must (fresh UIDs, content date, manufacturer); every part they share is equal."""

from __future__ import annotations

from datetime import datetime

import pytest
from pydicom.dataset import Dataset

from fixtures.dataset import load_dataset
from fixtures.documents import build_kos as fixture_kos
from fixtures.studies import TEST_NIR_OID
from simulators.source.kos import Identity, ImageRef, build_kos, referenced

EXAM = load_dataset().exam("e1")
REPORT = EXAM.report
BASE = "https://src.example/wado-rs"
# the only attributes in which the Source's KOS may differ from the fixtures' for the same exam
SOURCE_OWN = {"SOPInstanceUID", "SeriesInstanceUID", "ContentDate", "ContentTime", "Manufacturer"}


def _identity() -> Identity:
    p = REPORT.patient
    return Identity(ins=p.ins, ins_oid=TEST_NIR_OID, birth_name=p.birth_name, given=p.given, birth_date=p.birth_date,
                    sex=p.sex, birthplace=p.birthplace, used_names=[(p.used_name, REPORT.used_given)],
                    study_uid=REPORT.study_uid, accession=REPORT.accession, accession_issuer=REPORT.accession_issuer,
                    placer=REPORT.placer, placer_issuer=REPORT.placer_issuer)


def _images(order=lambda refs: refs) -> list[ImageRef]:
    refs = [ImageRef(i["SeriesInstanceUID"], i["SOPClassUID"], i["SOPInstanceUID"], i["InstanceNumber"], "CT",
                     REPORT.patient.ins, REPORT.accession, REPORT.study_date, REPORT.service_start[8:14])
            for i in EXAM.instances()]
    return order(refs)


def _source_kos(images: list[ImageRef], base: str | None = BASE) -> Dataset:
    from io import BytesIO

    from pydicom import dcmread

    _uid, data = build_kos(_identity(), images, retrieve_base=base, institution=REPORT.institution.dicom,
                           now=datetime(2026, 2, 3, 4, 5, 6))
    return dcmread(BytesIO(data))


def _differing(a: Dataset, b: Dataset) -> set[str]:
    keywords = {e.keyword for e in a} | {e.keyword for e in b}
    return {k for k in keywords if a.get(k) != b.get(k)}


def _reversed_within_series(refs: list[ImageRef]) -> list[ImageRef]:
    series = list(dict.fromkeys(r.series_uid for r in refs))
    return [r for s in series for r in reversed([r for r in refs if r.series_uid == s])]


@pytest.mark.parametrize("order", [lambda refs: refs, _reversed_within_series],
                         ids=["as stored", "instances reversed within series"])
def test_source_kos_equals_the_fixture_kos_but_for_its_own_attributes(order):
    """Same exam, same request, evidence, content and patient; the Source orders each series by InstanceNumber
    whatever order the PACS answered in."""
    ours = _source_kos(_images(order))
    ref = fixture_kos(EXAM.instances(), report=REPORT, retrieve_base=BASE)
    assert _differing(ours, ref) == SOURCE_OWN
    assert ours.file_meta.TransferSyntaxUID == ref.file_meta.TransferSyntaxUID
    assert ours.file_meta.MediaStorageSOPClassUID == ref.file_meta.MediaStorageSOPClassUID


def test_without_retrieve_base_the_series_have_no_retrieve_url():
    ours = _source_kos(_images(), base=None)
    series = ours.CurrentRequestedProcedureEvidenceSequence[0].ReferencedSeriesSequence
    assert all("RetrieveURL" not in s for s in series)
    assert referenced(ours) == {s: [i["SOPInstanceUID"] for i in EXAM.instances() if i["SeriesInstanceUID"] == s]
                                for s in {i["SeriesInstanceUID"] for i in EXAM.instances()}}
