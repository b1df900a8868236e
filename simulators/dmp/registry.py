"""The registry + repository behaviour, without transport: ITI-41 register, ITI-57 update, ITI-43 read.

Sans-IO like the codecs: elements and bytes in, RegistryErrors and stored rows out. The transaction
modules (iti41.py ...) only decode SOAP and call these functions. Each step a named fault may
change is a field of :class:`Handlers` (STYLE.md §4): the default one is correct.
Sources: IHE ITI TF-2b §3.41.4.1.3 (repository), §3.42.4.1.3 (registry: atomic, error codes),
ITI TF-3 §4.2.2 (associations, RPLC), §4.2.4 (errors), ITI TF-2b §3.57 (metadata update).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace

from lxml import etree

from harness.findings import Finding
from harness.soap import SoapMessage, decode_message
from harness.xds.digest import sha1_hex
from harness.xds.query import RegistryError
from simulators.dmp import ebxml as E
from simulators.dmp.config import INS_OIDS, DmpConfig
from simulators.dmp.queries import QUERIES, QueryFn, QueryRules
from simulators.dmp.storage import Batch, Row, Storage, StoredObject

_RIM = E.RIM


def _commit_all(storage: Storage, batch: Batch) -> None:
    storage.commit(batch)


def _keep(value: object) -> bool:
    return True


@dataclass
class Handlers:
    """Rebindable steps and checks; faults (simulators/dmp/faults.py) replace one of them. Each default
    is the behaviour the cited section requires."""

    # ITI-41 / RAD-68: the repository and registry checks (ITI TF-2b §3.41.4.1.3, §3.42.4.1.3)
    document_bytes: Callable[[SoapMessage, etree._Element], bytes] = SoapMessage.document_bytes  # XOP or base64
    compute_hash: Callable[[bytes], str] = sha1_hex
    verify_hash: bool = True
    verify_size: bool = True
    refuse_orphan_documents: bool = True  # a Document no DocumentEntry describes (XDSMissingDocumentMetadata)
    match_patients: bool = True  # every DocumentEntry is for the SubmissionSet's patient
    check_patient_known: bool = True  # the patient is known to the registry (XDSUnknownPatientId)
    unique_kinds: frozenset[str] = frozenset({"doc", "ss", "folder"})  # objects whose uniqueId must be new
    keep_association: Callable[[str], bool] = _keep  # by associationType: registered or silently dropped
    deprecate_replaced: bool = True
    commit: Callable[[Storage, Batch], None] = _commit_all
    skipped_rules: frozenset[str] = frozenset()  # validator rules whose errors are ignored
    on_reject: Callable[[Registry, Parsed, dict[str, bytes], list[RegistryError]], None] = \
        lambda registry, parsed, docs, errors: None
    # error codes reported under another code (ITI TF-3 Table 4.2.4.1-2 says which code is owed)
    renamed_codes: Mapping[str, str] = field(default_factory=dict)
    # ITI-18 (ITI TF-2a §3.18.4.1.2.3)
    query_rules: QueryRules = field(default_factory=QueryRules)
    queries: Mapping[str, QueryFn] = field(default_factory=lambda: dict(QUERIES))
    honour_return_type: bool = True  # ObjectRef answers references only (§3.18.4.1.2.1)
    # ITI-57 (ITI TF-2b §3.57.4.1.3)
    check_original_status: bool = True
    apply_status: Callable[[str], bool] = _keep  # by NewStatus: applied, or acknowledged and ignored
    deprecate_previous_version: bool = True
    # ITI-43 (ITI TF-2b §3.43.4.1.3)
    retrieve_bytes: Callable[[bytes], bytes] = lambda data: data
    check_repository_id: bool = True
    partial_retrieve: bool = True  # the known documents are returned beside the errors (PartialSuccess)
    retrieve_mtom: bool = True  # documents travel as XOP parts (§3.43.5.1)
    # SOAP 1.2 / WS-Addressing / MTOM transport (ITI TF-2x Appendix V) and VIHF
    decode: Callable[..., SoapMessage] = decode_message  # (content_type, body, max_bytes=) -> SoapMessage
    dispatch_on_action: bool = True  # the transaction is chosen by wsa:Action, which is required
    relates_to: bool = True  # the response's wsa:RelatesTo names the request's wsa:MessageID
    mirror_mtom: bool = True  # the response to an MTOM request is MTOM
    vihf_required: bool = True
    vihf_signature: bool = True

    def reported(self, errors: list[RegistryError]) -> list[RegistryError]:
        """``errors`` as the response lists them (``renamed_codes`` applied)."""
        if not self.renamed_codes:
            return errors
        return [replace(e, code=self.renamed_codes.get(e.code, e.code)) for e in errors]


class Rejected(Exception):
    """The submission is refused as a whole; ``errors`` go into the RegistryResponse."""

    def __init__(self, errors: list[RegistryError]) -> None:
        self.errors = errors
        super().__init__("; ".join(f"{e.code}: {e.context}" for e in errors))


@dataclass
class Parsed:
    """A SubmitObjectsRequest split by object type, ids already rewritten to UUIDs."""

    extrinsics: list[etree._Element] = field(default_factory=list)
    packages: list[etree._Element] = field(default_factory=list)  # submission set + folders
    associations: list[etree._Element] = field(default_factory=list)
    submission_set: etree._Element | None = None
    id_map: dict[str, str] = field(default_factory=dict)
    _index: dict[int, E.Indexed] = field(default_factory=dict)

    def index(self, extrinsic: etree._Element) -> E.Indexed:
        """index_extrinsic, once per element (for the ids and patientId, which _batch does not change)."""
        return self._once(extrinsic, lambda: E.index_extrinsic(extrinsic))

    def package_index(self, package: etree._Element, kind: str = "ss") -> E.Indexed:
        """index_package, once per element (the checks and the batch read the same one)."""
        return self._once(package, lambda: E.index_package(package, kind))

    def _once(self, elem: etree._Element, make: Callable[[], E.Indexed]) -> E.Indexed:
        key = id(elem)  # the element stays referenced by this Parsed, so its id is not reused
        if key not in self._index:
            self._index[key] = make()
        return self._index[key]


def _new_uuid() -> str:
    """A time-ordered UUID URN (version 7, RFC 9562 §5.7: 48-bit Unix milliseconds, then 74 random
    bits). Ids of one submission, and of submissions in a row, sort together, so the indexes keyed
    on them (objects.id, multi, capture_links) take each commit's new keys on one leaf page instead
    of one random page per key: about 20% fewer WAL frames per KOS submission than version 4."""
    h = f"{time.time_ns() // 1_000_000:012x}{os.urandom(10).hex()}"
    return f"urn:uuid:{h[:8]}-{h[8:12]}-7{h[13:16]}-{'89ab'[int(h[16], 16) & 3]}{h[17:20]}-{h[20:32]}"


def split_request(sor: etree._Element) -> Parsed:
    """Read lcm:SubmitObjectsRequest, give symbolic ids a UUID and fold free Classifications in."""
    olist = sor.find(f"{_RIM}RegistryObjectList")
    if olist is None:
        raise Rejected([RegistryError("XDSRegistryMetadataError", "SubmitObjectsRequest has no RegistryObjectList")])
    objs = [c for c in olist if isinstance(c.tag, str)]
    parsed = Parsed()
    for obj in objs:
        ident = obj.get("id") or ""
        if not ident:
            raise Rejected([RegistryError("XDSRegistryMetadataError", f"{etree.QName(obj).localname} without id")])
        parsed.id_map[ident] = ident if ident.startswith("urn:uuid:") else _new_uuid()
    _rewrite_ids(olist, parsed.id_map)
    free = [o for o in objs if o.tag == f"{_RIM}Classification"]
    by_id = {o.get("id"): o for o in objs}
    for cl in free:
        target = by_id.get(cl.get("classifiedObject"))
        if target is not None:
            target.append(cl)
    for obj in objs:
        tag = etree.QName(obj).localname
        if tag == "ExtrinsicObject":
            parsed.extrinsics.append(obj)
        elif tag == "RegistryPackage":
            parsed.packages.append(obj)
        elif tag == "Association":
            parsed.associations.append(obj)
    sets = [p for p in parsed.packages if _has_node(p, E.SUBMISSION_SET_NODE)]
    if len(sets) != 1:
        raise Rejected([RegistryError("XDSRegistryMetadataError",
                                      f"a submission holds exactly one SubmissionSet, found {len(sets)}")])
    parsed.submission_set = sets[0]
    return parsed


def _has_node(pkg: etree._Element, node: str) -> bool:
    return any(c.get("classificationNode") == node for c in pkg.findall(f"{_RIM}Classification"))


# the ebRIM elements that carry references, and their reference attributes (ebRIM 3.0 §4.3
# Classification, §2.11 ExternalIdentifier, §2.10 Association)
_REFS = {f"{_RIM}Classification": ("classifiedObject",), f"{_RIM}ExternalIdentifier": ("registryObject",),
         f"{_RIM}Association": ("sourceObject", "targetObject")}
_ASSOCIATION = f"{_RIM}Association"


def _rewrite_ids(root: etree._Element, id_map: dict[str, str]) -> None:
    """Symbolic ids become UUIDs everywhere they are referenced (ITI TF-3 §4.2.1: the registry
    assigns entryUUIDs); nested Classification/ExternalIdentifier ids get their own UUIDs.

    One pass per top-level object over its reference-carrying elements only (lxml filters the tags),
    reading just the attributes each element type defines: every PnR goes through here."""
    for obj in root.iterchildren():
        if not isinstance(obj.tag, str):
            continue
        ident = obj.get("id")
        if ident in id_map:
            obj.set("id", id_map[ident])
        for elem in obj.iter(*_REFS):
            for attr in _REFS[elem.tag]:
                value = elem.get(attr)
                if value is not None and value in id_map:
                    elem.set(attr, id_map[value])
            if (elem is not obj and elem.tag != _ASSOCIATION and not (elem.get("id") or "").startswith("urn:uuid:")
                    and elem.getparent() is obj):
                elem.set("id", _new_uuid())  # nested in a top-level object


class Registry:
    """Registry + repository over one Storage."""

    def __init__(self, storage: Storage, config: DmpConfig, handlers: Handlers | None = None) -> None:
        self.storage = storage
        self.config = config
        self.handlers = handlers or Handlers()

    # ------------------------------------------------------------------ ITI-41 (RAD-68)
    def provide_and_register(self, sor: etree._Element, documents: dict[str, bytes],
                             exchange_id: str | None = None,
                             metadata_errors: list[RegistryError] | None = None) -> None:
        """Register ``sor`` (lcm:SubmitObjectsRequest) with ``documents`` (by ExtrinsicObject id).

        Raises :class:`Rejected`; on success everything is committed in one transaction.
        """
        parsed = split_request(sor)
        docs = {parsed.id_map.get(k, k): v for k, v in documents.items()}
        errors = self._check_documents(parsed, docs)
        errors += self._check_patients(parsed)
        errors += metadata_errors or []
        if errors:
            errors += self._unique_errors(parsed, docs)
            self.handlers.on_reject(self, parsed, docs, errors)
            raise Rejected(errors)
        batch = self._batch(parsed, docs, exchange_id)
        # checks against the registry and the commit in one write transaction: a uniqueId or a status
        # checked is still so at commit, whichever thread or worker process writes meanwhile
        given = {k for k, v in parsed.id_map.items() if k == v}  # entryUUIDs chosen by the submitter
        with self.storage.write_transaction():
            batch.status_changes += self._replacements(parsed)
            self._check_unique(batch, given)
            self.handlers.commit(self.storage, batch)

    def _check_documents(self, parsed: Parsed, docs: dict[str, bytes]) -> list[RegistryError]:
        errors: list[RegistryError] = []
        ids = {x.get("id") for x in parsed.extrinsics}
        for ident in ids - set(docs):
            errors.append(RegistryError("XDSMissingDocument", f"no Document for DocumentEntry {ident}", ident))
        for ident in set(docs) - ids if self.handlers.refuse_orphan_documents else ():
            errors.append(RegistryError("XDSMissingDocumentMetadata", f"Document {ident} has no DocumentEntry",
                                        ident))
        for x in parsed.extrinsics:
            data = docs.get(x.get("id"))
            if data is None:
                continue
            ind = parsed.index(x)
            given_hash, given_size, uid = ind.hash, E.slot_value(x, "size"), ind.unique_id or x.get("id", "")
            if self.handlers.verify_hash and given_hash and given_hash.strip().lower() != sha1_hex(data):
                errors.append(RegistryError("XDSRepositoryMetadataError",
                                            f"hash {given_hash} differs from the SHA-1 of the document", uid))
            if self.handlers.verify_size and given_size and given_size.strip() != str(len(data)):
                errors.append(RegistryError("XDSRepositoryMetadataError",
                                            f"size {given_size} differs from the document length {len(data)}",
                                            uid))
        return errors

    def _check_patients(self, parsed: Parsed) -> list[RegistryError]:
        assert parsed.submission_set is not None
        ss_patient = parsed.package_index(parsed.submission_set).patient_id
        if not ss_patient:
            return [RegistryError("XDSRegistryMetadataError", "SubmissionSet has no patientId")]
        errors = []
        for x in parsed.extrinsics:
            pid = parsed.index(x).patient_id
            if self.handlers.match_patients and pid != ss_patient:
                errors.append(RegistryError("XDSPatientIdDoesNotMatch",
                                            f"DocumentEntry {x.get('id')} patientId {pid} differs from the "
                                            f"SubmissionSet patientId {ss_patient}", x.get("id", "")))
        if self.handlers.check_patient_known and not self.patient_known(ss_patient):
            errors.append(RegistryError("XDSUnknownPatientId", f"patient {ss_patient} is not known", ss_patient))
        return errors

    def patient_known(self, cx: str) -> bool:
        if self.config.known_patients is not None:
            return cx in self.config.known_patients
        if self.config.profile == "xds":
            return True
        authority = cx.split("^^^", 1)[1] if "^^^" in cx else ""
        oid = authority.split("&")[1] if authority.count("&") >= 2 else ""
        return oid in INS_OIDS

    def _batch(self, parsed: Parsed, docs: dict[str, bytes], exchange_id: str | None) -> Batch:
        batch = Batch(exchange_id=exchange_id)
        repo = self.config.repository_unique_id
        for x in parsed.extrinsics:
            data = docs[x.get("id")]
            ind = replace(parsed.index(x), repository_uid=repo)  # the index made for the checks, updated
            if not ind.hash:
                ind.hash = self.handlers.compute_hash(data)
                E.set_slot(x, "hash", [ind.hash])
            if ind.size is None:  # no size slot (a wrong one was rejected by _check_documents)
                ind.size = len(data)
                E.set_slot(x, "size", [str(len(data))])
            E.set_slot(x, "repositoryUniqueId", [repo])
            x.set("lid", ind.lid or x.get("id", ""))
            batch.objects.append(StoredObject(ind, E.APPROVED, _xml(x)))
            batch.documents.append((repo, ind.unique_id or "", x.get("mimeType"), data))
        for pkg in parsed.packages:
            kind = "ss" if pkg is parsed.submission_set else "folder"
            batch.objects.append(StoredObject(parsed.package_index(pkg, kind), E.APPROVED, _xml(pkg)))
        for assoc in parsed.associations:
            if self.handlers.keep_association(assoc.get("associationType", "")):
                batch.objects.append(StoredObject(E.index_association(assoc), E.APPROVED, _xml(assoc)))
        return batch

    def _replacements(self, parsed: Parsed) -> list[tuple[str, str]]:
        """RPLC: the target must be an Approved entry of the same patient; it becomes Deprecated."""
        changes: list[tuple[str, str]] = []
        new_ids = {x.get("id"): parsed.index(x) for x in parsed.extrinsics}
        for assoc in parsed.associations:
            if assoc.get("associationType") not in (E.RPLC, E.RPLC_XFRM):
                continue
            source, target = assoc.get("sourceObject"), assoc.get("targetObject", "")
            rows = self.storage.query("SELECT status, patient_id FROM objects WHERE id = ? AND kind = 'doc'",
                                      (target,))
            if not rows or rows[0][0] != E.APPROVED:
                raise Rejected([RegistryError("XDSRegistryMetadataError",
                                              f"RPLC target {target} is not an Approved DocumentEntry", target)])
            new = new_ids.get(source)
            if new is not None and new.patient_id != rows[0][1]:
                raise Rejected([RegistryError("XDSPatientIdDoesNotMatch",
                                              f"replacement {source} is for another patient than {target}",
                                              target)])
            if self.handlers.deprecate_replaced:
                changes.append((target, E.DEPRECATED))
        return changes

    def _unique_errors(self, parsed: Parsed, docs: dict[str, bytes]) -> list[RegistryError]:
        """Duplicate uniqueIds of a submission already refused for other reasons, so the response
        names every problem (ITI TF-3 §4.2.4.1: all errors of a request in one RegistryErrorList)."""
        batch = Batch()
        for x in parsed.extrinsics:
            ind = replace(parsed.index(x))
            data = docs.get(x.get("id"))
            ind.hash = ind.hash or (sha1_hex(data) if data is not None else None)
            batch.objects.append(StoredObject(ind, None, b""))
        for pkg in parsed.packages:
            batch.objects.append(StoredObject(E.index_package(pkg, "ss"), None, b""))
        try:
            self._check_unique(batch)
        except Rejected as rej:
            return rej.errors
        return []

    def _check_unique(self, batch: Batch, given_ids: set[str] | None = None) -> None:
        """uniqueIds not registered yet (or XDSNonIdenticalHash), entryUUIDs not taken; only the
        ``given_ids`` can be taken when known (the others are fresh UUIDs made by split_request)."""
        new = {o.index.unique_id: o.index for o in batch.objects
               if o.index.unique_id and o.index.kind in self.handlers.unique_kinds}
        existing = self.storage.existing_unique_ids(new)
        errors = []
        for uid, old_hash in existing.items():
            ind = new[uid]
            if ind.kind == "doc" and old_hash and ind.hash and old_hash.lower() != ind.hash.lower():
                errors.append(RegistryError("XDSNonIdenticalHash",
                                            f"uniqueId {uid} is registered with another hash", uid))
            else:
                errors.append(RegistryError("XDSDuplicateUniqueIdInRegistry",
                                            f"uniqueId {uid} is already registered", uid))
        ids = [o.index.id for o in batch.objects if given_ids is None or o.index.id in given_ids]
        for row in self.storage.rows_by_ids(ids) if ids else []:
            errors.append(RegistryError("XDSRegistryMetadataError", f"entryUUID {row.id} already exists", row.id))
        if errors:
            raise Rejected(errors)

    # ------------------------------------------------------------------ ITI-57
    def update(self, sor: etree._Element, exchange_id: str | None = None) -> None:
        """ITI-57: availability status changes (UpdateAvailabilityStatus associations, ITI TF-3
        §4.2.2.3; the DMP deletes with ``urn:asip:ci-sis:2010:StatusType:Deleted``) and DocumentEntry
        metadata updates (a new version with the same lid, ITI TF-3 §4.1.10, ITI TF-2b §3.57.4.1.3)."""
        parsed = split_request(sor)
        with self.storage.write_transaction():
            self._update(parsed, exchange_id)

    def _update(self, parsed: Parsed, exchange_id: str | None) -> None:
        batch = Batch(exchange_id=exchange_id)
        changes = [self._status_change(a) for a in parsed.associations
                   if a.get("associationType") == E.UPDATE_STATUS]
        for x in parsed.extrinsics:
            changes.append(self._new_version(parsed, x, batch))
        if not changes:
            raise Rejected([RegistryError("XDSMetadataUpdateError", "the request changes nothing")])
        batch.status_changes += [(target, new) for target, new in changes if self.handlers.apply_status(new)]
        assert parsed.submission_set is not None
        batch.objects.append(StoredObject(E.index_package(parsed.submission_set, "ss"), E.APPROVED,
                                          _xml(parsed.submission_set)))
        for assoc in parsed.associations:
            batch.objects.append(StoredObject(E.index_association(assoc), E.APPROVED, _xml(assoc)))
        self._check_unique(Batch(objects=[o for o in batch.objects if o.index.kind != "doc"]))
        self.storage.commit(batch)

    def _status_change(self, assoc: etree._Element) -> tuple[str, str]:
        target = assoc.get("targetObject", "")
        original, new = E.slot_value(assoc, "OriginalStatus"), E.slot_value(assoc, "NewStatus")
        found = self.storage.query("SELECT status FROM objects WHERE id = ?", (target,))
        if not found:
            raise Rejected([RegistryError("XDSMetadataUpdateError", f"object {target} is not registered", target)])
        if not original or not new or (self.handlers.check_original_status and found[0][0] != original):
            raise Rejected([RegistryError("XDSMetadataUpdateError", f"OriginalStatus {original} does not match "
                                          f"the status {found[0][0]} of {target}", target)])
        if new not in (E.APPROVED, E.DEPRECATED, E.DMP_DELETED):
            raise Rejected([RegistryError("XDSMetadataUpdateError", f"NewStatus {new} is not allowed", target)])
        return target, new

    def _new_version(self, parsed: Parsed, x: etree._Element, batch: Batch) -> tuple[str, str]:
        """A DocumentEntry update: same lid and uniqueId as the Approved version, which becomes Deprecated
        (the returned status change, kept Approved by ``deprecate_previous_version`` off)."""
        lid = x.get("lid") or ""
        current = self.storage.query(
            "SELECT id, patient_id, unique_id, hash, size, repository_uid FROM objects "
            "WHERE kind = 'doc' AND lid = ? AND status = ?", (lid, E.APPROVED))
        if not lid or lid == x.get("id") or not current:
            raise Rejected([RegistryError("XDSMetadataUpdateError",
                                          f"lid {lid or '(none)'} names no Approved DocumentEntry", lid)])
        old_id, patient, unique_id, digest, size, repo = current[0]
        versions = self.storage.query("SELECT COUNT(*) FROM objects WHERE kind = 'doc' AND lid = ?", (lid,))[0][0]
        member = next((a for a in parsed.associations if a.get("targetObject") == x.get("id")
                       and a.get("associationType") == E.HAS_MEMBER), None)
        previous = E.slot_value(member, "PreviousVersion") if member is not None else None
        if previous != str(versions):
            raise Rejected([RegistryError("XDSMetadataVersionError", f"PreviousVersion {previous} is not the "
                                          f"current version {versions} of {lid}", lid)])
        ind = parsed.index(x)
        if ind.patient_id != patient:
            raise Rejected([RegistryError("XDSPatientIdDoesNotMatch", f"update of {lid} names another patient",
                                          lid)])
        if ind.unique_id != unique_id:
            raise Rejected([RegistryError("XDSMetadataUpdateError", "an update keeps the entry's uniqueId",
                                          lid)])
        for name, value in (("hash", digest), ("size", str(size)), ("repositoryUniqueId", repo)):
            E.set_slot(x, name, [value])
        batch.objects.append(StoredObject(E.index_extrinsic(x), E.APPROVED, _xml(x)))
        return old_id, E.DEPRECATED if self.handlers.deprecate_previous_version else E.APPROVED

    # ------------------------------------------------------------------ evidence
    def record_findings(self, exchange_id: str, patient: str | None, action: str | None,
                        findings: list[Finding]) -> None:
        """Findings about a request that was not refused for them (VIHF ``warn``), kept with the
        MessageID that the capture links and the inspector use."""
        self.storage.add_findings(exchange_id, patient, action, findings)

    # ------------------------------------------------------------------ ITI-43
    def retrieve(self, repository_uid: str, unique_id: str) -> tuple[str | None, bytes] | RegistryError:
        if self.handlers.check_repository_id and repository_uid != self.config.repository_unique_id:
            return RegistryError("XDSUnknownRepositoryId", f"repository {repository_uid} is not this one",
                                 repository_uid)
        found = self.storage.document(self.config.repository_unique_id, unique_id)
        if found is None:
            return RegistryError("XDSDocumentUniqueIdError", f"no document {unique_id}", unique_id)
        return found[0], self.handlers.retrieve_bytes(found[1])


def _xml(elem: etree._Element) -> bytes:
    """The object as stored: its XML without ``status`` (the registry owns the status, kept apart).
    The request's tree is this request's own: the attribute is taken off for the serialisation and
    put back, rather than the object deep-copied."""
    status = elem.attrib.pop("status", None)
    try:
        return etree.tostring(elem)
    finally:
        if status is not None:
            elem.set("status", status)


def rows_to_elements(rows: list[Row]) -> list[etree._Element]:
    """The stored XML of ``rows`` with their current status, parsed in one go (faster than one parse per row)."""
    if not rows:
        return []
    parts = [b'<list xmlns:rim="urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0">']
    for row in rows:
        cut = row.xml.index(b" ")  # end of the tag name: the stored XML is one start tag with attributes
        parts.append(row.xml[:cut] + (b' status="%s"' % row.status.encode() if row.status else b"") + row.xml[cut:])
    parts.append(b"</list>")
    return list(etree.fromstring(b"".join(parts)))


def with_status(row: Row) -> etree._Element:
    """The stored XML of ``row`` with its current availability status (ebRIM 3.0 §2.5.1)."""
    elem = etree.fromstring(row.xml)
    if row.status:
        elem.set("status", row.status)
    return elem
