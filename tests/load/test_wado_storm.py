"""wado-storm against a reference Source started for this module: a master and two workers on loopback,
and the error accounting proven by a wrong token.

The reference network (PSC, DMP, the Source's PACS, the Source) serves HTTPS from the test PKI; the
set-up publishes the small fixture study through it (C-STORE, ORU^R01, RAD-68), as ``drimcheck load``
does for ``reference:source``. The runs are a few seconds with two users, to stay light on a small machine;
nothing is asserted about how fast the Source answered.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from harness.load import Distribution, LoadSpec, RunInfo, run_load
from harness.load.targets import TargetOptions, reference_target
from tests.load.conftest import assert_valid_png, embedded_pngs

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory):
    """The running network, its TLS and the wado-storm target on the published small study."""
    from harness.tls import network_tls
    from simulators.network import start_network

    workdir = tmp_path_factory.mktemp("load-network")
    tls = network_tls()
    with start_network(workdir / "network", tls=tls) as net:
        yield net, tls, reference_target(net, tls, "wado-storm", TargetOptions(study="small", token_count=2),
                                         workdir)


def test_master_and_two_workers_retrieve_the_study_without_error(source, tmp_path):
    _net, _tls, prepared = source
    spec = LoadSpec(scenario="wado-storm", target=prepared.target, users=2, spawn_rate=2, duration=3,
                    **prepared.tls)
    results = run_load(spec, tmp_path, RunInfo("reference:source", setup=prepared.setup), Distribution(workers=2),
                       echo=False)
    assert results["mode"] == "distributed" and results["workers"] == 2
    assert results["total"]["requests"] > 0
    assert results["total"]["failures"] == 0 and results["errors"] == [], results["errors"]
    assert results["total"]["bytes"] > 0 and results["total"]["p95_ms"] is not None
    assert sum(p["requests"] for p in results["timeline"]) == results["total"]["requests"]
    assert json.loads((tmp_path / "results.json").read_text(encoding="utf-8")) == results
    pngs = embedded_pngs((tmp_path / "report.html").read_text(encoding="utf-8"))
    assert len(pngs) == 3
    for png in pngs:
        assert_valid_png(png)
    assert (tmp_path / "report.md").is_file()


def test_a_wrong_token_is_counted_as_http_401_through_a_profile(source, tmp_path):
    """The command as a vendor runs it: a profile of the Source, the published study named, a token given."""
    net, tls, prepared = source
    cert, key = tls.client("consumer-client")
    profile = {"name": "reference Source under load", "actor": "source_drimbox",
               "endpoints": {"wado_rs": dict(net.parts)["source"].endpoints["wado_rs"]},
               "tls": {"ca": str(tls.ca), "cert": cert, "key": key}}
    (tmp_path / "sut.yaml").write_text(yaml.safe_dump(profile), encoding="utf-8")
    target = prepared.target
    proc = subprocess.run(
        [sys.executable, "-m", "harness.cli", "load", "--sut", "sut.yaml", "--scenario", "wado-storm",
         "--study-uid", target["study_uid"], "--kos-uid", target["kos_uid"], "--token", "not-a-psc-token",
         "--users", "1", "--spawn-rate", "1", "--duration", "2", "--out", "out", "--quiet"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False,
        env={**os.environ, "PYTHONPATH": str(REPO)})
    assert proc.returncode == 1, proc.stdout + proc.stderr
    results = json.loads((tmp_path / "out" / "results.json").read_text(encoding="utf-8"))
    total = results["total"]
    assert total["requests"] > 0 and total["failures"] == total["requests"]
    assert [(e["kind"], e["count"]) for e in results["errors"]] == [("HTTP 401", total["requests"])]
    assert "HTTP 401" in proc.stdout and (tmp_path / "out" / "report.html").is_file()
