"""Contextual call, PSC login, INS display and ModelStat KPI (ANS FAQ, ANS PoC TestServer-AppelContextuel)."""

from __future__ import annotations

import base64
import contextlib
import hashlib
from urllib.parse import parse_qs, urlsplit

import pytest

from harness.checks import attach_findings, expect, expect_equal
from harness.drivers import StepUnavailable
from harness.findings import warning
from harness.tls import session
from testplans.consumer_drimbox.conftest import answered, driver_step, open_patient
from testplans.consumer_drimbox.exams import contextual_form, new_patient, patient_cx
from testplans.consumer_drimbox.traffic import form_of, psc_token_requests, saw_find_documents

MANDATORY = ("Patient.identifier.value", "Patient.identifier.system", "Patient.name.family", "Patient.name.given",
             "Patient.gender", "Patient.birthDate", "Address.district", "InformationEtConsentement", "PatientID",
             "PatientIDIssuer")
MALFORMED = [
    ("Patient.identifier.value", "248097505610199"),  # wrong NIR key
    ("Patient.identifier.system", "urn:oid:1.2.3.4"),  # not an INS OID
    ("Patient.birthDate", "1948-13-45"),
    ("Patient.gender", "X"),
    ("Address.district", "Paris"),
    ("InformationEtConsentement", "peut-être"),
    ("StudyInstanceUID", "not-a-uid"),
    ("StudyDate", "14/03/2025"),
]
SCRIPT = "<script>alert('drimcheck')</script>"
# the traits INS/va1.36 adds on the professional's setting, as drivers name them (harness.drivers.shown_patient)
EXTENDED = ("ins", "ins-oid", "given-names", "used-name", "used-given-name")
# a call carrying them: the given names as Patient.name.given repeated in order (HL7 FHIR HumanName.given), the
# used names as Patient.name.usual.family / .given (no public ANS document names these two parameters)
GIVEN_NAMES = ["Élodie", "Marie-Anne", "Louise"]
USED_NAMES = {"Patient.name.usual.family": "MARTIN-DURAND", "Patient.name.usual.given": "Lou"}


def _post(world, form):
    return session().post(world.contextual_call, data=form, allow_redirects=False, timeout=30)


@pytest.mark.requirement("CON-CTX-POST")
def test_contextual_call_redirects_to_the_exam_list(world, browser):
    page = browser.open(new_patient())
    first = browser.first_response
    expect(first.status_code in (302, 303), rule="CON-CTX-POST", location=f"POST {world.contextual_call}",
           expected="302 or 303", observed=first.status_code, message="the contextual call must redirect")
    expect(bool(first.headers.get("Location")), rule="CON-CTX-POST", location="Location", expected="a URL",
           observed=None, message="redirect without Location")
    expect_equal(page.status, 200, rule="CON-CTX-POST", location=page.url, message="exam list not reachable")


@pytest.mark.requirement("CON-CTX-400")
@pytest.mark.parametrize("param", MANDATORY)
def test_missing_parameter_is_named_in_a_400(world, param):
    form = contextual_form(new_patient())
    del form[param]
    resp = _post(world, form)
    expect_equal(resp.status_code, 400, rule="CON-CTX-400", location=f"POST without {param}",
                 message="a contextual call missing a mandatory parameter must be refused")
    expect(param in resp.text, rule="CON-CTX-400", location="400 page", expected=f"names {param}",
           observed=resp.text[:300], message="the error page must name the missing parameter")


@pytest.mark.requirement("CON-CTX-400")
@pytest.mark.parametrize(("param", "value"), MALFORMED, ids=[p for p, _ in MALFORMED])
def test_malformed_parameter_is_named_in_a_400(world, param, value):
    resp = _post(world, contextual_form(new_patient(), **{param: value}))
    expect_equal(resp.status_code, 400, rule="CON-CTX-400", location=f"POST {param}={value!r}",
                 message="a malformed parameter must be refused")
    expect(param in resp.text, rule="CON-CTX-400", location="400 page", expected=f"names {param}",
           observed=resp.text[:300], message="the error page must name the malformed parameter")


