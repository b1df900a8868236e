"""SUT profiles: reference specs, faults, paths, ports, TLS, every bad field named in one error."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness.sut import (
    PLAN_NEEDS,
    ProfileError,
    ProfileUnreadable,
    SutProfile,
    load_profile,
    missing_for_plan,
    schema_node,
)

REPO = Path(__file__).resolve().parents[2]


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_reference_specs():
    p = load_profile("reference:source")
    assert (p.actor, p.reference, p.fault) == ("source_drimbox", True, None)
    assert load_profile("reference:dmp").actor == "dmp"
    assert load_profile("reference:consumer").actor == "consumer_drimbox"


@pytest.mark.parametrize(("spec", "message"), [
    ("reference:pacs", "unknown reference actor"),
    ("reference:source?colour=blue", "unknown parameter"),
    ("reference:source?fault=definitely-not-a-fault", "unknown fault 'definitely-not-a-fault'"),
    ("missing.yaml", "not found"),
])
def test_bad_specs(spec, message):
    with pytest.raises(ProfileError, match=message):
        load_profile(spec)


def test_yaml_profile(tmp_path):
    (tmp_path / "kos.dcm").write_bytes(b"")
    path = write(tmp_path / "p.yaml", "name: acme\nactor: content\nfiles: [kos.dcm]\n"
                                      "endpoints:\n  dicom: {ae_title: ACME, host: 127.0.0.1, port: 104}\n")
    p = load_profile(str(path))
    assert p.name == "acme" and p.files == [tmp_path / "kos.dcm"] and p.endpoints["dicom"]["port"] == 104


@pytest.mark.parametrize(("body", "line"), [
    ("actor: robot\n", "actor: 'robot' is not one of source_drimbox, consumer_drimbox, dmp, content"),
    ("actor: dmp\nendpoints:\n  registry: not-a-url\n",
     "endpoints.registry: 'not-a-url' is not an http:// or https:// URL; example: https://"),
    ("actor: dmp\nendpoints:\n  dicom: {ae_title: A, host: h, port: 99999}\n",
     "endpoints.dicom.port: 99999 is out of range 1..65535"),
    ("actor: dmp\nsurprise: 1\n", "surprise: unknown field"),
    ("actor: dmp\nendpoints:\n  regitsry: http://x\n", "endpoints.regitsry: unknown field; did you mean registry?"),
    ("endpoints: {}\n", "actor: required, missing"),
    ("actor: content\nfiles: [nowhere.dcm]\n", "files[0]: nowhere.dcm does not exist"),
    ("- actor: dmp\n", "(top level): a profile is a mapping"),
    ("actor: dmp\ntls: {cert: c.pem}\n", "tls.cert: needs tls.key as well"),
])
def test_bad_yaml_fields_are_named(tmp_path, body, line):
    path = write(tmp_path / "p.yaml", body)
    with pytest.raises(ProfileError) as info:
        load_profile(str(path))
    assert any(p.startswith(line) for p in info.value.problems), info.value.problems


def test_every_problem_of_a_profile_in_one_error(tmp_path):
    path = write(tmp_path / "p.yaml",
                 "actor: dmp\nsurprise: 1\nendpoints:\n  registry: nope\n  repository: also-nope\n"
                 "options:\n  ports: {dmp: 70000}\ncredentials:\n  vihf_ca: missing-ca.pem\n")
    with pytest.raises(ProfileError) as info:
        load_profile(str(path))
    fields = [p.split(":", 1)[0] for p in info.value.problems]
    assert fields == ["surprise", "endpoints.registry", "endpoints.repository", "options.ports.dmp",
                      "credentials.vihf_ca"]
    text = str(info.value).splitlines()
    assert text[0] == f"{path}: 5 problems" and len(text) == 6


def test_unreadable_file_is_its_own_error(tmp_path):
    path = write(tmp_path / "p.yaml", "actor: [unclosed\n")
    with pytest.raises(ProfileUnreadable, match="not readable YAML"):
        load_profile(str(path))


# -- paths ------------------------------------------------------------------------------------
def test_relative_profile_path_is_kept_absolute(tmp_path, monkeypatch):
    write(tmp_path / "run" / "vendor.yaml", "actor: dmp\n")
    monkeypatch.chdir(tmp_path)
    p = load_profile("run/vendor.yaml")
    assert p.source == str(tmp_path / "run" / "vendor.yaml") == p.spec()
    monkeypatch.chdir(REPO)
    assert load_profile(p.spec()).actor == "dmp"


def test_run_with_a_relative_profile_path_from_another_directory(tmp_path):
    """`drimcheck run --sut run/vendor.yaml` in the vendor's folder: the plan's pytest, started in the
    repository, still finds the profile and the files it names."""
    engine = REPO / "tests" / "engine"
    write(tmp_path / "run" / "out" / "kos.dcm", "x")
    write(tmp_path / "run" / "vendor.yaml", "actor: content\nfiles: [out/kos.dcm]\n")
    write(tmp_path / "plan" / "test_reads_profile.py",
          "import pytest\n\n@pytest.mark.requirement('ENG-PASS-001')\n"
          "def test_profile(sut):\n    assert sut.files[0].read_text() == 'x'\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    proc = subprocess.run([sys.executable, "-m", "harness.cli", "run", "--sut", "run/vendor.yaml",
                           "--plan", str(tmp_path / "plan"), "--catalog", str(engine / "catalog"), "--out", "out"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert "1 passed" in proc.stdout, proc.stdout + proc.stderr


def test_paths_inside_a_profile_are_read_from_its_folder(tmp_path, monkeypatch):
    folder = tmp_path / "vendor"
    for name in ("certs/ca.pem", "certs/key.pem", "certs/cert.pem", "certs/vihf-ca.pem", "out/kos.dcm",
                 "cisis/CDA_extended.xsd", "cisis/sch/x.sch", "drivers/acme.py"):
        write(folder / name, "x")
    write(folder / "p.yaml", "actor: content\nfiles: [out/kos.dcm]\ndriver: drivers/acme.py:Acme\n"
                             "credentials: {vihf_key: certs/key.pem, vihf_cert: certs/cert.pem, "
                             "vihf_ca: certs/vihf-ca.pem}\n"
                             "tls: {ca: certs/ca.pem, cert: certs/cert.pem, key: certs/key.pem}\n"
                             "options: {cda_xsd: cisis/CDA_extended.xsd, schematron: cisis/sch, "
                             "groups: [[out/kos.dcm]]}\n")
    monkeypatch.chdir(tmp_path)
    p = load_profile("vendor/p.yaml")
    assert p.files == [folder / "out/kos.dcm"]
    assert p.credentials == {"vihf_key": str(folder / "certs/key.pem"), "vihf_cert": str(folder / "certs/cert.pem"),
                             "vihf_ca": str(folder / "certs/vihf-ca.pem")}
    assert p.tls == {"ca": str(folder / "certs/ca.pem"), "cert": str(folder / "certs/cert.pem"),
                     "key": str(folder / "certs/key.pem")}
    assert p.options["cda_xsd"] == str(folder / "cisis/CDA_extended.xsd")
    assert p.options["schematron"] == str(folder / "cisis/sch")
    assert p.options["groups"] == [[str(folder / "out/kos.dcm")]]
    assert p.driver == f"{folder / 'drivers/acme.py'}:Acme"


def test_missing_paths_are_named_by_field(tmp_path):
    write(tmp_path / "p.yaml", "actor: dmp\ncredentials: {vihf_key: k.pem, vihf_cert: c.pem}\n"
                               "tls: {ca: ca.pem}\noptions: {cda_xsd: x.xsd}\ndriver: d.py:D\n")
    with pytest.raises(ProfileError) as info:
        load_profile(str(tmp_path / "p.yaml"))
    fields = sorted(p.split(":", 1)[0] for p in info.value.problems)
    assert fields == ["credentials.vihf_cert", "credentials.vihf_key", "driver", "options.cda_xsd", "tls.ca"]
    assert all("does not exist" in p for p in info.value.problems)


def test_empty_keys_count_as_absent(tmp_path):
    """A section whose lines are all commented out (as `profile init` writes them) is absent, not an error."""
    path = write(tmp_path / "p.yaml", "actor: dmp\ncredentials:\n  # vihf_key: k.pem\noptions:\n  ports:\n")
    p = load_profile(str(path))
    assert p.credentials == {} and p.options == {}


# -- ports -------------------------------------------------------------------------------------
def test_ports_accessor(tmp_path):
    p = load_profile(str(write(tmp_path / "p.yaml", "actor: source_drimbox\noptions:\n  ports: {dmp: 18081}\n")))
    assert (p.port("dmp"), p.port("psc")) == (18081, 0)
    assert load_profile("reference:source").port("pacs") == 0
    with pytest.raises(ValueError, match="unknown peer 'dpm'"):
        p.port("dpm")


@pytest.mark.parametrize(("key", "replacement"), [("dmp_port", "options.ports.dmp"),
                                                   ("psc_port", "options.ports.psc")])
def test_old_port_keys_are_refused_with_their_replacement(tmp_path, key, replacement):
    path = write(tmp_path / "p.yaml", f"actor: source_drimbox\noptions:\n  {key}: 18081\n")
    with pytest.raises(ProfileError, match=f"options.{key}: no longer read: use {replacement}"):
        load_profile(str(path))


def test_unknown_port_and_option_keys_are_refused(tmp_path):
    path = write(tmp_path / "p.yaml", "actor: consumer_drimbox\noptions:\n  ports: {viewer: 1}\n  colour: blue\n")
    with pytest.raises(ProfileError) as info:
        load_profile(str(path))
    assert [p.split(":", 1)[0] for p in info.value.problems] == ["options.colour", "options.ports.viewer"]


def test_every_option_a_plan_reads_is_documented():
    for key in ("ports", "patients", "profile", "groups", "cda_xsd", "schematron", "dciodvfy"):
        assert schema_node(f"options.{key}").get("description"), key
    for key in ("psc_client_id", "psc_client_secret", "vihf_key", "vihf_cert", "vihf_ca"):
        assert schema_node(f"credentials.{key}").get("description"), key


# -- tls ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(("tls", "expected"), [
    ({}, {"verify": True}),
    ({"ca": "/c/ca.pem"}, {"verify": "/c/ca.pem"}),
    ({"verify": False, "ca": "/c/ca.pem"}, {"verify": False}),
    ({"verify": True}, {"verify": True}),
    ({"ca": "/c/ca.pem", "cert": "/c/c.pem", "key": "/c/k.pem"},
     {"verify": "/c/ca.pem", "cert": ("/c/c.pem", "/c/k.pem")}),
])
def test_http_kwargs(tls, expected):
    assert SutProfile(name="x", actor="dmp", tls=tls).http_kwargs() == expected


def test_http_kwargs_hold_absolute_paths(tmp_path):
    for name in ("ca.pem", "c.pem", "k.pem"):
        write(tmp_path / name, "x")
    p = load_profile(str(write(tmp_path / "p.yaml", "actor: dmp\ntls: {ca: ca.pem, cert: c.pem, key: k.pem}\n")))
    assert p.http_kwargs() == {"verify": str(tmp_path / "ca.pem"),
                               "cert": (str(tmp_path / "c.pem"), str(tmp_path / "k.pem"))}


def test_unknown_credentials_are_refused(tmp_path):
    path = write(tmp_path / "p.yaml", "actor: dmp\ncredentials: {password: hunter2}\n")
    with pytest.raises(ProfileError, match=r"credentials\.password: unknown field"):
        load_profile(str(path))


# -- what each plan needs ----------------------------------------------------------------------
def test_plan_needs_name_schema_fields():
    for plan, needs in PLAN_NEEDS.items():
        for dotted, why in needs:
            assert schema_node(dotted), (plan, dotted)
            assert why


def test_missing_for_plan_says_field_why_and_example(tmp_path):
    p = load_profile(str(write(tmp_path / "p.yaml", "actor: dmp\nendpoints: {registry: http://h/registry}\n")))
    missing = missing_for_plan(p, "dmp")
    assert [m.split(" ", 1)[0] for m in missing] == ["endpoints.repository", "credentials.vihf_key",
                                                     "credentials.vihf_cert"]
    assert missing[0] == ("endpoints.repository is missing: the dmp plan needs it because it sends ITI-41 "
                          "submissions and ITI-43 retrievals there; for example endpoints.repository: "
                          "https://dmp.example.org/repository")


def test_missing_for_plan_counts_a_port_of_zero_as_missing():
    p = SutProfile(name="x", actor="source_drimbox", options={"ports": {"dmp": 18081, "psc": 0}})
    missing = missing_for_plan(p, "source_drimbox")
    assert any(m.startswith("options.ports.psc is missing") for m in missing)
    assert not any(m.startswith("options.ports.dmp") for m in missing)


def test_missing_for_plan_reference_and_unknown_plan():
    assert missing_for_plan(load_profile("reference:consumer"), "consumer_drimbox") == []
    with pytest.raises(ValueError, match="unknown plan"):
        missing_for_plan(load_profile("reference:dmp"), "pacs")
