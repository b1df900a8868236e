"""Helpers shared by the DMP simulator tests (importable: tests/dmp is on sys.path)."""

from __future__ import annotations

import os
import secrets

from harness.xds import Submission, kos_submission
from harness.xds.clients import XdsClient
from simulators.dmp import reference
from testplans.dmp.kos import make_kos

PG_DSN = os.environ.get("DRIMCHECK_PG_DSN")
APPROVED = "urn:oasis:names:tc:ebxml-regrep:StatusType:Approved"


def new_patient() -> str:
    return f"{1 + secrets.randbelow(2)}{secrets.randbelow(10**14):014d}^^^&1.2.250.1.213.1.4.10&ISO^NH"


def kos_sub(patient: str | None = None, references: int = 3, **kwargs: object) -> Submission:
    kos, study = make_kos(references=references)
    return kos_submission(kos, patient_id=patient or new_patient(), study_uid=study, accession="A1", **kwargs)


def client_of(ref: reference.Reference) -> XdsClient:
    return XdsClient(ref.endpoints["registry"], ref.endpoints["repository"], actor="test:dmp")


def find(client: XdsClient, patient: str, statuses: list[str] | None = None) -> list:
    result = client.query("FindDocuments", {"$XDSDocumentEntryPatientId": patient,
                                            "$XDSDocumentEntryStatus": statuses or [APPROVED]})
    assert result.success, (result.status, result.errors, result.fault)
    return result.query.objects
