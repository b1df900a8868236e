"""ebRIM 3.0 <-> XDS model: parse and serialize XDS.b metadata (ITI TF-3 §4.2, ebRIM representation).

Public: :func:`parse_pnr`, :func:`parse_submit_objects`, :func:`parse_registry_object_list`,
:func:`submission_to_ebrim`, :func:`registry_object_list`, :func:`documententry_to_extrinsic`,
:func:`submissionset_to_package`, :func:`folder_to_package`, :func:`association_to_element`,
:class:`MetadataError`.

Parsing is lenient (it keeps what it does not understand in ``slots`` / ``extra_*``) so the
validator, not the parser, decides what is wrong and can say where.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from collections.abc import Iterable, Mapping
from urllib.parse import unquote

from lxml import etree

from harness.xds.model import (
    ASSOCIATION_TYPES,
    DOC_CLASSIFICATION_SCHEMES,
    DOC_ENTRY_STABLE,
    DOC_IDENTIFIER_NAMES,
    DOC_IDENTIFIER_SCHEMES,
    DOC_SLOT_FIELDS,
    FOLDER_CLASSIFICATION_SCHEMES,
    FOLDER_IDENTIFIER_NAMES,
    FOLDER_IDENTIFIER_SCHEMES,
    FOLDER_NODE,
    LCM_NS,
    REFERENCE_ID_LIST_SLOT,
    RIM_NS,
    SS_CLASSIFICATION_SCHEMES,
    SS_IDENTIFIER_NAMES,
    SS_IDENTIFIER_SCHEMES,
    SUBMISSION_SET_NODE,
    XDSB_NS,
    Association,
    Author,
    Classification,
    DocumentEntry,
    ExternalIdentifier,
    Folder,
    Submission,
    SubmissionSet,
)

R = f"{{{RIM_NS}}}"
XOP_INCLUDE = "{http://www.w3.org/2004/08/xop/include}Include"
_SLOT, _VALUE_LIST, _VALUE, _LOCALIZED = R + "Slot", R + "ValueList", R + "Value", R + "LocalizedString"
_NAME = R + "Name"
_AUTHOR_SLOTS = {"authorPerson": "person", "authorInstitution": "institutions", "authorRole": "roles",
                 "authorSpecialty": "specialties", "authorTelecommunication": "telecommunications"}


class MetadataError(ValueError):
    """The request cannot be turned into a Submission (e.g. no SubmitObjectsRequest, bad base64)."""


# =============================================================================== parsing

def _ref(elem: etree._Element, attr: str) -> str | None:
    """A reference attribute (scheme, node, type URN) without whitespace: some producers wrap long
    attribute values over lines (seen in the IPF samples), which XML turns into spaces."""
    value = elem.get(attr)
    return None if value is None else "".join(value.split())


def slots_of(elem: etree._Element) -> dict[str, list[str]]:
    """The rim:Slot children of ``elem`` as name -> values (ebRIM 3.0 §4.2)."""
    out: dict[str, list[str]] = {}
    for slot in elem:  # plain iteration and tag tests: the hot path of every PnR
        if slot.tag != _SLOT:
            continue
        values = out.setdefault(slot.get("name", ""), [])
        for value_list in slot:
            if value_list.tag == _VALUE_LIST:
                values += [(v.text or "").strip() for v in value_list if v.tag == _VALUE]
    return out


def _localized(elem: etree._Element, tag: str) -> str | None:
    tag = R + tag
    for name in elem:
        if name.tag == tag:
            for string in name:
                if string.tag == _LOCALIZED:
                    return string.get("value")
            return None
    return None


def _classification(elem: etree._Element) -> Classification:
    """One pass over the children for the codingScheme slot and the Name (as slots_of and _localized
    would read them): a KOS submission carries some fifteen Classifications."""
    coding: list[str] = []
    display, named = None, False
    for child in elem:
        tag = child.tag
        if tag == _SLOT:
            if child.get("name") == "codingScheme":
                for value_list in child:
                    if value_list.tag == _VALUE_LIST:
                        coding += [(v.text or "").strip() for v in value_list if v.tag == _VALUE]
        elif tag == _NAME and not named:
            named = True
            display = next((string.get("value") for string in child if string.tag == _LOCALIZED), None)
    return Classification(scheme=_ref(elem, "classificationScheme") or "", node=elem.get("nodeRepresentation") or "",
                          coding_scheme=coding[0] if coding else None, display=display, id=elem.get("id"))


def _author(elem: etree._Element) -> Author:
    author = Author()
    for name, values in slots_of(elem).items():
        attr = _AUTHOR_SLOTS.get(name)
        if attr == "person":
            author.person = values[0] if values else None
        elif attr:
            getattr(author, attr).extend(values)
    return author


def _classifications_by_object(objects: Iterable[etree._Element], top: Iterable[etree._Element]
                               ) -> dict[str, list[etree._Element]]:
    """Nested and top-level rim:Classification, grouped by the object they classify."""
    by_obj: dict[str, list[etree._Element]] = {}
    for obj in objects:
        for cl in obj.iterchildren(R + "Classification"):
            by_obj.setdefault(cl.get("classifiedObject") or obj.get("id", ""), []).append(cl)
    for cl in top:
        by_obj.setdefault(cl.get("classifiedObject", ""), []).append(cl)
    return by_obj


def _identifiers(elem: etree._Element) -> list[ExternalIdentifier]:
    return [ExternalIdentifier(_ref(e, "identificationScheme") or "", e.get("value") or "", _localized(e, "Name"),
                               e.get("id")) for e in elem.iterchildren(R + "ExternalIdentifier")]


def _apply_identifiers(obj, idents: list[ExternalIdentifier], schemes: Mapping[str, str]) -> None:
    reverse = {v: k for k, v in schemes.items()}
    for ident in idents:
        attr = reverse.get(ident.scheme)
        if attr and getattr(obj, attr) is None:
            setattr(obj, attr, ident.value)
        else:
            obj.extra_identifiers.append(ident)


def parse_extrinsic(elem: etree._Element, classifications: list[etree._Element]) -> DocumentEntry:
    """An ExtrinsicObject as a DocumentEntry (ITI TF-3 §4.2.3.2)."""
    entry = DocumentEntry(id=elem.get("id", ""), mimeType=elem.get("mimeType"),
                          objectType=_ref(elem, "objectType") or DOC_ENTRY_STABLE,
                          availabilityStatus=elem.get("status"), homeCommunityId=elem.get("home"),
                          title=_localized(elem, "Name"), comments=_localized(elem, "Description"))
    for name, values in slots_of(elem).items():
        if name in DOC_SLOT_FIELDS and len(values) == 1 and getattr(entry, DOC_SLOT_FIELDS[name]) is None:
            setattr(entry, DOC_SLOT_FIELDS[name], values[0])
        elif name == "sourcePatientInfo":
            entry.sourcePatientInfo.extend(values)
        elif name == REFERENCE_ID_LIST_SLOT:
            entry.referenceIdList.extend(values)
        else:
            entry.slots.setdefault(name, []).extend(values)
    reverse = {v: k for k, v in DOC_CLASSIFICATION_SCHEMES.items()}
    for cl in classifications:
        _apply_doc_classification(entry, reverse.get(_ref(cl, "classificationScheme")), cl)
    _apply_identifiers(entry, _identifiers(elem), DOC_IDENTIFIER_SCHEMES)
    return entry


def _apply_doc_classification(entry: DocumentEntry, attr: str | None, cl: etree._Element) -> None:
    if attr == "author":
        entry.authors.append(_author(cl))
    elif attr == "confidentialityCode":
        entry.confidentialityCodes.append(_classification(cl))
    elif attr == "eventCodeList":
        entry.eventCodes.append(_classification(cl))
    elif attr is not None and getattr(entry, attr) is None:
        setattr(entry, attr, _classification(cl))
    else:
        entry.extra_classifications.append(_classification(cl))


def parse_submission_set(elem: etree._Element, classifications: list[etree._Element]) -> SubmissionSet:
    """A RegistryPackage classified as SubmissionSet (ITI TF-3 §4.2.3.3)."""
    ss = SubmissionSet(id=elem.get("id", ""), availabilityStatus=elem.get("status"), homeCommunityId=elem.get("home"),
                       title=_localized(elem, "Name"), comments=_localized(elem, "Description"),
                       has_node_classification=False)
    for name, values in slots_of(elem).items():
        if name == "submissionTime" and len(values) == 1:
            ss.submissionTime = values[0]
        elif name == "intendedRecipient":
            ss.intendedRecipients.extend(values)
        else:
            ss.slots.setdefault(name, []).extend(values)
    for cl in classifications:
        scheme = _ref(cl, "classificationScheme")
        if _ref(cl, "classificationNode") == SUBMISSION_SET_NODE:
            ss.has_node_classification = True
        elif scheme == SS_CLASSIFICATION_SCHEMES["author"]:
            ss.authors.append(_author(cl))
        elif scheme == SS_CLASSIFICATION_SCHEMES["contentTypeCode"] and ss.contentTypeCode is None:
            ss.contentTypeCode = _classification(cl)
        else:
            ss.extra_classifications.append(_classification(cl))
    _apply_identifiers(ss, _identifiers(elem), SS_IDENTIFIER_SCHEMES)
    return ss


def parse_folder(elem: etree._Element, classifications: list[etree._Element]) -> Folder:
    """A RegistryPackage classified as Folder (ITI TF-3 §4.2.3.4)."""
    folder = Folder(id=elem.get("id", ""), availabilityStatus=elem.get("status"), homeCommunityId=elem.get("home"),
                    title=_localized(elem, "Name"), comments=_localized(elem, "Description"))
    for name, values in slots_of(elem).items():
        if name == "lastUpdateTime" and len(values) == 1:
            folder.lastUpdateTime = values[0]
        else:
            folder.slots.setdefault(name, []).extend(values)
    for cl in classifications:
        if _ref(cl, "classificationNode") == FOLDER_NODE:
            continue
        if _ref(cl, "classificationScheme") == FOLDER_CLASSIFICATION_SCHEMES["codeList"]:
            folder.codeList.append(_classification(cl))
        else:
            folder.extra_classifications.append(_classification(cl))
    _apply_identifiers(folder, _identifiers(elem), FOLDER_IDENTIFIER_SCHEMES)
    return folder


def _package_kind(elem: etree._Element, classifications: list[etree._Element]) -> str:
    nodes = {_ref(cl, "classificationNode") for cl in classifications}
    if SUBMISSION_SET_NODE in nodes:
        return "ss"
    if FOLDER_NODE in nodes:
        return "folder"
    schemes = {_ref(e, "identificationScheme") for e in elem.iterchildren(R + "ExternalIdentifier")}
    return "folder" if schemes & set(FOLDER_IDENTIFIER_SCHEMES.values()) else "ss"


def parse_registry_object_list(elem: etree._Element) -> tuple[list[DocumentEntry], list[SubmissionSet],
                                                             list[Folder], list[Association]]:
    """Objects of a rim:RegistryObjectList (or any element holding them as children)."""
    extrinsics = list(elem.iterchildren(R + "ExtrinsicObject"))
    packages = list(elem.iterchildren(R + "RegistryPackage"))
    by_obj = _classifications_by_object(extrinsics + packages, elem.iterchildren(R + "Classification"))
    docs = [parse_extrinsic(e, by_obj.get(e.get("id", ""), [])) for e in extrinsics]
    sets: list[SubmissionSet] = []
    folders: list[Folder] = []
    for pkg in packages:
        cls = by_obj.get(pkg.get("id", ""), [])
        if _package_kind(pkg, cls) == "ss":
            sets.append(parse_submission_set(pkg, cls))
        else:
            folders.append(parse_folder(pkg, cls))
    assocs = [Association(a.get("id", ""), _ref(a, "associationType") or "", a.get("sourceObject") or "",
                          a.get("targetObject") or "", slots_of(a), a.get("status"))
              for a in elem.iterchildren(R + "Association")]
    return docs, sets, folders, assocs


def parse_submit_objects(elem: etree._Element) -> Submission:
    """An lcm:SubmitObjectsRequest (ITI-42 body, or inside ITI-41) as a Submission."""
    rol = elem.find(R + "RegistryObjectList")
    if rol is None:
        raise MetadataError("SubmitObjectsRequest without rim:RegistryObjectList")
    docs, sets, folders, assocs = parse_registry_object_list(rol)
    return Submission(submission_set=sets[0] if sets else None, documents=docs, folders=folders,
                      associations=assocs)


def parse_pnr(root: etree._Element, attachments: Mapping[str, bytes] | None = None) -> Submission:
    """A ProvideAndRegisterDocumentSetRequest (ITI TF-2b §3.41.4.1.2) as a Submission.

    Document contents come from their xop:Include (looked up in ``attachments``, keyed by
    Content-ID) or their inline base64 text. A bare SubmitObjectsRequest is accepted too.
    """
    if etree.QName(root).localname == "SubmitObjectsRequest":
        return parse_submit_objects(root)
    sor = root.find(f"{{{LCM_NS}}}SubmitObjectsRequest")
    if sor is None:
        raise MetadataError(f"{etree.QName(root).localname} holds no lcm:SubmitObjectsRequest")
    sub = parse_submit_objects(sor)
    for doc in root.iterchildren(f"{{{XDSB_NS}}}Document"):
        content = _document_content(doc, attachments or {})
        if content is not None:
            sub.document_bytes[doc.get("id", "")] = content
    return sub


def _document_content(doc: etree._Element, attachments: Mapping[str, bytes]) -> bytes | None:
    inc = doc.find(XOP_INCLUDE)
    if inc is not None:
        href = inc.get("href") or ""
        return attachments.get(unquote(href[4:])) if href.lower().startswith("cid:") else None
    text = "".join(doc.itertext())
    try:
        return base64.b64decode("".join(text.split()), validate=True)
    except (binascii.Error, ValueError):
        raise MetadataError(f"xdsb:Document id={doc.get('id')!r}: content is not valid base64") from None


# =============================================================================== serializing

def _sub(parent: etree._Element, tag: str, **attrs: str | None) -> etree._Element:
    return etree.SubElement(parent, R + tag, {k: v for k, v in attrs.items() if v is not None})


def _add_slot(parent: etree._Element, name: str, values: Iterable[str]) -> None:
    values = list(values)
    if not values:
        return
    vl = _sub(_sub(parent, "Slot", name=name), "ValueList")
    for value in values:
        _sub(vl, "Value").text = value


def _add_localized(parent: etree._Element, tag: str, value: str | None) -> None:
    if value is not None:
        _sub(_sub(parent, tag), "LocalizedString", value=value)


def _cl_id(obj_id: str, n: int) -> str:
    return f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, f'{obj_id}#cl{n}')}"


def _add_code(parent: etree._Element, obj_id: str, n: int, scheme: str, code: Classification) -> None:
    cl = _sub(parent, "Classification", classificationScheme=scheme, classifiedObject=obj_id,
              nodeRepresentation=code.node, id=code.id or _cl_id(obj_id, n))
    if code.coding_scheme is not None:
        _add_slot(cl, "codingScheme", [code.coding_scheme])
    _add_localized(cl, "Name", code.display)


def _add_author(parent: etree._Element, obj_id: str, n: int, scheme: str, author: Author) -> None:
    cl = _sub(parent, "Classification", classificationScheme=scheme, classifiedObject=obj_id,
              nodeRepresentation="", id=_cl_id(obj_id, n))
    if author.person:
        _add_slot(cl, "authorPerson", [author.person])
    for slot, attr in list(_AUTHOR_SLOTS.items())[1:]:
        _add_slot(cl, slot, getattr(author, attr))


def _add_identifier(parent: etree._Element, obj_id: str, n: int, scheme: str, value: str | None,
                    name: str) -> None:
    if value is None:
        return
    ei = _sub(parent, "ExternalIdentifier", identificationScheme=scheme, value=value, registryObject=obj_id,
              id=f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, f'{obj_id}#ei{n}')}")
    _add_localized(ei, "Name", name)


def documententry_to_extrinsic(entry: DocumentEntry) -> etree._Element:
    """A DocumentEntry as rim:ExtrinsicObject, in rim.xsd element order (Slot, Name, Description,
    Classification, ExternalIdentifier) with the ITI TF-3 §4.2.5 scheme UUIDs."""
    eo = etree.Element(R + "ExtrinsicObject", {k: v for k, v in {
        "id": entry.id, "mimeType": entry.mimeType, "objectType": entry.objectType,
        "status": entry.availabilityStatus, "home": entry.homeCommunityId}.items() if v is not None},
        nsmap={"rim": RIM_NS})
    for name, attr in DOC_SLOT_FIELDS.items():
        value = getattr(entry, attr)
        if value is not None:
            _add_slot(eo, name, [value])
    _add_slot(eo, "sourcePatientInfo", entry.sourcePatientInfo)
    _add_slot(eo, REFERENCE_ID_LIST_SLOT, entry.referenceIdList)
    for name, values in entry.slots.items():
        _add_slot(eo, name, values)
    _add_localized(eo, "Name", entry.title)
    _add_localized(eo, "Description", entry.comments)
    n = 0
    for author in entry.authors:
        n += 1
        _add_author(eo, entry.id, n, DOC_CLASSIFICATION_SCHEMES["author"], author)
    for attr, code in _doc_codes(entry):
        n += 1
        _add_code(eo, entry.id, n, DOC_CLASSIFICATION_SCHEMES[attr], code)
    for code in entry.extra_classifications:
        n += 1
        _add_code(eo, entry.id, n, code.scheme, code)
    _add_identifier(eo, entry.id, 1, DOC_IDENTIFIER_SCHEMES["patientId"], entry.patientId,
                    DOC_IDENTIFIER_NAMES["patientId"])
    _add_identifier(eo, entry.id, 2, DOC_IDENTIFIER_SCHEMES["uniqueId"], entry.uniqueId,
                    DOC_IDENTIFIER_NAMES["uniqueId"])
    for i, ident in enumerate(entry.extra_identifiers, start=3):
        _add_identifier(eo, entry.id, i, ident.scheme, ident.value, ident.name or "")
    return eo


def _doc_codes(entry: DocumentEntry) -> list[tuple[str, Classification]]:
    codes: list[tuple[str, Classification]] = []
    for attr in ("classCode", "typeCode", "formatCode", "healthcareFacilityTypeCode", "practiceSettingCode"):
        if getattr(entry, attr) is not None:
            codes.append((attr, getattr(entry, attr)))
    codes += [("confidentialityCode", c) for c in entry.confidentialityCodes]
    codes += [("eventCodeList", c) for c in entry.eventCodes]
    return codes


def submissionset_to_package(ss: SubmissionSet) -> etree._Element:
    """A SubmissionSet as rim:RegistryPackage classified by the SubmissionSet node (ITI TF-3 §4.2.3.3)."""
    rp = etree.Element(R + "RegistryPackage", {k: v for k, v in {
        "id": ss.id, "status": ss.availabilityStatus, "home": ss.homeCommunityId}.items() if v is not None},
        nsmap={"rim": RIM_NS})
    if ss.submissionTime is not None:
        _add_slot(rp, "submissionTime", [ss.submissionTime])
    _add_slot(rp, "intendedRecipient", ss.intendedRecipients)
    for name, values in ss.slots.items():
        _add_slot(rp, name, values)
    _add_localized(rp, "Name", ss.title)
    _add_localized(rp, "Description", ss.comments)
    n = 0
    for author in ss.authors:
        n += 1
        _add_author(rp, ss.id, n, SS_CLASSIFICATION_SCHEMES["author"], author)
    if ss.contentTypeCode is not None:
        n += 1
        _add_code(rp, ss.id, n, SS_CLASSIFICATION_SCHEMES["contentTypeCode"], ss.contentTypeCode)
    for code in ss.extra_classifications:
        n += 1
        _add_code(rp, ss.id, n, code.scheme, code)
    if ss.has_node_classification:
        _sub(rp, "Classification", classificationNode=SUBMISSION_SET_NODE, classifiedObject=ss.id,
             id=_cl_id(ss.id, 0))
    for i, attr in enumerate(("patientId", "sourceId", "uniqueId"), start=1):
        _add_identifier(rp, ss.id, i, SS_IDENTIFIER_SCHEMES[attr], getattr(ss, attr), SS_IDENTIFIER_NAMES[attr])
    for i, ident in enumerate(ss.extra_identifiers, start=4):
        _add_identifier(rp, ss.id, i, ident.scheme, ident.value, ident.name or "")
    return rp


def folder_to_package(folder: Folder) -> etree._Element:
    """A Folder as rim:RegistryPackage classified by the Folder node (ITI TF-3 §4.2.3.4)."""
    rp = etree.Element(R + "RegistryPackage", {k: v for k, v in {
        "id": folder.id, "status": folder.availabilityStatus, "home": folder.homeCommunityId}.items()
        if v is not None}, nsmap={"rim": RIM_NS})
    if folder.lastUpdateTime is not None:
        _add_slot(rp, "lastUpdateTime", [folder.lastUpdateTime])
    for name, values in folder.slots.items():
        _add_slot(rp, name, values)
    _add_localized(rp, "Name", folder.title)
    _add_localized(rp, "Description", folder.comments)
    for n, code in enumerate(folder.codeList + folder.extra_classifications, start=1):
        _add_code(rp, folder.id, n, code.scheme or FOLDER_CLASSIFICATION_SCHEMES["codeList"], code)
    _sub(rp, "Classification", classificationNode=FOLDER_NODE, classifiedObject=folder.id, id=_cl_id(folder.id, 0))
    for i, attr in enumerate(("patientId", "uniqueId"), start=1):
        _add_identifier(rp, folder.id, i, FOLDER_IDENTIFIER_SCHEMES[attr], getattr(folder, attr),
                        FOLDER_IDENTIFIER_NAMES[attr])
    return rp


def association_to_element(assoc: Association) -> etree._Element:
    """A rim:Association (ITI TF-3 §4.2.2); a short type (``HasMember``) is expanded to its URN."""
    a = etree.Element(R + "Association", {k: v for k, v in {
        "id": assoc.id, "associationType": ASSOCIATION_TYPES.get(assoc.type, assoc.type),
        "sourceObject": assoc.source, "targetObject": assoc.target, "status": assoc.status}.items()
        if v is not None}, nsmap={"rim": RIM_NS})
    for name, values in assoc.slots.items():
        _add_slot(a, name, values)
    return a


def registry_object_list(sub: Submission) -> etree._Element:
    """rim:RegistryObjectList holding the submission set, folders, documents and associations."""
    rol = etree.Element(R + "RegistryObjectList", nsmap={"rim": RIM_NS})
    if sub.submission_set is not None:
        rol.append(submissionset_to_package(sub.submission_set))
    for folder in sub.folders:
        rol.append(folder_to_package(folder))
    for doc in sub.documents:
        rol.append(documententry_to_extrinsic(doc))
    for assoc in sub.associations:
        rol.append(association_to_element(assoc))
    return rol


def submission_to_ebrim(sub: Submission) -> etree._Element:
    """An lcm:SubmitObjectsRequest (ebRS 3.0 §5.1) carrying the whole submission."""
    sor = etree.Element(f"{{{LCM_NS}}}SubmitObjectsRequest", nsmap={"lcm": LCM_NS, "rim": RIM_NS})
    sor.append(registry_object_list(sub))
    return sor
