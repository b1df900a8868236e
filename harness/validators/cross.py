"""Cross-document consistency of a KOS, its CR-IMG, its XDS metadata and its HL7 message.

What the ANS cross-validator checks (DRIM-M_DATA ``test a blanc/Cross-validateur``):
patient identity (INS, birth name and first given name, used names vs OtherPatientNames, birth date,
sex, birthplace), Study Instance UID, accession number, masking flags vs confidentialityCode, modality
and region eventCodes vs the KOS series and the CDA serviceEvent.

Images of the exam (another DICOM object than the KOS, Part 10 or XML, as the cross-validator's
``OK_Cas_Passant/IMG_OK.xml``) are compared with the KOS on what they share with it: the study, the
accession number, and the instance being among the KOS references. Their patient id and birth date are the
PACS's own (IMG_OK.xml carries a local id, not the INS) and are not compared.

A document given but not readable is an error (XVAL-INPUT-001, naming the file and why): a group whose
files could not be read is never reported consistent.

Public: :func:`cross_validate` (any subset of the documents, as bytes, paths or parsed objects)
and :func:`xds_facts` (fields of the KOS DocumentEntry of a PnR; extraction only, the XDS validation
itself is ``harness.xds.validate``). Rules: XVAL-* of ``testplans/catalog/content.yaml``.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path

from lxml import etree
from pydicom.dataset import Dataset

from harness.findings import Finding, error, info
from harness.validators.common import norm
from harness.xmlsafe import parse_xml

RIM = "urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0"
# ITI TF-3 Table 4.2.5-1/-2: DocumentEntry classification / identification schemes.
SCHEME_CONFIDENTIALITY = "urn:uuid:f4f85eac-e6cb-4883-b524-f2705394840f"
SCHEME_EVENT = "urn:uuid:2c6b8cb7-8b2a-4051-b291-b1ae6a575ef4"
SCHEME_PATIENT_ID = "urn:uuid:58a6f841-87b3-4a3e-92fd-a8ffeff98427"
SCHEME_UNIQUE_ID = "urn:uuid:2e82c1f6-a085-4c72-9da3-8640a32e42ab"
MODALITY_VALUE_SET = "1.2.250.1.213.1.1.5.618"  # JDV_ModaliteAcquisition_CISIS, ANS DRIM-M_DATA Validateur XDS/XDS.xml
REGION_VALUE_SET = "1.2.250.1.213.1.1.5.695"  # JDV_RegionAnatomique_CISIS, ANS DRIM-M_DATA Validateur XDS/XDS.xml
# the code-system OIDs are used too (ANS DRIM-M_DATA informatif/XDS/publication.xml, acknowledged by the DMP)
MODALITY_SCHEMES = (MODALITY_VALUE_SET, "1.2.840.10008.2.16.4")  # + DICOM DCM
REGION_SCHEMES = (REGION_VALUE_SET, "2.16.840.1.113883.6.96")  # + SNOMED CT
# HL7 flag (IG-hl7v2) -> XDS confidentialityCode (scheme 1.2.250.1.213.1.1.4.13), ANS DRIM-M_DATA Validateur XDS
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

    def codes(scheme: str, coding_schemes: tuple[str, ...] | None = None) -> set[str]:
        return {c.get("nodeRepresentation") for c in classifs if c.get("classificationScheme") == scheme
                and (coding_schemes is None or set(coding_schemes) & set(_slot(c, "codingScheme")))}

    idents = {i.get("identificationScheme"): i.get("value", "") for i in entry.iter(f"{{{RIM}}}ExternalIdentifier")}
    pid = idents.get(SCHEME_PATIENT_ID, "")
    facts: dict = {"ins": pid.split("^")[0], "document_uid": idents.get(SCHEME_UNIQUE_ID, ""),
                   "confidentiality": codes(SCHEME_CONFIDENTIALITY),
                   "modalities": codes(SCHEME_EVENT, MODALITY_SCHEMES),
                   "regions": codes(SCHEME_EVENT, REGION_SCHEMES), "study_uids": set(), "accessions": set()}
    for ref in _slot(entry, "urn:ihe:iti:xds:2013:referenceIdList"):
        value, kind = ref.split("^")[0], ref.rsplit("^", 1)[-1]
        if kind == "urn:ihe:iti:xds:2016:studyInstanceUID":
            facts["study_uids"].add(value)
        elif kind == "urn:ihe:iti:xds:2013:accession":
            facts["accessions"].add(value)
    for pid_field in _slot(entry, "sourcePatientInfo"):
        field, _, value = pid_field.partition("|")
        comps = value.split("^")
        if field == "PID-5":
            facts["birth_name"], facts["given"] = comps[0], comps[1] if len(comps) > 1 else ""
        elif field == "PID-7":
            facts["birth_date"] = value[:8]
        elif field == "PID-8":
            facts["sex"] = value
    return facts


class Unreadable(ValueError):
    """A document given to the cross check that could not be read (the message says why)."""


def _load(kind: str, data: object) -> dict:
    """bytes / Path / parsed object -> facts dict; Unreadable (with the reason) when it cannot be read."""
    try:
        raw = data.read_bytes() if isinstance(data, Path) else data
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # pydicom value warnings; the KOS validator reports
            return _facts(kind, raw)
    except Exception as exc:  # a broken document has no facts: say which and why
        raise Unreadable(f"{exc.__class__.__name__}: {exc}" if str(exc) else exc.__class__.__name__) from None


def _facts(kind: str, raw: object) -> dict:
    if kind in ("kos", "image"):
        from harness.validators.dicom import read_dicom
        from harness.validators.kos import kos_facts
        ds = raw if isinstance(raw, Dataset) else read_dicom(raw)
        return kos_facts(ds) if kind == "kos" else image_facts(ds)
    if kind == "cda":
        from harness.validators.cda import cda_facts, parse_cda
        return cda_facts(raw if isinstance(raw, etree._Element) else parse_cda(raw))
    if kind == "xds":
        return xds_facts(raw if isinstance(raw, etree._Element) else _xds_root(raw))
    from harness.validators.hl7v2 import hl7_facts, parse_hl7
    return hl7_facts(parse_hl7(raw))


def image_facts(ds: Dataset) -> dict:
    """What an image shares with its KOS (PS3.3 C.7.2.1 study, C.7.3 series, C.12.1 SOP common)."""
    acc = str(ds.get("AccessionNumber", "") or "").strip()
    return {"study_uids": {str(ds.get("StudyInstanceUID", "") or "")}, "accessions": {acc} if acc else set(),
            "instance": (str(ds.get("SeriesInstanceUID", "") or ""), str(ds.get("SOPInstanceUID", "") or ""),
                         str(ds.get("SOPClassUID", "") or ""))}


def _xds_root(raw: bytes) -> etree._Element:
    """The XML of a stored XDS message: plain SOAP, or the root part of an MTOM capture (see capture.py)."""
    from harness.soap.mtom import SoapFault, decode_message
    from harness.validators.capture import read_capture

    cap = read_capture(raw)
    if cap.form == "soap":
        return parse_xml(raw, max_bytes=MAX_XDS_BYTES)
    try:
        return decode_message(cap.content_type, cap.body, max_bytes=MAX_XDS_BYTES).envelope.root
    except SoapFault as fault:
        raise ValueError(f"not a readable MTOM package: {fault.reason}") from None


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
EVIDENCE_PATH = "(0040,A375)>(0008,1115)>(0008,1199)"
SCALAR_RULES = {"ins": "XVAL-PAT-001", "birth_name": "XVAL-PAT-002", "given": "XVAL-PAT-002",
                "birth_date": "XVAL-PAT-004", "sex": "XVAL-PAT-004", "birthplace": "XVAL-PAT-004"}


def cross_validate(*, kos: object = None, cda: object = None, xds: object = None, hl7: object = None,
                   image: object = None) -> list[Finding]:
    """Compare whatever documents are given; a fact absent from a document is not compared. ``image``: one
    image (or a list of them) of the exam, compared with the KOS."""
    docs: dict[str, dict] = {}
    findings: list[Finding] = []
    images = list(image) if isinstance(image, (list, tuple)) else [] if image is None else [image]
    given = [(k, d) for k, d in (("kos", kos), ("cda", cda), ("xds", xds), ("hl7", hl7)) if d is not None]
    for kind, data in given + [("image", i) for i in images]:
        try:
            facts = _load(kind, data)
        except Unreadable as exc:
            findings.append(_unreadable(kind, data, str(exc)))
            continue
        if kind == "image":
            docs.setdefault("images", []).append(facts)
        else:
            docs[kind] = facts
    images_facts = docs.pop("images", [])
    for fact, rule in SCALAR_RULES.items():
        findings += _compare_scalar(docs, fact, rule)
    findings += _compare_used_names(docs)
    findings += _compare_sets(docs, "study_uids", "XVAL-STU-001")
    findings += _compare_sets(docs, "accessions", "XVAL-ACC-001")
    findings += _compare_document_uid(docs)
    findings += _compare_confidentiality(docs)
    findings += _compare_events(docs)
    findings += _compare_images(docs.get("kos"), images_facts)
    return findings


def _unreadable(kind: str, data: object, reason: str) -> Finding:
    name = str(data) if isinstance(data, Path) else f"the {kind.upper()} given"
    return error("XVAL-INPUT-001", name, f"{kind.upper()} could not be read, so it was not compared: {reason}",
                 f"a readable {kind.upper()}", "unreadable")


def _compare_images(kos: dict | None, images: list[dict]) -> Iterator[Finding]:
    """Each image belongs to the KOS study, its accession (when it has one) is the KOS's, and the KOS
    references it (PS3.3 C.17.6 evidence: study > series > SOP instance)."""
    if not kos:
        if images:
            yield info("XVAL-INPUT-001", "image", "images are compared with the KOS of their group: no KOS given, "
                       "the images were not compared", "a KOS", None)
        return
    referenced = kos.get("references", set())
    for facts in images:
        study = next(iter(facts["study_uids"]))
        if study not in kos.get("study_uids", set()):
            yield error("XVAL-STU-001", "KOS (0020,000D) vs image (0020,000D)", "the image belongs to another study",
                        sorted(kos.get("study_uids", set())), study)
        if facts["accessions"] and kos.get("accessions") and not facts["accessions"] & kos["accessions"]:
            yield error("XVAL-ACC-001", "KOS (0040,A370)>(0008,0050) vs image (0008,0050)",
                        "the image has another accession number", sorted(kos["accessions"]),
                        sorted(facts["accessions"]))
        series, sop, cls = facts["instance"]
        if referenced and (series, sop, cls) not in referenced:
            yield error("XVAL-STU-001", f"KOS {EVIDENCE_PATH} vs image (0008,0018)",
                        "the image is not among the instances the KOS references (series, SOP instance, SOP class)",
                        "a referenced instance", f"{series} / {sop} / {cls}")


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
