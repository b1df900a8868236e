"""The source_drimbox plan on a SUT profile (what a vendor runs): the reference Source started on its own,
configured like a vendor's with the DMP / PSC ports and VIHF CA the profile gives, reached through its endpoints."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

from harness.servers import free_port
from harness.vihf import throwaway_pki
from simulators.pacs import start_pacs
from simulators.source import start_reference

REPO = Path(__file__).resolve().parents[2]
REALM = "/auth/realms/esante-wallet/protocol/openid-connect"


def test_plan_passes_on_a_vendor_style_profile(tmp_path):
    pki = throwaway_pki("vendor Source VIHF")
    dmp_port, psc_port = free_port(), free_port()
    (tmp_path / "ca.pem").write_bytes(pki.ca_pem)
    with start_pacs(tmp_path / "pacs") as pacs, start_reference(
            None, tmp_path / "source", pacs_host=pacs.host, pacs_port=pacs.port, pacs_aet=pacs.aet,
            pacs_dicomweb=pacs.dicomweb_url, dmp_registry=f"http://127.0.0.1:{dmp_port}/registry",
            dmp_repository=f"http://127.0.0.1:{dmp_port}/repository",
            psc_introspect=f"http://127.0.0.1:{psc_port}{REALM}/token/introspect",
            vihf_key=pki.key_pem, vihf_cert=pki.cert_pem) as source:
        profile = {"name": "vendor-like source", "actor": "source_drimbox",
                   "endpoints": {"wado_rs": source.endpoints["wado_rs"], "mllp": source.endpoints["mllp"],
                                 "dicom": {"ae_title": pacs.aet, "host": pacs.host, "port": pacs.port}},
                   "options": {"ports": {"dmp": dmp_port, "psc": psc_port}},
                   "credentials": {"vihf_ca": str(tmp_path / "ca.pem")}}
        path = tmp_path / "sut.yaml"
        path.write_text(yaml.safe_dump(profile))
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
        proc = subprocess.run([sys.executable, "-m", "pytest", str(REPO / "testplans" / "source_drimbox"), "-q",
                               "-o", "addopts=", "-p", "harness.pytest_plugin", "-p", "no:cacheprovider",
                               "--sut", str(path)], cwd=str(REPO), env=env, capture_output=True, text=True,
                              timeout=600, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
