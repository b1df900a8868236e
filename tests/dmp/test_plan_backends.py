"""The whole dmp plan against the simulator given as an external SUT (YAML profile, VIHF enforced
with a throwaway CA), once on SQLite and once on PostgreSQL: same behaviour on both backends."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import yaml

from harness.vihf import throwaway_pki
from simulators.dmp import reference
from simulators.dmp.config import DmpConfig

REPO = Path(__file__).resolve().parents[2]


def test_plan_passes_through_a_profile(db_url, tmp_path):
    pki = throwaway_pki("plan via profile")
    (tmp_path / "vihf.key").write_bytes(pki.key_pem)
    (tmp_path / "vihf.crt").write_bytes(pki.cert_pem)
    config = DmpConfig(db=db_url, workdir=tmp_path, vihf="enforce", trust_store=[pki.ca_pem])
    with reference.start(config) as ref:
        profile = tmp_path / "dmp-sut.yaml"
        profile.write_text(yaml.safe_dump({
            "name": "dmp simulator via profile", "actor": "dmp",
            "endpoints": {"registry": ref.endpoints["registry"], "repository": ref.endpoints["repository"],
                          "repository_unique_id": ref.endpoints["repository_unique_id"]},
            "credentials": {"vihf_key": str(tmp_path / "vihf.key"), "vihf_cert": str(tmp_path / "vihf.crt")}}))
        results = tmp_path / "results.json"
        proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "testplans/dmp",
                               "--sut", str(profile), f"--drimcheck-results={results}"],
                              capture_output=True, text=True, cwd=REPO, timeout=600, check=False)
    tests = json.loads(results.read_text())["tests"]
    bad = [t["nodeid"] for t in tests if t["outcome"] not in ("passed",)]
    assert bad == [], proc.stdout[-4000:]
    assert len(tests) > 50
