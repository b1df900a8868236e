"""simulators.consumer.faults: every named fault changes the Consumer in one way, the others stay correct."""

from __future__ import annotations

from dataclasses import fields

import pydicom
import pytest

from harness.soap import ITI43_ACTION, decode_message
from simulators.consumer import FAULTS, ConsumerConfig, create_app
from simulators.consumer.behaviour import Behaviour
from simulators.consumer.context import ContextualCall
from simulators.consumer.faults import behaviour_for
from testplans.consumer_drimbox.exams import contextual_form, new_patient, write_fixture_study


def _changed(fault: str) -> list[str]:
    default, faulty = Behaviour(), behaviour_for(fault)
    return [f.name for f in fields(Behaviour) if getattr(default, f.name) != getattr(faulty, f.name)]


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_each_fault_changes_one_part(fault):
    assert len(_changed(fault)) == 1, _changed(fault)


def test_no_fault_is_the_correct_behaviour_and_unknown_names_are_refused():
    assert behaviour_for(None) == Behaviour()
    with pytest.raises(KeyError):
        behaviour_for("no-such-fault")


def test_issuer_optional_accepts_a_call_without_it():
    form = contextual_form(new_patient())
    del form["PatientIDIssuer"]
    assert isinstance(behaviour_for("issuer-optional").parse_call(form), ContextualCall)
    assert isinstance(Behaviour().parse_call(form), list)


def test_refuses_situation_names_it():
    form = contextual_form(new_patient(), Situation="URGENCE")
    assert [e.param for e in behaviour_for("refuses-situation").parse_call(form)] == ["Situation"]
    assert isinstance(behaviour_for("refuses-situation").parse_call(contextual_form(new_patient())), ContextualCall)


def test_no_kpi_on_error_records_successes_only(tmp_path):
    stat = behaviour_for("no-kpi-on-error").modelstat(tmp_path)
    stat.record("succes")
    stat.record("erreur", "missing")
    assert [e["Statut_Appel"] for e in stat.entries()] == ["succes"]


def _client(tmp_path, fault):
    config = ConsumerConfig(workdir=tmp_path, registry_url="http://127.0.0.1:9/registry",
                            repository_url="http://127.0.0.1:9/repository", psc_issuer="http://psc.test/realm",
                            public_url="http://consumer.test", fault=fault)
    return create_app(config).test_client()


@pytest.mark.parametrize(("fault", "status"), [(None, 303), ("context-answered-307", 307)])
def test_contextual_call_redirect_status(tmp_path, fault, status):
    assert _client(tmp_path, fault).post("/context", data=contextual_form(new_patient())).status_code == status


@pytest.mark.parametrize(("fault", "escaped"), [(None, True), ("unescaped-pages", False)])
def test_output_encoding_of_the_patient_traits(tmp_path, fault, escaped):
    from flask import render_template

    app = create_app(ConsumerConfig(workdir=tmp_path, fault=fault))
    call = Behaviour().parse_call(contextual_form(new_patient(family="O'NEIL<script>1</script>")))
    with app.test_request_context():
        text = render_template("error.html", title="t", message="m", call=call)
    assert ("<script>" not in text) is escaped


@pytest.mark.parametrize(("fault", "shown"), [(None, True), ("hides-birthplace", False)])
def test_birthplace_among_the_traits(tmp_path, fault, shown):
    app = create_app(ConsumerConfig(workdir=tmp_path, fault=fault))
    call = behaviour_for(None).parse_call(contextual_form(new_patient()))
    keys = [key for key, _label, _value in app.extensions["consumer"].shown_traits(call)]
    assert ("birthplace" in keys) is shown and keys[:4] == ["birth-name", "first-given-name", "birth-date", "sex"]


def test_plain_soap_client_unwraps_the_mtom_request():
    sent = []

    class Session:
        def post(self, url, data, headers, timeout):
            sent.append((headers["Content-Type"], data))
            raise OSError("not sent")

    client = behaviour_for("iti43-plain-soap").xds_client("http://dmp/registry", "http://dmp/repository",
                                                          session=Session())
    with pytest.raises(OSError):
        client.retrieve([("1.2.3", "4.5.6")])
    msg = decode_message(*sent[0])
    assert not msg.mtom and msg.envelope.action == ITI43_ACTION and sent[0][0].startswith("application/soap+xml")


def test_ascii_patient_name_rewrites_a_copy(tmp_path):
    ref = write_fixture_study(tmp_path, new_patient(family="DUPONT", given="Hélène"), series=1, instances=1)[0]
    out = behaviour_for("ascii-patient-name").rewrite_before_store(ref.path)
    assert str(pydicom.dcmread(out).PatientName) == "DUPONT^HELENE"
    assert str(pydicom.dcmread(ref.path).PatientName) == "DUPONT^Hélène"


def test_configured_wado_root_ignores_the_retrieve_url_path():
    from simulators.consumer.manifest import SeriesRef

    ref = SeriesRef("1.2", "3.4", "https://src.example:8443/pacs/wado/studies/1.2/series/3.4")
    url_of = behaviour_for("configured-wado-root").retrieve.url_of
    assert url_of(ref) == "https://src.example:8443/dicom-web/studies/1.2/series/3.4"
    assert Behaviour().retrieve.url_of(ref) == ref.retrieve_url


def test_community_as_repository_names_the_home_community():
    from simulators.consumer.history import Exam

    exam = Exam("urn:uuid:1", "1.2.3", "1.2.250.1.213.1.1.9.1", "Approved", home_community_id="urn:oid:1.2.250.9")
    assert Behaviour().kos_request(exam) == ("1.2.250.1.213.1.1.9.1", "1.2.3")
    assert behaviour_for("community-as-repository-id").kos_request(exam) == ("1.2.250.9", "1.2.3")
