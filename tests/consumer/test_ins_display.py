"""INS traits shown by the reference Consumer: the defaults, and on the professional's setting the INS with its OID,
the given names and the used names (INS/va1.36); the setting's store and its page (simulators.consumer.settings)."""

from __future__ import annotations

import os

import pytest
from lxml import html
from werkzeug.datastructures import MultiDict

from harness.drivers import DriverContext
from harness.operator import OperatorDriver
from simulators.consumer import ConsumerConfig, create_app
from simulators.consumer.context import (
    EXTENDED_TRAITS,
    INS_TRAITS,
    MAX_GIVEN_NAMES,
    ContextualCall,
    parse_contextual_call,
    trait_values,
)
from simulators.consumer.session import Professional
from simulators.consumer.settings import FILE_NAME, DisplaySettings
from testplans.consumer_drimbox.exams import contextual_form, new_patient

COOKIE = "drimbox_sid"
USED = {"Patient.name.usual.family": "MARTIN-DURAND", "Patient.name.usual.given": "Lou"}


def _form(given: list[str] | str = "Élodie", **extra: str) -> MultiDict:
    """The call as Flask parses it: a multi-dict, ``Patient.name.given`` repeated when a list is given."""
    form = MultiDict(contextual_form(new_patient(given="Élodie")))
    form.setlist("Patient.name.given", given if isinstance(given, list) else [given])
    for key, value in extra.items():
        form[key] = value
    return form


# ---------------------------------------------------------------- the call
def test_repeated_given_names_are_the_list_and_the_first_is_the_first_given_name():
    call = parse_contextual_call(_form(["Élodie", "Marie-Anne", "Louise"], **USED))
    assert isinstance(call, ContextualCall)
    assert call.given == "Élodie" and call.given_names == ("Élodie", "Marie-Anne", "Louise")
    assert (call.used_family, call.used_given) == ("MARTIN-DURAND", "Lou")
    values = trait_values(call)
    assert values["given-names"] == "Élodie Marie-Anne Louise" and values["first-given-name"] == "Élodie"
    assert values["ins-oid"] == "1.2.250.1.213.1.4.10" and values["ins-kind"] == "INS-NIR (test)"


def test_a_plain_mapping_with_a_list_reads_the_same():
    form = {**contextual_form(new_patient()), "Patient.name.given": ["Élodie", "Louise"]}
    call = parse_contextual_call(form)
    assert isinstance(call, ContextualCall) and call.given_names == ("Élodie", "Louise")


def test_one_given_name_is_kept_as_sent_and_used_names_are_optional():
    call = parse_contextual_call(_form("Marie Claire"))
    assert isinstance(call, ContextualCall)
    assert call.given == "Marie Claire" and call.given_names == ("Marie Claire",)
    values = trait_values(call)
    assert values["given-names"] == "Marie Claire" and values["used-name"] == values["used-given-name"] == ""


@pytest.mark.parametrize(("given", "reason"), [
    (["Élodie", " "], "empty given name"),
    (["Élodie", "X" * 257], "longer than"),
    (["Élodie", "Lou\x00"], "control characters"),
    (["Élodie"] * (MAX_GIVEN_NAMES + 1), f"more than {MAX_GIVEN_NAMES}"),
])
def test_a_bad_given_name_in_the_list_is_named(given, reason):
    errors = parse_contextual_call(_form(given))
    assert isinstance(errors, list) and [e.param for e in errors] == ["Patient.name.given"]
    assert reason in errors[0].reason


def test_a_bad_used_name_is_named():
    errors = parse_contextual_call(_form(**{"Patient.name.usual.given": "Lou\x07"}))
    assert isinstance(errors, list) and [e.param for e in errors] == ["Patient.name.usual.given"]


# ---------------------------------------------------------------- the store
def test_setting_is_per_professional_off_by_default_and_durable(tmp_path):
    store = DisplaySettings(tmp_path / FILE_NAME)
    assert store.extended_ins("810001") is False
    store.set_extended_ins("810001", True)
    store.set_extended_ins("810002", False)
    again = DisplaySettings(tmp_path / FILE_NAME)  # another process, or after a restart
    assert again.extended_ins("810001") is True and again.extended_ins("810002") is False
    again.set_extended_ins("810001", False)
    assert store.extended_ins("810001") is False


# ---------------------------------------------------------------- the pages
def _app(tmp_path, fault: str | None = None):
    config = ConsumerConfig(workdir=tmp_path, registry_url="http://127.0.0.1:9/registry",
                            repository_url="http://127.0.0.1:9/repository", psc_issuer="http://psc.test/realm",
                            public_url="http://consumer.test", timeout=2, fault=fault)
    return create_app(config)


def _logged_in(app, professional: str = "810001"):
    """A test client holding the session of a professional logged in at PSC."""
    login = app.extensions["consumer"].sessions.new()
    login.access_token, login.professional = "token", Professional(professional, "Marie", "RADIOLOGUE")
    client = app.test_client()
    client.set_cookie(COOKIE, login.id)
    return client


def _token(client) -> str:
    page = html.fromstring(client.get("/settings").get_data(as_text=True))
    return page.xpath("//form[@id='display-settings']//input[@name='csrf_token']/@value")[0]


def _switch(client, on: bool):
    data = {"csrf_token": _token(client), **({"extended_ins": "on"} if on else {})}
    return client.post("/settings", data=data)


