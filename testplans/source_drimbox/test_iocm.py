"""Image and exam changes: an IOCM rejection note updates the manifest and hides the rejected instance; whose
name each update is sent in (FAQ 8801: a report change in the new report's author's, an image or exam change in
the previous submission's).

One scenario per exam, run once per session and shared by the tests: exam ``iocm`` is published on a report by
one radiologist, corrected by a second, then one of its instances is rejected by a rejection note C-STOREd where
the profile says (``endpoints.iocm``); exam ``omichange`` is published, corrected by the second radiologist, then
cancelled by OMI^O23. The verdicts come from what the DMP received and what the WADO-RS answered.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from pydicom import dcmread
from pydicom.dataset import Dataset

from fixtures.iocm import rejection_note
from harness import capture
from harness.checks import expect, expect_equal, inconclusive
from harness.dicom import DimseError, Peer, store
from simulators.ris import messages as M
from testplans.source_drimbox.conftest import published_kos
from testplans.source_drimbox.consumer import request
from testplans.source_drimbox.support import Captured, dicom_parts, is_iti57, is_pnr, vihf_name_id, wait_dmp

RPLC = "urn:ihe:iti:2007:AssociationType:RPLC"
SECOND = ("899700000015", "Marie", "CURIE")  # the radiologist who corrects the reports (national id 8 + RPPS)
FIRST_ID = M.FIRST_AUTHOR[0]


@dataclass
class Corrected:
    """An exam published on a first report, then corrected by the second radiologist."""

    first: Captured
    second: Captured | None  # the correction's RAD-68, None when none came


@dataclass
class Rejected:
    """What the rejection note was, how the C-STORE went, and the RAD-68 that followed (None: none came)."""

    sop: str
    series: str
    status: int | None
    error: str
    update: Captured | None


def _ack_aa(ack, rule: str, what: str) -> None:
    expect(ack is not None and ack.code == "AA", rule=rule, location="MSA-1", expected="AA",
           observed=None if ack is None else ack.code, message=what)


def _corrected(env, key: str, rule: str) -> Corrected:
    state = env.published.setdefault(f"{key}:corrected", {})
    first = published_kos(env, key)
    if "ack" not in state:
        ex = env.exams[key]
        _raw, state["ack"] = env.send(M.oru(ex, "C", cda=M.replacement_cda(ex, author=SECOND)))
        got = wait_dmp(ex.study_uid, count=2, predicate=is_pnr) if state["ack"] and state["ack"].code == "AA" else []
        state["second"] = got[1] if len(got) >= 2 else None
    _ack_aa(state["ack"], rule, "the corrected report (OBX-11 C, signed by a second radiologist) is accepted")
    return Corrected(first, state["second"])


def _headers(paths) -> list[Dataset]:
    found = [dcmread(p, stop_before_pixels=True) for p in paths]
    return sorted(found, key=lambda d: (int(d.get("SeriesNumber", 0) or 0), int(d.get("InstanceNumber", 0) or 0)))


def _rejected(env, rule: str) -> tuple[Corrected, Rejected]:
    corrected = _corrected(env, "iocm", rule)
    if env.iocm is None:
        pytest.skip("the SUT profile names no endpoints.iocm (where a rejection note reaches the Source): "
                    "the IOCM requirements cannot be run")
    if corrected.second is None:
        inconclusive("the corrected report of exam iocm was not published (see SRC-RPLC / SRC-XDS-ACCEPTED): the "
                     "rejection note would have no current manifest to update")
    state = env.published.setdefault("iocm:rejected", {})
    if "result" not in state:
        ex = env.exams["iocm"]
        victim = _headers(env.files["iocm"])[1]  # the second instance of the first series
        note = rejection_note([victim], reason="113001")
        host, port, aet = env.iocm
        status, error = None, ""
        try:
            result = store(Peer(host, port, aet, "DRIMCHECK"), [note])
            status = next(iter(result.statuses.values()), None)
        except (DimseError, OSError, RuntimeError) as exc:
            error = str(exc)
        got = wait_dmp(ex.study_uid, count=3, predicate=is_pnr) if status in (0x0000, 0xB000) else []
        state["result"] = Rejected(str(victim.SOPInstanceUID), str(victim.SeriesInstanceUID), status, error,
                                   got[2] if len(got) >= 3 else None)
    return corrected, state["result"]


def _kos_instances(pnr: Captured) -> set[str]:
    ds = pnr.kos()
    if ds is None:
        return set()
    return {str(r.ReferencedSOPInstanceUID) for st in ds.get("CurrentRequestedProcedureEvidenceSequence", [])
            for se in st.get("ReferencedSeriesSequence", []) for r in se.get("ReferencedSOPSequence", [])}


@pytest.mark.requirement("SRC-IOCM-KOS")
def test_rejection_note_updates_the_manifest(env):
    corrected, rejected = _rejected(env, "SRC-IOCM-KOS")
    target = ":".join(map(str, env.iocm))
    expect(rejected.status in (0x0000, 0xB000), rule="SRC-IOCM-KOS", location=f"C-STORE to {target}",
           expected="status 0x0000 (the rejection note is taken)",
           observed=rejected.error or (f"0x{rejected.status:04X}" if rejected.status is not None else "no answer"),
           message="the rejection note is accepted")
    previous = corrected.second
    expect(rejected.update is not None, rule="SRC-IOCM-KOS", location="DMP repository",
           expected="a RAD-68 request after the rejection note", observed="none within the publish timeout",
           message=f"an updated manifest is published without instance {rejected.sop}")
    capture.cite(rejected.update.exchange)
    new_id = rejected.update.kos_entry().id if rejected.update.kos_entry() is not None else "(no KOS entry)"
    old_id = previous.kos_entry().id
    rplc = [(a.source, a.target) for a in rejected.update.submission.associations if a.type == RPLC]
    expect((new_id, old_id) in rplc, rule="SRC-IOCM-KOS", location="Association[@associationType='...:RPLC']",
           expected=f"{new_id} RPLC {old_id}", observed=rplc or "no RPLC association",
           message="the updated manifest replaces the current one")
    expect_equal(sorted(_kos_instances(rejected.update)), sorted(_kos_instances(previous) - {rejected.sop}),
                 rule="SRC-IOCM-KOS", location="KOS CurrentRequestedProcedureEvidenceSequence",
                 message=f"the updated KOS lists every instance of the previous one but the rejected {rejected.sop}")


@pytest.mark.requirement("SRC-IOCM-WADO")
def test_rejected_instance_is_no_longer_served(env):
    corrected, rejected = _rejected(env, "SRC-IOCM-WADO")
    if rejected.status not in (0x0000, 0xB000):
        inconclusive(f"the rejection note was not accepted ({rejected.error or rejected.status}; see SRC-IOCM-KOS)")
    ex = env.exams["iocm"]
    previous = corrected.second.kos()
    path = f"/studies/{ex.study_uid}/series/{rejected.series}/instances/{rejected.sop}"
    for kos in (previous, rejected.update.kos() if rejected.update is not None else None):
        if kos is None:
            continue
        reply = request(env.wado, path, token=env.token(), kos=str(kos.SOPInstanceUID))
        expect(reply.status in (404, 410), rule="SRC-IOCM-WADO", location=f"GET {path}",
               expected="404 or 410", observed=reply.status,
               message=f"the rejected instance is not served (KOS-SOPInstanceUID {kos.SOPInstanceUID})")
    series = f"/studies/{ex.study_uid}/series/{rejected.series}"
    kos = rejected.update.kos() if rejected.update is not None else previous
    reply = request(env.wado, series, token=env.token(), kos=str(kos.SOPInstanceUID))
    served = {str(ds.SOPInstanceUID) for ds in dicom_parts(reply.body, reply.content_type) if "SOPInstanceUID" in ds}
    expect(rejected.sop not in served, rule="SRC-IOCM-WADO", location=f"GET {series}",
           expected=f"the series without {rejected.sop}", observed=f"{len(served)} instance(s), the rejected one "
           f"among them (HTTP {reply.status})", message="a series retrieve leaves the rejected instance out")


@pytest.mark.requirement("SRC-VIHF-REPORT")
def test_report_publications_are_sent_in_their_authors_name(env):
    corrected = _corrected(env, "iocm", "SRC-VIHF-REPORT")
    expect_equal(vihf_name_id(corrected.first), FIRST_ID, rule="SRC-VIHF-REPORT",
                 location=f"VIHF saml:Subject/saml:NameID of {corrected.first.exchange.summary}",
                 message="the first report's publication is sent in its author's name")
    if corrected.second is None:
        inconclusive("the corrected report of exam iocm was not published (see SRC-RPLC / SRC-XDS-ACCEPTED)")
    capture.cite(corrected.second.exchange)
    expect_equal(vihf_name_id(corrected.second), SECOND[0], rule="SRC-VIHF-REPORT",
                 location=f"VIHF saml:Subject/saml:NameID of {corrected.second.exchange.summary}",
                 message="the correction is sent in the name of the new report's author (FAQ 8801), not in the "
                         "previous submission's")


@pytest.mark.requirement("SRC-VIHF-IMAGE-CHANGE")
def test_image_change_update_is_sent_in_the_previous_submissions_name(env):
    corrected, rejected = _rejected(env, "SRC-VIHF-IMAGE-CHANGE")
    if rejected.update is None:
        inconclusive("no manifest update followed the rejection note (see SRC-IOCM-KOS)")
    capture.cite(rejected.update.exchange)
    expect_equal(vihf_name_id(rejected.update), vihf_name_id(corrected.second), rule="SRC-VIHF-IMAGE-CHANGE",
                 location=f"VIHF saml:Subject/saml:NameID of {rejected.update.exchange.summary}",
                 message="the update after the rejection note is sent in the previous submission's name (FAQ 8801)")


@pytest.mark.requirement("SRC-VIHF-IMAGE-CHANGE")
def test_exam_cancellation_is_sent_in_the_previous_submissions_name(env):
    corrected = _corrected(env, "omichange", "SRC-VIHF-IMAGE-CHANGE")
    if corrected.second is None:
        inconclusive("the corrected report of exam omichange was not published (see SRC-RPLC)")
    ex = env.exams["omichange"]
    state = env.published.setdefault("omichange:cancelled", {})
    if "ack" not in state:
        _raw, state["ack"] = env.send(M.omi_cancel(ex))
        got = wait_dmp(corrected.second.kos_entry().id, predicate=is_iti57) if state["ack"] and \
            state["ack"].code == "AA" else []
        state["update"] = got[0] if got else None
    _ack_aa(state["ack"], "SRC-VIHF-IMAGE-CHANGE", "the exam cancellation (OMI^O23 ORC-1 CA) is accepted")
    if state["update"] is None:
        inconclusive("no ITI-57 followed the exam cancellation (see SRC-CANCEL)")
    capture.cite(state["update"].exchange)
    expect_equal(vihf_name_id(state["update"]), vihf_name_id(corrected.second), rule="SRC-VIHF-IMAGE-CHANGE",
                 location=f"VIHF saml:Subject/saml:NameID of {state['update'].exchange.summary}",
                 message="the deletion after an exam change is sent in the previous submission's name (FAQ 8801)")
