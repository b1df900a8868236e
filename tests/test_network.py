"""`drimcheck serve all`: the actors are started with each other's addresses, so the national
scenario works across them with no other setting: VIHF signed by the Source and the Consumer and
enforced by the DMP, tokens checked by the Source at PSC, the Consumer allowed to retrieve from
the Source."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from simulators.network import start_network
from simulators.ris import messages as M
from testplans.consumer_drimbox.browser import Browser
from testplans.consumer_drimbox.conftest import PROFESSIONAL
from testplans.consumer_drimbox.exams import contextual_form

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def network(tmp_path_factory):
    with start_network(tmp_path_factory.mktemp("network"), demo=True) as net:
        yield net


def test_demo_exam_is_found_and_imported_through_the_wired_consumer(network):
    ex = M.exam("network-demo", series=2, instances=3)
    browser = Browser(network.endpoints["consumer.contextual_call"], network.endpoints["consumer.base"],
                      network.endpoints["psc.authorization"], PROFESSIONAL)
    history = browser.call(contextual_form(M.study_spec(ex).patient))
    rows = history.rows("exam")
    assert [r.get("data-study-uid") for r in rows] == [network.demo["study UID"]], history.text[-600:]
    result = browser.post(rows[0].xpath(".//a/@href")[0] + "/import")
    assert [r.get("data-status") for r in result.rows("series-result")] == ["imported", "imported"]


def test_every_actor_is_listed_with_its_endpoints(network):
    names = [name for name, _part in network.parts]
    assert names == ["psc", "dmp", "src-pacs", "source", "dst-pacs", "consumer"]
    assert all(part.endpoints for _name, part in network.parts)


@pytest.mark.parametrize(("args", "message"), [
    (("all", "dmp"), "name no other simulator"),
    (("all", "--port", "8000"), "each takes a free port"),
])
def test_serve_all_refuses_what_does_not_apply(args, message):
    proc = subprocess.run([sys.executable, "-m", "harness.cli", "serve", *args], capture_output=True, text=True,
                          cwd=str(REPO), timeout=60, check=False)
    assert proc.returncode == 2 and message in proc.stderr, proc.stderr


def test_serve_all_help_names_its_options():
    proc = subprocess.run([sys.executable, "-m", "harness.cli", "serve", "all", "--help"], capture_output=True,
                          text=True, cwd=str(REPO), timeout=60, check=False)
    assert proc.returncode == 0
    for option in ("--workdir", "--demo", "--host"):
        assert option in proc.stdout
