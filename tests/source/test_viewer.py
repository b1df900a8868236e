"""The Source's web viewer, its session and authorisation layer: PSC login, server-side sessions, the same-origin
DICOMweb path through RAD-107 (``simulators.source.viewer``), over real HTTP on a network started with its demo
exam (plain HTTP: the TLS path is the browser test's)."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from simulators.source.store import KosAccess
from simulators.source.viewer import ViewerConfig, start_viewer
from simulators.source.viewer.session import COOKIE, ViewerSessions

MARIE, PAUL = "10001000001", "10001000002"  # simulators/psc/users.yaml
OCTET = 'multipart/related; type="application/octet-stream"; transfer-syntax=1.2.840.10008.1.2.1'


@pytest.fixture(scope="session")
def viewer_library() -> Path:
    """The viewer library installed (``drimcheck viewer install``: npm ci into the cache folder, once); skipped
    with the reason when node/npm or the npm registry is not there."""
    from harness import viewer_lib

    try:
        return viewer_lib.install().dist
    except viewer_lib.InstallError as exc:
        pytest.skip(f"viewer library not installable here: {exc}")


@pytest.fixture(scope="module")
def network(tmp_path_factory: pytest.TempPathFactory):
    from simulators.network import start_network

    net = start_network(tmp_path_factory.mktemp("viewer-network"), demo=True)
    yield net
    net.stop()


@pytest.fixture(scope="module")
def source(network):
    return dict(network.parts)["source"]


@pytest.fixture(scope="module")
def demo(network) -> dict[str, str]:
    return network.demo


def login(url: str, rpps: str) -> tuple[requests.Session, requests.Response]:
    """A browser's path: the viewer sends it to PSC, the professional picks himself, PSC sends it back."""
    http = requests.Session()
    to_psc = http.get(url, allow_redirects=False, timeout=30)
    assert to_psc.status_code == 302, to_psc.text
    page = http.post(to_psc.headers["Location"], data={"user": rpps}, timeout=60)
    return http, page


def proxied(demo: dict[str, str], viewer: str, rest: str) -> str:
    return f"{viewer.split('/viewer', 1)[0]}/viewer/dicomweb/{demo['KOS UID']}/studies/{demo['study UID']}{rest}"


def series_of(source, demo) -> list[str]:
    from simulators.source.rad107 import kos_references

    return list(kos_references(source.store.kos(demo["KOS UID"]).data))


def test_demo_viewer_url_names_the_study_and_its_kos(demo, source):
    query = parse_qs(urlsplit(demo["viewer URL"]).query)
    assert query == {"StudyInstanceUID": [demo["study UID"]], "KOS": [demo["KOS UID"]]}
    assert demo["viewer URL"].startswith(source.endpoints["viewer"])


def test_without_a_session_the_page_sends_the_browser_to_psc(demo, network, viewer_library):
    resp = requests.get(demo["viewer URL"], allow_redirects=False, timeout=30)
    assert resp.status_code == 302
    location = urlsplit(resp.headers["Location"])
    query = parse_qs(location.query)
    assert location.path.endswith("/protocol/openid-connect/auth")
    assert query["client_id"] == ["drimbox-source"] and query["code_challenge_method"] == ["S256"]
    assert query["redirect_uri"][0].endswith("/auth/redirect") and query["acr_values"] == ["eidas1"]
    cookie = resp.headers["Set-Cookie"]
    assert cookie.startswith(COOKIE + "=") and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Secure" not in cookie  # plain HTTP here; over HTTPS the browser test checks it is


def test_image_requests_without_a_live_session_are_refused(demo, source):
    series = series_of(source, demo)[0]
    url = proxied(demo, demo["viewer URL"], f"/series/{series}/metadata")
    for cookies in ({}, {COOKIE: "forged-session-id"}):
        resp = requests.get(url, cookies=cookies, headers={"Accept": "application/dicom+json"}, timeout=30)
        assert resp.status_code == 401, resp.text
        assert resp.headers["Content-Type"].startswith("text/plain") and b"DICM" not in resp.content


def test_a_logged_in_professional_sees_the_study_through_rad107(demo, source, viewer_library):
    http, page = login(demo["viewer URL"], MARIE)
    assert page.status_code == 200, page.text
    assert page.url == demo["viewer URL"]
    assert demo["study UID"] in page.text and "Marie RADIOLOGUE" in page.text
    session = source.viewer.state.sessions.get(http.cookies[COOKIE])
    assert session is not None and session.login.access_token not in page.text  # the token stays on the server
    assert "Content-Security-Policy" in page.headers and page.headers["Cache-Control"] == "no-store"
    series = series_of(source, demo)[0]
    meta = http.get(proxied(demo, demo["viewer URL"], f"/series/{series}/metadata"),
                    headers={"Accept": "application/dicom+json"}, timeout=30)
    assert meta.status_code == 200, meta.text
    uris = re.findall(r'"BulkDataURI": "([^"]+)"', meta.text)
    assert uris and all("/viewer/dicomweb/" + demo["KOS UID"] + "/studies/" in u for u in uris)
    frame = http.get(uris[0], headers={"Accept": OCTET}, timeout=30)
    assert frame.status_code == 200 and frame.headers["Content-Type"].startswith("multipart/related")


