"""XDS.b metadata model: DocumentEntry, SubmissionSet, Folder, Association, Submission.

Public: the dataclasses :class:`Classification`, :class:`ExternalIdentifier`, :class:`Author`,
:class:`DocumentEntry`, :class:`SubmissionSet`, :class:`Folder`, :class:`Association`,
:class:`Submission`, and the code tables below (literal dicts, with the IHE ITI TF-3 section
beside each). Attribute names follow the metadata attribute names of ITI TF-3 §4.2.3 so that a
reader of the spec finds them (``uniqueId``, ``patientId``, ``classCode``...).
"""

from __future__ import annotations

from dataclasses import dataclass, field

# ---------------------------------------------------------------- ebRIM / XDS namespaces
RIM_NS = "urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0"
RS_NS = "urn:oasis:names:tc:ebxml-regrep:xsd:rs:3.0"
LCM_NS = "urn:oasis:names:tc:ebxml-regrep:xsd:lcm:3.0"
QUERY_NS = "urn:oasis:names:tc:ebxml-regrep:xsd:query:3.0"
XDSB_NS = "urn:ihe:iti:xds-b:2007"

# ---------------------------------------------------------------- object types (ITI TF-3 §4.2.5 Metadata Vocabulary)
DOC_ENTRY_STABLE = "urn:uuid:7edca82f-054d-47f2-a032-9b2a5b5186c1"  # ITI TF-3 §4.2.5, §4.2.3.2 objectType
DOC_ENTRY_ON_DEMAND = "urn:uuid:34268e47-fdf5-41a6-ba33-82133c465248"  # ITI TF-3 §4.2.5 (On-Demand)
SUBMISSION_SET_NODE = "urn:uuid:a54d6aa5-d40d-43f9-88c5-b4633d873bdd"  # ITI TF-3 §4.2.1.2, §4.2.5
FOLDER_NODE = "urn:uuid:d9d542f3-6cc4-48b6-8870-ea235fbc94c2"  # ITI TF-3 §4.2.1.3, §4.2.5
CLASSIFICATION_NODE_TYPE = "urn:oasis:names:tc:ebxml-regrep:ObjectType:RegistryObject:ClassificationNode"

# ---------------------------------------------------------------- classification schemes
# DocumentEntry, ITI TF-3 §4.2.3.2 / §4.2.5 (attribute name -> classificationScheme UUID)
DOC_CLASSIFICATION_SCHEMES: dict[str, str] = {
    "author": "urn:uuid:93606bcf-9494-43ec-9b4e-a7748d1a838d",
    "classCode": "urn:uuid:41a5887f-8865-4c09-adf7-e362475b143a",
    "confidentialityCode": "urn:uuid:f4f85eac-e6cb-4883-b524-f2705394840f",
    "eventCodeList": "urn:uuid:2c6b8cb7-8b2a-4051-b291-b1ae6a575ef4",
    "formatCode": "urn:uuid:a09d5840-386c-46f2-b5ad-9c3699a4309d",
    "healthcareFacilityTypeCode": "urn:uuid:f33fb8ac-18af-42cc-ae0e-ed0b0bdb91e1",
    "practiceSettingCode": "urn:uuid:cccf5598-8b07-4b77-a05e-ae952c785ead",
    "typeCode": "urn:uuid:f0306f51-975f-434e-a61c-c59651d33983",
}
# SubmissionSet, ITI TF-3 §4.2.3.3 / §4.2.5
SS_CLASSIFICATION_SCHEMES: dict[str, str] = {
    "author": "urn:uuid:a7058bb9-b4e4-4307-ba5b-e3f0ab85e12d",
    "contentTypeCode": "urn:uuid:aa543740-bdda-424e-8c96-df4873be8500",
}
# Folder, ITI TF-3 §4.2.3.4 / §4.2.5
FOLDER_CLASSIFICATION_SCHEMES: dict[str, str] = {
    "codeList": "urn:uuid:1ba97051-7806-41a8-a48b-8fce7af683c5",
}

# ---------------------------------------------------------------- external identifier schemes
# DocumentEntry, ITI TF-3 §4.2.3.2 / §4.2.5
DOC_IDENTIFIER_SCHEMES: dict[str, str] = {
    "patientId": "urn:uuid:58a6f841-87b3-4a3e-92fd-a8ffeff98427",
    "uniqueId": "urn:uuid:2e82c1f6-a085-4c72-9da3-8640a32e42ab",
}
DOC_IDENTIFIER_NAMES = {"patientId": "XDSDocumentEntry.patientId", "uniqueId": "XDSDocumentEntry.uniqueId"}
# SubmissionSet, ITI TF-3 §4.2.3.3 / §4.2.5
SS_IDENTIFIER_SCHEMES: dict[str, str] = {
    "patientId": "urn:uuid:6b5aea1a-874d-4603-a4bc-96a0a7b38446",
    "sourceId": "urn:uuid:554ac39e-e3fe-47fe-b233-965d2a147832",
    "uniqueId": "urn:uuid:96fdda7c-d067-4183-912e-bf5ee74998a8",
}
SS_IDENTIFIER_NAMES = {"patientId": "XDSSubmissionSet.patientId", "sourceId": "XDSSubmissionSet.sourceId",
                       "uniqueId": "XDSSubmissionSet.uniqueId"}
