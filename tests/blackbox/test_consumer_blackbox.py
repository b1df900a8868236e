"""Black-box proof of the consumer_drimbox plan: the reference Consumer started as its own process.

Each case starts ``drimcheck serve consumer`` configured by its command line only (the DMP, PSC and local
PACS on the ports the profile pins, the Source host it may retrieve from, its VIHF key, the URL of the signed
whitelist the plan serves with the CA and CRL that verify it), and runs
``drimcheck run --sut sut.yaml --plan consumer_drimbox`` from the profile's folder with ``driver: reference``:
- the clean Consumer exits 0 with every SHALL passed, and the same verdicts as the in-process golden run;
- each named fault (``--consumer-fault NAME``) exits 1 and fails exactly the requirements it names; a fault of
  another plan (the performance plan's ``slow-export``) fails nothing here, and the plan exits 0 with it on. The
  performance plan's other faults only pace the Consumer (a wait before an import, a read or write rate), so one
  of them stands for all here; ``tests/performance/test_campaigns.py`` proves each in its own plan;
- with ``driver: operator`` and a step file (the unattended form of a person following the printed steps)
  the clean Consumer passes too, and the steps are printed as a person reads them.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.faults import faults_of
from harness.pki import default_folder
from harness.servers import free_port
from tests.blackbox.products import (
    campaign,
    expect_clean,
    expect_fault,
    failed,
    serve,
    shall_not_passed,
    tls_profile,
    write_pki,
)

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "consumer_drimbox.json"
LIST_INTERVAL = 0.25  # seconds between two fetches of the plan's whitelist (the ANS daily refresh, shortened)


@pytest.fixture(scope="session")
def consumer_pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_pki(tmp_path_factory.mktemp("consumer-pki"), "black-box Consumer VIHF")


def run_consumer(fault: str | None, vihf: Path, folder: Path, driver: str = "reference",
                 operator: dict | None = None, options: dict | None = None,
                 plan: str = "consumer_drimbox") -> tuple[int, dict, str]:
    """Start the reference Consumer (with ``fault``), run ``plan`` through a profile, stop the Consumer."""
    ports = {name: free_port() for name in ("dmp", "psc", "pacs", "source", "whitelist")}
    pki = default_folder()  # drimcheck serve's PKI: the plan's peers serve from it, the list's signer is in it
    args = ["consumer", "--port", "0", "--consumer-workdir", str(folder / "consumer-data"),
            "--dmp-registry", f"https://127.0.0.1:{ports['dmp']}/registry",
            "--dmp-repository", f"https://127.0.0.1:{ports['dmp']}/repository",
            "--psc-issuer", f"https://127.0.0.1:{ports['psc']}/auth/realms/esante-wallet",
            "--pacs", f"LOCALPACS@127.0.0.1:{ports['pacs']}", "--allow-host", f"127.0.0.1:{ports['source']}",
            "--vihf-key", str(vihf / "vihf.key"), "--vihf-cert", str(vihf / "vihf.pem")]
    clean_here = fault is None or not faults_of("consumer_drimbox")[fault].breaks_in(plan, "consumer_drimbox")
    if plan == "consumer_drimbox" and (clean_here or fault.startswith("whitelist-")):
        # the whitelist's life (CON-WL-*, ~10 s a campaign) for a Consumer this plan must find clean (no fault,
        # or a fault of another plan) and the faults of the whitelist: the other faults leave its code alone,
        # their campaigns say CON-WL-* not applicable (and the performance plan fetches no list)
        args += ["--whitelist-url", f"https://127.0.0.1:{ports['whitelist']}/ListeBlancheDRIM-M.xml",
                 "--whitelist-ca", str(pki / "ca.pem"), "--whitelist-crl", str(pki / "crl.pem"),
                 "--whitelist-tls-ca", str(pki / "ca.pem"), "--whitelist-interval", str(LIST_INTERVAL)]
    else:
        del ports["whitelist"]
    if fault:
        args += ["--consumer-fault", fault]
    with serve(args, folder) as consumer:
        ep = consumer.endpoints["consumer"]
        profile = {"name": f"reference Consumer as a product{f' ({fault})' if fault else ''}",
                   "actor": "consumer_drimbox", "driver": driver,
                   "endpoints": {"contextual_call": ep["contextual_call"], "base": ep["base"]},
                   "options": {"ports": ports, "whitelist_interval": LIST_INTERVAL,
                               **({"operator": operator} if operator else {}), **(options or {})},
                   "credentials": {"vihf_ca": str(vihf / "ca.pem")}, "tls": tls_profile()}
        return campaign(profile, plan, folder / "campaign", quiet=driver != "operator")


def test_clean_consumer_passes_every_shall(consumer_pki, tmp_path):
    expect_clean(run_consumer(None, consumer_pki, tmp_path), GOLDEN)


def test_operator_with_a_step_file_passes_and_prints_each_step(consumer_pki, tmp_path):
    steps = tmp_path / "campaign" / "steps.yaml"
    steps.parent.mkdir(parents=True)
    steps.write_text("perform_with: reference\n", encoding="utf-8")
    code, results, output = run_consumer(None, consumer_pki, tmp_path, driver="operator",
                                         operator={"steps": "steps.yaml", "timeout": 30})
    assert shall_not_passed(results) == {}, output
    assert code == 0, output
    assert "  > step 1: from the professional's software, open the patient" in output
    assert "in the exam list, open the exam of 14/03/2025" in output
    answers = [f for t in results["tests"] for f in t.get("findings") or [] if f["rule"] == "DRIVER"]
    assert answers and all("the operator (unattended, steps performed by the reference driver" in f["message"]
                           for f in answers)


PACING_SAMPLE = "slow-export"  # the performance plan's fault that runs here: the others pace the same way,
# and this one only the few exports of the plan (slow-import held every import: 45 s a campaign)


@pytest.mark.parametrize("fault", sorted(n for n, f in faults_of("consumer_drimbox").items()
                                         if f.plan != "performance" or n == PACING_SAMPLE))
def test_each_fault_fails_exactly_its_requirements(fault, consumer_pki, tmp_path):
    """A fault of another plan (the performance plan's) fails nothing here: the plan exits 0 with it on."""
    breaks = faults_of("consumer_drimbox")[fault].breaks_in("consumer_drimbox", "consumer_drimbox")
    run = run_consumer(fault, consumer_pki, tmp_path)
    if breaks:
        expect_fault(run, breaks)
    else:
        code, results, output = run
        assert failed(results) == set(), output
        assert code == 0, output
