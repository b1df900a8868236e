"""simulators.consumer.context: every parameter, valid and broken (ANS PoC, ANS FAQ)."""

from __future__ import annotations

import pytest

from simulators.consumer.context import MANDATORY, ContextualCall, parse_contextual_call
from testplans.consumer_drimbox.exams import contextual_form, new_patient


def _form(**changes: str) -> dict[str, str]:
    form = contextual_form(new_patient())
    form.update(changes)
    return form


def _params(result) -> list[str]:
    assert isinstance(result, list), result
    return [e.param for e in result]


def test_valid_call():
    form = _form(StudyInstanceUID="1.2.3.4", Modality="ct", StudyDate="2025-03-14", AccessionNumber="ACC1",
                 Situation="URGENCE", AnatomicRegion="Thorax")
    call = parse_contextual_call(form)
    assert isinstance(call, ContextualCall)
    assert call.sex == "F" and call.birth_date == "19480915" and call.modality == "CT"
    assert call.study_date == "20250314" and call.ins_oid == "1.2.250.1.213.1.4.10"
    assert call.dmp_patient_id == f"{call.ins}^^^&1.2.250.1.213.1.4.10&ISO^NH"


@pytest.mark.parametrize("param", MANDATORY)
def test_each_missing_mandatory_parameter_is_named(param):
    form = _form()
    del form[param]
    assert _params(parse_contextual_call(form)) == [param]


@pytest.mark.parametrize("param", MANDATORY)
def test_blank_is_missing(param):
    assert _params(parse_contextual_call(_form(**{param: "   "}))) == [param]


@pytest.mark.parametrize(("param", "value"), [
    ("Patient.identifier.value", "248097505610199"),
    ("Patient.identifier.value", "24809750561019"),
    ("Patient.identifier.system", "urn:oid:1.2.250.1.213.1.4.99"),
    ("Patient.gender", "femme"),
    ("Patient.birthDate", "1948-02-31x"),
    ("Patient.birthDate", "1948-13-01"),
    ("Address.district", "7505"),
    ("InformationEtConsentement", "maybe"),
    ("InformationEtConsentement", "false"),
    ("StudyInstanceUID", "1.2.abc"),
    ("StudyInstanceUID", "1." + "2" * 80),
    ("Modality", "C"),
    ("StudyDate", "2025/03/14"),
    ("AccessionNumber", "A" * 17),
    ("Patient.name.family", "DUPONT\x00"),
    ("Patient.name.given", "X" * 257),
])
def test_malformed_parameter_is_named(param, value):
    assert param in _params(parse_contextual_call(_form(**{param: value})))


def test_nia_accepts_any_15_digits():
    call = parse_contextual_call(_form(**{"Patient.identifier.system": "1.2.250.1.213.1.4.11",
                                          "Patient.identifier.value": "123456789012345"}))
    assert isinstance(call, ContextualCall)


def test_script_is_kept_as_text_for_escaping_later():
    call = parse_contextual_call(_form(**{"Patient.name.family": "<script>x</script>"}))
    assert isinstance(call, ContextualCall) and call.family == "<script>x</script>"


def test_every_problem_is_reported_at_once():
    assert len(parse_contextual_call({})) == len(MANDATORY)
