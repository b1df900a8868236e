"""The load specification handed to the load processes: refused whole when it is wrong."""

from __future__ import annotations

import json

import pytest

from harness.load.spec import MAX_SPEC_BYTES, LoadSpec, SpecError

GOOD = {"scenario": "wado-storm", "target": {"wado_rs": "https://127.0.0.1:1"}, "users": 2, "spawn_rate": 1,
        "duration": 5}
BAD = [
    ("not json", "not JSON"),
    ("[]", "JSON object"),
    (json.dumps({**GOOD, "scenario": "smoke"}), "unknown scenario 'smoke'"),
    (json.dumps({**GOOD, "users": 0}), "users must be"),
    (json.dumps({**GOOD, "duration": -1}), "duration must be"),
    (json.dumps({**GOOD, "password": "x"}), "unknown field(s) ['password']"),
    (json.dumps({k: v for k, v in GOOD.items() if k != "target"}), "target"),
    ("x" * (MAX_SPEC_BYTES + 1), "exceeds"),
]


def test_a_spec_survives_its_journey_to_a_worker():
    spec = LoadSpec(**GOOD, tls_ca="-----BEGIN CERTIFICATE-----\n")
    assert LoadSpec.from_json(spec.to_json()) == spec


@pytest.mark.parametrize(("text", "why"), BAD)
def test_a_wrong_spec_is_refused_naming_why(text, why):
    with pytest.raises(SpecError) as info:
        LoadSpec.from_json(text)
    assert why in str(info.value)


def test_pem_material_is_written_privately_for_the_http_client():
    spec = LoadSpec(**GOOD, tls_ca="CA", tls_client_cert="CERT", tls_client_key="KEY")
    ca, (cert, key) = spec.tls_verify(), spec.tls_cert()
    import os
    import stat

    assert open(key).read() == "KEY" and open(ca).read() == "CA" and open(cert).read() == "CERT"
    assert stat.S_IMODE(os.stat(key).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(os.path.dirname(key)).st_mode) == 0o700
    assert LoadSpec(**GOOD, tls_insecure=True).tls_verify() is False
