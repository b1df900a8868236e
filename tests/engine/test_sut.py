"""SUT profiles: reference specs, faults, YAML validation with the bad field named."""

from __future__ import annotations

import pytest

from harness.sut import ProfileError, load_profile


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
    path = tmp_path / "p.yaml"
    path.write_text("name: acme\nactor: content\nfiles: [kos.dcm]\n"
                    "endpoints:\n  dicom: {ae_title: ACME, host: 127.0.0.1, port: 104}\n")
    p = load_profile(str(path))
    assert p.name == "acme" and p.files == [tmp_path / "kos.dcm"] and p.endpoints["dicom"]["port"] == 104


@pytest.mark.parametrize(("body", "field"), [
    ("actor: robot\n", "field actor"),
    ("actor: dmp\nendpoints:\n  registry: not-a-url\n", "field endpoints.registry"),
    ("actor: dmp\nendpoints:\n  dicom: {ae_title: A, host: h, port: 99999}\n", "field endpoints.dicom.port"),
    ("actor: dmp\nsurprise: 1\n", "Additional properties"),
    ("endpoints: {}\n", "'actor' is a required property"),
    ("actor: content\nfiles: [nowhere.dcm]\n", "nowhere.dcm does not exist"),
])
def test_bad_yaml_fields_are_named(tmp_path, body, field):
    path = tmp_path / "p.yaml"
    path.write_text(body)
    with pytest.raises(ProfileError, match=field.replace(".", r"\.")):
        load_profile(str(path))