# Folder, ITI TF-3 §4.2.3.4 / §4.2.5
FOLDER_IDENTIFIER_SCHEMES: dict[str, str] = {
    "patientId": "urn:uuid:f64ffdf0-4b97-4e06-b79f-a52b38ec2f8a",
    "uniqueId": "urn:uuid:75df8f67-9973-4fbe-a900-df66cefecc5a",
}
FOLDER_IDENTIFIER_NAMES = {"patientId": "XDSFolder.patientId", "uniqueId": "XDSFolder.uniqueId"}

# ---------------------------------------------------------------- association types (ITI TF-3 §4.2.2)
ASSOCIATION_TYPES: dict[str, str] = {
    "HasMember": "urn:oasis:names:tc:ebxml-regrep:AssociationType:HasMember",  # §4.2.2.1
    "RPLC": "urn:ihe:iti:2007:AssociationType:RPLC",  # §4.2.2.2
    "XFRM": "urn:ihe:iti:2007:AssociationType:XFRM",  # §4.2.2.2
    "APND": "urn:ihe:iti:2007:AssociationType:APND",  # §4.2.2.2
    "XFRM_RPLC": "urn:ihe:iti:2007:AssociationType:XFRM_RPLC",  # §4.2.2.2
    "signs": "urn:ihe:iti:2007:AssociationType:signs",  # §4.2.2.2 (Digital Signature)
    "IsSnapshotOf": "urn:ihe:iti:2010:AssociationType:IsSnapshotOf",  # §4.2.2.2 (On-Demand Documents)
    # ITI-57 Update Document Set (ITI TF-3 §4.2.2, Metadata Update; ITI TF-2b §3.57)
    "UpdateAvailabilityStatus": "urn:ihe:iti:2010:AssociationType:UpdateAvailabilityStatus",
    "SubmitAssociation": "urn:ihe:iti:2010:AssociationType:SubmitAssociation",
}
DOCUMENT_RELATIONSHIPS = {ASSOCIATION_TYPES[k] for k in ("RPLC", "XFRM", "APND", "XFRM_RPLC", "signs",
                                                         "IsSnapshotOf")}

# ---------------------------------------------------------------- status (ITI TF-3 §4.2.3.2 availabilityStatus, CI-SIS)
STATUS: dict[str, str] = {
    "Approved": "urn:oasis:names:tc:ebxml-regrep:StatusType:Approved",  # ITI TF-3 §4.2.3.2
    "Deprecated": "urn:oasis:names:tc:ebxml-regrep:StatusType:Deprecated",  # ITI TF-3 §4.2.3.2
    "Submitted": "urn:oasis:names:tc:ebxml-regrep:StatusType:Submitted",  # ebRIM 3.0 §2.5.1
    "Deleted": "urn:asip:ci-sis:2010:StatusType:Deleted",  # CI-SIS DMP delete (ANS PoC, ITI-57)
}

# ---------------------------------------------------------------- RegistryResponse status (ebRS 3.0 §2.1.3)
RESPONSE_STATUS: dict[str, str] = {
    "Success": "urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Success",
    "Failure": "urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Failure",
    "PartialSuccess": "urn:ihe:iti:2007:ResponseStatusType:PartialSuccess",  # ITI TF-3 §4.2.4
}

# Slots whose value is single and attribute-like (ITI TF-3 §4.2.3.2), parsed into fields
DOC_SLOT_FIELDS: dict[str, str] = {
    "creationTime": "creationTime", "hash": "hash", "size": "size", "languageCode": "languageCode",
    "legalAuthenticator": "legalAuthenticator", "repositoryUniqueId": "repositoryUniqueId",
    "serviceStartTime": "serviceStartTime", "serviceStopTime": "serviceStopTime",
    "sourcePatientId": "sourcePatientId",
}
REFERENCE_ID_LIST_SLOT = "urn:ihe:iti:xds:2013:referenceIdList"  # ITI TF-3 §4.2.3.2 referenceIdList


@dataclass
class Classification:
    """A coded value carried by a rim:Classification (ITI TF-3 §4.2.3.1, Code data type)."""

    scheme: str
    node: str
    coding_scheme: str | None = None
    display: str | None = None
    id: str | None = field(default=None, compare=False)  # ebRIM id, not part of the value

    @property
    def code(self) -> tuple[str, str | None]:
        return self.node, self.coding_scheme


@dataclass
class ExternalIdentifier:
    """A rim:ExternalIdentifier (ebRIM 3.0 §2.11; ITI TF-3 §4.2.3.1)."""

    scheme: str
    value: str
    name: str | None = None
    id: str | None = field(default=None, compare=False)


