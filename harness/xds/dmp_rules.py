"""CI-SIS / DMP rules (profile ``dmp``) on top of the IHE XDS.b rules:
ANS DRIM-M_DATA Validateur XDS/XDS.xml.

Public: :func:`dmp_rules`. Rules XDS-DMP-* of testplans/catalog/xds.yaml; value sets in
schemas/codes/dmp-xds.yaml (each with its source and version).
"""

from __future__ import annotations

import re

from lxml import etree

from harness.findings import Finding, error, info, warning
from harness.xds.digest import sha1_b64
from harness.xds.dsig import verify as verify_signature
from harness.xds.model import ASSOCIATION_TYPES, Classification, DocumentEntry, Submission, SubmissionSet
from harness.xds.rules_common import CX, codes, is_oid
from harness.xds.rules_common import loc as _loc
from harness.xmlsafe import UnsafeXmlError, parse_xml


def dmp_rules(sub: Submission) -> list[Finding]:
    """CI-SIS / DMP rules (ANS DRIM-M_DATA Validateur XDS/XDS.xml) on top of IHE: KOS codes, masks, events,
    references, signature."""
    out = _dmp_patient_rules(sub)
    for doc in sub.documents:
        if _is_signature(doc):
            out += _dmp_signature_entry_rules(doc)
        else:
            out += _dmp_kos_rules(doc)
    out += _dmp_signature_rules(sub)
    if sub.submission_set is not None:
        out += _dmp_submission_set_rules(sub.submission_set)
    return out


def _is_signature(doc: DocumentEntry) -> bool:
    sig = codes()["signature_document"]
    return doc.classCode is not None and doc.classCode.node == sig["classCode"]["code"]


def _expect_code(loc: str, rule: str, attr: str, code: Classification | None, allowed: list[dict]) -> list[Finding]:
    if code is None:
        return []  # absence is XDS-DOC-001
    if any(code.node == c["code"] and code.coding_scheme == c["scheme"] for c in allowed):
        return []
    expected = " or ".join(f"{c['code']} / {c['scheme']}" for c in allowed)
    return [error(rule, f"{loc}/Classification[{attr}]", f"{attr} is not the DMP value", expected,
                  f"{code.node} / {code.coding_scheme}")]


def _dmp_kos_rules(doc: DocumentEntry) -> list[Finding]:
    cs = codes()
    loc = _loc("ExtrinsicObject", doc.id)
    out = _expect_code(loc, "XDS-DMP-CLASS-001", "classCode", doc.classCode, cs["kos_class_code"]["codes"])
    out += _expect_code(loc, "XDS-DMP-TYPE-001", "typeCode", doc.typeCode, cs["kos_type_code"]["codes"])
    out += _dmp_format_rules(loc, doc)
    if doc.mimeType and doc.mimeType not in cs["kos_mime_type"]["codes"]:
        out.append(error("XDS-DMP-MIME-001", loc + "/@mimeType", "KOS mimeType", "application/dicom", doc.mimeType))
    out += _dmp_confidentiality_rules(loc, doc)
    out += _dmp_event_rules(loc, doc)
    out += _dmp_reference_id_rules(loc, doc)
    out += _dmp_author_rules(loc, doc)
    if doc.languageCode and doc.languageCode != "fr-FR":
        out.append(warning("XDS-DMP-LANG-001", f"{loc}/Slot[@name='languageCode']", "KOS languageCode", "fr-FR",
                           doc.languageCode))
    out += _dmp_scheme_rule(loc, "XDS-DMP-PRACTICE-001", "practiceSettingCode", doc.practiceSettingCode,
                            cs["practice_setting"]["scheme"])
    out += _dmp_scheme_rule(loc, "XDS-DMP-FACILITY-001", "healthcareFacilityTypeCode",
                            doc.healthcareFacilityTypeCode, cs["healthcare_facility_type"]["scheme"])
    return out


