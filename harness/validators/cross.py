"""Cross-document consistency of a KOS, its CR-IMG, its XDS metadata and its HL7 message.

What the ANS cross-validator checks (DRIM-M_DATA ``test a blanc/Cross-validateur``, FACTS §2-§4):
patient identity (INS, birth name and first given name, used names vs OtherPatientNames, birth date,
sex, birthplace), Study Instance UID, accession number, masking flags vs confidentialityCode, modality
and region eventCodes vs the KOS series and the CDA serviceEvent.

Public: :func:`cross_validate` (any subset of the four documents, as bytes, paths or parsed objects)
and :func:`xds_facts` (fields of the KOS DocumentEntry of a PnR; extraction only, the XDS validation
itself is ``harness.xds.validate``). Rules: XVAL-* of ``testplans/catalog/content.yaml``.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path

from lxml import etree
from pydicom.dataset import Dataset

from harness.findings import Finding, error
from harness.validators.common import norm
from harness.xmlsafe import parse_xml

RIM = "urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0"
# ITI TF-3 Table 4.2.5-1/-2: DocumentEntry classification / identification schemes.
SCHEME_CONFIDENTIALITY = "urn:uuid:f4f85eac-e6cb-4883-b524-f2705394840f"
SCHEME_EVENT = "urn:uuid:2c6b8cb7-8b2a-4051-b291-b1ae6a575ef4"
SCHEME_PATIENT_ID = "urn:uuid:58a6f841-87b3-4a3e-92fd-a8ffeff98427"
SCHEME_UNIQUE_ID = "urn:uuid:2e82c1f6-a085-4c72-9da3-8640a32e42ab"
MODALITY_VALUE_SET = "1.2.250.1.213.1.1.5.618"  # JDV_ModaliteAcquisition_CISIS, FACTS §3
REGION_VALUE_SET = "1.2.250.1.213.1.1.5.695"  # JDV_RegionAnatomique_CISIS, FACTS §3
# HL7 flag (IG-hl7v2) -> XDS confidentialityCode (scheme 1.2.250.1.213.1.1.4.13), FACTS §3 / §4
FLAG_CONFIDENTIALITY = {"MASQUE_PS": "MASQUE_PS", "INVISIBLE_PATIENT": "INVISIBLE_PATIENT",
                        "INVISIBLE_REP_LEGAUX": "INVISIBLE_REPRESENTANTS_LEGAUX"}
MAX_XDS_BYTES = 64 * 1024 * 1024


def _slot(elem: etree._Element, name: str) -> list[str]:
    return [v.text or "" for v in elem.findall(f"{{{RIM}}}Slot[@name='{name}']/{{{RIM}}}ValueList/{{{RIM}}}Value")]


def xds_facts(root: etree._Element) -> dict:
    """Fields of the DICOM DocumentEntry (the KOS) of a PnR / SubmitObjectsRequest."""
    entries = list(root.iter(f"{{{RIM}}}ExtrinsicObject"))
    entry = next((e for e in entries if e.get("mimeType") == "application/dicom"), entries[0] if entries else None)
    if entry is None:
        return {}
    # a Classification nested in the entry classifies it (ebRIM 3.0 §4.3), whatever its classifiedObject says
    # (the ANS sample Metadata_invisible_masque.xml nests the masking codes with classifiedObject="Signature01")
    nested = entry.findall(f"{{{RIM}}}Classification")
    classifs = nested + [c for c in root.iter(f"{{{RIM}}}Classification")
                         if c.get("classifiedObject") == entry.get("id") and c.getparent() is not entry]

    def codes(scheme: str, value_set: str | None = None) -> set[str]:
        return {c.get("nodeRepresentation") for c in classifs if c.get("classificationScheme") == scheme
                and (value_set is None or value_set in _slot(c, "codingScheme"))}

    idents = {i.get("identificationScheme"): i.get("value", "") for i in entry.iter(f"{{{RIM}}}ExternalIdentifier")}
    pid = idents.get(SCHEME_PATIENT_ID, "")
    facts: dict = {"ins": pid.split("^")[0], "document_uid": idents.get(SCHEME_UNIQUE_ID, ""),
                   "confidentiality": codes(SCHEME_CONFIDENTIALITY),
                   "modalities": codes(SCHEME_EVENT, MODALITY_VALUE_SET),
                   "regions": codes(SCHEME_EVENT, REGION_VALUE_SET), "study_uids": set(), "accessions": set()}
    for ref in _slot(entry, "urn:ihe:iti:xds:2013:referenceIdList"):
        value, kind = ref.split("^")[0], ref.rsplit("^", 1)[-1]
        if kind == "urn:ihe:iti:xds:2016:studyInstanceUID":
            facts["study_uids"].add(value)
        elif kind == "urn:ihe:iti:xds:2013:accession":
            facts["accessions"].add(value)
    for info in _slot(entry, "sourcePatientInfo"):
        field, _, value = info.partition("|")
        comps = value.split("^")
        if field == "PID-5":
            facts["birth_name"], facts["given"] = comps[0], comps[1] if len(comps) > 1 else ""
        elif field == "PID-7":
            facts["birth_date"] = value[:8]
        elif field == "PID-8":
            facts["sex"] = value
    return facts


def _load(kind: str, data: object) -> dict | None:
    """bytes / Path / parsed object -> facts dict; None when absent or unreadable (own validator reports)."""
    if data is None:
        return None
    raw = data.read_bytes() if isinstance(data, Path) else data
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # pydicom value warnings; the KOS validator reports
            return _facts(kind, raw)
    except Exception:  # a broken document has no facts; its own validator says why
        return None


def _facts(kind: str, raw: object) -> dict:
    if kind == "kos":
        from harness.validators.kos import kos_facts, read_kos
        return kos_facts(raw if isinstance(raw, Dataset) else read_kos(raw))
    if kind == "cda":
        from harness.validators.cda import cda_facts, parse_cda
        return cda_facts(raw if isinstance(raw, etree._Element) else parse_cda(raw))
    if kind == "xds":
        return xds_facts(raw if isinstance(raw, etree._Element) else _xds_root(raw))
    from harness.validators.hl7v2 import hl7_facts, parse_hl7
    return hl7_facts(parse_hl7(raw))


def _xds_root(raw: bytes) -> etree._Element:
    if raw.lstrip()[:2] == b"--" or b"Content-Type:" in raw[:2048]:  # an MTOM capture: find the XML part
        start = raw.find(b"<")
        end = raw.rfind(b"Envelope>")
        raw = raw[start:end + len(b"Envelope>")] if end > start else raw[start:]
    return parse_xml(raw, max_bytes=MAX_XDS_BYTES)


LOCATIONS = {  # where each fact lives, per document (for the finding's location)
    "ins": {"kos": "(0010,0020)", "cda": "recordTarget/patientRole/id@extension", "xds": "patientId",
            "hl7": "PID-3"},
    "birth_name": {"kos": "(0010,0010)", "cda": "patient/name/family[@qualifier=BR]", "xds": "sourcePatientInfo PID-5",
                   "hl7": "PID-5 (L)"},
    "given": {"kos": "(0010,0010)", "cda": "patient/name/given[@qualifier=BR]", "xds": "sourcePatientInfo PID-5",
              "hl7": "PID-5 (L)"},
    "birth_date": {"kos": "(0010,0030)", "cda": "patient/birthTime", "xds": "sourcePatientInfo PID-7", "hl7": "PID-7"},
    "sex": {"kos": "(0010,0040)", "cda": "patient/administrativeGenderCode", "xds": "sourcePatientInfo PID-8",
            "hl7": "PID-8"},
    "birthplace": {"kos": "(0010,4000)", "cda": "birthplace/place/addr/county", "hl7": "PID-11 (BDL)"},
    "study_uids": {"kos": "(0020,000D)", "cda": "documentationOf/serviceEvent/id", "xds": "referenceIdList",
                   "hl7": "IPC-3"},
    "accessions": {"kos": "(0040,A370)>(0008,0050)", "cda": "inFulfillmentOf/order/ps3-20:accessionNumber",
                   "xds": "referenceIdList", "hl7": "IPC-1"},
}
SCALAR_RULES = {"ins": "XVAL-PAT-001", "birth_name": "XVAL-PAT-002", "given": "XVAL-PAT-002",
                "birth_date": "XVAL-PAT-004", "sex": "XVAL-PAT-004", "birthplace": "XVAL-PAT-004"}


def cross_validate(*, kos: object = None, cda: object = None, xds: object = None,
                   hl7: object = None) -> list[Finding]:
    """Compare whatever documents are given; a fact absent from a document is not compared."""
    docs = {k: f for k, f in (("kos", _load("kos", kos)), ("cda", _load("cda", cda)),
                              ("xds", _load("xds", xds)), ("hl7", _load("hl7", hl7))) if f is not None}
    findings: list[Finding] = []
    for fact, rule in SCALAR_RULES.items():
        findings += _compare_scalar(docs, fact, rule)
    findings += _compare_used_names(docs)
    findings += _compare_sets(docs, "study_uids", "XVAL-STU-001")
    findings += _compare_sets(docs, "accessions", "XVAL-ACC-001")
    findings += _compare_document_uid(docs)
    findings += _compare_confidentiality(docs)
    findings += _compare_events(docs)
    return findings


def _where(fact: str, a: str, b: str) -> str:
    return f"{a.upper()} {LOCATIONS[fact].get(a)} vs {b.upper()} {LOCATIONS[fact].get(b)}"


def _compare_scalar(docs: dict[str, dict], fact: str, rule: str) -> Iterator[Finding]:
    values = {k: f[fact] for k, f in docs.items() if f.get(fact)}
    if len({norm(v) for v in values.values()}) > 1:
        ref_kind, ref = next(iter(values.items()))
        for kind, value in values.items():
            if norm(value) != norm(ref):
                where = _where(fact, ref_kind, kind)
                yield error(rule, where, f"{fact.replace('_', ' ')} differs between documents", ref, value)


def _compare_used_names(docs: dict[str, dict]) -> Iterator[Finding]:
    """KOS OtherPatientNames vs CDA used name (qualifier CL) vs HL7 PID-5 (D); given compared when both set."""
    names = {k: f["used_names"] for k, f in docs.items() if f.get("used_names")}
    if "kos" not in names:
        return
    for kind in ("cda", "hl7"):
        if kind not in names:
            continue
        for family, given in names[kind]:
            ok = any(norm(family) == norm(kf) and (not given or not kg or norm(given) == norm(kg))
                     for kf, kg in names["kos"])
            if not ok:
                yield error("XVAL-PAT-003", f"KOS (0010,1001) vs {kind.upper()} used name",
                            "used name differs from the KOS OtherPatientNames",
                            "^".join(names["kos"][0]), f"{family}^{given}")


def _compare_sets(docs: dict[str, dict], fact: str, rule: str) -> Iterator[Finding]:
    """The KOS value must be among the others' (a CR-IMG may document several studies / orders)."""
    sets = {k: f[fact] for k, f in docs.items() if f.get(fact)}
    if not sets:
        return
    ref_kind = "kos" if "kos" in sets else next(iter(sets))
    ref = sets[ref_kind]
    for kind, values in sets.items():
        if kind != ref_kind and not (ref & values):
            yield error(rule, _where(fact, ref_kind, kind),
                        f"{fact.rstrip('s').replace('_', ' ')} differs between documents", sorted(ref), sorted(values))


