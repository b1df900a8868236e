"""Import into the local PACS: completeness and identity reconciliation (IHE RAD TF-1 XDS-I.b Imaging
Document Consumer)."""

from __future__ import annotations

import pydicom
import pytest

from harness.checks import expect, expect_equal
from testplans.consumer_drimbox import conftest
from testplans.consumer_drimbox.exams import new_patient
from testplans.consumer_drimbox.traffic import require_kos


def import_exam(world, exam, **local: str) -> dict[str, str]:
    """The import through the driver, once the Consumer holds the exam's KOS (else the test is inconclusive:
    getting the KOS is CON-RET-ITI43's question)."""
    statuses = conftest.import_exam(world, exam, **local)
    require_kos(exam.unique_id)
    return statuses


def _stored(world, sop_uid: str):
    records = world.pacs.store.records({"sop_instance_uid": [sop_uid]})
    return records[0] if records else None


@pytest.mark.requirement("CON-IMP-COMPLETE")
def test_imported_series_are_whole_and_identical(world, publish):
    exam = publish(series=2, instances=4)
    import_exam(world, exam)
    for series_uid, refs in exam.series.items():
        for ref in refs:
            rec = _stored(world, ref.sop_instance_uid)
            expect(rec is not None, rule="CON-IMP-COMPLETE", location=f"local PACS {ref.sop_instance_uid}",
                   expected="stored", observed="absent", message=f"instance of series {series_uid} not imported")
            sent = pydicom.dcmread(ref.path)
            got = pydicom.dcmread(rec.path)
            differing = [str(e.tag) for e in sent if e.tag not in got or got[e.tag].value != e.value]
            expect_equal(differing, [], rule="CON-IMP-COMPLETE", location=f"local PACS {ref.sop_instance_uid}",
                         message="the imported instance differs from what the Source sent")


@pytest.mark.requirement("CON-IMP-RECONCILE")
def test_identity_reconciliation_keeps_the_ins(world, publish):
    exam = publish(series=1, instances=2)
    import_exam(world, exam, local_patient_id="LOCAL-4242", local_issuer="CABINET")
    for ref in exam.series[exam.series_uids[0]]:
        rec = _stored(world, ref.sop_instance_uid)
        expect(rec is not None, rule="CON-IMP-RECONCILE", location=f"local PACS {ref.sop_instance_uid}",
               expected="stored", observed="absent", message="instance not imported")
        ds = pydicom.dcmread(rec.path, stop_before_pixels=True)
        expect_equal(str(ds.PatientID), "LOCAL-4242", rule="CON-IMP-RECONCILE", location="(0010,0020)",
                     message="the local patient id must replace the INS")
        others = [str(o.get("PatientID", "")) for o in ds.get("OtherPatientIDsSequence", [])]
        expect(exam.patient.ins in others, rule="CON-IMP-RECONCILE", location="(0010,1002)",
               expected=f"contains {exam.patient.ins}", observed=others, message="the INS must be kept")


@pytest.mark.requirement("CON-KOS-PATIENT")
def test_kos_of_another_patient_is_refused(world, publish):
    exam = publish(series=1, instances=2, kos_patient=new_patient(family="AUTRE", given="Patient"))
    statuses = import_exam(world, exam)
    expect(all(v != "imported" for v in statuses.values()), rule="CON-KOS-PATIENT", location="import result",
           expected="no series shown as imported", observed=statuses,
           message="a KOS naming another patient than the contextual call was used")
    for ref in exam.series[exam.series_uids[0]]:
        expect(_stored(world, ref.sop_instance_uid) is None, rule="CON-KOS-PATIENT", location="local PACS",
               expected="nothing imported", observed=ref.sop_instance_uid,
               message="images of a KOS naming another patient were imported")
    expect_equal(world.source.seen(exam.series_uids[0]), [], rule="CON-KOS-PATIENT", location=world.source_url,
                 message="images were requested for a KOS naming another patient")