_XCN_RPPS = re.compile(r"^[^\^]+\^[^\^]*\^[^\^]*(\^[^\^]*){5}\^&1\.2\.250\.1\.71\.4\.2\.1&ISO(\^.*)?$")
_XON_FINESS = re.compile(r"^[^\^]+\^{5}&1\.2\.250\.1\.71\.4\.2\.2&ISO\^[^\^]*\^{3}[^\^]+$")


def _dmp_author_rules(loc: str, doc: DocumentEntry) -> list[Finding]:
    """authorPerson XCN with the national professional-id authority 1.2.250.1.71.4.2.1 and
    authorInstitution XON with 1.2.250.1.71.4.2.2 (ANS DRIM-M_DATA Validateur XDS/XDS.xml): SHOULD, so warnings."""
    where = f"{loc}/Classification[author]"
    if not doc.authors:
        return [warning("XDS-DMP-AUTHOR-001", where, "no author", "authorPerson and authorInstitution", None)]
    out = []
    for author in doc.authors:
        if author.person and not _XCN_RPPS.match(author.person):
            out.append(warning("XDS-DMP-AUTHOR-001", f"{where}/Slot[@name='authorPerson']", "authorPerson is not "
                               "an XCN with assigning authority &1.2.250.1.71.4.2.1&ISO",
                               "id^family^given^^^^^^&1.2.250.1.71.4.2.1&ISO^...", author.person))
        for inst in author.institutions:
            if not _XON_FINESS.match(inst):
                out.append(warning("XDS-DMP-AUTHOR-001", f"{where}/Slot[@name='authorInstitution']",
                                   "authorInstitution is not an XON with &1.2.250.1.71.4.2.2&ISO and an identifier",
                                   "name^^^^^&1.2.250.1.71.4.2.2&ISO^type^^^id", inst))
    return out


def _dmp_format_rules(loc: str, doc: DocumentEntry) -> list[Finding]:
    fmt = codes()["kos_format_code"]
    if doc.formatCode is not None and any(doc.formatCode.node == d["code"] for d in fmt.get("deprecated", [])):
        return [error("XDS-DMP-FORMAT-001", f"{loc}/Classification[formatCode]",
                      "deprecated formatCode (ANS TRE_A09, 2017-10-13)",
                      f"{fmt['codes'][0]['code']} / {fmt['codes'][0]['scheme']}", doc.formatCode.node)]
    return _expect_code(loc, "XDS-DMP-FORMAT-001", "formatCode", doc.formatCode, fmt["codes"])


def _dmp_scheme_rule(loc: str, rule: str, attr: str, code: Classification | None, scheme: str) -> list[Finding]:
    if code is None or code.coding_scheme == scheme:
        return []
    return [error(rule, f"{loc}/Classification[{attr}]", f"{attr} codingScheme is not the CI-SIS one",
                  scheme, code.coding_scheme)]


def _dmp_confidentiality_rules(loc: str, doc: DocumentEntry) -> list[Finding]:
    cs = codes()
    base = cs["confidentiality_base"]["codes"]
    masks = cs["confidentiality_masks"]
    out = []
    n_base = 0
    for code in doc.confidentialityCodes:
        if any(code.node == c["code"] and code.coding_scheme == c["scheme"] for c in base):
            n_base += 1
        elif not (code.coding_scheme == masks["scheme"] and code.node in masks["codes"]):
            out.append(error("XDS-DMP-CONF-001", f"{loc}/Classification[confidentialityCode]",
                             "confidentialityCode is neither N/2.16.840.1.113883.5.25 nor a DMP mask",
                             f"N or {', '.join(masks['codes'])} / {masks['scheme']}",
                             f"{code.node} / {code.coding_scheme}"))
    if doc.confidentialityCodes and n_base != 1:
        out.append(error("XDS-DMP-CONF-001", f"{loc}/Classification[confidentialityCode]",
                         "exactly one N / 2.16.840.1.113883.5.25 confidentialityCode is expected", 1, n_base))
    return out


