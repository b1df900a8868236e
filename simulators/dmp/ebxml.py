"""ebRIM 3.0 vocabulary of the DMP registry and the index values it extracts from stored objects.

The registry keeps each registered object as the ebRIM XML it was submitted in (ids rewritten to
UUIDs) and indexes the few values the stored queries filter on. This module turns an ebRIM element
into those values; it never judges metadata (that is ``harness.xds.validate``).
Sources: IHE ITI TF-3 §4.2.3 (attributes), §4.2.5 Table 4.2.5-1 (scheme UUIDs), ebRS 3.0.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lxml import etree

NS = {
    "rim": "urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0",
    "rs": "urn:oasis:names:tc:ebxml-regrep:xsd:rs:3.0",
    "lcm": "urn:oasis:names:tc:ebxml-regrep:xsd:lcm:3.0",
    "query": "urn:oasis:names:tc:ebxml-regrep:xsd:query:3.0",
    "xdsb": "urn:ihe:iti:xds-b:2007",
    "xop": "http://www.w3.org/2004/08/xop/include",
}
RIM = f"{{{NS['rim']}}}"
RS = f"{{{NS['rs']}}}"
XDSB = f"{{{NS['xdsb']}}}"

# ITI TF-3 Table 4.2.5-1: classification schemes (DocumentEntry / SubmissionSet)
SCHEME = {
    "urn:uuid:41a5887f-8865-4c09-adf7-e362475b143a": "class",  # XDSDocumentEntry.classCode
    "urn:uuid:f0306f51-975f-434e-a61c-c59651d33983": "type",  # XDSDocumentEntry.typeCode
    "urn:uuid:a09d5840-386c-46f2-b5ad-9c3699a4309d": "format",  # XDSDocumentEntry.formatCode
    "urn:uuid:cccf5598-8b07-4b77-a05e-ae952c785ead": "practice",  # practiceSettingCode
    "urn:uuid:f33fb8ac-18af-42cc-ae0e-ed0b0bdb91e1": "facility",  # healthcareFacilityTypeCode
    "urn:uuid:f4f85eac-e6cb-4883-b524-f2705394840f": "conf",  # confidentialityCode (multi)
    "urn:uuid:2c6b8cb7-8b2a-4051-b291-b1ae6a575ef4": "event",  # eventCodeList (multi)
    "urn:uuid:93606bcf-9494-43ec-9b4e-a7748d1a838d": "doc_author",  # DocumentEntry.author
    "urn:uuid:a7058bb9-b4e4-4307-ba5b-e3f0ab85e12d": "ss_author",  # SubmissionSet.author
    "urn:uuid:aa543740-bdda-424e-8c96-df4873be8500": "content_type",  # SubmissionSet.contentTypeCode
}
# ITI TF-3 Table 4.2.5-1: external identifier schemes
EXT_ID = {
    "urn:uuid:58a6f841-87b3-4a3e-92fd-a8ffeff98427": "doc_patient",
    "urn:uuid:2e82c1f6-a085-4c72-9da3-8640a32e42ab": "doc_unique",
    "urn:uuid:6b5aea1a-874d-4603-a4bc-96a0a7b38446": "ss_patient",
    "urn:uuid:96fdda7c-d067-4183-912e-bf5ee74998a8": "ss_unique",
    "urn:uuid:554ac39e-e3fe-47fe-b233-965d2a147832": "ss_source",
    "urn:uuid:f64ffdf0-4b97-4e06-b79f-a52b38ec2f8a": "fol_patient",
    "urn:uuid:75df8f67-9973-4fbe-a900-df66cefecc5a": "fol_unique",
}
# ITI TF-3 §4.2.3.1.3: objectType of a stable DocumentEntry; ClassificationNode of a SubmissionSet / Folder
DOC_OBJECT_TYPE = "urn:uuid:7edca82f-054d-47f2-a032-9b2a5b5186c1"
ONDEMAND_OBJECT_TYPE = "urn:uuid:34268e47-fdf5-41a6-ba33-82133c465248"
SUBMISSION_SET_NODE = "urn:uuid:a54d6aa5-d40d-43f9-88c5-b4633d873bdd"
FOLDER_NODE = "urn:uuid:d9d542f3-6cc4-48b6-8870-ea235fbc94c2"

# ebRIM 3.0 §2.2 / ITI TF-3 §4.2.3: availability status
APPROVED = "urn:oasis:names:tc:ebxml-regrep:StatusType:Approved"
DEPRECATED = "urn:oasis:names:tc:ebxml-regrep:StatusType:Deprecated"
DMP_DELETED = "urn:asip:ci-sis:2010:StatusType:Deleted"  # CI-SIS DMP volet, ITI-57 "suppression"

# ITI TF-3 §4.2.2: association types
HAS_MEMBER = "urn:oasis:names:tc:ebxml-regrep:AssociationType:HasMember"
RPLC = "urn:ihe:iti:2007:AssociationType:RPLC"
RPLC_XFRM = "urn:ihe:iti:2007:AssociationType:XFRM_RPLC"
UPDATE_STATUS = "urn:ihe:iti:2010:AssociationType:UpdateAvailabilityStatus"
SIGNS = "urn:ihe:iti:2007:AssociationType:signs"


@dataclass
class Indexed:
    """The queryable values of one registry object (ITI TF-2a §3.18.4.1.2.3.7)."""

    id: str
    kind: str  # doc | ss | folder | assoc
    unique_id: str | None = None
    lid: str | None = None
    patient_id: str | None = None
    single: dict[str, str] = field(default_factory=dict)  # class/type/format/practice/facility/content_type
    times: dict[str, str] = field(default_factory=dict)  # creation/service_start/service_stop/submission
    multi: list[tuple[str, str]] = field(default_factory=list)  # (conf|event|author|refid, value)
    source_id: str | None = None
    repository_uid: str | None = None
    mime_type: str | None = None
    hash: str | None = None
    size: int | None = None
    assoc_type: str | None = None
    source: str | None = None
    target: str | None = None


_SLOT, _VALUE_LIST, _VALUE = f"{RIM}Slot", f"{RIM}ValueList", f"{RIM}Value"


def slot_values(elem: etree._Element, name: str) -> list[str]:
    for slot in elem.iterchildren(_SLOT):
        if slot.get("name") == name:
            return [v.text or "" for vl in slot.iterchildren(_VALUE_LIST) for v in vl.iterchildren(_VALUE)]
    return []


def slot_value(elem: etree._Element, name: str) -> str | None:
    """The first value of the first Slot ``name`` (None if that slot has no value), without building
    the list: the index reads the codingScheme of every Classification through here."""
    for slot in elem.iterchildren(_SLOT):
        if slot.get("name") == name:
            for vl in slot.iterchildren(_VALUE_LIST):
                for v in vl.iterchildren(_VALUE):
                    return v.text or ""
            return None
    return None


def slots(elem: etree._Element, names: frozenset[str]) -> dict[str, list[str]]:
    """The Slots ``names`` of ``elem`` as name -> values in one pass (the first Slot of a name wins,
    as in :func:`slot_values`): an ExtrinsicObject has a dozen slots and its index reads seven."""
    out: dict[str, list[str]] = {}
    for slot in elem.iterchildren(_SLOT):
        name = slot.get("name")
        if name in names and name not in out:
            out[name] = [v.text or "" for vl in slot.iterchildren(_VALUE_LIST) for v in vl.iterchildren(_VALUE)]
    return out


def set_slot(elem: etree._Element, name: str, values: list[str]) -> None:
    """Replace (or add, after the existing slots) the slot ``name``; ebRIM keeps Slots first."""
    for old in [c for c in elem.iterchildren(_SLOT) if c.get("name") == name]:
        elem.remove(old)
    position = 0
    for index, child in enumerate(elem):
        if child.tag == _SLOT:
            position = index + 1
    slot = etree.Element(_SLOT, name=name)
    vlist = etree.SubElement(slot, _VALUE_LIST)
    for v in values:
        etree.SubElement(vlist, _VALUE).text = v
    elem.insert(position, slot)


def code_key(code: str, scheme: str | None) -> str:
    """Codes are compared as ``code^^scheme`` (ITI TF-2a §3.18.4.1.2.3.7.1, coded values)."""
    return f"{code}^^{scheme or ''}"


def pad_time(value: str) -> str:
    """DTM values of any precision compare as 14 digits (ITI TF-3 §4.2.3.1.7 DTM)."""
    value = value.strip()
    digits = (value if value.isdigit() else "".join(ch for ch in value if ch.isdigit()))[:14]
    return digits + "0" * (14 - len(digits))


def _classifications(elem: etree._Element, ident: str, ind: Indexed) -> None:
    for cl in elem.findall(f"{RIM}Classification"):
        kind = SCHEME.get(cl.get("classificationScheme", ""))
        if kind is None:
            continue
        if kind in ("doc_author", "ss_author"):
            for person in slot_values(cl, "authorPerson"):
                ind.multi.append(("author", person))
            continue
        key = code_key(cl.get("nodeRepresentation", ""), slot_value(cl, "codingScheme"))
        if kind in ("conf", "event"):
            ind.multi.append((kind, key))
        else:
            ind.single[kind] = key


def _external_ids(elem: etree._Element, ind: Indexed) -> None:
    for ei in elem.findall(f"{RIM}ExternalIdentifier"):
        kind = EXT_ID.get(ei.get("identificationScheme", ""))
        value = ei.get("value")
        if kind is None or value is None:
            continue
        if kind.endswith("_patient"):
            ind.patient_id = value
        elif kind.endswith("_unique"):
            ind.unique_id = value
        elif kind == "ss_source":
            ind.source_id = value


_INDEXED_SLOTS = frozenset({"creationTime", "serviceStartTime", "serviceStopTime", "repositoryUniqueId", "hash",
                            "size", "urn:ihe:iti:xds:2013:referenceIdList"})


def index_extrinsic(elem: etree._Element) -> Indexed:
    ident = elem.get("id", "")
    ind = Indexed(id=ident, kind="doc", lid=elem.get("lid") or ident, mime_type=elem.get("mimeType"))
    _classifications(elem, ident, ind)
    _external_ids(elem, ind)
    values = slots(elem, _INDEXED_SLOTS)
    for slot, key in (("creationTime", "creation"), ("serviceStartTime", "service_start"),
                      ("serviceStopTime", "service_stop")):
        value = (values.get(slot) or [None])[0]
        if value:
            ind.times[key] = pad_time(value)
    for ref in values.get("urn:ihe:iti:xds:2013:referenceIdList", ()):
        ind.multi.append(("refid", ref))
    ind.repository_uid = (values.get("repositoryUniqueId") or [None])[0]
    ind.hash = (values.get("hash") or [None])[0]
    size = (values.get("size") or [None])[0]
    ind.size = int(size) if size and size.strip().isdigit() else None
    return ind


def is_submission_set(pkg: etree._Element, classifications: list[etree._Element]) -> bool:
    ident = pkg.get("id")
    return any(c.get("classificationNode") == SUBMISSION_SET_NODE and c.get("classifiedObject") == ident
               for c in classifications)


def index_package(elem: etree._Element, kind: str) -> Indexed:
    ind = Indexed(id=elem.get("id", ""), kind=kind, lid=elem.get("lid") or elem.get("id"))
    _classifications(elem, ind.id, ind)
    _external_ids(elem, ind)
    value = slot_value(elem, "submissionTime")
    if value:
        ind.times["submission"] = pad_time(value)
    return ind


def index_association(elem: etree._Element) -> Indexed:
    return Indexed(id=elem.get("id", ""), kind="assoc", assoc_type=elem.get("associationType"),
                   source=elem.get("sourceObject"), target=elem.get("targetObject"))
