"""harness.whitelist_watch.WhitelistWatcher over real HTTP(S): the last good list stays in force across bad
fetches (unreachable, altered, foreign CA, expired or revoked signer), status() says so, a good new list wins."""

from __future__ import annotations

import datetime as dt
import logging
import time

import pytest

from harness.pki import Pki
from harness.servers import serve_wsgi
from harness.whitelist import Domain, build_whitelist, sign_whitelist
from harness.whitelist_watch import WhitelistWatcher
from simulators.consumer import kpi

LIST = "/ListeBlancheDRIM-M.xml"


class Clock:
    """A clock that moves one minute each time it is read, so fetch times differ."""

    def __init__(self) -> None:
        self.now = dt.datetime.now(dt.UTC)

    def __call__(self) -> dt.datetime:
        self.now += dt.timedelta(minutes=1)
        return self.now


@pytest.fixture
def server(files):
    running = serve_wsgi(files, "whitelist-files")
    yield running
    running.stop()


def _watcher(server, pki, **kwargs) -> WhitelistWatcher:
    return WhitelistWatcher(server.url + LIST, pki.ca_path.read_bytes(), crl=pki.folder / "crl.pem",
                            clock=kwargs.pop("clock", Clock()), **kwargs)


def test_last_good_list_stays_across_bad_fetches(server, files, pki, foreign, signed, sign_as, caplog):
    changes = []
    watcher = _watcher(server, pki, on_change=changes.append)
    files.files[LIST] = signed
    assert watcher.refresh_now()
    good = watcher.current
    first = watcher.status()
    assert first["in_force"] and first["last_error"] is None and first["consecutive_failures"] == 0
    assert first["signer"].startswith("CN=Liste Blanche DRIM-M") and first["date_maj"] == "2026-02-03T04:05:06Z"
    bad = [(signed.replace(b"db1.drimcheck.test</db>", b"db1.drimcheck.tesu</db>"), "altered"),
           (sign_as("whitelist-signer", of=foreign), "trusted CA"),
           (sign_as("expired-signer"), "expired"),
           (sign_as("revoked-signer"), "revoked"),
           (build_whitelist([Domain("6", "evil.test")]), "not signed"),
           (None, "HTTP 404")]
    caplog.set_level(logging.WARNING, logger="harness.whitelist_watch")
    for failures, (data, cause) in enumerate(bad, start=1):
        if data is None:
            del files.files[LIST]
        else:
            files.files[LIST] = data
        assert not watcher.refresh_now(), cause
        status = watcher.status()
        assert watcher.current is good and status["in_force"] and status["entries"] == 2
        assert cause in status["last_error"] and status["consecutive_failures"] == failures
        assert status["last_success"] == first["last_success"] and status["last_fetch"] > first["last_fetch"]
        logged = caplog.records[-1].getMessage()
        assert cause in logged and "keeping the list generated" in logged
    assert kpi.whitelist_record(watcher.status())["Statut_ListeBlanche"] == kpi.ERROR
    newer = sign_as("whitelist-signer", build_whitelist([*good.domains, Domain("3", "db3.drimcheck.test")]))
    files.files[LIST] = newer
    assert watcher.refresh_now()
    status = watcher.status()
    assert status["entries"] == 3 and status["last_error"] is None and status["consecutive_failures"] == 0
    assert status["fetches"] == 8 and status["last_success"] == status["last_fetch"]
    assert kpi.whitelist_record(status)["Statut_ListeBlanche"] == kpi.SUCCESS
    assert [len(wl.domains) for wl in changes] == [2, 3]
    assert watcher.refresh_now() and len(changes) == 2  # the same list again is no change


def test_signer_expired_since_signing_is_refused_and_says_why(server, files, pki, signed, lapsed, caplog):
    """At its clock, never at the SigningTime: a list whose signer expired since it was signed is refused."""
    watcher = _watcher(server, pki)
    files.files[LIST] = signed
    assert watcher.refresh_now()
    files.files[LIST] = lapsed
    caplog.set_level(logging.WARNING, logger="harness.whitelist_watch")
    assert not watcher.refresh_now()
    error = watcher.status()["last_error"]
    assert "the signer CN=Liste Blanche DRIM-M, OU=318751275100020 expired on" in error
    assert "valid at signing time; a DRIMbox fetching this list on" in error and error.endswith("must refuse it")
    logged = caplog.records[-1].getMessage()
    assert error in logged and "keeping the list generated" in logged and "its own signer expired" not in logged
    assert watcher.current.signer_certificate.not_valid_after_utc > dt.datetime.now(dt.UTC)


