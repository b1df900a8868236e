"""simulators.source.publish.Outbox: DMP down -> kept, retried with back-off, published once up; restart keeps it."""

from __future__ import annotations

import time

import pytest

from harness.servers import free_port
from simulators.dmp.config import DmpConfig
from simulators.dmp.reference import start as start_dmp
from simulators.ris import messages as M
from simulators.source.kos import Identity, ImageRef, build_kos
from simulators.source.publish import KosMetadata, Outbox, pnr_submission
from simulators.source.store import SourceStore


def _submission(ex):
    who = Identity(ex.ins, "1.2.250.1.213.1.4.10", ex.birth_name, ex.given, ex.birth_date, ex.sex,
                   study_uid=ex.study_uid, accession=ex.accession, accession_issuer="1.2.250.1.999.1.2",
                   placer=ex.placer, placer_issuer="1.2.250.1.999.1.3")
    images = [ImageRef("1.2.3.4", "1.2.840.10008.5.1.4.1.1.2", "1.2.3.4.1", 1, "CT", ex.ins, ex.accession)]
    _uid, kos = build_kos(who, images, retrieve_base="http://source.test/wado-rs", institution="C^^^^^^^^^1")
    meta = KosMetadata(f"{ex.ins}^^^&1.2.250.1.213.1.4.10&ISO^NH", ex.study_uid, ex.accession, "1.2.250.1.999.1.2",
                       ex.placer, "1.2.250.1.999.1.3", ["CT"], [], [], None, None)
    return pnr_submission(kos, meta, source_id="1.2.250.1.999.1.1")[2]