@pytest.mark.requirement("CON-CTX-ESCAPE")
def test_script_in_a_parameter_is_escaped(world, browser):
    page = browser.open(new_patient(family="O'NEIL" + SCRIPT, given="Zoé" + SCRIPT))
    expect(SCRIPT not in page.text, rule="CON-CTX-ESCAPE", location=page.url, expected="escaped markup",
           observed="raw <script> element in the page", message="a parameter value is reflected unescaped")
    resp = _post(world, contextual_form(new_patient(), **{"Patient.birthDate": SCRIPT}))
    expect(SCRIPT not in resp.text, rule="CON-CTX-ESCAPE", location="400 page", expected="escaped markup",
           observed="raw <script> element", message="the error page reflects the value unescaped")
    health = session().get(world.contextual_call, timeout=30)
    expect(health.status_code < 500, rule="CON-CTX-ESCAPE", location=world.contextual_call,
           expected="the Consumer keeps serving", observed=health.status_code, message="server error after bad input")


@pytest.mark.requirement("CON-CTX-OPTIONAL")
def test_optional_parameters_are_accepted(world, browser, publish):
    exam = publish(series=1, instances=1)
    page = browser.open(exam.patient, Situation="URGENCE", Modality="CT", StudyDate="2025-03-14",
                        AnatomicRegion="Thorax", AccessionNumber=exam.accession)
    # accepted means sent on towards the exam list; which redirect status is CON-CTX-POST's question
    status = browser.first_response.status_code
    expect(300 <= status < 400, rule="CON-CTX-OPTIONAL", location="POST with every optional parameter",
           expected="a redirect to the exam list (the call accepted)", observed=status,
           message="optional parameters refused")
    expect_equal(page.status, 200, rule="CON-CTX-OPTIONAL", location=page.url, message="exam list not reachable")


@pytest.mark.requirement("CON-AUTH-PKCE")
def test_login_is_authorization_code_with_pkce(world, new_browser):
    browser = new_browser()
    page = browser.open(new_patient())
    expect(bool(browser.auth_redirects), rule="CON-AUTH-PKCE", location="redirects after the contextual call",
           expected=f"a redirect to {world.psc_auth}", observed=page.url,
           message="the professional was not sent to Pro Santé Connect")
    query = {k: v[0] for k, v in parse_qs(urlsplit(browser.auth_redirects[0]).query).items()}
    for name, wanted in (("response_type", "code"), ("code_challenge_method", "S256")):
        expect_equal(query.get(name), wanted, rule="CON-AUTH-PKCE", location=f"authorization request {name}")
    expect("scope_all" in query.get("scope", "").split(), rule="CON-AUTH-PKCE", location="authorization request scope",
           expected="scope_all", observed=query.get("scope"), message="PSC scope missing")
    for name in ("client_id", "redirect_uri", "state", "code_challenge"):
        expect(bool(query.get(name)), rule="CON-AUTH-PKCE", location=f"authorization request {name}",
               expected="present", observed=None, message=f"{name} missing")
    tokens = psc_token_requests("authorization_code")
    expect(bool(tokens), rule="CON-AUTH-PKCE", location="PSC token endpoint", expected="a code exchange",
           observed="none", message="the code was not exchanged at PSC")
    verifier = form_of(tokens[-1]).get("code_verifier", [""])[0]
    digest = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    expect_equal(digest, query["code_challenge"], rule="CON-AUTH-PKCE", location="token request code_verifier",
                 message="S256(code_verifier) differs from the code_challenge")
    expect_equal(page.status, 200, rule="CON-AUTH-PKCE", location=page.url, message="login did not complete")


