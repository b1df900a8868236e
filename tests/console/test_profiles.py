"""Systems under test in the console: the profile check names every bad field at once, each save is a version,
the reachability button tries the endpoints (harness/console/service.py, pages.py)."""

from __future__ import annotations

import re
import socket

from harness.console.jobs import profile_file

BAD = """name: Acme DRIMbox 2.3
actor: source_drimbox
endpoints:
  wado_rs: ftp://drimbox.acme.test/wado-rs
  mllp: drimbox.acme.test
  dicom: {ae_title: ACMEPACS, host: pacs.acme.test, port: 99999}
options:
  ports: {dmp: 18081, psc: 18082}
  dmp_port: 18081
credentials:
  vihf_ca: certs/missing-ca.pem
colour: blue
"""
GOOD = """name: Acme DMP
actor: dmp
endpoints:
  registry: http://127.0.0.1:{port}/registry
  repository: http://127.0.0.1:{port}/repository
"""


def _problems(html: str) -> list[str]:
    return re.findall(r'<li class="problem">([^<]+)</li>', html)


def test_every_bad_field_is_named_at_once_and_nothing_is_saved(app, vendor):
    response = vendor.post("/profiles/new", {"yaml": BAD})
    assert response.status_code == 422
    problems = _problems(response.text)
    for field in ("endpoints.wado_rs", "endpoints.mllp", "endpoints.dicom.port", "options.dmp_port",
                  "credentials.vihf_ca", "colour"):
        assert any(p.startswith(field) for p in problems), (field, problems)
    assert "ftp://drimbox.acme.test/wado-rs" in response.text  # the text is kept, nothing is lost
    assert app.extensions["console"].store.list_profiles() == []


def test_yaml_that_does_not_parse_is_named(vendor):
    response = vendor.post("/profiles/new", {"yaml": "name: [unclosed\nactor: dmp"})
    assert response.status_code == 422
    assert _problems(response.text)[0].startswith("(YAML): not readable")


def test_the_template_of_each_actor_is_the_starting_point(vendor):
    from harness.profile_cmd import template

    for actor in ("source", "consumer", "dmp", "content"):
        page = vendor.get(f"/profiles/new?actor={actor}")
        assert page.status_code == 200
        assert template(actor).splitlines()[0] in page.text
    assert vendor.get("/profiles/new?actor=pacs").status_code == 400


def test_each_save_keeps_a_version_and_each_version_is_viewable(app, vendor):
    data = app.extensions["console"].data
    first = vendor.post("/profiles/new", {"yaml": GOOD.format(port=8090)})
    assert first.status_code == 302
    pid = int(first.location.rsplit("/", 1)[1])
    assert vendor.post(f"/profiles/{pid}", {"yaml": GOOD.format(port=8091)}).status_code == 302
    refused = vendor.post(f"/profiles/{pid}", {"yaml": GOOD.format(port=8092) + "bogus: 1\n"})
    assert refused.status_code == 422
    versions = app.extensions["console"].store.versions(pid)
    assert [v["version"] for v in versions] == [2, 1]
    page = vendor.get(f"/profiles/{pid}")
    assert "v2" in page.text and f"/profiles/{pid}/versions/1" in page.text
    assert "8090" in vendor.get(f"/profiles/{pid}/versions/1").text
    assert "8091" in profile_file(data, pid, 2).read_text()  # the file drimcheck run reads
    assert vendor.get(f"/profiles/{pid}/versions/9").status_code == 404


def test_placeholders_and_plan_needs_are_shown_but_do_not_block_a_save(vendor):
    from harness.profile_cmd import template

    response = vendor.post("/profiles/new", {"yaml": template("dmp")})
    assert response.status_code == 302
    page = vendor.get(response.location)
    assert "To fill in before a campaign" in page.text and "placeholder" in page.text


def test_reachability_tries_each_endpoint(vendor):
    with socket.socket() as listening:
        listening.bind(("127.0.0.1", 0))
        listening.listen(1)
        port = listening.getsockname()[1]
        text = GOOD.format(port=port).replace(f"127.0.0.1:{port}/repository", "127.0.0.1:1/repository")
        rows = vendor.post("/profiles/reachability", {"yaml": text}).json
    assert [(r["field"], r["ok"]) for r in rows] == [("endpoints.registry", True), ("endpoints.repository", False)]
    assert "does not accept a connection" in rows[1]["message"]
