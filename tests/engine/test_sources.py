"""Sources an assessor can open: the document table, its page, and the check of a requirement's source."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.sources import DOCUMENTS, source_problem

DOCS = Path(__file__).resolve().parents[2] / "docs" / "sources.md"


def test_docs_page_lists_every_document_of_the_table():
    page = DOCS.read_text(encoding="utf-8")
    assert [d.title for d in DOCUMENTS if d.title not in page] == []
    assert [d.published for d in DOCUMENTS if d.published not in page] == []


@pytest.mark.parametrize("source", [
    "IHE ITI TF-2b §3.41.4.1.3 (Provide and Register Document Set-b)",
    "DICOM PS3.18 §10.4.1.1.1; RFC 2387",
    "HL7 v2.5 §2.9.2 (original acknowledgment); IG-hl7v2 (ORU^R01 OBX-11 F)",
    "ANS DRIM-M_DATA Echantillons validateurs/Validateur XDS/XDS.xml",
    "ANS FAQ dispositif DRIMbox (whitelist refresh)",
])
def test_a_public_citation_is_accepted(source):
    assert source_problem(source) is None


@pytest.mark.parametrize(("source", "why"), [
    ("FACTS §3 (eventCodeList)", "outside the product"),
    ("IHE ITI TF-3 §4.2; issue 6 'Bad input'", "tracker issue"),
    ("the demonstrator's behaviour", "names no listed public document"),
])
def test_an_unopenable_citation_is_refused(source, why):
    assert why in (source_problem(source) or "")