def test_paths_outside_the_kos_are_refused_as_rad107_says(demo, source, viewer_library):
    http, page = login(demo["viewer URL"], MARIE)
    assert page.status_code == 200
    outside = "1.2.3.4.5.6.7"
    resp = http.get(proxied(demo, demo["viewer URL"], f"/series/{outside}/metadata"),
                    headers={"Accept": "application/dicom+json"}, timeout=30)
    assert resp.status_code == 404, resp.text  # not referenced by the KOS (RAD-107, ANS PoC)
    dotted = proxied(demo, demo["viewer URL"], "/series/%2e%2e/metadata")
    assert http.get(dotted, timeout=30).status_code == 400  # encoded dot segments refused by RAD-107 too
    other_study = demo["viewer URL"].replace(demo["study UID"], outside)
    resp = http.get(other_study, timeout=30)
    assert resp.status_code == 404 and "Examen introuvable" in resp.text


def test_an_expired_session_is_refused_and_logs_in_again(demo, source, viewer_library):
    http, page = login(demo["viewer URL"], MARIE)
    assert page.status_code == 200
    sessions = source.viewer.state.sessions
    session = sessions.get(http.cookies[COOKIE])
    session.seen -= sessions.idle + 1  # idle past its limit
    series = series_of(source, demo)[0]
    resp = http.get(proxied(demo, demo["viewer URL"], f"/series/{series}/metadata"), timeout=30)
    assert resp.status_code == 401
    again = http.get(demo["viewer URL"], allow_redirects=False, timeout=30)
    assert again.status_code == 302 and "/protocol/openid-connect/auth" in again.headers["Location"]


def test_another_professionals_session_is_refused_a_masked_manifest(demo, source, viewer_library):
    """A manifest published MASQUE_PS by Marie: Paul's session gets RAD-107's 403, on the page and on images."""
    store = source.store
    before = store.access(demo["KOS UID"])
    store.set_access(KosAccess(demo["KOS UID"], ("N", "MASQUE_PS"), ("8" + MARIE,)))
    try:
        paul, page = login(demo["viewer URL"], PAUL)
        assert page.status_code == 403 and "masqué" in page.text
        series = series_of(source, demo)[0]
        url = proxied(demo, demo["viewer URL"], f"/series/{series}/metadata")
        assert paul.get(url, timeout=30).status_code == 403
        marie, page = login(demo["viewer URL"], MARIE)
        assert page.status_code == 200
        assert marie.get(url, headers={"Accept": "application/dicom+json"}, timeout=30).status_code == 200
    finally:
        if before is not None:
            store.set_access(before)


def test_without_the_library_the_page_says_how_to_install_it(demo, source, tmp_path: Path):
    config = ViewerConfig(psc_issuer="http://127.0.0.1:9/none", library=tmp_path / "nothing")
    server = start_viewer(config, source.wado_app, source.store, source.config.wado_path)
    try:
        url = server.url + "/viewer?" + urlsplit(demo["viewer URL"]).query
        resp = requests.get(url, allow_redirects=False, timeout=30)
        assert resp.status_code == 503
        assert "drimcheck viewer install" in resp.text and "pas installée" in resp.text
        assert requests.get(server.url + "/viewer/lib/cornerstone.js", timeout=30).status_code == 503
        bad = requests.get(server.url + "/viewer?StudyInstanceUID=../etc", timeout=30)
        assert bad.status_code == 400
    finally:
        server.stop()


def test_sessions_end_when_idle_or_too_old():
    now = [1000.0]
    sessions = ViewerSessions(idle=60, maximum=600, clock=lambda: now[0])
    one = sessions.new()
    now[0] += 59
    assert sessions.get(one.login.id) is one
    now[0] += 61
    assert sessions.get(one.login.id) is None  # idle too long
    two = sessions.new()
    for _ in range(13):  # used every 50 s, yet past the absolute limit of 600 s
        now[0] += 50
        found = sessions.get(two.login.id)
    assert found is None
    assert sessions.get(None) is None and sessions.get("") is None


def test_the_consumers_link_opens_the_viewer_on_the_study_and_its_kos():
    from simulators.consumer.app import viewer_url
    from simulators.consumer.config import ConsumerConfig

    config = ConsumerConfig(viewers={"db.example": "vi.example"})
    assert viewer_url(config, "https://db.example/wado-rs/studies/1.2/series/3", "1.2", "4.5") == \
        "https://vi.example/viewer?StudyInstanceUID=1.2&KOS=4.5"
    assert viewer_url(config, "https://other:8443/wado-rs/studies/1.2", "1.2") == \
        "https://other:8443/viewer?StudyInstanceUID=1.2"  # no KOS known: the Source takes the study's current one