# eventCodeList: ANS material codes modality and region two ways, and the real DMP took both
# (ANS DRIM-M_DATA informatif/Readme.md):
# the CI-SIS value-set OIDs (schemas/codes/dmp-xds.yaml; Echantillons validateurs/Validateur XDS/XDS.xml)
# and the code systems the codes come from (informatif/XDS/publication.xml, acknowledged by the DMP).
CODE_SYSTEM_SCHEMES: dict[str, tuple[str, str]] = {
    "1.2.840.10008.2.16.4": ("modality", "DICOM DCM code system (PS3.16 CID 29 codes)"),
    "2.16.840.1.113883.6.96": ("region", "SNOMED CT code system"),
}


def _dmp_event_rules(loc: str, doc: DocumentEntry) -> list[Finding]:
    """eventCodeList of a KOS: modalities (JDV 1.2.250.1.213.1.1.5.618 or DICOM 1.2.840.10008.2.16.4) and
    regions (JDV 1.2.250.1.213.1.1.5.695 or SNOMED CT 2.16.840.1.113883.6.96), ANS DRIM-M_DATA Validateur XDS/XDS.xml,
    informatif/XDS/publication.xml."""
    mod = codes()["event_modality"]
    out = []
    modalities = 0
    for code in doc.eventCodes:
        where = f"{loc}/Classification[@id='{code.id}']"
        axis = _event_axis(code.coding_scheme)
        if axis == "modality":
            modalities += 1
            if code.node not in mod["codes"]:
                out.append(error("XDS-DMP-EVENT-001", where, "modality code not in JDV_ModaliteAcquisition_CISIS",
                                 "a DICOM CID 29 modality", code.node))
        elif axis == "region":
            out += _region_rules(where, code)
        else:
            out.append(error("XDS-DMP-EVENT-001", where, "eventCodeList scheme is neither a modality nor a region "
                             "scheme", " or ".join(_event_schemes()), code.coding_scheme))
        if code.coding_scheme in CODE_SYSTEM_SCHEMES:
            out.append(_code_system_note(where, code.coding_scheme))
    if modalities == 0:
        out.append(error("XDS-DMP-EVENT-001", loc, "no modality in eventCodeList",
                         f"{mod['scheme']} or 1.2.840.10008.2.16.4", None))
    return out


def _event_schemes() -> list[str]:
    cs = codes()
    return [cs["event_modality"]["scheme"], *[s for s, (a, _n) in CODE_SYSTEM_SCHEMES.items() if a == "modality"],
            cs["event_region"]["scheme"], *[s for s, (a, _n) in CODE_SYSTEM_SCHEMES.items() if a == "region"],
            *cs["event_region"].get("tolerated_schemes", [])]


def _event_axis(scheme: str | None) -> str | None:
    cs = codes()
    if scheme == cs["event_modality"]["scheme"]:
        return "modality"
    if scheme == cs["event_region"]["scheme"] or scheme in cs["event_region"].get("tolerated_schemes", []):
        return "region"
    return CODE_SYSTEM_SCHEMES.get(scheme or "", (None, ""))[0]


def _region_rules(where: str, code: Classification) -> list[Finding]:
    reg = codes()["event_region"]
    if code.coding_scheme in reg.get("tolerated_schemes", []):
        return [warning("XDS-DMP-EVENT-002", where, "region code with a scheme other than the value-set "
                        "OID (seen in the ANS sample)", reg["scheme"], code.coding_scheme)]
    if code.node not in {c["code"] for c in reg["codes"]}:
        return [warning("XDS-DMP-EVENT-002", where, "region code not in the known part of "
                        "JDV_RegionAnatomique_CISIS", None, code.node)]
    return []


def _code_system_note(where: str, scheme: str) -> Finding:
    """Which form a code uses: the code system here, the CI-SIS value set in the other ANS sample."""
    axis, name = CODE_SYSTEM_SCHEMES[scheme]
    value_set = codes()["event_modality" if axis == "modality" else "event_region"]["scheme"]
    rule = "XDS-DMP-EVENT-001" if axis == "modality" else "XDS-DMP-EVENT-002"
    return info(rule, where, f"{axis} coded with the {name} OID, as informatif/XDS/publication.xml (acknowledged "
                f"by the DMP); Validateur XDS/XDS.xml uses the CI-SIS value-set OID {value_set}: both are accepted",
                f"{value_set} (value set) or {scheme} (code system)", scheme)


