"""The Consumer's Flask app through its test client (logic), and the reference on a real port."""

from __future__ import annotations

import argparse
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from simulators.consumer import FAULTS, ConsumerConfig, create_app, start_reference
from simulators.consumer import serve as consumer_serve
from testplans.consumer_drimbox.exams import contextual_form, new_patient


@pytest.fixture
def client(tmp_path):
    config = ConsumerConfig(workdir=tmp_path, registry_url="http://127.0.0.1:9/registry",
                            repository_url="http://127.0.0.1:9/repository", psc_issuer="http://psc.test/realm",
                            public_url="http://consumer.test")
    return create_app(config).test_client()


def test_contextual_call_redirects_and_sets_a_session(client):
    resp = client.post("/context", data=contextual_form(new_patient()))
    assert resp.status_code == 303 and resp.headers["Location"].startswith("/exams/")
    assert "drimbox_sid" in resp.headers.get("Set-Cookie", "") and "HttpOnly" in resp.headers["Set-Cookie"]


def test_exam_list_needs_a_psc_login(client):
    location = client.post("/context", data=contextual_form(new_patient())).headers["Location"]
    resp = client.get(location)
    assert resp.status_code == 302
    target = resp.headers["Location"]
    assert target.startswith("http://psc.test/realm/protocol/openid-connect/auth?")
    assert parse_qs(urlsplit(target).query)["code_challenge_method"] == ["S256"]


def test_bad_call_is_a_400_naming_the_parameter_with_values_escaped(client):
    form = contextual_form(new_patient(), **{"Patient.gender": "<b>x</b>"})
    del form["PatientID"]
    resp = client.post("/context", data=form)
    text = resp.get_data(as_text=True)
    assert resp.status_code == 400 and 'data-param="PatientID"' in text and 'data-param="Patient.gender"' not in text
    assert "<b>x</b>" not in text
    form = contextual_form(new_patient(), **{"Patient.birthDate": "<script>1</script>"})
    text = client.post("/context", data=form).get_data(as_text=True)
    assert "Patient.birthDate" in text and "<script>" not in text


def test_kpi_counts_good_and_bad_calls(client):
    client.post("/context", data=contextual_form(new_patient()))
    client.post("/context", data={})
    assert [e["Statut_Appel"] for e in client.get("/kpi").get_json()] == ["succes", "erreur"]


def test_unknown_context_and_stray_callback(client):
    assert client.get("/exams/nope").status_code == 404
    assert client.get("/auth/redirect?code=x&state=y").status_code == 400
    assert client.get("/health").get_json() == {"status": "ok"}


def test_oversized_form_is_refused(client):
    assert client.post("/context", data={"Patient.name.family": "x" * 100_000}).status_code == 413


def test_unknown_fault_is_refused(tmp_path):
    with pytest.raises(KeyError):
        start_reference("no-such-fault", tmp_path, peers={"registry": "", "repository": "", "psc_issuer": ""})


def test_every_fault_names_consumer_requirements():
    from harness.catalog import load_catalog

    catalog = load_catalog()
    for fault in FAULTS.values():
        assert fault.breaks and all(catalog[r].actor == "consumer_drimbox" for r in fault.breaks)


def test_standalone_reference_serves_on_a_real_port(tmp_path):
    with start_reference(None, tmp_path) as ref:
        resp = requests.post(ref.endpoints["contextual_call"], data=contextual_form(new_patient()),
                             allow_redirects=False, timeout=10)
        assert resp.status_code == 303
        assert requests.get(ref.endpoints["kpi"], timeout=10).json()[0]["Statut_Appel"] == "succes"


def test_serve_options(tmp_path):
    parser = argparse.ArgumentParser()
    consumer_serve.add_arguments(parser)
    args = parser.parse_args(["--consumer-workdir", str(tmp_path), "--allow-host", "src:8443"])
    args.port, args.host = 0, "127.0.0.1"
    service = consumer_serve.start(args)
    try:
        assert service.config.allowed_hosts == ("src:8443",)
        assert requests.get(service.endpoints["base"] + "/health", timeout=10).status_code == 200
    finally:
        service.stop()


def test_accept_option():
    assert consumer_serve.parse_accept_option(["1.2.840.10008.1.2.1=0.5", "1.2.840.10008.1.2.4.80"]) == (
        ("1.2.840.10008.1.2.1", 0.5), ("1.2.840.10008.1.2.4.80", 1.0))
    assert consumer_serve.parse_accept_option([]) == consumer_serve.DEFAULT_ACCEPT
    for bad in ("x=1", "1.2=2", "1.2=q"):
        with pytest.raises(SystemExit):
            consumer_serve.parse_accept_option([bad])


def test_serve_whitelist_option(tmp_path, corpus):
    signed = corpus / "drim-m-data/Référencement DRIMBox/Liste blanche TEST/Liste blanche signée" \
        / "LISTEBLANCHE_DRIM-M_SIGNEE_TEST.xml"
    if not signed.exists():
        pytest.skip(f"corpus file missing: {signed}")
    parser = argparse.ArgumentParser()
    consumer_serve.add_arguments(parser)
    hosts, _ = consumer_serve.allowlist(parser.parse_args(["--whitelist", str(signed), "--allow-host", "a:1"]))
    assert hosts[0] == "a:1" and "db3.test.mesimagesmedicales.fr" in hosts
    tampered = tmp_path / "wl.xml"
    tampered.write_bytes(signed.read_bytes().replace(b"db3.test", b"db9.test", 1))
    with pytest.raises(SystemExit, match="refused"):
        consumer_serve.allowlist(parser.parse_args(["--whitelist", str(tampered)]))


def test_viewer_url_uses_the_whitelist_viewer_host():
    from simulators.consumer.app import viewer_url

    config = ConsumerConfig(viewers={"db.example": "vi.example"})
    assert viewer_url(config, "https://db.example/wado-rs/studies/1/series/2", "1") == \
        "https://vi.example/viewer?StudyInstanceUID=1"
    assert viewer_url(config, "https://other:8443/wado-rs/x", "1").startswith("https://other:8443/viewer")
