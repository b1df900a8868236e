"""Fixtures of the dmp plan: the registry/repository under test, a client, fresh patients, KOS submissions.

With ``sut.reference`` the reference DMP simulator is started (with ``sut.fault``); otherwise the
profile gives ``endpoints.registry``, ``endpoints.repository`` and optionally
``endpoints.repository_unique_id`` and ``options.patients`` (CX patient ids known to the SUT).

Each test has its own patient and a *decoy* patient: ``submitted(...)`` registers the same metadata
for both, so any answer about the test patient that holds a decoy entry shows a leak between patients.
"""

from __future__ import annotations

import itertools
import random
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from harness.checks import inconclusive
from harness.vihf import VihfIdentity, build_vihf
from harness.xds import Submission, kos_submission
from harness.xds.clients import XdsClient
from harness.xds.model import Association
from harness.xds.query import entry_summary
from testplans.dmp.entries import (
    ALL_STATUSES,
    APPROVED,
    DELETED,
    DEPRECATED,
    RPLC,
    Ledger,
    kos_of,
)
from testplans.dmp.helpers import answer
from testplans.dmp.kos import make_kos

TEST_NIR_OID = "1.2.250.1.213.1.4.10"  # test INS-NIR assigning authority (ANS, INS test identities)
__all__ = ["ALL_STATUSES", "APPROVED", "DELETED", "DEPRECATED", "Dmp", "kos_entry"]


@dataclass
class Dmp:
    registry: str
    repository: str
    repository_unique_id: str | None
    patients: list[str] | None
    vihf_key: bytes | None = None  # PEM key + certificate the SUT trusts for VIHF signatures
    vihf_cert: bytes | None = None
    http: dict[str, Any] = field(default_factory=dict)  # TLS of the requests (SutProfile.http_kwargs)

    def session(self) -> Any:
        """A capturing HTTP session that reaches an https:// DMP with the profile's tls settings."""
        from harness.capture import capturing_session

        session = capturing_session("harness:dmp-plan", protocol="soap")
        for key, value in self.http.items():
            setattr(session, key, value)
        return session


@pytest.fixture(scope="session")
def dmp(sut: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dmp]:
    if sut.reference:
        from simulators.dmp import start_reference

        with start_reference(sut.fault, tmp_path_factory.mktemp("dmp")) as ref:
            yield Dmp(ref.endpoints["registry"], ref.endpoints["repository"],
                      ref.endpoints["repository_unique_id"], None, ref.vihf_pki.key_pem, ref.vihf_pki.cert_pem)
        return
    ep = sut.endpoints  # drimcheck run refused a profile without registry and repository (PLAN_NEEDS)
    creds = sut.credentials or {}
    key = Path(creds["vihf_key"]).read_bytes() if creds.get("vihf_key") else None
    cert = Path(creds["vihf_cert"]).read_bytes() if creds.get("vihf_cert") else None
    yield Dmp(ep["registry"], ep["repository"], ep.get("repository_unique_id"), sut.options.get("patients"),
              key, cert, sut.http_kwargs())


def vihf_provider(key: bytes | None, cert: bytes | None) -> Callable[[str | None], Any] | None:
    """Signs a VIHF for each request's patient when the plan holds a key the SUT trusts."""
    if key is None or cert is None:
        return None

    def provide(patient: str | None) -> Any:
        return build_vihf(VihfIdentity(), patient=patient or "", key_pem=key, cert_pem=cert)
    return provide


@pytest.fixture(scope="session")
def client(dmp: Dmp) -> XdsClient:
    return XdsClient(dmp.registry, dmp.repository, actor="harness:dmp-plan",
                     vihf=vihf_provider(dmp.vihf_key, dmp.vihf_cert), session=dmp.session())


@pytest.fixture(scope="session")
def bare_client(dmp: Dmp) -> XdsClient:
    """A client that sends no VIHF at all."""
    return XdsClient(dmp.registry, dmp.repository, actor="harness:dmp-plan", session=dmp.session())


_counter = itertools.count()


def _ins_patient() -> str:
    """A fresh 15-digit test INS in CX form, so each test sees only its own documents."""
    digits = f"{1 + secrets.randbelow(2)}{secrets.randbelow(10**12):012d}{next(_counter) % 100:02d}"
    return f"{digits}^^^&{TEST_NIR_OID}&ISO^NH"


@pytest.fixture
def patient(dmp: Dmp) -> str:
    if dmp.patients:
        return random.choice(dmp.patients)
    return _ins_patient()


@pytest.fixture
def decoy_patient(dmp: Dmp, patient: str) -> str:
    """A second patient: no answer about ``patient`` may hold one of its entries ("" when the profile's
    ``options.patients`` names a single patient)."""
    if not dmp.patients:
        return _ins_patient()
    others = [p for p in dmp.patients if p != patient]
    return random.choice(others) if others else ""


