"""Black-box proof of the dmp plan: the reference DMP started as its own process.

Each case starts ``drimcheck serve dmp`` configured by its command line only (its storage folder, the CA it
trusts for VIHF signatures), as an operator configures a registry/repository, and runs
``drimcheck run --sut sut.yaml --plan dmp`` from the profile's folder with the VIHF key that CA issued:
- the clean DMP exits 0 with every SHALL passed, and the same verdicts as the in-process run's golden file;
- each named fault (``--dmp-fault NAME``) exits 1 and fails exactly the requirements it names.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.faults import faults_of
from tests.blackbox.products import campaign, expect_clean, expect_fault, serve, tls_profile, write_pki

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "dmp.json"


@pytest.fixture(scope="session")
def vihf_files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_pki(tmp_path_factory.mktemp("dmp-pki"), "black-box DMP plan VIHF")


def run_dmp(fault: str | None, pki: Path, folder: Path) -> tuple[int, dict, str]:
    """Start the reference DMP (with ``fault``), run the plan through a profile, stop the DMP."""
    args = ["dmp", "--port", "0", "--dmp-workdir", str(folder / "dmp-data"), "--vihf-trust", str(pki / "ca.pem")]
    if fault:
        args += ["--dmp-fault", fault]
    with serve(args, folder) as dmp:
        ep = dmp.endpoints["dmp"]
        profile = {"name": f"reference DMP as a product{f' ({fault})' if fault else ''}", "actor": "dmp",
                   "endpoints": {"registry": ep["registry"], "repository": ep["repository"],
                                 "repository_unique_id": ep["repository_unique_id"]},
                   "credentials": {"vihf_key": str(pki / "vihf.key"), "vihf_cert": str(pki / "vihf.pem")},
                   "tls": tls_profile()}
        return campaign(profile, "dmp", folder / "campaign")


def test_clean_dmp_passes_every_shall(vihf_files, tmp_path):
    expect_clean(run_dmp(None, vihf_files, tmp_path), GOLDEN)


@pytest.mark.parametrize("fault", sorted(faults_of("dmp")))
def test_each_fault_fails_exactly_its_requirements(fault, vihf_files, tmp_path):
    expect_fault(run_dmp(fault, vihf_files, tmp_path), faults_of("dmp")[fault].breaks)
