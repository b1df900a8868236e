"""The national scenario on one machine: fixture study in the Source's PACS,
RIS report (ORU F) -> reference Source publishes the KOS to the DMP simulator -> contextual call on the
reference Consumer -> history shows the exam -> images retrieved from the Source (WADO-RS, PSC token,
KOS UID) and imported into the Consumer's PACS identical; then a replacement report (C) and a
deletion (D) propagate and the Consumer shows them."""

from __future__ import annotations

import time
from dataclasses import replace
from types import SimpleNamespace

import pydicom
import pytest

from fixtures.studies import write_study
from harness.dicom import load_study_into_pacs
from harness.xds.clients import XdsClient
from simulators.consumer import start_reference as start_consumer
from simulators.dmp.config import DmpConfig
from simulators.dmp.reference import start as start_dmp
from simulators.pacs import start_pacs
from simulators.psc import start_psc
from simulators.ris import messages as M
from simulators.ris import send
from simulators.source import start_reference as start_source
from testplans.consumer_drimbox.browser import Browser
from testplans.consumer_drimbox.conftest import PROFESSIONAL
from testplans.consumer_drimbox.exams import contextual_form

APPROVED = "urn:oasis:names:tc:ebxml-regrep:StatusType:Approved"
TEST_NIR = "1.2.250.1.213.1.4.10"


def _wait(predicate, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    return predicate()


EXPLICIT_ONLY = (("1.2.840.10008.1.2.1", 1.0),)
PIXEL_DATA = 0x7FE00010


@pytest.fixture(params=["stored-syntax", "transcoded"])
def stack(request, tmp_path):
    stops = []
    try:
        dmp = start_dmp(DmpConfig(workdir=tmp_path / "dmp"))
        stops.append(dmp.stop)
        psc = start_psc()
        stops.append(psc.stop)
        src_pacs = start_pacs(tmp_path / "src-pacs", aet="SRCPACS")
        stops.append(src_pacs.stop)
        dst_pacs = start_pacs(tmp_path / "dst-pacs", aet="DSTPACS", dicomweb=False)
        stops.append(dst_pacs.stop)
        source = start_source(None, tmp_path / "source", pacs_host=src_pacs.host, pacs_port=src_pacs.port,
                              pacs_aet=src_pacs.aet, pacs_dicomweb=src_pacs.dicomweb_url,
                              dmp_registry=dmp.endpoints["registry"], dmp_repository=dmp.endpoints["repository"],
                              psc_introspect=psc.endpoints["introspect"])
        stops.append(source.stop)
        source_host = source.endpoints["base"].split("//", 1)[1]
        consumer = start_consumer(None, tmp_path / "consumer", peers={
            "registry": dmp.endpoints["registry"], "repository": dmp.endpoints["repository"],
            "psc_issuer": psc.endpoints["issuer"], "pacs": dst_pacs.endpoints["dimse"],
            "allowed_hosts": (source_host,),
            **({"accept": EXPLICIT_ONLY} if request.param == "stored-syntax" else {})})
        stops.append(consumer.stop)
        world = SimpleNamespace(contextual_call=consumer.endpoints["contextual_call"],
                                consumer_base=consumer.endpoints["base"],
                                psc_auth=psc.endpoints["authorization"])
        yield SimpleNamespace(dmp=dmp, source=source, src_pacs=src_pacs, dst_pacs=dst_pacs, world=world,
                              transcoded=request.param == "transcoded",
                              loader=XdsClient(dmp.endpoints["registry"], dmp.endpoints["repository"]))
    finally:
        for stop in reversed(stops):
            stop()


def _kos_entries(stack, ex):
    res = stack.loader.query("FindDocuments", {"$XDSDocumentEntryPatientId": f"{ex.ins}^^^&{TEST_NIR}&ISO^NH",
                                               "$XDSDocumentEntryStatus": [APPROVED]})
    return [o for o in (res.query.objects if res.query else []) if o.get("mimeType") == "application/dicom"]


def test_national_scenario(stack, tmp_path):
    ex = M.exam("consumer-e2e", series=2, instances=2)
    refs = write_study(M.study_spec(ex, rows=32, columns=32), tmp_path / "study")
    load_study_into_pacs([r.path for r in refs], stack.src_pacs.host, stack.src_pacs.port, stack.src_pacs.aet)
    _raw, ack = send(stack.source.endpoints["mllp"], M.oru(ex))
    assert ack is not None and ack.code == "AA", ack
    first = _wait(lambda: _kos_entries(stack, ex))
    assert len(first) == 1, "the Source did not publish the KOS to the DMP"

    patient = replace(M.study_spec(ex).patient)
    world = stack.world
    browser = Browser(world.contextual_call, world.consumer_base, world.psc_auth, PROFESSIONAL)
    history = browser.call(contextual_form(patient))
    rows = history.rows("exam")
    assert [r.get("data-study-uid") for r in rows] == [ex.study_uid]
    result = browser.post(rows[0].xpath(".//a/@href")[0] + "/import")
    assert [r.get("data-status") for r in result.rows("series-result")] == ["imported", "imported"], result.text[-800:]
    for ref in refs:
        stored = stack.dst_pacs.store.records({"sop_instance_uid": [ref.sop_instance_uid]})
        assert stored, f"{ref.sop_instance_uid} not imported"
        sent, got = pydicom.dcmread(ref.path), pydicom.dcmread(stored[0].path)
        differ = [e.tag for e in sent if e.tag not in got or got[e.tag].value != e.value]
        if stack.transcoded:  # another transfer syntax, losslessly: the same instance, the same pixels
            assert got.file_meta.TransferSyntaxUID != sent.file_meta.TransferSyntaxUID
            assert differ == [PIXEL_DATA]
            assert (got.pixel_array == sent.pixel_array).all()
        else:
            assert differ == []

    # replacement report: the Consumer shows the new KOS only
    _raw, ack = send(stack.source.endpoints["mllp"], M.oru(ex, "C", cda=M.replacement_cda(ex)))
    assert ack is not None and ack.code == "AA", ack
    old_uid = rows[0].get("data-unique-id")
    _wait(lambda: [e for e in _kos_entries(stack, ex) if old_uid not in str(e.xpath("string(.)"))] and
          len(_kos_entries(stack, ex)) == 1 and _entry_uid(_kos_entries(stack, ex)[0]) != old_uid)
    shown = [r.get("data-unique-id") for r in browser.call(contextual_form(patient)).rows("exam")]
    assert len(shown) == 1 and shown[0] != old_uid

    # deletion: the Consumer shows nothing any more
    _raw, ack = send(stack.source.endpoints["mllp"], M.oru(ex, "D"))
    assert ack is not None and ack.code == "AA", ack
    _wait(lambda: not _kos_entries(stack, ex))
    assert browser.call(contextual_form(patient)).rows("exam") == []


def _entry_uid(elem) -> str:
    for ei in elem.iter("{urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0}ExternalIdentifier"):
        if ei.get("identificationScheme") == "urn:uuid:2e82c1f6-a085-4c72-9da3-8640a32e42ab":
            return ei.get("value", "")
    return ""
