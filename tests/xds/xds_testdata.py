"""Test data for the XDS tests: corpus paths and a good DMP KOS submission (kos_submission)."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.xds import kos_submission

CORPUS = Path(__file__).resolve().parents[3] / "shared" / "corpus"
DMP_SAMPLE = CORPUS / "drim-m-data" / "Echantillons validateurs" / "Validateur XDS" / "XDS.xml"
INS = "162018885045327^^^&1.2.250.1.213.1.4.10&ISO^NH"


def corpus_file(*parts: str) -> Path:
    path = CORPUS.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"corpus missing: {path}")
    return path


def good_submission(**kwargs):
    args = {"patient_id": INS, "study_uid": "1.2.250.1.999.2.1", "accession": "ACC1", "order_id": "ORD1",
            "modalities": ("MR",), "regions": (("63337009", "Abdomen + pelvis"),),
            "document_unique_id": "1.2.250.1.999.3.1", "submission_unique_id": "1.2.250.1.999.4.1",
            "creation_time": "20240102030405"}
    return kos_submission(b"DICM" + bytes(range(256)) * 4, **{**args, **kwargs})
