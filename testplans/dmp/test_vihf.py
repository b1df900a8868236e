"""VIHF: the SAML 2.0 assertion in wsse:Security that the DMP requires (ANS DRIM-M_DATA Validateur XDS/XDS.xml)."""

from __future__ import annotations

import datetime as dt

import pytest

from harness.checks import not_applicable
from harness.vihf import VihfIdentity, build_vihf, throwaway_pki
from harness.xds.clients import XdsClient
from testplans.dmp.conftest import APPROVED, _ins_patient
from testplans.dmp.helpers import expect_fault, expect_success


def _query(client: XdsClient, patient: str):
    return client.query("FindDocuments", {"$XDSDocumentEntryPatientId": patient,
                                          "$XDSDocumentEntryStatus": [APPROVED]})


@pytest.fixture
def signer(dmp):
    if dmp.vihf_key is None:
        not_applicable("the SUT profile gives no VIHF key/certificate (credentials.vihf_key, vihf_cert)")
    return dmp.vihf_key, dmp.vihf_cert


@pytest.mark.requirement("DMP-VIHF-001")
def test_request_without_vihf_is_refused(bare_client, client, patient, signer):
    expect_success(_query(client, patient), "DMP-VIHF-001", "FindDocuments with a valid VIHF")
    expect_fault(_query(bare_client, patient), "DMP-VIHF-001", "FindDocuments without VIHF")


def _client_with(dmp, provider) -> XdsClient:
    return XdsClient(dmp.registry, dmp.repository, actor="harness:dmp-plan", vihf=provider)


@pytest.mark.requirement("DMP-VIHF-002")
def test_vihf_signed_by_an_untrusted_ca_is_refused(dmp, patient, signer):
    stranger = throwaway_pki("untrusted signer")
    client = _client_with(dmp, lambda p: build_vihf(VihfIdentity(), patient=p or "", key_pem=stranger.key_pem,
                                                     cert_pem=stranger.cert_pem))
    expect_fault(_query(client, patient), "DMP-VIHF-002", "VIHF signed by an untrusted CA")


@pytest.mark.requirement("DMP-VIHF-002")
def test_vihf_for_another_patient_is_refused(dmp, patient, signer):
    key, cert = signer
    other = _ins_patient()
    client = _client_with(dmp, lambda p: build_vihf(VihfIdentity(), patient=other, key_pem=key, cert_pem=cert))
    expect_fault(_query(client, patient), "DMP-VIHF-002", "VIHF whose resource-id is another patient")


@pytest.mark.requirement("DMP-VIHF-002")
def test_expired_vihf_is_refused(dmp, patient, signer):
    key, cert = signer
    past = dt.datetime.now(dt.UTC) - dt.timedelta(hours=3)
    client = _client_with(dmp, lambda p: build_vihf(VihfIdentity(), patient=p or "", key_pem=key, cert_pem=cert,
                                                     now=past))
    expect_fault(_query(client, patient), "DMP-VIHF-002", "VIHF issued 3 hours ago, valid 10 minutes")
