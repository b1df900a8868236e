"""A running reference Source with its peers (embedded PACS, DMP with VIHF off, PSC) and one published study."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from fixtures.studies import write_study
from harness.dicom import load_study_into_pacs
from simulators.dmp import DmpConfig
from simulators.dmp.reference import start as start_dmp
from simulators.pacs import start_pacs
from simulators.psc import start_psc
from simulators.ris import messages as M
from simulators.ris import send
from simulators.source import start_reference


@dataclass
class Stack:
    pacs: Any
    dmp: Any
    psc: Any
    source: Any
    exams: dict[str, Any]
    kos: dict[str, str]  # exam key -> KOS SOP Instance UID

    def token(self) -> str:
        return self.psc.issue_token("10001000002", "drimbox-consumer")


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    yield from make_stack(tmp_path_factory.mktemp("source-stack"))


@pytest.fixture(scope="module")
def cget_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The same, the Source reading the PACS by C-GET."""
    yield from make_stack(tmp_path_factory.mktemp("source-cget"), pacs_retrieve="cget")


def make_stack(root: Path, **config: Any) -> Iterator[Stack]:
    exams = {"explicit": (M.exam("unit-stack-explicit", series=2, instances=2), "explicit"),
             "jls": (M.exam("unit-stack-jls", series=1, instances=2), "jpeg-ls"),
             "j2k": (M.exam("unit-stack-j2k", series=1, instances=1), "jpeg2000")}
    pacs = start_pacs(root / "pacs")
    dmp = start_dmp(DmpConfig(workdir=root / "dmp", vihf="off"))
    psc = start_psc()
    source = start_reference(None, root / "source", pacs_host=pacs.host, pacs_port=pacs.port, pacs_aet=pacs.aet,
                             pacs_dicomweb=pacs.dicomweb_url, dmp_registry=dmp.endpoints["registry"],
                             dmp_repository=dmp.endpoints["repository"], psc_introspect=psc.endpoints["introspect"],
                             **config)
    try:
        kos = {}
        for key, (ex, ts) in exams.items():
            refs = write_study(M.study_spec(ex, transfer_syntax=ts, rows=32, columns=32), root / key)
            load_study_into_pacs([r.path for r in refs], pacs.host, pacs.port, pacs.aet)
            _raw, ack = send(source.endpoints["mllp"], M.oru(ex))
            assert ack is not None and ack.code == "AA", ack
            kos[key] = source.store.kos_of_study(ex.study_uid)[0].sop_uid
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and any(i.state == "pending" for i in source.store.items()):
            time.sleep(0.05)
        yield Stack(pacs, dmp, psc, source, {k: v[0] for k, v in exams.items()}, kos)
    finally:
        source.stop()
        psc.stop()
        dmp.stop()
        pacs.stop()


def pacs_bytes(stack: Stack, sop_uid: str) -> bytes:
    """The bytes the embedded PACS holds for one instance (its own stored file)."""
    [rec] = stack.pacs.store.records({"sop_instance_uid": [sop_uid]})
    return Path(rec.path).read_bytes()
