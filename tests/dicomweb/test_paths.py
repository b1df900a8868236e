"""WADO-RS path parsing (PS3.18 §10.4.1): good paths round-trip, path tricks are refused."""

from __future__ import annotations

import pytest

from harness.dicomweb.paths import WadoPath, is_uid, parse_frame_list, parse_wado_path

S, SE, INST = "1.2.3.4.5.6.7.8.9", "1.2.3.4.5.6.7.8.10", "2.25.123456789012345678901234567890"

CASES = [
    (f"/studies/{S}", WadoPath(S), "study"),
    (f"/studies/{S}/metadata", WadoPath(S, metadata=True), "study"),
    (f"/studies/{S}/series/{SE}", WadoPath(S, SE), "series"),
    (f"/studies/{S}/series/{SE}/metadata", WadoPath(S, SE, metadata=True), "series"),
    (f"/studies/{S}/series/{SE}/instances/{INST}", WadoPath(S, SE, INST), "instance"),
    (f"/studies/{S}/series/{SE}/instances/{INST}/metadata", WadoPath(S, SE, INST, metadata=True), "instance"),
    (f"/studies/{S}/series/{SE}/instances/{INST}/frames/1", WadoPath(S, SE, INST, (1,)), "frames"),
    (f"/studies/{S}/series/{SE}/instances/{INST}/frames/3,1,2", WadoPath(S, SE, INST, (3, 1, 2)), "frames"),
]


@pytest.mark.parametrize(("path", "parsed", "level"), CASES)
def test_parse_and_round_trip(path, parsed, level):
    assert parse_wado_path(path) == parsed
    assert parsed.level == level
    assert parsed.to_path() == path
    base = "/dcm4chee-arc/aets/DCM4CHEE/rs"
    assert parse_wado_path(base + path, base=base + "/") == parsed


OBJ = f"/studies/{S}/series/{SE}/instances/{INST}"
BAD = [
    "", "/", "/studies", "/studies/", f"/studies/{S}/", f"//studies/{S}", f"/studies//{S}",
    f"/studies/{S}/../../etc/passwd", "/studies/..", "/studies/1.2/series/..%2F..%2Fetc",
    "/studies/1.2%2F3", "/studies/1.2%2e3", "/studies/%2e%2e", f"/studies/{S}/series",
    "/studies/1..2", "/studies/.1.2", "/studies/1.2.", "/studies/1.2 ", "/studies/1.2;x",
    "/studies/" + "1." * 32 + "1",  # 65 characters
    f"/studies/{S}/instances/{INST}", f"/studies/{S}/frames/1", f"/studies/{S}/series/{SE}/frames/1",
    f"{OBJ}/frames/0", f"{OBJ}/frames/1,", f"{OBJ}/frames/-1", f"{OBJ}/frames/a", f"{OBJ}/frames/",
    f"{OBJ}/frames/1/metadata", f"{OBJ}/frames/1/frames/2", f"{OBJ}/frames/1%2C2",
    f"/studies/{S}/rendered", f"/studies/{S}/thumbnail", f"/studies/{S}/metadata/metadata",
    f"/series/{SE}", "/metadata", f"/STUDIES/{S}",
]


@pytest.mark.parametrize("path", BAD)
def test_rejected(path):
    with pytest.raises(ValueError):
        parse_wado_path(path)


def test_base_mismatch_rejected():
    with pytest.raises(ValueError, match="not under"):
        parse_wado_path(f"/other/studies/{S}", base="/wado")
    with pytest.raises(ValueError):
        parse_wado_path(f"/wadox/studies/{S}", base="/wado")


def test_uid_rules():
    assert is_uid("1" * 64) and not is_uid("1" * 65)
    assert not is_uid("") and not is_uid("1.a")


def test_frame_list_bound():
    assert parse_frame_list("1,2") == (1, 2)
    with pytest.raises(ValueError, match="more than"):
        parse_frame_list(",".join(["1"] * 10_001))