def _wait(predicate, timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def test_dmp_down_then_up_and_a_restart_in_between(tmp_path):
    port = free_port()
    url = f"http://127.0.0.1:{port}/repository"
    ex = M.exam("unit-outbox", series=1, instances=1)
    store = SourceStore(tmp_path / "source.sqlite")
    outbox = Outbox(store, initial=0.05, maximum=0.2, timeout=2)
    outbox.start()
    outbox.publish_pnr(url, _submission(ex), ex.study_uid)
    assert _wait(lambda: store.items()[0].attempts >= 2), "the outbox retries while the DMP is down"
    item = store.items()[0]
    assert item.state == "pending" and "ConnectionError" in (item.last_error or "")
    outbox.stop()  # the Source stops (a crash loses nothing: every state change is committed)
    store.close()

    store = SourceStore(tmp_path / "source.sqlite")
    assert [i.state for i in store.items()] == ["pending"]
    dmp = start_dmp(DmpConfig(workdir=tmp_path / "dmp", vihf="off"), port=port)
    outbox = Outbox(store, initial=0.05, maximum=0.2, timeout=5)
    outbox.start()
    try:
        assert _wait(lambda: store.items()[0].state == "sent"), store.items()[0].last_error
    finally:
        outbox.stop()
        dmp.stop()
        store.close()


def test_a_registry_refusal_is_final_not_retried(tmp_path):
    ex = M.exam("unit-outbox-refused", series=1, instances=1)
    dmp = start_dmp(DmpConfig(workdir=tmp_path / "dmp", vihf="enforce", trust_store=[]))  # refuses everything
    store = SourceStore(tmp_path / "source.sqlite")
    outbox = Outbox(store, initial=0.05, maximum=0.2, timeout=5)
    outbox.start()
    try:
        outbox.publish_pnr(dmp.endpoints["repository"], _submission(ex), ex.study_uid)
        assert _wait(lambda: store.items()[0].state != "pending")
        item = store.items()[0]
        assert item.state == "rejected" and item.attempts == 1 and item.last_error
    finally:
        outbox.stop()
        dmp.stop()
        store.close()


@pytest.mark.parametrize("attempts", [0, 1, 5, 30])
def test_backoff_is_capped(tmp_path, attempts):
    store = SourceStore(tmp_path / "s.sqlite")
    outbox = Outbox(store, initial=0.5, maximum=4.0, timeout=1)
    item_id = store.enqueue("pnr", "http://127.0.0.1:1/x", "text/plain", b"x", "1.2.3")
    for _ in range(attempts):
        store.postpone(item_id, 0, "down")
    before = time.time()
    outbox._retry(store.items()[0], "down")
    delay = store.items()[0].next_at - before
    assert 0 < delay <= min(4.0, 0.5 * 2 ** attempts) + 0.5
    store.close()


def test_signature01_is_signed_by_the_configured_pair(tmp_path):
    """The Source signs Signature01 with its signing pair (SourceConfig.signer: the signing key, else the
    VIHF key), and the signature verifies over the manifest of the KOS it publishes."""
    from harness.vihf import throwaway_pki
    from harness.xds import dsig
    from harness.xmlsafe import parse_xml
    from simulators.source.config import SourceConfig

    vihf, signing = throwaway_pki("source vihf"), throwaway_pki("source signing")
    config = SourceConfig(workdir=tmp_path, vihf_key=vihf.key_pem, vihf_cert=vihf.cert_pem)
    assert config.signer() == (vihf.key_pem, vihf.cert_pem)
    config.signing_key, config.signing_cert = signing.key_pem, signing.cert_pem
    ex = M.exam("signed")
    sub = _submission(ex)
    kos = next(d for d in sub.documents if d.mimeType == "application/dicom")
    meta = KosMetadata(kos.patientId, ex.study_uid, ex.accession, "1.2.250.1.999.1.2", ex.placer,
                       "1.2.250.1.999.1.3", ["CT"], [], [], None, None)
    signed = pnr_submission(sub.document_bytes[kos.id], meta, source_id="1.2.250.1.999.1.1",
                            signer=config.signer())[2]
    verdict = dsig.verify(parse_xml(signed.document_bytes["Signature01"]))
    assert verdict.status == "valid" and "CN=source signing" in verdict.signer


def test_gives_up_fault_marks_the_first_failure_final(tmp_path):
    store = SourceStore(tmp_path / "s.sqlite")
    outbox = Outbox(store, initial=0.5, maximum=4.0, timeout=1, retry=False)
    store.enqueue("pnr", "http://127.0.0.1:1/x", "text/plain", b"x", "1.2.3")
    outbox._retry(store.items()[0], "down")
    [item] = store.items()
    assert (item.state, item.attempts, item.last_error) == ("failed", 1, "down")
    store.close()


def test_without_mtom_the_pnr_is_plain_soap(tmp_path):
    ex = M.exam("unit-outbox-plain", series=1, instances=1)
    store = SourceStore(tmp_path / "s.sqlite")
    Outbox(store, initial=0.5, maximum=4.0, timeout=1, mtom=False).publish_pnr("http://dmp.test/repository",
                                                                              _submission(ex), ex.study_uid)
    [item] = store.items()
    assert item.content_type.startswith("application/soap+xml") and b"xop:Include" not in item.body
    store.close()


def test_vihf_resource_is_the_requests_patient_unless_swapped():
    from harness.vihf import RESOURCE_ID, throwaway_pki
    from simulators.source.publish import bare_ins, publish_behaviour_for, vihf_security

    pki = throwaway_pki("unit VIHF")
    patient = "279035121518989^^^&1.2.250.1.213.1.4.10&ISO^NH"
    good = vihf_security(pki.key_pem, pki.cert_pem)(patient)[0]
    bad = vihf_security(pki.key_pem, pki.cert_pem, publish_behaviour_for("vihf-bare-ins").vihf_patient)(patient)[0]

    def resource(security) -> list[str]:
        return ["".join(a.itertext()).strip() for a in security.iter("{*}Attribute") if a.get("Name") == RESOURCE_ID]

    assert resource(good) == [patient] and resource(bad) == [bare_ins(patient)]
