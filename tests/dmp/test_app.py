"""The DMP app: inspector pages/JSON, serve options, SOAP details (in-process client and real port)."""

from __future__ import annotations

import argparse
import time
from typing import Any

import pytest
import requests

from harness.capture import Recorder, recorder, use_recorder
from simulators.dmp import FAULTS, serve
from simulators.dmp.config import DmpConfig
from simulators.dmp.faults import handlers_for

from .dmp_testing import client_of, find, kos_sub


def test_inspector_lists_a_patients_objects_and_messages(sqlite_server):
    client = client_of(sqlite_server)
    sub = kos_sub()
    patient = sub.submission_set.patientId
    assert client.provide_and_register(sub).success
    base = sqlite_server.endpoints["inspector"]
    data = requests.get(f"{base}/patients/{patient}.json", timeout=10).json()
    assert {d["uniqueId"] for d in data["doc"]} == {d.uniqueId for d in sub.documents}
    assert [s["uniqueId"] for s in data["ss"]] == [sub.submission_set.uniqueId]
    assert {a["associationType"].rsplit(":", 1)[-1] for a in data["assoc"]} == {"HasMember", "signs"}
    assert all(d["messages"] for d in data["doc"])  # the PnR that created them
    html = requests.get(f"{base}/patients/{patient}", timeout=10)
    assert html.status_code == 200 and sub.submission_set.uniqueId in html.text
    entry = data["doc"][0]["id"]
    xml = requests.get(f"{base}/objects/{entry}", timeout=10)
    assert xml.status_code == 200 and b"ExtrinsicObject" in xml.content
    assert requests.get(f"{base}/objects/urn:uuid:nope", timeout=10).status_code == 404
    stats = requests.get(f"{base}/stats", timeout=10).json()
    assert stats["doc"] == 2 and stats["documents"] == 2


def test_serve_options_and_start(tmp_path):
    parser = argparse.ArgumentParser()
    serve.add_arguments(parser)
    args = parser.parse_args(["--profile", "xds", "--vihf", "off", "--db", f"sqlite:///{tmp_path}/x.sqlite"])
    args.port, args.host = 0, "127.0.0.1"
    service = serve.start(args)
    try:
        assert set(service.endpoints) >= {"registry", "repository"}
        assert client_of(service).provide_and_register(kos_sub()).success
    finally:
        service.stop()


def test_serve_with_workers(tmp_path):
    """``--workers 2``: two processes behind the printed endpoints; ``--workers 0`` is refused."""
    parser = argparse.ArgumentParser()
    serve.add_arguments(parser)
    args = parser.parse_args(["--vihf", "off", "--workers", "2", "--dmp-workdir", str(tmp_path)])
    args.port, args.host = 0, "127.0.0.1"
    service = serve.start(args)
    try:
        assert len(service.pids) == 2
        sub = kos_sub()
        assert client_of(service).provide_and_register(sub).success
        assert len(find(client_of(service), sub.submission_set.patientId)) == len(sub.documents)
    finally:
        service.stop()
    args.workers = 0
    with pytest.raises(ValueError):
        serve.start(args)


def test_serve_enforces_vihf_by_default(tmp_path):
    parser = argparse.ArgumentParser()
    serve.add_arguments(parser)
    args = parser.parse_args(["--dmp-workdir", str(tmp_path)])
    args.port, args.host = 0, "127.0.0.1"
    service = serve.start(args)
    try:
        result = client_of(service).provide_and_register(kos_sub())
        assert result.fault is not None and "VIHF" in result.fault.reason
    finally:
        service.stop()


@pytest.mark.parametrize("kwargs", [{"profile": "hl7"}, {"vihf": "maybe"}, {"registry_path": "registry"}])
def test_config_refuses_bad_values(kwargs):
    with pytest.raises(ValueError):
        DmpConfig(**kwargs)


def test_every_fault_has_a_handler_and_breaks_a_dmp_requirement():
    from harness.catalog import load_catalog

    catalog = load_catalog()
    for name, fault in FAULTS.items():
        assert handlers_for(name) != handlers_for(None)
        assert fault.breaks and all(catalog[r].actor == "dmp" for r in fault.breaks)
    with pytest.raises(KeyError):
        handlers_for("no-such-fault")


def _changed(fault: str | None) -> list[str]:
    """The Handlers fields (QueryRules fields, query names) ``fault`` changes."""
    from dataclasses import fields

    base, faulty = handlers_for(None), handlers_for(fault)
    changed = [f.name for f in fields(base) if getattr(base, f.name) != getattr(faulty, f.name)]
    if changed == ["query_rules"]:
        return [f"query_rules.{f.name}" for f in fields(base.query_rules)
                if getattr(base.query_rules, f.name) != getattr(faulty.query_rules, f.name)]
    if changed == ["queries"]:
        return [f"queries.{q}" for q in base.queries if base.queries[q] is not faulty.queries[q]]
    return changed


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_each_fault_misbehaves_in_one_way(fault):
    """A fault changes one step or check (STYLE.md §4), so what it breaks is explained by that one change."""
    assert len(_changed(fault)) == 1, _changed(fault)