def _compare_document_uid(docs: dict[str, dict]) -> Iterator[Finding]:
    """IHE RAD TF-3 RAD-68: the DocumentEntry.uniqueId of a manifest is its SOP Instance UID (PoC does so)."""
    kos, xds = docs.get("kos"), docs.get("xds")
    if kos and xds and kos.get("sop_uid") and xds.get("document_uid") and kos["sop_uid"] != xds["document_uid"]:
        yield error("XVAL-DOC-001", "KOS (0008,0018) vs XDS XDSDocumentEntry.uniqueId",
                    "the XDS metadata describe another document than this KOS", kos["sop_uid"], xds["document_uid"])


def _compare_confidentiality(docs: dict[str, dict]) -> Iterator[Finding]:
    xds = docs.get("xds")
    if not xds:
        return
    conf = xds.get("confidentiality", set())
    hl7 = docs.get("hl7")
    if hl7 and hl7.get("flags"):
        for flag, code in FLAG_CONFIDENTIALITY.items():
            value = hl7["flags"].get(flag)
            if value in ("Y", "N") and (value == "Y") != (code in conf):
                yield error("XVAL-CONF-001", f"HL7 OBX {flag} vs XDS confidentialityCode",
                            f"flag {flag}={value} and the XDS confidentiality codes disagree",
                            f"{code} {'present' if value == 'Y' else 'absent'}", sorted(conf))
    cda = docs.get("cda")
    if cda and cda.get("confidentiality") and not (cda["confidentiality"] & conf):
        yield error("XVAL-CONF-001", "CDA confidentialityCode vs XDS confidentialityCode",
                    "the CDA confidentiality code is not among the XDS codes", sorted(cda["confidentiality"]),
                    sorted(conf))


def _compare_events(docs: dict[str, dict]) -> Iterator[Finding]:
    xds = docs.get("xds")
    if not xds:
        return
    events = xds.get("modalities", set())
    for kind in ("kos", "cda"):
        mods = docs.get(kind, {}).get("modalities") or set()
        if mods and mods != events:
            yield error("XVAL-EVT-001", f"XDS eventCodeList ({MODALITY_VALUE_SET}) vs {kind.upper()} modalities",
                        "modality eventCodes differ from the modalities of the exam", sorted(mods), sorted(events))
    regions = docs.get("cda", {}).get("regions") or set()
    if regions and xds.get("regions") is not None and regions != xds["regions"]:
        yield error("XVAL-EVT-001", f"XDS eventCodeList ({REGION_VALUE_SET}) vs CDA region translation",
                    "anatomic region eventCodes differ from the CDA", sorted(regions), sorted(xds["regions"]))