def test_the_list_in_force_whose_signer_expired_is_named(server, files, pki, lapsed, caplog):
    clock = Clock()
    clock.now -= dt.timedelta(minutes=25)  # the lapsed signer is valid for 15 more minutes
    watcher = _watcher(server, pki, clock=clock)
    files.files[LIST] = lapsed
    assert watcher.refresh_now()
    clock.now += dt.timedelta(minutes=25)
    caplog.set_level(logging.WARNING, logger="harness.whitelist_watch")
    assert not watcher.refresh_now() and watcher.current is not None
    logged = caplog.records[-1].getMessage()
    assert "valid at signing time" in logged and "keeping the list generated" in logged
    assert "(its own signer expired on " in logged and "a newer list is needed)" in logged


def test_signer_revoked_after_the_list_was_accepted(server, files, tmp_path, plain):
    pki = Pki.init(tmp_path / "pki")
    pki.issue("whitelist-signer", cn="Liste Blanche DRIM-M", ou="318751275100020", usage="sign")
    files.files[LIST] = sign_whitelist(plain, pki.key_path("whitelist-signer").read_bytes(),
                                       pki.cert_path("whitelist-signer").read_bytes())
    files.files["/crl.pem"] = (pki.folder / "crl.pem").read_bytes()
    watcher = WhitelistWatcher(server.url + LIST, pki.ca_path.read_bytes(), crl=server.url + "/crl.pem")
    assert watcher.refresh_now() and "revocation" in watcher.current.checks
    pki.revoke("whitelist-signer")
    files.files["/crl.pem"] = (pki.folder / "crl.pem").read_bytes()
    assert not watcher.refresh_now()
    assert "was revoked" in watcher.status()["last_error"] and watcher.current is not None
    del files.files["/crl.pem"]
    assert not watcher.refresh_now()
    assert f"the CRL at {server.url}/crl.pem answered HTTP 404" in watcher.status()["last_error"]


def test_no_list_in_force_when_the_first_fetch_fails(files, pki, caplog):
    server = serve_wsgi(files, "whitelist-gone")
    url = server.url
    server.stop()
    watcher = WhitelistWatcher(url + LIST, pki.ca_path.read_bytes())
    caplog.set_level(logging.WARNING, logger="harness.whitelist_watch")
    assert not watcher.refresh_now()
    status = watcher.status()
    assert status["in_force"] is False and status["last_success"] is None and "unreachable" in status["last_error"]
    assert "no list is in force" in caplog.records[-1].getMessage()


def test_https_source_is_verified_against_the_given_ca(files, pki, foreign, signed):
    pki.issue("whitelist-host", cn="localhost", usage="server")
    files.files[LIST] = signed
    server = serve_wsgi(files, "whitelist-https", ssl_context=pki.server_context("whitelist-host"))
    url = f"https://{server.host}:{server.port}{LIST}"
    try:
        assert WhitelistWatcher(url, pki.ca_path.read_bytes(), verify_tls=str(pki.ca_path)).refresh_now()
        other = WhitelistWatcher(url, pki.ca_path.read_bytes(), verify_tls=str(foreign.ca_path))
        assert not other.refresh_now() and "unreachable" in other.status()["last_error"]
    finally:
        server.stop()


def test_schedule_fetches_again_until_stopped(server, files, pki, signed):
    files.files[LIST] = signed
    watcher = _watcher(server, pki, interval=dt.timedelta(seconds=0.05), clock=lambda: dt.datetime.now(dt.UTC))
    with watcher:
        assert watcher.current is not None  # start() fetched once before returning
        deadline = time.monotonic() + 10
        while watcher.status()["fetches"] < 3 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert watcher.status()["fetches"] >= 3 and watcher.status()["next_fetch"] is not None
    fetched = len(files.requests)
    time.sleep(0.2)
    assert len(files.requests) == fetched and watcher.status()["next_fetch"] is None


def test_file_source(tmp_path, pki, signed):
    path = tmp_path / "liste.xml"
    path.write_bytes(signed)
    watcher = WhitelistWatcher(path, pki.ca_path.read_bytes())
    assert watcher.refresh_now() and watcher.current.hosts[0] == "db1.drimcheck.test"
    path.unlink()
    assert not watcher.refresh_now() and "cannot be read" in watcher.status()["last_error"]


def test_kpi_without_a_watcher():
    assert kpi.whitelist_record(None) == {"Statut_ListeBlanche": kpi.ABSENT}
