"""Proof plan of the engine: pass, fail, not applicable, captured traffic."""

from __future__ import annotations

import pytest
import requests

from harness import expect, expect_equal, not_applicable
from harness.capture import capturing_session


@pytest.mark.requirement("ENG-PASS-001")
def test_passing_check():
    expect_equal(2 + 2, 4, rule="ENG-PASS-001", location="arithmetic", message="sum")


@pytest.mark.requirement("ENG-FAIL-001")
def test_failing_check(should_fail):
    observed = "MR" if should_fail else "CT"
    expect_equal(observed, "CT", rule="ENG-FAIL-001", location="(0008,0060)", message="modality differs")


@pytest.mark.requirement("ENG-NA-001")
def test_not_applicable_check():
    not_applicable("the SUT does not implement the optional viewer")


@pytest.mark.requirement("ENG-CAP-001")
def test_traffic_is_captured(echo_server, evidence):
    session = capturing_session("harness:engine-client")
    body = b"<ping xmlns='urn:drimcheck:test'><n>1</n></ping>"
    response = session.post(echo_server.url + "/echo", data=body, headers={"Content-Type": "application/xml"})
    expect(response.status_code == 200, rule="ENG-CAP-001", location="POST /echo", expected=200,
           observed=response.status_code, message="echo failed")
    seen = evidence.wait_for(actor="echo-simulator")
    expect(seen and seen[-1].request_body.read() == body, rule="ENG-CAP-001", location="capture",
           expected="the request body", observed=len(seen), message="simulator exchange not captured")
    assert isinstance(requests.Response(), requests.Response)
