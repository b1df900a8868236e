"""``drimcheck serve consumer --whitelist-url``: the reference Consumer's allowed hosts and viewers follow the
last list that verified, and ``GET /kpi/whitelist`` reports the fetches (ANS FAQ, whitelist refresh)."""

from __future__ import annotations

import argparse
import time

import pytest
import requests

from harness.servers import serve_wsgi
from harness.whitelist import Domain, build_whitelist
from simulators.consumer import serve as consumer_serve

LIST = "/ListeBlancheDRIM-M.xml"


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    consumer_serve.add_arguments(parser)
    args = parser.parse_args(["--dmp-registry", "http://127.0.0.1:9/registry", "--dmp-repository",
                              "http://127.0.0.1:9/repository", "--psc-issuer", "http://127.0.0.1:9/psc", *argv])
    args.port, args.host = 0, "127.0.0.1"
    return args


def _kpi_until(service, condition, timeout: float = 15.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        record = requests.get(service.endpoints["base"] + "/kpi/whitelist", timeout=10).json()
        if condition(record) or time.monotonic() > deadline:
            return record
        time.sleep(0.05)


def test_consumer_follows_the_fetched_whitelist(files, pki, signed, sign_as, tmp_path):
    files.files[LIST] = signed
    server = serve_wsgi(files, "whitelist-publisher")
    service = None
    try:
        service = consumer_serve.start(_args(
            "--consumer-workdir", str(tmp_path), "--allow-host", "static.test:8443",
            "--whitelist-url", server.url + LIST, "--whitelist-ca", str(pki.ca_path),
            "--whitelist-crl", str(pki.folder / "crl.pem"), "--whitelist-interval", "0.1"))
        config = service.config
        assert config.allowed_hosts == ("static.test:8443", "db1.drimcheck.test", "db2.drimcheck.test")
        assert config.viewers == {"db1.drimcheck.test": "vi1.drimcheck.test"}
        record = _kpi_until(service, lambda r: r.get("entries") == 2)
        assert record["Statut_ListeBlanche"] == "succes" and record["signer"].startswith("CN=Liste Blanche DRIM-M")

        files.files[LIST] = signed.replace(b"<db>db2.drimcheck.test</db>", b"<db>db2.drimcheck.tesT</db>")
        record = _kpi_until(service, lambda r: r["consecutive_failures"] >= 2)
        assert record["Statut_ListeBlanche"] == "erreur" and "altered" in record["last_error"]
        assert config.allowed_hosts == ("static.test:8443", "db1.drimcheck.test", "db2.drimcheck.test")

        files.files[LIST] = sign_as("whitelist-signer", build_whitelist([Domain("3", "db3.drimcheck.test",
                                                                                 "vi3.drimcheck.test")]))
        record = _kpi_until(service, lambda r: r.get("entries") == 1 and r["consecutive_failures"] == 0)
        assert record["Statut_ListeBlanche"] == "succes"
        assert config.allowed_hosts == ("static.test:8443", "db3.drimcheck.test")
        assert config.viewers == {"db3.drimcheck.test": "vi3.drimcheck.test"}
    finally:
        if service is not None:
            service.stop()  # stops the watcher too (the leak guard checks its thread is gone)
        server.stop()


def test_consumer_without_a_fetched_whitelist_reports_none(tmp_path):
    service = consumer_serve.start(_args("--consumer-workdir", str(tmp_path)))
    try:
        assert requests.get(service.endpoints["base"] + "/kpi/whitelist", timeout=10).json() == {
            "Statut_ListeBlanche": "absente"}
    finally:
        service.stop()


@pytest.mark.parametrize(("extra", "message"), [
    (["--whitelist-url", "https://x.test/l.xml"], "--whitelist-url needs --whitelist-ca PEM"),
    (["--whitelist-url", "https://x.test/l.xml", "--whitelist-ca", "{ca}", "--whitelist-interval", "0"],
     "--whitelist-interval 0.0: expected a number of seconds above 0"),
    (["--whitelist-url", "https://x.test/l.xml", "--whitelist-ca", "{missing}"], "--whitelist-ca {missing}"),
    (["--whitelist-url", "https://x.test/l.xml", "--whitelist-ca", "{ca}", "--whitelist", "{ca}"],
     "--whitelist and --whitelist-url exclude each other"),
])
def test_whitelist_url_option_errors(tmp_path, pki, extra, message):
    names = {"ca": str(pki.ca_path), "missing": str(tmp_path / "missing.pem")}
    with pytest.raises(SystemExit, match=message.format(**names)):
        consumer_serve.whitelist_watcher(_args(*(a.format(**names) for a in extra)))
