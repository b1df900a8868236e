"""The performance plan: the label's performance workflows measured on the product (ANS DRIM-M_DATA
``informatif/Performances/Readme.md``) and DB.SO.102 (``Scripts/Mesure de performances DRIMBox_PACS/Readme.md``).

One plan for two actors: ``test_source.py`` runs against a Source DRIMbox, ``test_consumer.py`` against a
Consumer; the tests of the other actor are deselected, and a SUT of another actor is refused (a harness error,
exit 2). It runs only when named
(``drimcheck run --sut SPEC --plan performance``), on the ANS-shaped study by default (1300 CT images, JPEG-LS
lossless, about 200 MB, generated from a seed so every campaign sends the same bytes); ``options.performance``:

- ``study``: ``ans`` (default) or ``small`` (12 images: to try the plan, not to judge a product); a profile
  without it (``reference:source``) takes the environment's ``DRIMCHECK_PERFORMANCE_STUDY``;
- ``repeat``: warm measurements of each figure after its first (cold) one, default 3;
- ``thresholds``: ``{requirement id: value}`` replacing the defaults of ``testplans/catalog/performance.yaml``; a
  profile without it takes the environment's ``DRIMCHECK_PERFORMANCE_THRESHOLDS`` (``ID=VALUE,ID=VALUE``), and each
  finding says where its threshold came from;
- ``move_destination``: ``{ae_title, port}`` of the harness's Storage SCP that DB.SO.102's C-MOVE sends to
  (configure it in the PACS beforehand); default the SpeedTest's ``STORESCP`` on port 9999.

The Source side reuses the source_drimbox plan's peers: the DMP, PSC and PACS simulators, the RIS report that
makes the Source publish its KOS, then WADO-RS with a PSC token and the KOS UID, as a Consumer retrieves. The
Consumer side reuses the consumer_drimbox plan's: the DMP, PSC and local PACS, a Source that times what it serves,
and the profile's driver for the screen steps (``testplans/performance/consumer.py``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.sut import ProfileError, load_profile, missing_for_plan
from testplans.performance.figures import (
    THRESHOLDS_ENV,
    OptionsError,
    Threshold,
    check_options,
    env_thresholds,
    thresholds,
)

FILE_ACTORS = {"test_source.py": "source_drimbox", "test_consumer.py": "consumer_drimbox"}


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    """Keep the tests of the SUT's actor; refuse a SUT the plan has no test for, or unusable options. Listing the
    links of every plan (``--drimcheck-links`` without a SUT: the coverage file) keeps both actors' tests."""
    if config.getoption("--drimcheck-links", default=None) and not config.getoption("--sut"):
        return
    spec = config.getoption("--sut") or "reference:source"
    try:
        profile = load_profile(spec)
    except ProfileError as exc:
        raise pytest.UsageError(str(exc)) from None
    if profile.actor not in FILE_ACTORS.values():
        raise pytest.UsageError(f"plan performance measures a source_drimbox or a consumer_drimbox, and {spec} is a "
                                f"{profile.actor}")
    options = (profile.options or {}).get("performance") or {}
    try:
        check_options(options)
        env_thresholds(os.environ.get(THRESHOLDS_ENV, ""))
    except OptionsError as exc:
        raise pytest.UsageError(f"{spec}: {exc}") from None
    gaps = missing_for_plan(profile, profile.actor)
    if gaps:
        raise pytest.UsageError("the SUT profile lacks what the plan needs:\n  " + "\n  ".join(gaps))
    keep = [i for i in items if FILE_ACTORS.get(Path(str(i.path)).name) in (None, profile.actor)]
    dropped = [i for i in items if i not in keep]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = keep


STUDY_ENV = "DRIMCHECK_PERFORMANCE_STUDY"  # study of a profile that sets none (reference:source has no options)


@pytest.fixture(scope="session")
def perf_options(sut: Any) -> dict[str, Any]:
    """``options.performance`` of the profile; its study, when it names none, from DRIMCHECK_PERFORMANCE_STUDY."""
    options = dict((sut.options or {}).get("performance") or {})
    if "study" not in options and os.environ.get(STUDY_ENV):
        options["study"] = os.environ[STUDY_ENV]
        check_options(options)
    return options


@pytest.fixture(scope="session")
def perf_thresholds(perf_options: dict[str, Any]) -> dict[str, Threshold]:
    """Each requirement's threshold: the profile's, else DRIMCHECK_PERFORMANCE_THRESHOLDS's, else the default."""
    if "thresholds" not in perf_options and os.environ.get(THRESHOLDS_ENV):
        return thresholds({"thresholds": env_thresholds(os.environ[THRESHOLDS_ENV])},
                          f"environment {THRESHOLDS_ENV}")
    return thresholds(perf_options)


@pytest.fixture(scope="session")
def book(sut: Any) -> Iterator[Any]:
    """The plan's figures and verdicts, written to the evidence folder (``performance.json``) for the report."""
    from testplans.performance.book import Book

    book = Book(sut.name)
    yield book
    book.write()


@pytest.fixture(scope="session")
def source_bed(sut: Any, perf_options: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from testplans.performance.source import start_bed

    with start_bed(sut, perf_options, tmp_path_factory.mktemp("performance-source")) as bed:
        yield bed


@pytest.fixture(scope="session")
def source_figures(source_bed: Any, perf_options: dict[str, Any], book: Any) -> Any:
    from testplans.performance.source import measure_source

    figures = measure_source(source_bed, int(perf_options.get("repeat", 3)))
    book.add_figures("source", figures.to_dict())
    return figures


@pytest.fixture(scope="session")
def consumer_bed(sut: Any, perf_options: dict[str, Any], tmp_path_factory: pytest.TempPathFactory,
                 pytestconfig: pytest.Config) -> Iterator[Any]:
    from testplans.consumer_drimbox.conftest import _say
    from testplans.performance.consumer import start_bed

    with start_bed(sut, perf_options, tmp_path_factory.mktemp("performance-consumer"), _say(pytestconfig)) as bed:
        yield bed


@pytest.fixture(scope="session")
def consumer_figures(consumer_bed: Any, perf_options: dict[str, Any], book: Any) -> Any:
    from testplans.performance.consumer import measure_consumer

    figures = measure_consumer(consumer_bed, int(perf_options.get("repeat", 3)))
    book.add_figures("consumer", figures.to_dict())
    return figures