def _shown(client, form: MultiDict) -> dict[str, str]:
    """The traits of the patient section (rendered on every page of the call; here the DMP is unreachable, so
    the exam list is the 502 page, which shows them too)."""
    ctx = client.post("/context", data=form).headers["Location"]
    page = html.fromstring(client.get(ctx).get_data(as_text=True))
    return {dd.get("data-trait"): dd.text_content().strip() for dd in page.xpath("//dl[@id='ins-traits']/dd")}


def test_default_display_is_the_five_traits_without_the_ins(tmp_path):
    client = _logged_in(_app(tmp_path))
    assert list(_shown(client, _form(["Élodie", "Louise"], **USED))) == list(INS_TRAITS)


def test_setting_on_shows_the_ins_its_oid_the_given_names_and_used_names(tmp_path):
    client = _logged_in(_app(tmp_path))
    assert _switch(client, True).status_code == 303
    form = _form(["Élodie", "Marie-Anne", "Louise"], **USED)
    shown = _shown(client, form)
    assert list(shown) == list(INS_TRAITS + EXTENDED_TRAITS)
    assert shown["ins"] == form["Patient.identifier.value"] and shown["ins-oid"] == "1.2.250.1.213.1.4.10"
    assert shown["given-names"] == "Élodie Marie-Anne Louise"
    assert (shown["used-name"], shown["used-given-name"]) == ("MARTIN-DURAND", "Lou")
    # without used names in the call, no empty rows
    assert "used-name" not in _shown(client, _form("Élodie"))
    assert _switch(client, False).status_code == 303
    assert "ins" not in _shown(client, form)


def test_setting_belongs_to_the_professional_and_outlives_a_restart(tmp_path):
    client = _logged_in(_app(tmp_path), "810001")
    _switch(client, True)
    other = _logged_in(client.application, "810002")
    assert "ins" not in _shown(other, _form())
    restarted = _logged_in(_app(tmp_path), "810001")  # a new process on the same workdir
    assert "ins" in _shown(restarted, _form())
    page = restarted.get("/settings").get_data(as_text=True)
    assert 'data-state="on"' in page and "checked" in page


def test_settings_page_needs_a_psc_login(tmp_path):
    client = _app(tmp_path).test_client()
    resp = client.get("/settings")
    assert resp.status_code == 302 and resp.headers["Location"].startswith("http://psc.test/realm/")
    assert COOKIE in resp.headers.get("Set-Cookie", "")
    assert client.post("/settings", data={"extended_ins": "on"}).status_code == 401


def test_post_without_the_form_token_changes_nothing(tmp_path):
    app = _app(tmp_path)
    client = _logged_in(app)
    for token in ("", "0" * 64):
        resp = client.post("/settings", data={"csrf_token": token, "extended_ins": "on"})
        assert resp.status_code == 403
    other = _logged_in(app, "810001")  # the same professional's other session: its token is not this one's
    resp = client.post("/settings", data={"csrf_token": _token(other), "extended_ins": "on"})
    assert resp.status_code == 403
    assert 'data-state="off"' in client.get("/settings").get_data(as_text=True)


def test_a_bad_value_is_a_400_that_changes_nothing(tmp_path):
    client = _logged_in(_app(tmp_path))
    resp = client.post("/settings", data={"csrf_token": _token(client), "extended_ins": "<b>yes</b>"})
    assert resp.status_code == 400 and "<b>" not in resp.get_data(as_text=True)
    assert 'data-state="off"' in client.get("/settings").get_data(as_text=True)


def test_extended_values_are_escaped(tmp_path):
    client = _logged_in(_app(tmp_path))
    _switch(client, True)
    ctx = client.post("/context", data=_form(**{"Patient.name.usual.family": "<script>x</script>"})).headers
    text = client.get(ctx["Location"]).get_data(as_text=True)
    assert "<script>x</script>" not in text and "&lt;script&gt;" in text


@pytest.mark.parametrize(("fault", "missing"), [
    ("no-extended-ins-display", set(EXTENDED_TRAITS)),
    ("ins-without-oid", {"ins-oid", "ins-kind"}),
])
def test_faults_keep_the_setting_but_not_the_display(tmp_path, fault, missing):
    client = _logged_in(_app(tmp_path, fault))
    _switch(client, True)
    assert 'data-state="on"' in client.get("/settings").get_data(as_text=True)
    shown = _shown(client, _form(["Élodie", "Louise"], **USED))
    assert set(INS_TRAITS + EXTENDED_TRAITS) - set(shown) == missing


# ---------------------------------------------------------------- the operator driver
def _stdin(lines: list[str]):
    """A readable file holding the person's answers (the operator driver select()s on it)."""
    read, write = os.pipe()
    os.write(write, ("\n".join(lines) + "\n").encode())
    os.close(write)
    return os.fdopen(read, encoding="utf-8")


def test_operator_is_asked_to_switch_the_setting_then_for_the_extended_traits():
    said: list[str] = []
    answers = ["", "LEGRAND", "Élodie", "15/09/1948", "F", "75056", "248097505610293", "1.2.250.1.213.1.4.10",
               "Élodie Louise", "", ""]
    with _stdin(answers) as stdin:
        driver = OperatorDriver(DriverContext("https://c/context", "https://c", "https://psc/auth", "10001000001",
                                              say=said.append, options={"operator": {"timeout": 2}}), stdin=stdin)
        driver.set_extended_ins_display(True)
        assert any("switch on the display of the INS number with its OID" in line for line in said)
        shown = driver.shown_patient()
    assert shown["ins"] == "248097505610293" and shown["given-names"] == "Élodie Louise"
    assert "used-name" not in shown  # an empty answer: not shown
    assert len([line for line in said if line.strip().startswith("the ")]) == 10
