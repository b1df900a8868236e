"""The content plan: the KOS, XDS messages, CR-IMG and HL7 files a DRIMbox produces.

One test per requirement family, parametrized by requirement so each verdict is its own; the verdict logic
(levels, applicability, dciodvfy attachments) is in ``verdicts.py``. Rules and sources:
``testplans/catalog/content.yaml`` (KOS-*, CDA-*, HL7-*, XVAL-*) and, for XDS messages, the XDS-* rules of
``harness.xds.validate`` (``testplans/catalog/xds.yaml``).
"""

from __future__ import annotations

import pytest

from harness.checks import attach_findings, fail, not_applicable
from testplans.content.verdicts import by_label, failing, families, findings_of, not_applicable_reason

FAMILIES = families()


def _params(family: str) -> list:
    return [pytest.param(rid, marks=pytest.mark.requirement(rid), id=rid) for rid in FAMILIES[family][0]]


def verify(content, catalog, family: str, rid: str) -> None:
    kinds = FAMILIES[family][1]
    reason = not_applicable_reason(content, rid, kinds)
    if reason:
        not_applicable(reason)
    for label, found in by_label(findings_of(content, rid, kinds)).items():
        attach_findings(found, label=label)
    bad = failing(content, catalog[rid].level if rid in catalog else "SHALL", rid, kinds)
    if bad:
        report, f = bad[0]
        more = f" (+{len(bad) - 1} more)" if len(bad) > 1 else ""
        fail(rid, f"{report.path.name}: {f.location}", f.expected, f.found, f.message + more)


@pytest.mark.parametrize("rid", _params("kos_iod"))
def test_kos_iod_and_sr_structure(content, catalog, rid):
    verify(content, catalog, "kos_iod", rid)


@pytest.mark.parametrize("rid", _params("kos_evidence"))
def test_kos_evidence_and_retrieve_urls(content, catalog, rid):
    verify(content, catalog, "kos_evidence", rid)


@pytest.mark.parametrize("rid", _params("kos_identity"))
def test_kos_identity_and_request(content, catalog, rid):
    verify(content, catalog, "kos_identity", rid)


@pytest.mark.parametrize("rid", _params("cda_header"))
def test_cda_header(content, catalog, rid):
    verify(content, catalog, "cda_header", rid)


@pytest.mark.parametrize("rid", _params("cda_external"))
def test_cda_schema_and_schematron(content, catalog, rid):
    verify(content, catalog, "cda_external", rid)


@pytest.mark.parametrize("rid", _params("hl7"))
def test_hl7_message(content, catalog, rid):
    verify(content, catalog, "hl7", rid)


@pytest.mark.parametrize("rid", _params("xds"))
def test_xds_metadata(content, catalog, rid):
    verify(content, catalog, "xds", rid)


@pytest.mark.parametrize("rid", _params("cross"))
def test_cross_document_consistency(content, catalog, rid):
    verify(content, catalog, "cross", rid)
