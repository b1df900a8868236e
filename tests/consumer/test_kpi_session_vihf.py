"""ModelStat records, PSC login helpers and the VIHF assertion of the reference Consumer."""

from __future__ import annotations

import base64
import hashlib
from urllib.parse import parse_qs, urlsplit

import pytest

from simulators.consumer.config import ConsumerConfig
from simulators.consumer.kpi import ModelStat
from simulators.consumer.session import Login, LoginError, Professional, PscClient, pkce_pair
from simulators.consumer.vihf import RESOURCE_ID, build_vihf
from testplans.consumer_drimbox.traffic import vihf_attributes


def test_modelstat_records_and_reads(tmp_path):
    kpi = ModelStat(tmp_path)
    kpi.record("succes")
    kpi.record("erreur", "Patient.gender: missing")
    entries = kpi.entries()
    assert [(e["Nombre_Appel"], e["Statut_Appel"]) for e in entries] == [(1, "succes"), (1, "erreur")]
    assert entries[1]["Motif"] == "Patient.gender: missing"


def test_modelstat_refuses_unknown_status(tmp_path):
    with pytest.raises(ValueError):
        ModelStat(tmp_path).record("ok")


def test_pkce_pair_is_s256():
    verifier, challenge = pkce_pair()
    assert 43 <= len(verifier) <= 128
    assert challenge == base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


def test_authorization_url_carries_pkce_and_state():
    config = ConsumerConfig(psc_issuer="http://psc/realm", public_url="http://consumer:8080")
    login = Login("sid")
    url = PscClient(config).authorization_url(login, "/exams/x")
    q = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
    assert url.startswith("http://psc/realm/protocol/openid-connect/auth?")
    assert q["code_challenge_method"] == "S256" and q["state"] == login.state and login.verifier
    assert q["redirect_uri"] == "http://consumer:8080/auth/redirect" and "scope_all" in q["scope"]
    assert q["acr_values"] == "eidas1" and login.next_url == "/exams/x"


def test_state_mismatch_is_refused():
    client = PscClient(ConsumerConfig(psc_issuer="http://127.0.0.1:9/realm"))
    login = Login("sid", state="expected")
    with pytest.raises(LoginError):
        client.finish(login, "code", "other")


def test_refresh_without_refresh_token_is_false():
    assert PscClient(ConsumerConfig()).refresh(Login("sid")) is False


def test_vihf_attributes():
    pro = Professional("810001000001", "Marie", "RADIOLOGUE", "10", "SM44")
    sec = build_vihf(ConsumerConfig(), pro, "248097505610194^^^&1.2.250.1.213.1.4.10&ISO^NH")
    attrs = vihf_attributes(sec)
    assert attrs["VIHF_Version"] == ["3.0"] and attrs["Ressource_URN"] == ["urn:dmp"]
    assert attrs[RESOURCE_ID] == ["248097505610194^^^&1.2.250.1.213.1.4.10&ISO^NH"]
    roles = attrs["urn:oasis:names:tc:xacml:2.0:subject:role"]
    assert [(r.get("code"), r.get("codeSystem")) for r in roles] == [("10", "1.2.250.1.71.1.2.7"),
                                                                     ("SM44", "1.2.250.1.71.4.2.5")]
    assert sec.findtext(".//{urn:oasis:names:tc:SAML:2.0:assertion}NameID") == "810001000001"


def test_vihf_is_signed_when_given_a_key():
    from harness.vihf import throwaway_pki, verify_vihf

    pki = throwaway_pki("consumer test")
    config = ConsumerConfig(vihf_key=pki.key_pem, vihf_cert=pki.cert_pem)
    security = build_vihf(config, Professional("8123", "A", "B"), "P^^^&1.2.250.1.213.1.4.10&ISO^NH")
    assert verify_vihf(security, trust_store=[pki.ca_pem], patient="P^^^&1.2.250.1.213.1.4.10&ISO^NH") == []
    unsigned = build_vihf(ConsumerConfig(), Professional("8123"), "P^^^&1.2.250.1.213.1.4.10&ISO^NH")
    assert verify_vihf(unsigned, trust_store=[pki.ca_pem])  # no signature: findings
