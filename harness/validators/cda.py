"""CR-IMG (CDA R2, CI-SIS "Compte rendu d'imagerie médicale") header validator.

Public: :func:`validate_cda` (findings), :func:`check_cda` (findings and the rule sets that ran),
:func:`parse_cda` (bytes -> root element or
UnsafeXmlError), :func:`cda_facts` (identity, studies, accessions, confidentiality, modalities for
the cross-document checks). Header rules follow ANS CI-SIS CR-IMG and the TestContenuCDA schematron
``Entete_IMG-CR-IMG.sch``; ``xsd`` (path to CI-SIS ``CDA_extended.xsd``) and ``schematron`` (path
to a CI-SIS ``.sch``, run with saxonche) add their findings (origin ``xsd`` / ``schematron``).
Locations are XPaths with local names: ``/ClinicalDocument/documentationOf[2]/serviceEvent/id``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from lxml import etree

from harness.findings import Finding, Severity, error
from harness.validators.common import INS_OIDS, is_oid, is_uid
from harness.validators.rulesets import Checked, ran, schematron_rule_set, skipped
from harness.xmlsafe import UnsafeXmlError, parse_xml

V3 = "urn:hl7-org:v3"
PS320 = "urn:dicom-org:ps3-20"
NS = {"cda": V3, "ps3-20": PS320}
LOINC = "2.16.840.1.113883.6.1"
CONFIDENTIALITY_SYSTEM = "2.16.840.1.113883.5.25"
MAX_CDA_BYTES = 32 * 1024 * 1024
# Entete_IMG-CR-IMG.sch: the CR-IMG model and the DICOM Part 20 imaging report templates.
TEMPLATES = {
    "1.2.250.1.213.1.1.1.45": "CI-SIS IMG-CR-IMG",
    "1.2.840.10008.9.1": "DICOM PS3.20 Imaging Report",
    "1.2.840.10008.9.20": "DICOM PS3.20 General Header",
    "1.2.840.10008.9.21": "DICOM PS3.20 Imaging Header",
}
# A level-1 CR-IMG (nonXMLBody, e.g. CI-SIS IMG_CR_IMG_2024.01_CDA-R2-Niveau-1.xml) declares the CI-SIS
# and IHE XDS-SD templates instead of the structured CR-IMG ones.
TEMPLATES_LEVEL1 = {
    "1.2.250.1.213.1.1.1.1": "CI-SIS CDA document",
    "1.3.6.1.4.1.19376.1.2.20": "IHE XDS-SD scanned/unstructured document",
}
MODALITY_QUALIFIER = "121139"  # DCM "Modality", Entete_IMG-CR-IMG.sch
REGION_QUALIFIER = "39111-0"  # LOINC anatomic location, IMG_CR_IMG_2024.01.xml serviceEvent translation


def parse_cda(data: bytes) -> etree._Element:
    """Hardened parse (no DTD, no entities, size limit); raises UnsafeXmlError."""
    return parse_xml(data, max_bytes=MAX_CDA_BYTES)


def validate_cda(data: bytes | Path | etree._Element, *, schematron_dir: Path | None = None,
                 xsd: Path | None = None) -> list[Finding]:
    """Validate a CR-IMG. ``schematron_dir``: a .sch file or a folder holding CI-SIS_IMG-CR-IMG_*.sch."""
    if isinstance(data, Path) and data.stat().st_size > MAX_CDA_BYTES:  # refuse before reading it
        return [error("CDA-XML-001", "/", f"file of {data.stat().st_size} bytes exceeds {MAX_CDA_BYTES}",
                      "well-formed CDA XML", "too-large")]
    raw = data.read_bytes() if isinstance(data, Path) else data
    if isinstance(raw, etree._Element):
        root = raw
    else:
        try:
            root = parse_cda(raw)
        except UnsafeXmlError as exc:
            return [error("CDA-XML-001", "/", str(exc), "well-formed CDA XML", exc.reason)]
    if root.tag != f"{{{V3}}}ClinicalDocument":
        return [error("CDA-XML-001", "/", "root element is not a CDA ClinicalDocument",
                      f"{{{V3}}}ClinicalDocument", root.tag)]
    findings = [f for check in _CHECKS for f in check(root)]
    if xsd is not None:
        from harness.validators.schematron import validate_xsd
        findings += validate_xsd(root, Path(xsd))
    if schematron_dir is not None:
        from harness.validators.schematron import find_schematron, run_schematron
        findings += run_schematron(root, find_schematron(Path(schematron_dir)))
    return findings


def xpath_of(elem: etree._Element) -> str:
    """A readable XPath: local names, with [n] only where siblings share the name."""
    parts = []
    while elem is not None and isinstance(elem.tag, str):
        name = etree.QName(elem).localname
        parent = elem.getparent()
        if parent is not None:
            same = [c for c in parent if c.tag == elem.tag]
            if len(same) > 1:
                name += f"[{same.index(elem) + 1}]"
        parts.append(name)
        elem = parent
    return "/" + "/".join(reversed(parts))


def _check_code(root: etree._Element) -> Iterator[Finding]:
    code = root.find("cda:code", NS)
    got = None if code is None else f"{code.get('code')}@{code.get('codeSystem')}"
    if got != f"18748-4@{LOINC}":
        yield error("CDA-HDR-001", "/ClinicalDocument/code", "document code is LOINC 18748-4",
                    f"18748-4@{LOINC}", got)


def _check_templates(root: etree._Element) -> Iterator[Finding]:
    declared = {t.get("root") for t in root.findall("cda:templateId", NS)}
    level1 = root.find("cda:component/cda:nonXMLBody", NS) is not None
    for oid, name in (TEMPLATES_LEVEL1 if level1 else TEMPLATES).items():
        if oid not in declared:
            yield error("CDA-HDR-002", "/ClinicalDocument/templateId", f"templateId of {name} missing", oid,
                        sorted(d for d in declared if d))


def _check_header(root: etree._Element) -> Iterator[Finding]:
    for name in ("id", "effectiveTime", "confidentialityCode", "setId", "versionNumber", "recordTarget"):
        if root.find(f"cda:{name}", NS) is None:
            yield error("CDA-HDR-003", f"/ClinicalDocument/{name}", f"header element {name} is missing",
                        "1..1", 0)
    doc_id = root.find("cda:id", NS)
    if doc_id is not None and not doc_id.get("root"):
        yield error("CDA-HDR-003", "/ClinicalDocument/id", "document id has no root", "an OID or UUID", None)
    conf = root.find("cda:confidentialityCode", NS)
    if conf is not None and (conf.get("code") not in ("N", "R", "V")
                             or conf.get("codeSystem") != CONFIDENTIALITY_SYSTEM):
        yield error("CDA-HDR-004", "/ClinicalDocument/confidentialityCode", "confidentiality code",
                    f"N|R|V@{CONFIDENTIALITY_SYSTEM}", f"{conf.get('code')}@{conf.get('codeSystem')}")


def _check_patient(root: etree._Element) -> Iterator[Finding]:
    ids = root.findall("cda:recordTarget/cda:patientRole/cda:id", NS)
    if not any(i.get("root") in INS_OIDS and i.get("extension") for i in ids):
        yield error("CDA-PAT-001", "/ClinicalDocument/recordTarget/patientRole/id",
                    "no patient id with an INS OID", " | ".join(INS_OIDS),
                    [f"{i.get('extension')}@{i.get('root')}" for i in ids])


def imaging_events(root: etree._Element) -> list[etree._Element]:
    """serviceEvents coded in LOINC: the imaging acts (Entete_IMG-CR-IMG.sch rule context)."""
    return [e for e in root.findall("cda:documentationOf/cda:serviceEvent", NS)
            if e.find("cda:code", NS) is not None and e.find("cda:code", NS).get("codeSystem") == LOINC]


def _check_service_events(root: etree._Element) -> Iterator[Finding]:
    events = imaging_events(root)
    if not events:
        yield error("CDA-SEV-001", "/ClinicalDocument/documentationOf", "no imaging serviceEvent (LOINC code)",
                    ">= 1", 0)
    for event in events:
        where = xpath_of(event)
        ids = event.findall("cda:id", NS)
        if len(ids) != 1 or not is_uid(ids[0].get("root")) or ids[0].get("extension"):
            yield error("CDA-SEV-001", f"{where}/id", "serviceEvent id@root is the Study Instance UID",
                        "one id with a DICOM UID root", [i.get("root") for i in ids])
        names = event.findall("cda:code/cda:translation/cda:qualifier/cda:name", NS)
        if not any(n.get("code") == MODALITY_QUALIFIER for n in names):
            yield error("CDA-SEV-002", f"{where}/code/translation", "no modality translation (qualifier 121139)",
                        MODALITY_QUALIFIER, [n.get("code") for n in names])


def _check_orders(root: etree._Element) -> Iterator[Finding]:
    for inf in root.findall("cda:inFulfillmentOf", NS):
        where = xpath_of(inf)
        order = inf.find("cda:order", NS)
        ids = [] if order is None else order.findall("cda:id", NS)
        if len(ids) != 1 or not ids[0].get("extension") or not is_oid(ids[0].get("root")):
            yield error("CDA-ORD-001", f"{where}/order/id", "order id (placer order number) 1..1",
                        "one id with root OID and extension", len(ids))
        accs = [] if order is None else order.findall("ps3-20:accessionNumber", NS)
        if len(accs) != 1 or not accs[0].get("extension") or not is_oid(accs[0].get("root")):
            yield error("CDA-ORD-002", f"{where}/order/accessionNumber", "ps3-20:accessionNumber 1..1",
                        "one accessionNumber with root OID and extension", len(accs))


def _check_related(root: etree._Element) -> Iterator[Finding]:
    for rel in root.findall("cda:relatedDocument", NS):
        parent_id = rel.find("cda:parentDocument/cda:id", NS)
        if rel.get("typeCode") != "RPLC" or parent_id is None or not parent_id.get("root"):
            yield error("CDA-RPLC-001", xpath_of(rel), "relatedDocument must be RPLC with parentDocument/id",
                        "RPLC + parentDocument/id", rel.get("typeCode"))


_CHECKS = (_check_code, _check_templates, _check_header, _check_patient, _check_service_events,
           _check_orders, _check_related)


def _text(elem: etree._Element | None) -> str:
    return "" if elem is None else " ".join("".join(elem.itertext()).split())


def cda_facts(root: etree._Element) -> dict:
    """Identity, studies, accessions and confidentiality of the report (cross-document input)."""
    patient = root.find("cda:recordTarget/cda:patientRole/cda:patient", NS)
    ins = next((i.get("extension") for i in root.findall("cda:recordTarget/cda:patientRole/cda:id", NS)
                if i.get("root") in INS_OIDS), "")
    name = patient.find("cda:name", NS) if patient is not None else None

    def part(tag: str, qualifier: str) -> str:
        if name is None:
            return ""
        return _text(next((e for e in name.findall(f"cda:{tag}", NS)
                           if qualifier in (e.get("qualifier") or "").split()), None))

    events = imaging_events(root)
    return {
        "ins": ins or "", "birth_name": part("family", "BR"), "given": part("given", "BR"),
        "used_names": [(part("family", "CL"), part("given", "CL"))] if part("family", "CL") else [],
        "birth_date": (patient.find("cda:birthTime", NS).get("value", "")[:8]
                       if patient is not None and patient.find("cda:birthTime", NS) is not None else ""),
        "sex": (patient.find("cda:administrativeGenderCode", NS).get("code", "")
                if patient is not None and patient.find("cda:administrativeGenderCode", NS) is not None else ""),
        "birthplace": _text(patient.find("cda:birthplace/cda:place/cda:addr/cda:county", NS))
        if patient is not None else "",
        "study_uids": {i.get("root") for e in events for i in e.findall("cda:id", NS) if i.get("root")},
        "accessions": {a.get("extension") for a in root.findall(
            "cda:inFulfillmentOf/cda:order/ps3-20:accessionNumber", NS) if a.get("extension")},
        "confidentiality": {c.get("code") for c in root.findall("cda:confidentialityCode", NS)},
        "modalities": _translations(events, MODALITY_QUALIFIER),
        "regions": _translations(events, REGION_QUALIFIER),
    }


def _translations(events: list[etree._Element], qualifier: str) -> set[str]:
    return {t.get("code") for e in events for t in e.findall("cda:code/cda:translation", NS)
            if any(n.get("code") == qualifier for n in t.findall("cda:qualifier/cda:name", NS))}


def check_cda(data: bytes, *, xsd: Path | None = None, schematron: Path | None = None) -> Checked:
    """:func:`validate_cda` with the rule sets it rests on: the header rules, the CI-SIS XSD and schematron
    when given (``schematron``: a .sch or a folder holding CI-SIS_IMG-CR-IMG_*.sch), or why they did not run."""
    from harness.validators.schematron import find_schematron

    sch, sch_skip = None, skipped("cda-schematron", "no --schematron given")
    if schematron is not None:
        try:
            sch = find_schematron(Path(schematron))
        except (FileNotFoundError, OSError) as exc:
            sch_skip = skipped("cda-schematron", str(exc))
    findings = validate_cda(data, xsd=xsd, schematron_dir=sch)
    if any(f.rule == "CDA-XML-001" and f.location == "/" and f.severity is Severity.ERROR for f in findings):
        why = "not a readable CDA ClinicalDocument"
        return Checked("cda", findings, [skipped("cda-header", why), skipped("cda-xsd", why),
                                         skipped("cda-schematron", why)])
    sets = [ran("cda-header")]
    sets.append(ran("cda-xsd", name=f"CI-SIS {Path(xsd).name}") if xsd is not None else
                skipped("cda-xsd", "no --cda-xsd given"))
    failed = next((f.message for f in findings if f.rule == "CDA-SCH-001" and f.location == str(sch)), None)
    sets.append(sch_skip if sch is None else schematron_rule_set(sch, failed is None, failed))
    return Checked("cda", findings, sets)