@pytest.fixture(scope="session")
def _registered() -> tuple[dict[str, tuple[str, str]], dict[str, Submission]]:
    """What the run registered (named objects, decoy twins), shared by every test's ledger."""
    return {}, {}


@pytest.fixture
def ledger(dmp: Dmp, patient: str, decoy_patient: str,
           _registered: tuple[dict[str, tuple[str, str]], dict[str, Submission]]) -> Ledger:
    known, decoys = _registered
    return Ledger(patient, decoy_patient, known, not dmp.patients, decoys)


@pytest.fixture
def make_submission(patient: str) -> Callable[..., Submission]:
    """``make_submission(**kos_submission kwargs)`` -> a fresh DMP KOS submission for ``patient``."""
    def build(**kwargs: Any) -> Submission:
        kos, study = make_kos(references=kwargs.pop("references", 3))
        kwargs.setdefault("patient_id", patient)
        kwargs.setdefault("study_uid", study)
        kwargs.setdefault("accession", f"ACC{secrets.randbelow(10**9)}")
        return kos_submission(kos, **kwargs)
    return build


def register(client: XdsClient, ledger: Ledger, sub: Submission, tag: str = "") -> Submission:
    """Provide and register a setup submission; a refusal makes the test inconclusive (STYLE §17)."""
    result = client.provide_and_register(sub)
    if not result.success:
        inconclusive(f"setup: the DMP refused a valid KOS submission for {ledger.whose(sub.submission_set.patientId)}"
                     f": {answer(result)}")
    ledger.record(sub, tag)
    return sub


@pytest.fixture
def submitted(client: XdsClient, make_submission: Callable[..., Submission], ledger: Ledger,
              decoy_patient: str) -> Callable[..., Submission]:
    """``submitted(tag="", **kos_submission kwargs)`` registers the submission for the decoy patient,
    then for the test patient, and returns the test patient's (its twin: ``ledger.decoys``)."""
    def submit(*, tag: str = "", **kwargs: Any) -> Submission:
        if not decoy_patient:
            inconclusive("options.patients names a single patient; the decoy entries need a second one")
        kwargs.setdefault("accession", f"ACC{secrets.randbelow(10**9)}")
        twin = register(client, ledger, make_submission(**{**kwargs, "patient_id": decoy_patient}), tag)
        sub = register(client, ledger, make_submission(**kwargs), tag)
        ledger.decoys[sub.submission_set.uniqueId or ""] = twin
        return sub
    return submit


def lookup(client: XdsClient, ledger: Ledger, unique_id: str) -> dict[str, Any]:
    """The registered entry of ``unique_id`` (GetDocuments), for a setup step: inconclusive when absent."""
    result = client.query("GetDocuments", {"$XDSDocumentEntryUniqueId": [unique_id]})
    found = [entry_summary(o) for o in result.query.objects] if result.success and result.query else []
    if len(found) != 1:
        inconclusive(f"setup: GetDocuments of {ledger.name(unique_id)} answered {answer(result)} and "
                     f"{len(found)} entries, not the one entry registered")
    ledger.learn(found)
    return found[0]


def lookup_set(client: XdsClient, ledger: Ledger, unique_id: str) -> str:
    """The entryUUID of the registered submission set ``unique_id`` (GetSubmissionSetAndContents), for a
    setup step: inconclusive when absent."""
    result = client.query("GetSubmissionSetAndContents", {"$XDSSubmissionSetUniqueId": unique_id})
    sets = [entry_summary(o) for o in result.query.of_kind("RegistryPackage")] if result.query else []
    mine = [s for s in sets if s["uniqueId"] == unique_id and s["id"]]
    if not result.success or not mine:
        inconclusive(f"setup: GetSubmissionSetAndContents of {ledger.name(unique_id)} answered {answer(result)} "
                     "without that submission set")
    ledger.learn(mine)
    return mine[0]["id"]


@pytest.fixture
def replaced(client: XdsClient, ledger: Ledger, make_submission: Callable[..., Submission]
             ) -> Callable[[Submission], Submission]:
    """``replaced(sub)`` registers a new KOS replacing the KOS of ``sub`` (RPLC, ITI TF-3 §4.2.2.2.1) for
    the same patient, and returns it; a refusal makes the test inconclusive."""
    def replace(old: Submission) -> Submission:
        entry = lookup(client, ledger, kos_of(old).uniqueId)
        new = make_submission(patient_id=old.submission_set.patientId)
        new.associations.append(Association("assoc-rplc", RPLC, kos_of(new).id, entry["id"]))
        return register(client, ledger, new, "replacing")
    return replace


def kos_entry(sub: Submission) -> Any:
    return kos_of(sub)