_CXI = re.compile(r"^([^\^]+)\^\^\^([^\^]*)\^([^\^]+)$")  # CXi: id^^^assigning authority^type


def _dmp_reference_id_rules(loc: str, doc: DocumentEntry) -> list[Finding]:
    """referenceIdList in CXi form with an ISO assigning authority (ITI TF-3 §4.2.3.2,
    ANS DRIM-M_DATA Validateur XDS/XDS.xml)."""
    ref = codes()["reference_id_types"]
    where = f"{loc}/Slot[@name='urn:ihe:iti:xds:2013:referenceIdList']"
    out = []
    types = set()
    for value in doc.referenceIdList:
        m = _CXI.match(value)
        authority = m.group(2) if m else ""
        if not m or m.group(3) not in ref["codes"] or not re.match(r"^&[0-9.]+&ISO$", authority) \
                or not is_oid(authority.split("&")[1]):
            out.append(error("XDS-DMP-REFID-001", where, "referenceIdList value is not id^^^&OID&ISO^type",
                             "id^^^&OID&ISO^urn:ihe:iti:xds:...", value))
        else:
            types.add(m.group(3))
    for needed in ref["required_for_kos"]:
        if needed not in types:
            out.append(error("XDS-DMP-REFID-002", where, "KOS referenceIdList lacks a required reference",
                             needed, sorted(types) or None))
    return out


def _dmp_patient_rules(sub: Submission) -> list[Finding]:
    """patientId is an INS: <15 digits>^^^&<INS OID>&ISO^NH (ANS DRIM-M_DATA Validateur XDS/XDS.xml)."""
    oids = {c["code"] for c in codes()["ins_oids"]["codes"]}
    out = []
    objects = [("RegistryPackage", sub.submission_set.id, sub.submission_set.patientId)] if sub.submission_set else []
    objects += [("ExtrinsicObject", d.id, d.patientId) for d in sub.documents]
    for kind, obj_id, pid in objects:
        m = CX.match(pid or "")
        if pid and not (m and m.group(2) in oids and m.group(4) == "NH" and re.fullmatch(r"\d{15}", m.group(1))):
            out.append(error("XDS-DMP-PID-001", _loc(kind, obj_id, "ExternalIdentifier[patientId]"),
                             "patientId is not an INS (15 digits, INS OID, type NH)",
                             "<INS>^^^&1.2.250.1.213.1.4.{8,9,10,11}&ISO^NH", pid))
    return out


def _dmp_signature_entry_rules(doc: DocumentEntry) -> list[Finding]:
    sig = codes()["signature_document"]
    loc = _loc("ExtrinsicObject", doc.id)
    out = _expect_code(loc, "XDS-DMP-SIG-001", "typeCode", doc.typeCode,
                       [{"code": sig["typeCode"]["code"], "scheme": sig["typeCode"]["scheme"]}])
    out += _expect_code(loc, "XDS-DMP-SIG-001", "formatCode", doc.formatCode,
                        [{"code": sig["formatCode"]["code"], "scheme": sig["formatCode"]["scheme"]}])
    if doc.mimeType and doc.mimeType != sig["mimeType"]:
        out.append(error("XDS-DMP-SIG-001", loc + "/@mimeType", "signature document mimeType", sig["mimeType"],
                         doc.mimeType))
    return out


def _dmp_signature_rules(sub: Submission) -> list[Finding]:
    """Every DMP submission carries a signature document that ``signs`` the submission set
    (ANS DRIM-M_DATA Validateur XDS/XDS.xml)."""
    sigs = [d for d in sub.documents if _is_signature(d)]
    if not sub.documents:
        return []  # an ITI-57 status or association update carries no document to sign
    if not sigs:
        return [error("XDS-DMP-SIG-002", "RegistryObjectList", "no signature document (classCode "
                      "urn:oid:1.3.6.1.4.1.19376.1.2.1.1.1) in the submission")]
    out = [f for s in sigs for f in _signature_manifest_rules(sub, s)]
    if sub.submission_set is None:
        return out  # XDS-SS-001
    ss_id = sub.submission_set.id
    signs = {(a.source, a.target) for a in sub.associations if a.type == ASSOCIATION_TYPES["signs"]}
    return out + [error("XDS-DMP-SIG-003", _loc("ExtrinsicObject", s.id), "no 'signs' association from the "
                        "signature document to the SubmissionSet", f"{s.id} → {ss_id}", None)
                  for s in sigs if (s.id, ss_id) not in signs]


