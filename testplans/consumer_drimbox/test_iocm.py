"""An exam whose manifest was replaced after an image change (IOCM): the Consumer follows the current manifest.

The plan publishes an exam and has the Consumer open it (so it has read its KOS); then, as a Source does after an
IOCM rejection note, the plan's Source stops serving one instance and the plan publishes a new KOS of the same
study without it, replacing the first entry (RPLC). Opened and imported again, the exam must be read from the new
KOS: the DMP sees an ITI-43 for it, the Source sees its KOS UID, and the local PACS receives every instance it lists.
"""

from __future__ import annotations

import pytest

from harness.checks import expect
from testplans.consumer_drimbox import conftest
from testplans.consumer_drimbox.traffic import require_kos, retrieves

RULE = "CON-IOCM-CURRENT"


@pytest.mark.requirement(RULE)
def test_import_follows_the_manifest_that_replaced_an_image_change(world, publish):
    first = publish(series=1, instances=3)
    conftest.open_exam(world, first)
    require_kos(first.unique_id)  # the Consumer read the first manifest (else: CON-RET-ITI43's question)
    rejected = first.series[first.series_uids[0]][-1].sop_instance_uid
    update = conftest.publish_update(world, first, rejected)
    seen_before = len(world.source.seen())
    conftest.import_exam(world, update)

    asked = [uid for _req, pairs in retrieves() for _repo, uid in pairs]
    expect(update.unique_id in asked, rule=RULE, location="ITI-43 RetrieveDocumentSetRequest",
           expected=f"a request for the current manifest {update.unique_id}",
           observed=f"manifests asked: {sorted(set(asked))}",
           message="the replacing manifest is read, not the one the Consumer read before the image change")
    wado = [r for r in world.source.seen()[seen_before:] if f"/studies/{update.study_uid}" in r.path]
    # the header names the manifest the request is made under; a request without it is CON-WADO-KOSUID's finding
    kos_uids = sorted({r.header("KOS-SOPInstanceUID") for r in wado} - {None, ""})
    expect(bool(wado) and kos_uids in ([], [update.kos_uid]), rule=RULE, location="WADO-RS KOS-SOPInstanceUID",
           expected=update.kos_uid, observed=kos_uids or "no WADO-RS request",
           message="the study is retrieved under the current manifest")
    stored = {r["SOPInstanceUID"] for r in world.pacs.store.records({"study_uid": [update.study_uid]})}
    wanted = {r.sop_instance_uid for refs in update.series.values() for r in refs}
    missing = sorted(wanted - stored)
    expect(not missing, rule=RULE, location="local PACS", expected=f"the {len(wanted)} instances of the current "
           f"manifest (instance {rejected} was rejected)", observed=f"{len(missing)} missing: {missing}",
           message="the exam is imported whole as the current manifest lists it")
