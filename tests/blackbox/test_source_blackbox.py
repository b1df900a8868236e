"""Black-box proof of the source_drimbox plan: the reference Source started as its own process.

Each case starts ``drimcheck serve source`` configured by its command line only (its PACS, the DMP and
PSC addresses on the ports the profile pins, its VIHF key, its DMP identity: mode EG, two structures with their
ORG AUTH CLI, the legal entity), exactly as a vendor configures a product, and
runs ``drimcheck run --sut sut.yaml --plan source_drimbox`` from the profile's folder:
- the clean Source exits 0 with every SHALL passed, and the same verdicts as the in-process run's golden file;
- each named fault (``--source-fault NAME``) exits 1 and fails exactly the requirements it names; the faults of
  the PACS behind the Source (``drimcheck serve pacs --pacs-fault``, DB.SO.102) are the performance plan's, and
  ``tests/performance/test_campaigns.py`` proves them with a PACS of their own. The performance plan's faults only
  pace the Source (a wait, a rate), so one of them (``throttled``) shows here that they fail nothing in this plan;
  the same file proves each in its own plan.
The PACS is a ``drimcheck serve pacs`` process shared by the cases of one worker.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.faults import faults_of
from harness.servers import free_port
from tests.blackbox.products import campaign, expect_clean, expect_fault, failed, serve, tls_profile

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "source_drimbox.json"
REALM = "/auth/realms/esante-wallet/protocol/openid-connect"
PUBLISH_WAIT = 10  # options.publish_timeout: the reference publishes within a second; a vendor keeps the default
STRUCTURES, EJ = ("750803447", "920008059"), "120456789"  # the Source's structures (FINESS of ANS samples), its EJ


@pytest.fixture(scope="session")
def pki_files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A throwaway CA (``ca.pem``, the profile's vihf_ca), the VIHF signer it issued (``vihf.key`` / ``vihf.pem``)
    and the ORG AUTH CLI of each structure (``structure-FINESS.key`` / ``.pem``), as files a product is given."""
    from harness.vihf import throwaway_pki

    folder = tmp_path_factory.mktemp("source-pki")
    pki = throwaway_pki("black-box Source VIHF")
    files = {"ca.pem": pki.ca_pem, "vihf.key": pki.key_pem, "vihf.pem": pki.cert_pem}
    for finess in STRUCTURES:
        leaf = pki.issue(f"black-box structure {finess}", f"1{finess}")
        files |= {f"structure-{finess}.key": leaf.key_pem, f"structure-{finess}.pem": leaf.cert_pem}
    for name, data in files.items():
        (folder / name).write_bytes(data)
    return folder


@pytest.fixture(scope="session")
def pacs(tmp_path_factory: pytest.TempPathFactory):
    folder = tmp_path_factory.mktemp("blackbox-pacs")
    with serve(["pacs", "--port", "0", "--dicomweb-port", "0", "--storage", str(folder / "storage")], folder) as p:
        yield p.endpoints["pacs"]


def run_source(fault: str | None, pacs: dict[str, str], pki: Path, folder: Path,
               options: dict | None = None) -> tuple[int, dict, str]:
    """Start the reference Source (with ``fault``), run the plan through a profile, stop the Source."""
    dmp, psc = free_port(), free_port()
    args = ["source", "--port", "0", "--mllp-port", "0", "--source-workdir", str(folder / "source-data"),
            "--pacs", pacs["dimse"], "--pacs-dicomweb", pacs["dicomweb"], "--dmp", f"https://127.0.0.1:{dmp}",
            "--psc-introspect", f"https://127.0.0.1:{psc}{REALM}/token/introspect",
            "--vihf-key", str(pki / "vihf.key"), "--vihf-cert", str(pki / "vihf.pem"),
            "--identity-mode", "EG", "--finess-eg", STRUCTURES[0], "--finess-ej", EJ]
    for finess in STRUCTURES:
        args += ["--structure", f"{finess}={pki / f'structure-{finess}.key'},{pki / f'structure-{finess}.pem'}"]
    if fault:
        args += ["--source-fault", fault]
    with serve(args, folder) as source:
        ep = source.endpoints["source"]
        iocm_aet, _, iocm_at = ep["iocm"].partition("@")
        profile = {"name": f"reference Source as a product{f' ({fault})' if fault else ''}",
                   "actor": "source_drimbox",
                   "endpoints": {"wado_rs": ep["wado_rs"], "mllp": ep["mllp"],
                                 "dicom": {"ae_title": pacs["aet"], "host": pacs["host"], "port": int(pacs["port"])},
                                 "iocm": {"ae_title": iocm_aet, "host": iocm_at.rsplit(":", 1)[0],
                                          "port": int(iocm_at.rsplit(":", 1)[1])}},
                   "options": {"ports": {"dmp": dmp, "psc": psc}, "publish_timeout": PUBLISH_WAIT,
                               "identity_mode": "EG", "finess_eg": STRUCTURES[0], "finess_ej": EJ, **(options or {})},
                   "credentials": {"vihf_ca": str(pki / "ca.pem"),
                                   "structures": {f: str(pki / f"structure-{f}.pem") for f in STRUCTURES}},
                   "tls": tls_profile(client=True)}
        return campaign(profile, "source_drimbox", folder / "campaign")


def test_clean_source_passes_every_shall(pacs, pki_files, tmp_path):
    expect_clean(run_source(None, pacs, pki_files, tmp_path), GOLDEN)


PACING_SAMPLE = "throttled"  # the performance plan's fault that runs here: slow-first-byte only waits longer


@pytest.mark.parametrize("fault", sorted(n for n, f in faults_of("source_drimbox").items()
                                         if f.plan != "performance" or n == PACING_SAMPLE))
def test_each_fault_fails_exactly_its_requirements(fault, pacs, pki_files, tmp_path):
    """A fault of another plan (the performance plan's) fails nothing here: the plan exits 0 with it on."""
    breaks = faults_of("source_drimbox")[fault].breaks_in("source_drimbox", "source_drimbox")
    run = run_source(fault, pacs, pki_files, tmp_path)
    if breaks:
        expect_fault(run, breaks)
    else:
        code, results, output = run
        assert failed(results) == set(), output
        assert code == 0, output