@pytest.mark.requirement("CON-INS-DISPLAY")
def test_ins_traits_are_displayed(world):
    patient = new_patient(family="MARTIN", given="Élodie")
    open_patient(world, patient)
    shown = driver_step(world.driver.shown_patient, "read the INS traits shown")
    answered(world, "INS traits shown by default", shown)
    d = patient.birth_date
    wanted = {"birth-name": patient.birth_name, "first-given-name": patient.given,
              "birth-date": f"{d[6:8]}/{d[4:6]}/{d[0:4]}", "sex": patient.sex, "birthplace": patient.birthplace}
    for trait, value in wanted.items():
        expect_equal(shown.get(trait), value, rule="CON-INS-DISPLAY", location=f"INS trait {trait}",
                     message="INS trait not displayed as given")
    more = [trait for trait in EXTENDED if shown.get(trait)]
    if more:  # INS/va1.36 puts them under a user setting; it does not forbid them by default: a warning only
        attach_findings([warning("CON-INS-DISPLAY", "INS traits shown by default",
                                 "traits INS/va1.36 lists under a user setting are shown by default", found=more)])


@pytest.mark.requirement("CON-INS-DISPLAY-EXTENDED")
def test_extended_ins_display_follows_the_professionals_setting(world):
    """With the professional's setting on, the INS and its OID, every given name and the used names are shown
    as the contextual call gave them (INS/va1.36, ANS FAQ spec §4.6.2); the setting is switched off after."""
    patient = new_patient(family="LEGRAND", given=GIVEN_NAMES[0])
    form = {**contextual_form(patient), "Patient.name.given": GIVEN_NAMES, **USED_NAMES}
    driver_step(lambda: world.driver.set_extended_ins_display(True), "switch on the professional's setting that "
                "shows the INS with its OID, the given names and the used names")
    try:
        driver_step(lambda: world.driver.open_patient(form, until=lambda: saw_find_documents(patient_cx(patient))),
                    "open the exam list of a patient whose call carries several given names and used names")
        shown = driver_step(world.driver.shown_patient, "read the traits shown with the extended display on")
    finally:
        with contextlib.suppress(StepUnavailable):
            world.driver.set_extended_ins_display(False)
    answered(world, "traits shown with the extended INS display on", shown)
    oid = form["Patient.identifier.system"].removeprefix("urn:oid:")
    expect_equal(shown.get("ins"), patient.ins, rule="CON-INS-DISPLAY-EXTENDED", location="INS number",
                 message="the INS number is not shown as the call gave it")
    expect_equal((shown.get("ins-oid") or "").removeprefix("urn:oid:"), oid, rule="CON-INS-DISPLAY-EXTENDED",
                 location="OID of the INS", message="the OID of the INS is not shown as the call gave it")
    expect_equal(" ".join((shown.get("given-names") or "").split()), " ".join(GIVEN_NAMES),
                 rule="CON-INS-DISPLAY-EXTENDED", location="given names",
                 message="the list of given names is not shown in full, in the call's order")
    for trait, param in (("used-name", "Patient.name.usual.family"), ("used-given-name", "Patient.name.usual.given")):
        expect_equal(shown.get(trait), USED_NAMES[param], rule="CON-INS-DISPLAY-EXTENDED", location=trait,
                     message=f"the used name the call gave as {param} is not shown")


@pytest.mark.requirement("CON-KPI")
def test_modelstat_counts_each_call(world, browser):
    before = driver_step(world.driver.kpi_records, "read the ModelStat KPI records")
    browser.open(new_patient())
    _post(world, {"Patient.name.family": "X"})
    after = world.driver.kpi_records()[len(before):]
    answered(world, "ModelStat records of the two calls", after)
    expect_equal([(e.get("Nombre_Appel"), e.get("Statut_Appel")) for e in after], [(1, "succes"), (1, "erreur")],
                 rule="CON-KPI", location="ModelStat records of two calls", message="one record per call expected")