_DS = "{http://www.w3.org/2000/09/xmldsig#}"


def _signature_manifest_rules(sub: Submission, sig: DocumentEntry) -> list[Finding]:
    """The signature document's ds:Manifest ``IHEManifest`` lists each document of the submission as
    ``urn:oid:<uniqueId>`` with the base64 SHA-1 of its bytes (IHE DSG, ITI TF-3 §5.5; ANS demonstrator
    XDM SIGN_1.XML). Checked when the signature bytes are at hand; the signature value is not."""
    data = sub.document_bytes.get(sig.id)
    if data is None:
        return []
    loc = f"Document[@id='{sig.id}']"
    try:
        root = parse_xml(data, max_bytes=16 * 1024 * 1024)
    except UnsafeXmlError as exc:
        return [error("XDS-DMP-SIG-004", loc, f"signature document is not XML: {exc}")]
    manifest = next((m for m in root.iter(_DS + "Manifest") if m.get("Id") == "IHEManifest"), None)
    if root.tag != _DS + "Signature" or manifest is None:
        return [error("XDS-DMP-SIG-004", loc, "no ds:Signature with a ds:Manifest Id='IHEManifest'")]
    digests = {r.get("URI"): (r.findtext(_DS + "DigestValue") or "").strip() for r in manifest.iter(_DS + "Reference")}
    out = _signature_value_rules(root, loc)
    for doc in sub.documents:
        if _is_signature(doc) or not doc.uniqueId:
            continue
        uri = f"urn:oid:{doc.uniqueId}"
        content = sub.document_bytes.get(doc.id)
        if uri not in digests:
            out.append(error("XDS-DMP-SIG-004", f"{loc}/Manifest", "the signature manifest does not list a "
                             "document of the submission", uri, sorted(digests)))
        elif content is not None and digests[uri] != sha1_b64(content):
            out.append(error("XDS-DMP-SIG-004", f"{loc}/Manifest/Reference[@URI='{uri}']", "manifest digest is "
                             "not the SHA-1 of the document", sha1_b64(content), digests[uri]))
    return out


def _signature_value_rules(root: etree._Element, loc: str) -> list[Finding]:
    """XML-DSig core validation of Signature01 (XAdES over #IHEManifest, ANS DRIM-M_DATA Validateur XDS/XDS.xml;
    xmldsig-core §3.2): an empty SignatureValue or one that does not verify is an error; a signature this tool cannot
    check (no readable certificate, an algorithm it does not know) is a warning. Trust in the signer's certificate is
    the receiving DMP's business and is not judged here."""
    verdict = verify_signature(root)
    where = f"{loc}/{verdict.location}" if verdict.location else loc
    if verdict.status in ("unsigned", "invalid"):
        return [error("XDS-DMP-SIG-005", where, verdict.detail, "a SignatureValue that verifies over "
                      "#IHEManifest with the KeyInfo certificate", verdict.status)]
    if verdict.status == "unverifiable":
        return [warning("XDS-DMP-SIG-005", where, f"signature not checked: {verdict.detail}")]
    return []


def _dmp_submission_set_rules(ss: SubmissionSet) -> list[Finding]:
    scheme = codes()["content_type"]["scheme"]
    code = ss.contentTypeCode
    if code is not None and code.coding_scheme != scheme:
        return [warning("XDS-DMP-CONTENT-001", _loc("RegistryPackage", ss.id, "Classification[contentTypeCode]"),
                        "contentTypeCode scheme differs from the one seen in the ANS sample", scheme,
                        code.coding_scheme)]
    return []
