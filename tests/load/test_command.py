"""``drimcheck load``: what it refuses before anything starts, each with one line naming the fix."""

from __future__ import annotations

import pytest
import yaml

from harness.cli import main
from harness.load.command import parse_duration

DURATIONS = [("90", 90.0), ("90s", 90.0), ("2m", 120.0), ("1h", 3600.0), ("1m30s", 90.0), ("0.5", 0.5)]


@pytest.mark.parametrize(("text", "seconds"), DURATIONS)
def test_duration_reads_like_locusts_run_time(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "soon", "0", "-5", "5x"])
def test_unreadable_duration_is_refused(text):
    with pytest.raises(ValueError, match="--duration"):
        parse_duration(text)


REFUSED = [
    (["load", "--scenario", "wado-storm"], "--sut is required"),
    (["load", "--sut", "reference:dmp", "--scenario", "wado-storm"], "wado-storm loads a Source DRIMbox"),
    (["load", "--sut", "reference:source", "--scenario", "contextual-calls"], "give reference:consumer"),
    (["load", "--sut", "reference:source?fault=no-token-check", "--scenario", "wado-storm"], "without faults"),
    (["load", "--sut", "reference:source", "--scenario", "wado-storm", "--duration", "later"], "--duration"),
]


@pytest.mark.parametrize(("argv", "why"), REFUSED)
def test_a_load_that_cannot_run_exits_2_naming_why(argv, why, capsys, tmp_path):
    assert main([*argv, "--out", str(tmp_path / "out")]) == 2
    assert why in capsys.readouterr().err
    assert not (tmp_path / "out").exists()  # nothing written


def test_a_source_profile_must_name_the_published_study(capsys, tmp_path):
    profile = tmp_path / "sut.yaml"
    profile.write_text(yaml.safe_dump({"actor": "source_drimbox", "endpoints": {"wado_rs": "https://127.0.0.1:9"}}))
    assert main(["load", "--sut", str(profile), "--scenario", "wado-storm", "--out", str(tmp_path / "out")]) == 2
    assert "--study-uid is missing" in capsys.readouterr().err
    assert main(["load", "--sut", str(profile), "--scenario", "wado-storm", "--study-uid", "1.2", "--kos-uid", "1.3",
                 "--out", str(tmp_path / "out")]) == 2
    assert "no bearer token: give --token" in capsys.readouterr().err
