"""CPU and wall time of one clean Source and one clean Consumer campaign, black-box, as the proofs run them.

Each campaign is the one of ``tests/blackbox`` (the same functions and session fixtures build the PKI files,
the product's command line and the profile): the reference product started as its own process
(``drimcheck serve source|consumer``), then ``drimcheck run --sut sut.yaml --plan ...`` from the profile's
folder, which runs the plan in a pytest process of its own. For the Source, the PACS (``drimcheck serve pacs``)
is started first, as the proofs share one per worker, and its CPU while the campaign runs is counted apart.

Printed per round: the campaign's exit status and whether its verdicts are the golden ones, its wall time, and
the CPU seconds (user + system) of the product, of the runner with its plan process, of the PACS, and their
total; then the minimum and median over the rounds (the minimum is the figure least disturbed by other work on
a shared machine). The first round generates the fixture studies into a folder shared by the later rounds, as
the processes of one test session share them (``$DRIMCHECK_FIXTURE_CACHE``); OpenBLAS runs on one thread, as in
the test session (tests/conftest.py).

    python bench/bench_campaign.py [--rounds 3] [--only source|consumer]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # tests.blackbox: the proofs' own helpers

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from tests.blackbox import products  # noqa: E402 - after the path and the environment above
from tests.blackbox import test_consumer_blackbox as consumer_proof  # noqa: E402
from tests.blackbox import test_source_blackbox as source_proof  # noqa: E402


def _process_cpu(pid: int) -> float:
    """User + system CPU seconds of a running process (/proc/PID/stat, fields 14 and 15)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


class _Folders:
    """What a session fixture of the proofs is given (``mktemp``), so the bench makes the same PKI files."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def mktemp(self, name: str) -> Path:
        return Path(tempfile.mkdtemp(prefix=f"{name}-", dir=self.root))


def _fixture(fixture: Any, root: Path) -> Any:
    """The value of one of the proofs' session fixtures that only needs folders (their PKI files)."""
    return fixture.__wrapped__(_Folders(root))


class _Products:
    """CPU of each ``drimcheck serve`` process, read just before it is stopped."""

    def __init__(self) -> None:
        self.cpu: list[float] = []
        self._stop = products.Product.stop

    def __enter__(self) -> _Products:
        recorded = self.cpu
        original = self._stop

        def stop(product: products.Product) -> None:
            recorded.append(_process_cpu(product.proc.pid))
            original(product)

        products.Product.stop = stop  # type: ignore[method-assign]
        return self

    def __exit__(self, *exc: object) -> None:
        products.Product.stop = self._stop  # type: ignore[method-assign]


def _verdict(run: tuple[int, dict, str], golden: Path) -> str:
    code, results, _output = run
    try:
        products.expect_clean(run, golden)
    except AssertionError:
        failed = sorted(products.shall_not_passed(results))
        return f"exit {code}, NOT the golden verdicts ({', '.join(failed) or 'verdicts differ'})"
    return f"exit {code}, golden verdicts"


def measure(name: str, start: Callable[[Path], tuple[int, dict, str]], golden: Path, pacs: Any,
            folder: Path) -> dict[str, Any]:
    """One campaign: wall, CPU of the product, of the runner and its plan, of the PACS when there is one."""
    folder.mkdir(parents=True)
    pacs_before = _process_cpu(pacs.proc.pid) if pacs else 0.0
    children_before, wall_start = _children_cpu(), time.monotonic()
    with _Products() as served:
        run = start(folder)
    wall = time.monotonic() - wall_start
    product = sum(served.cpu)
    total_children = _children_cpu() - children_before  # the product and the runner (with its plan) were waited for
    pacs_cpu = _process_cpu(pacs.proc.pid) - pacs_before if pacs else 0.0
    return {"campaign": name, "verdict": _verdict(run, golden), "wall": wall, "product": product,
            "runner+plan": total_children - product, "pacs": pacs_cpu, "total": total_children + pacs_cpu}


def _source(work: Path, rounds: int) -> list[dict[str, Any]]:
    pki = _fixture(source_proof.pki_files, work)
    storage = work / "pacs"
    storage.mkdir(parents=True)
    with products.serve(["pacs", "--port", "0", "--dicomweb-port", "0", "--storage", str(storage / "storage")],
                        storage) as pacs:
        return [measure("source", lambda f: source_proof.run_source(None, pacs.endpoints["pacs"], pki, f),
                        source_proof.GOLDEN, pacs, work / f"source-{r}") for r in range(rounds)]


def _consumer(work: Path, rounds: int) -> list[dict[str, Any]]:
    vihf = _fixture(consumer_proof.consumer_pki, work)
    return [measure("consumer", lambda f: consumer_proof.run_consumer(None, vihf, f), consumer_proof.GOLDEN, None,
                    work / f"consumer-{r}") for r in range(rounds)]


COLUMNS = ("wall", "product", "runner+plan", "pacs", "total")


def report(rows: list[dict[str, Any]]) -> None:
    print(f"{'campaign':<10} {'round':>5} " + " ".join(f"{c:>12}" for c in COLUMNS) + "  verdict")
    for i, row in enumerate(rows):
        print(f"{row['campaign']:<10} {i + 1:>5} " + " ".join(f"{row[c]:>11.2f}s" for c in COLUMNS)
              + f"  {row['verdict']}")
    if len(rows) > 1:
        for label, pick in (("min", min), ("median", statistics.median)):
            print(f"{rows[0]['campaign']:<10} {label:>5} " + " ".join(f"{pick(r[c] for r in rows):>11.2f}s"
                                                                      for c in COLUMNS))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=1, help="campaigns of each product (default 1)")
    parser.add_argument("--only", choices=("source", "consumer"), help="one product only")
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="bench-campaign-"))
    os.environ["DRIMCHECK_FIXTURE_CACHE"] = str(work / "fixture-cache")
    try:
        for name, bench in (("source", _source), ("consumer", _consumer)):
            if args.only in (None, name):
                report(bench(work, max(1, args.rounds)))
                print()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
