"""The content plan: the KOS, XDS messages, CR-IMG and HL7 files a DRIMbox produces.

One test per requirement family, parametrized by requirement so each verdict is its own: a SHALL fails on
an error finding of its rule, a SHOULD on an error or a warning, a MAY never (its findings are attached).
dicom3tools' messages (rule DCIODVFY, when installed) are attached to KOS-IOD-002 and never decide.
Rules and sources: ``testplans/catalog/content.yaml`` (KOS-*, CDA-*, HL7-*, XVAL-*) and, for XDS
messages, the XDS-* rules of ``harness.xds.validate`` (``testplans/catalog/xds.yaml``).
"""

from __future__ import annotations

import pytest

from harness.catalog import CatalogError, default_catalog
from harness.checks import attach_findings, fail, not_applicable
from harness.findings import Severity

KOS_IOD = ["KOS-PARSE-001", "KOS-IOD-001", "KOS-IOD-002", "KOS-IOD-003", "KOS-SR-001", "KOS-SR-002"]
KOS_EVIDENCE = ["KOS-EVD-001", "KOS-EVD-002", "KOS-URL-001", "KOS-URL-002", "KOS-URL-003"]
KOS_IDENTITY = ["KOS-PAT-001", "KOS-PAT-002", "KOS-PAT-003", "KOS-PAT-004", "KOS-REQ-001", "KOS-REQ-002",
                "KOS-DRIM-001", "KOS-DRIM-002", "KOS-DRIM-003"]
CDA_HEADER = ["CDA-XML-001", "CDA-HDR-001", "CDA-HDR-002", "CDA-HDR-003", "CDA-HDR-004", "CDA-PAT-001",
              "CDA-SEV-001", "CDA-SEV-002", "CDA-ORD-001", "CDA-ORD-002", "CDA-RPLC-001"]
CDA_EXTERNAL = ["CDA-XSD-001", "CDA-SCH-001"]
HL7_MESSAGE = ["HL7-ENC-001", "HL7-MSH-001", "HL7-MSH-002", "HL7-PID-001", "HL7-OBX-001", "HL7-OBX-002",
               "HL7-FLAG-001", "HL7-PRT-001", "HL7-IPC-001"]
CROSS = ["XVAL-PAT-001", "XVAL-PAT-002", "XVAL-PAT-003", "XVAL-PAT-004", "XVAL-STU-001", "XVAL-ACC-001", "XVAL-DOC-001",
         "XVAL-CONF-001", "XVAL-EVT-001"]
# KOS rules of the CI-SIS / DRIMbox layer, not checked under profile "xds" (IHE only)
DMP_ONLY = {*KOS_EVIDENCE[2:], *KOS_IDENTITY}
FAILING = {"SHALL": {Severity.ERROR}, "SHOULD": {Severity.ERROR, Severity.WARNING}, "MAY": set()}


def _params(ids: list[str]) -> list:
    return [pytest.param(rid, marks=pytest.mark.requirement(rid), id=rid) for rid in ids]


def _xds_ids() -> list[str]:
    """XDS-* requirements of the content actor (catalog of harness.xds.validate); none if unreadable."""
    try:
        return sorted(r.id for r in default_catalog() if r.id.startswith("XDS-") and r.actor == "content")
    except CatalogError:
        return []


@pytest.fixture
def check(content, catalog):
    def run(rid: str, kinds: tuple[str, ...]) -> None:
        verify(content, catalog[rid].level if rid in catalog else "SHALL", rid, kinds)
    return run


def verify(content, level: str, rid: str, kinds: tuple[str, ...]) -> None:
    """Attach the findings of rule ``rid`` and fail on the first one its level does not allow."""
    reports = content.of_kind(*kinds)
    if not reports:
        not_applicable(f"the SUT profile lists no file of kind {' or '.join(kinds)}")
    failing = []
    for report in reports:
        mine = [f for f in report.findings if f.rule == rid]
        extra = [f for f in report.findings if f.rule == "DCIODVFY"] if rid == "KOS-IOD-002" else []
        attach_findings(mine + extra, label=str(report.path))
        failing += [(report, f) for f in mine if f.severity in FAILING[level]]
    if failing:
        report, f = failing[0]
        more = f" (+{len(failing) - 1} more)" if len(failing) > 1 else ""
        fail(rid, f"{report.path.name}: {f.location}", f.expected, f.found, f.message + more)


@pytest.mark.parametrize("rid", _params(KOS_IOD))
def test_kos_iod_and_sr_structure(content, check, rid):
    check(rid, ("dicom",))


@pytest.mark.parametrize("rid", _params(KOS_EVIDENCE))
def test_kos_evidence_and_retrieve_urls(content, check, rid):
    if content.profile == "xds" and rid in DMP_ONLY:
        not_applicable("Retrieve URL rules belong to the dmp profile (WADO-RS retrieve, RAD-107)")
    check(rid, ("dicom",))


@pytest.mark.parametrize("rid", _params(KOS_IDENTITY))
def test_kos_identity_and_request(content, check, rid):
    if content.profile == "xds":
        not_applicable("INS and request rules belong to the dmp profile (CI-SIS)")
    check(rid, ("dicom",))


@pytest.mark.parametrize("rid", _params(CDA_HEADER))
def test_cda_header(content, check, rid):
    check(rid, ("cda", "hl7"))


@pytest.mark.parametrize("rid", _params(CDA_EXTERNAL))
def test_cda_schema_and_schematron(content, check, rid):
    given = content.options.cda_xsd if rid == "CDA-XSD-001" else content.options.schematron
    if given is None:
        option = "cda_xsd" if rid == "CDA-XSD-001" else "schematron"
        not_applicable(f"the SUT profile gives no options.{option} (CI-SIS file to check against)")
    check(rid, ("cda",))


@pytest.mark.parametrize("rid", _params(HL7_MESSAGE))
def test_hl7_message(content, check, rid):
    if rid == "HL7-IPC-001" and not any(b"OMI^O23" in r.path.read_bytes()[:1024] for r in content.of_kind("hl7")):
        not_applicable("no OMI^O23 exam-change message among the files")
    check(rid, ("hl7",))


@pytest.mark.parametrize("rid", _params(_xds_ids()))
def test_xds_metadata(content, check, rid):
    if any(f.rule == "XDS-VALIDATOR" for r in content.of_kind("xds") for f in r.findings):
        not_applicable("the XDS metadata validator (harness.xds.validate) is not available")
    check(rid, ("xds",))


@pytest.mark.parametrize("rid", _params(CROSS))
def test_cross_document_consistency(content, check, rid):
    check(rid, ("cross",))
