"""The mechanics behind the reference Consumer's performance faults, without a campaign: a paced WADO-RS reader
still yields the whole series, only later; a paced XDM package is the same package, only written later (and
renamed whole as before); each fault changes the one field it names. The campaigns (test_campaigns.py) prove the
verdicts; these prove the rates on a few hundred kilobytes."""

from __future__ import annotations

import time
import zipfile
from pathlib import Path

import pytest

from simulators.consumer.faults import FAULTS, behaviour_for
from simulators.consumer.retrieve import Pacer
from simulators.consumer.xdm import XdmOptions
from tests.consumer.test_retrieve import FakeHttp, FakeResponse, body, retriever, series
from tests.consumer.test_xdm_media import _export, dmp_entry, exam_images

__all__ = ["dmp_entry", "series"]  # fixtures of the Consumer's own tests, used here

RATE = 1_000_000.0  # bytes per second: a small package takes a measurable time


@pytest.fixture
def xdm_series(tmp_path) -> list[dict[str, Path]]:
    """The exam's images, some hundred kB: a package that takes a measurable time at :data:`RATE`."""
    return exam_images(tmp_path, 32_768)


def test_pacer_holds_the_rate():
    pacer, t0 = Pacer(RATE), time.monotonic()
    for _ in range(10):
        pacer.took(30_000)
    assert time.monotonic() - t0 >= 0.3 * 0.95


def test_a_paced_reader_gets_the_whole_series_at_the_rate(series, tmp_path):
    ref, files = series
    answer = body(files, lengths=True)
    rate = len(answer) / 0.3  # the answer in 0.3 s
    http = FakeHttp(FakeResponse(200, answer, chunk=len(answer) // 10 + 1))
    t0 = time.monotonic()
    result = retriever(http, tmp_path, read_pace=rate).retrieve(ref)
    assert time.monotonic() - t0 >= 0.3 * 0.95
    assert result.status == "complete" and set(result.files) == set(ref.instances)


def test_a_paced_package_is_the_same_package_written_at_the_rate(tmp_path, dmp_entry, xdm_series):
    (tmp_path / "plain").mkdir()
    (tmp_path / "paced").mkdir()
    plain = _export(tmp_path / "plain", dmp_entry, xdm_series)
    t0 = time.monotonic()
    paced = _export(tmp_path / "paced", dmp_entry, xdm_series, XdmOptions(write_pace=RATE))
    took = time.monotonic() - t0
    assert took >= paced.stat().st_size / RATE * 0.9
    with zipfile.ZipFile(plain) as a, zipfile.ZipFile(paced) as b:
        assert a.testzip() is None and b.testzip() is None
        images = [n for n in a.namelist() if "/IMAGES/" in n]
        assert images and b.namelist() == a.namelist()
        assert all(a.read(n) == b.read(n) for n in images)
    assert [p.name for p in paced.parent.iterdir()] == [paced.name]  # renamed whole: no .part left


def test_each_performance_fault_changes_one_field():
    assert {n for n, f in FAULTS.items() if f.plan == "performance"} == {
        "slow-import", "late-first-retrieve", "slow-retrieve", "slow-export"}
    assert behaviour_for("late-first-retrieve").import_delay > 10.0  # PERF-CON-VIEW-LATENCY's 10000 ms
    assert behaviour_for("slow-retrieve").retrieve.read_pace == 500_000.0
    assert behaviour_for("slow-retrieve").xdm == XdmOptions()
    assert behaviour_for("slow-export").xdm.write_pace == 500_000.0
    assert behaviour_for("slow-export").retrieve.read_pace is None and behaviour_for(None).import_delay == 0.0