def test_response_to_inline_request_is_plain_soap(sqlite_server):
    result = client_of(sqlite_server).provide_and_register(kos_sub(), mtom=False)
    assert result.success and not result.message.mtom
    assert result.content_type.startswith("application/soap+xml")


def test_vihf_warn_mode_serves_without_assertion(tmp_path, caplog):
    from simulators.dmp import reference

    with reference.start(DmpConfig(workdir=tmp_path, vihf="warn")) as ref:
        with caplog.at_level("WARNING", logger="simulators.dmp.vihf_check"):
            assert client_of(ref).provide_and_register(kos_sub()).success
        assert any("DMP-VIHF-001" in r.getMessage() for r in caplog.records)


@pytest.fixture
def own_recorder() -> Any:
    """A recorder of this test's exchanges only (the process-wide one keeps the last 2000)."""
    previous = use_recorder(Recorder())
    yield
    use_recorder(previous)


def _simulator_exchange(summary_part: str, after: int) -> Any:
    deadline = time.monotonic() + 10
    while True:  # the simulator records an exchange once its response is sent
        found = [e for e in recorder().exchanges(actor="dmp-simulator")[after:] if summary_part in e.summary]
        if found or time.monotonic() > deadline:
            break
        time.sleep(0.02)
    assert found, f"no captured exchange of the simulator for {summary_part}"
    return found[-1]


def test_vihf_warn_findings_are_evidence_of_the_message(tmp_path, own_recorder):
    """warn: the request is served and its VIHF findings go with the captured response (Warning: 299
    headers, so the campaign report shows them beside the exchange) and into the inspector, for the
    patient and for the message (objects it created + findings)."""
    from simulators.dmp import reference

    with reference.start(DmpConfig(workdir=tmp_path, vihf="warn")) as ref:
        sub = kos_sub()
        patient = sub.submission_set.patientId
        before = len(recorder().exchanges(actor="dmp-simulator"))
        assert client_of(ref).provide_and_register(sub).success
        warnings = [v for k, v in _simulator_exchange("/repository", before).response_headers if k == "Warning"]
        assert warnings and all(w.startswith('299 dmp-simulator "VIHF ERROR [DMP-VIHF-001]') for w in warnings)
        before = len(recorder().exchanges(actor="dmp-simulator"))
        assert find(client_of(ref), patient)  # a query without VIHF: evidence too
        assert any(k == "Warning" for k, _ in _simulator_exchange("/registry", before).response_headers)

        base = ref.endpoints["inspector"]
        data = requests.get(f"{base}/patients/{patient}.json", timeout=10).json()
        by_action = {f["action"]: f for f in data["findings"]}
        assert set(by_action) == {"urn:ihe:iti:2007:ProvideAndRegisterDocumentSet-b",
                                  "urn:ihe:iti:2007:RegistryStoredQuery"}
        pnr = by_action["urn:ihe:iti:2007:ProvideAndRegisterDocumentSet-b"]
        assert pnr["rule"] == "DMP-VIHF-001" and pnr["severity"] == "error" and pnr["patient_id"] == patient
        message = requests.get(f"{base}/messages/{pnr['exchange_id']}", timeout=10).json()
        assert {f["rule"] for f in message["findings"]} == {"DMP-VIHF-001"}
        assert set(message["objects"]) >= {d["id"] for d in data["doc"]}
        assert "DMP-VIHF-001" in requests.get(f"{base}/patients/{patient}", timeout=10).text


def test_accepted_vihf_leaves_no_warning(tmp_path, own_recorder):
    """A valid assertion (warn mode) and VIHF off: no finding kept, no Warning header."""
    from harness.vihf import throwaway_pki
    from simulators.dmp import reference
    from testplans.dmp.conftest import vihf_provider

    pki = throwaway_pki()
    for vihf in ("warn", "off"):
        with reference.start(DmpConfig(workdir=tmp_path / vihf, vihf=vihf, trust_store=[pki.ca_pem])) as ref:
            sub = kos_sub()
            client = client_of(ref)
            client.vihf = vihf_provider(pki.key_pem, pki.cert_pem)
            before = len(recorder().exchanges(actor="dmp-simulator"))
            assert client.provide_and_register(sub).success
            assert not any(k == "Warning" for k, _ in _simulator_exchange("/repository", before).response_headers)
            patient = sub.submission_set.patientId
            data = requests.get(f"{ref.endpoints['inspector']}/patients/{patient}.json", timeout=10).json()
            assert data["findings"] == []
