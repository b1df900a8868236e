"""Fixtures of the dmp plan: the registry/repository under test, a client, fresh patients, KOS submissions.

With ``sut.reference`` the reference DMP simulator is started (with ``sut.fault``); otherwise the
profile gives ``endpoints.registry``, ``endpoints.repository`` and optionally
``endpoints.repository_unique_id`` and ``options.patients`` (CX patient ids known to the SUT).
"""

from __future__ import annotations

import itertools
import random
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from harness.vihf import VihfIdentity, build_vihf
from harness.xds import Submission, kos_submission
from harness.xds.clients import SoapResult, XdsClient
from testplans.dmp.kos import make_kos

TEST_NIR_OID = "1.2.250.1.213.1.4.10"  # FACTS §3: test INS-NIR assigning authority
APPROVED = "urn:oasis:names:tc:ebxml-regrep:StatusType:Approved"
DEPRECATED = "urn:oasis:names:tc:ebxml-regrep:StatusType:Deprecated"
DELETED = "urn:asip:ci-sis:2010:StatusType:Deleted"
ALL_STATUSES = [APPROVED, DEPRECATED, DELETED]


@dataclass
class Dmp:
    registry: str
    repository: str
    repository_unique_id: str | None
    patients: list[str] | None
    vihf_key: bytes | None = None  # PEM key + certificate the SUT trusts for VIHF signatures
    vihf_cert: bytes | None = None


@pytest.fixture(scope="session")
def dmp(sut: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dmp]:
    if sut.reference:
        from simulators.dmp import start_reference

        with start_reference(sut.fault, tmp_path_factory.mktemp("dmp")) as ref:
            yield Dmp(ref.endpoints["registry"], ref.endpoints["repository"],
                      ref.endpoints["repository_unique_id"], None, ref.vihf_pki.key_pem, ref.vihf_pki.cert_pem)
        return
    ep = sut.endpoints
    missing = [k for k in ("registry", "repository") if k not in ep]
    if missing:
        pytest.fail(f"SUT profile {sut.name}: endpoints.{missing[0]} is required by the dmp plan")
    creds = sut.credentials or {}
    key = Path(creds["vihf_key"]).read_bytes() if creds.get("vihf_key") else None
    cert = Path(creds["vihf_cert"]).read_bytes() if creds.get("vihf_cert") else None
    yield Dmp(ep["registry"], ep["repository"], ep.get("repository_unique_id"), sut.options.get("patients"),
              key, cert)


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
                     vihf=vihf_provider(dmp.vihf_key, dmp.vihf_cert))


@pytest.fixture(scope="session")
def bare_client(dmp: Dmp) -> XdsClient:
    """A client that sends no VIHF at all."""
    return XdsClient(dmp.registry, dmp.repository, actor="harness:dmp-plan")


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
def make_submission(patient: str) -> Callable[..., Submission]:
    """``make_submission(**kos_submission kwargs)`` -> a fresh DMP KOS submission for ``patient``."""
    def build(**kwargs: Any) -> Submission:
        kos, study = make_kos(references=kwargs.pop("references", 3))
        kwargs.setdefault("patient_id", patient)
        kwargs.setdefault("study_uid", study)
        kwargs.setdefault("accession", f"ACC{secrets.randbelow(10**9)}")
        return kos_submission(kos, **kwargs)
    return build


@pytest.fixture
def submitted(client: XdsClient, make_submission: Callable[..., Submission]) -> Callable[..., Submission]:
    """Submit a KOS submission that must be accepted (setup of query/retrieve tests)."""
    def submit(**kwargs: Any) -> Submission:
        sub = make_submission(**kwargs)
        result = client.provide_and_register(sub)
        if not result.success:
            pytest.fail(f"setup: the DMP refused a valid KOS submission: {result.status} {result.errors} "
                        f"{result.fault or result.decode_error or ''}")
        return sub
    return submit


def kos_entry(sub: Submission) -> Any:
    return next(d for d in sub.documents if d.mimeType == "application/dicom")


def codes(result: SoapResult) -> list[str]:
    return result.error_codes