@dataclass
class Author:
    """The author of a document or submission set (ITI TF-3 §4.2.3.1, Author)."""

    person: str | None = None
    institutions: list[str] = field(default_factory=list)
    roles: list[str] = field(default_factory=list)
    specialties: list[str] = field(default_factory=list)
    telecommunications: list[str] = field(default_factory=list)


@dataclass
class DocumentEntry:
    """DocumentEntry metadata (ITI TF-3 §4.2.3.2). ``id`` is the ebRIM id (= entryUUID)."""

    id: str
    uniqueId: str | None = None
    patientId: str | None = None
    sourcePatientId: str | None = None
    mimeType: str | None = None
    hash: str | None = None
    size: str | None = None
    availabilityStatus: str | None = None
    classCode: Classification | None = None
    typeCode: Classification | None = None
    formatCode: Classification | None = None
    confidentialityCodes: list[Classification] = field(default_factory=list)
    eventCodes: list[Classification] = field(default_factory=list)
    practiceSettingCode: Classification | None = None
    healthcareFacilityTypeCode: Classification | None = None
    languageCode: str | None = None
    creationTime: str | None = None
    serviceStartTime: str | None = None
    serviceStopTime: str | None = None
    title: str | None = None
    comments: str | None = None
    authors: list[Author] = field(default_factory=list)
    referenceIdList: list[str] = field(default_factory=list)
    repositoryUniqueId: str | None = None
    legalAuthenticator: str | None = None
    sourcePatientInfo: list[str] = field(default_factory=list)
    objectType: str = DOC_ENTRY_STABLE
    homeCommunityId: str | None = None
    slots: dict[str, list[str]] = field(default_factory=dict)  # any other slot, in document order
    extra_classifications: list[Classification] = field(default_factory=list)
    extra_identifiers: list[ExternalIdentifier] = field(default_factory=list)

    @property
    def entryUUID(self) -> str:  # ITI TF-3 §4.2.3.2 entryUUID: the id attribute of the ExtrinsicObject
        return self.id

    @entryUUID.setter
    def entryUUID(self, value: str) -> None:
        self.id = value

    @property
    def status(self) -> str | None:
        return self.availabilityStatus

    @status.setter
    def status(self, value: str | None) -> None:
        self.availabilityStatus = value


@dataclass
class SubmissionSet:
    """XDSSubmissionSet metadata (ITI TF-3 §4.2.3.3)."""

    id: str
    uniqueId: str | None = None
    sourceId: str | None = None
    patientId: str | None = None
    submissionTime: str | None = None
    contentTypeCode: Classification | None = None
    authors: list[Author] = field(default_factory=list)
    title: str | None = None
    comments: str | None = None
    intendedRecipients: list[str] = field(default_factory=list)
    availabilityStatus: str | None = None
    homeCommunityId: str | None = None
    slots: dict[str, list[str]] = field(default_factory=dict)
    extra_classifications: list[Classification] = field(default_factory=list)
    extra_identifiers: list[ExternalIdentifier] = field(default_factory=list)
    has_node_classification: bool = True  # classified by SUBMISSION_SET_NODE (ITI TF-3 §4.2.1.2)


@dataclass
class Folder:
    """XDSFolder metadata (ITI TF-3 §4.2.3.4)."""

    id: str
    uniqueId: str | None = None
    patientId: str | None = None
    codeList: list[Classification] = field(default_factory=list)
    title: str | None = None
    comments: str | None = None
    lastUpdateTime: str | None = None
    availabilityStatus: str | None = None
    homeCommunityId: str | None = None
    slots: dict[str, list[str]] = field(default_factory=dict)
    extra_classifications: list[Classification] = field(default_factory=list)
    extra_identifiers: list[ExternalIdentifier] = field(default_factory=list)


@dataclass
class Association:
    """A rim:Association (ITI TF-3 §4.2.2); ``type`` is the full associationType URN."""

    id: str
    type: str
    source: str
    target: str
    slots: dict[str, list[str]] = field(default_factory=dict)
    status: str | None = None

    @property
    def short_type(self) -> str:
        return self.type.rsplit(":", 1)[-1]


@dataclass
class Submission:
    """What one ITI-41/RAD-68 request carries; ``document_bytes`` maps DocumentEntry id -> content."""

    submission_set: SubmissionSet | None = None
    documents: list[DocumentEntry] = field(default_factory=list)
    folders: list[Folder] = field(default_factory=list)
    associations: list[Association] = field(default_factory=list)
    document_bytes: dict[str, bytes] = field(default_factory=dict)

    def document(self, entry_id: str) -> DocumentEntry | None:
        return next((d for d in self.documents if d.id == entry_id), None)

    def object_ids(self) -> set[str]:
        ids = {d.id for d in self.documents} | {f.id for f in self.folders}
        ids |= {a.id for a in self.associations}
        if self.submission_set is not None:
            ids.add(self.submission_set.id)
        return ids
