"""The XDS validator: the good submission passes; each named mutation triggers exactly its rule."""

from __future__ import annotations

import base64
import copy
import re
from dataclasses import replace

import pytest
from lxml import etree
from xds_testdata import good_submission

from harness.catalog import default_catalog
from harness.findings import Severity
from harness.soap import ITI18_ACTION, ITI41_ACTION
from harness.xds.builder import build_pnr_message, build_pnr_request
from harness.xds.model import (
    ASSOCIATION_TYPES,
    FOLDER_CLASSIFICATION_SCHEMES,
    RIM_NS,
    STATUS,
    Association,
    Classification,
    Folder,
    Submission,
)
from harness.xds.validate import validate_message, validate_submission


def _errors(findings):
    return {f.rule for f in findings if f.severity is Severity.ERROR}


def _kos(sub):
    return sub.document("DocumentKOS")


def _sig(sub):
    return sub.document("Signature01")


def _assoc(sub, short_type, target=None):
    return next(a for a in sub.associations if a.short_type == short_type and (target is None or a.target == target))


def _drop_ss(sub):
    sub.submission_set, sub.associations = None, []


def _drop_signature(sub):
    sub.documents.remove(_sig(sub))
    del sub.document_bytes["Signature01"]
    sub.associations = [a for a in sub.associations if "Signature01" not in (a.source, a.target)]


def _all_pids(sub, value):
    sub.submission_set.patientId = value
    for d in sub.documents:
        d.patientId = value


def _add_folder(sub, **changes):
    code = Classification(FOLDER_CLASSIFICATION_SCHEMES["codeList"], "IMG", "1.2.250.1.213.1.1.4.1", "Imagerie")
    folder = Folder(id="Folder01", uniqueId="1.2.250.1.999.5.1", patientId=sub.submission_set.patientId,
                    title="Examens", codeList=[code])
    for key, value in changes.items():
        setattr(folder, key, value)
    sub.folders.append(folder)
    sub.associations.append(Association("assoc-folder", ASSOCIATION_TYPES["HasMember"], sub.submission_set.id,
                                         folder.id))


def _resign_with(content, raw: bytes | None = None):
    """Replace Signature01 by one whose manifest digests other bytes (or lists nothing, or by ``raw``),
    keeping hash and size consistent so only the manifest rule breaks."""
    def mutate(sub):
        from harness.xds.builder import fill_hash_size, signature_document
        entries = [] if content is None else [(_kos(sub).uniqueId, content(sub))]
        sub.document_bytes["Signature01"] = raw if raw is not None else signature_document(entries)
        fill_hash_size(sub)
    return mutate


def _signature_edit(edit):
    """Signature01 made right for the KOS, then ``edit``ed (bytes -> bytes); hash and size kept consistent,
    the manifest untouched, so only the signature value rule can break."""
    def mutate(sub):
        from harness.xds.builder import fill_hash_size, signature_document
        kos = _kos(sub)
        signed = signature_document([(kos.uniqueId, sub.document_bytes[kos.id])], unsigned=edit is None)
        sub.document_bytes["Signature01"] = signed if edit is None else edit(signed)
        fill_hash_size(sub)
    return mutate


def _forge_value(signed: bytes) -> bytes:
    start = signed.index(b"<ds:SignatureValue>") + len(b"<ds:SignatureValue>")
    return signed[:start] + base64.b64encode(bytes(256)) + signed[signed.index(b"</ds:SignatureValue>"):]


def _set(getter, attr, value):
    def mutate(sub):
        setattr(getter(sub), attr, value)
    return mutate


def _set_code(attr, **changes):
    def mutate(sub):
        setattr(_kos(sub), attr, replace(getattr(_kos(sub), attr), **changes))
    return mutate


# (name, profile, mutation of a good Submission, the one rule it must break)
SUBMISSION_MUTATIONS = [
    ("no-document-bytes", "xds", lambda s: s.document_bytes.pop("DocumentKOS"), "XDS-PNR-002"),
    ("orphan-document", "xds", lambda s: s.document_bytes.__setitem__("Orphan", b"x"), "XDS-PNR-003"),
    ("no-submission-set", "xds", _drop_ss, "XDS-SS-001"),
    ("ss-without-source-id", "xds", _set(lambda s: s.submission_set, "sourceId", None), "XDS-SS-002"),
    ("ss-not-classified", "xds", _set(lambda s: s.submission_set, "has_node_classification", False), "XDS-SS-003"),
    ("folder-without-title", "xds", lambda s: _add_folder(s, title=None), "XDS-FOL-001"),
    ("folder-without-codes", "xds", lambda s: _add_folder(s, codeList=[]), "XDS-FOL-001"),
    ("folder-bad-unique-id", "xds", lambda s: _add_folder(s, uniqueId="x"), "XDS-ID-001"),
    ("folder-not-member", "xds", lambda s: (_add_folder(s), s.associations.pop()), "XDS-ASSOC-001"),
    ("folder-other-patient", "xds", lambda s: _add_folder(s, patientId="9^^^&1.2.3&ISO"), "XDS-PID-002"),
    ("no-language", "xds", _set(_kos, "languageCode", None), "XDS-DOC-001"),
    ("no-confidentiality", "xds", _set(_kos, "confidentialityCodes", []), "XDS-DOC-001"),
    ("bad-object-type", "xds", _set(_kos, "objectType", "urn:uuid:00000000-0000-0000-0000-000000000000"),
     "XDS-DOC-002"),
    ("bad-mime", "xds", _set(_kos, "mimeType", "dicom"), "XDS-DOC-003"),
    ("language-with-underscore", "xds", _set(_kos, "languageCode", "fr_FR"), "XDS-DOC-004"),
    ("source-patient-info-free-text", "xds", _set(_kos, "sourcePatientInfo", ["Alain PAT-SIX"]), "XDS-DOC-005"),
    ("iso-creation-time", "xds", _set(_kos, "creationTime", "2024-01-02"), "XDS-TIME-001"),
    ("bad-unique-id", "xds", _set(_kos, "uniqueId", "1.2.03"), "XDS-ID-001"),
    ("bad-source-id", "xds", _set(lambda s: s.submission_set, "sourceId", "abc"), "XDS-ID-001"),
    ("duplicate-unique-id", "xds", lambda s: setattr(_sig(s), "uniqueId", _kos(s).uniqueId), "XDS-ID-002"),
    ("duplicate-object-id", "xds", lambda s: setattr(s.associations[2], "id", s.associations[0].id), "XDS-ID-003"),
    ("pid-not-cx", "xds", lambda s: _all_pids(s, "162018885045327"), "XDS-PID-001"),
    ("pid-mismatch", "xds", _set(_kos, "patientId", "1^^^&1.2.3&ISO"), "XDS-PID-002"),
    ("code-without-scheme", "xds", _set_code("classCode", coding_scheme=None), "XDS-CODE-001"),
    ("code-without-name", "xds", _set_code("typeCode", display=None), "XDS-CODE-001"),
    ("two-class-codes", "xds", lambda s: _kos(s).extra_classifications.append(replace(_kos(s).classCode)),
     "XDS-CARD-001"),
    ("hash-not-hex", "xds", _set(_kos, "hash", "not-a-sha1"), "XDS-HASH-001"),
    ("hash-mismatch", "xds", _set(_kos, "hash", "0" * 40), "XDS-HASH-002"),
    ("size-negative", "xds", _set(_kos, "size", "-1"), "XDS-SIZE-001"),
    ("size-mismatch", "xds", _set(_kos, "size", "1"), "XDS-SIZE-002"),
    ("no-has-member", "xds", lambda s: s.associations.remove(_assoc(s, "HasMember", "DocumentKOS")),
     "XDS-ASSOC-001"),
    ("dangling-association", "xds", lambda s: setattr(_assoc(s, "signs"), "target", "Nowhere"), "XDS-ASSOC-002"),
    ("association-to-self", "xds", lambda s: setattr(_assoc(s, "signs"), "target", "Signature01"), "XDS-ASSOC-002"),
    ("unknown-association", "xds", lambda s: setattr(_assoc(s, "signs"), "type", "urn:x:Likes"), "XDS-ASSOC-003"),
    ("has-member-without-status", "xds", lambda s: setattr(_assoc(s, "HasMember", "DocumentKOS"), "slots", {}),
     "XDS-ASSOC-004"),
    ("pid-not-ins", "dmp", lambda s: _all_pids(s, "123^^^&1.2.3&ISO^NH"), "XDS-DMP-PID-001"),
    ("pid-without-nh", "dmp", lambda s: _all_pids(s, "162018885045327^^^&1.2.250.1.213.1.4.10&ISO"),
     "XDS-DMP-PID-001"),
    ("class-32", "dmp", _set_code("classCode", node="32"), "XDS-DMP-CLASS-001"),
    ("type-kos", "dmp", _set_code("typeCode", node="KOS"), "XDS-DMP-TYPE-001"),
    ("format-deprecated", "dmp", _set_code("formatCode", node="urn:ihe:rad:1.2.840.10008.5.1.4.1.1.88.59"),
     "XDS-DMP-FORMAT-001"),
    ("format-other-scheme", "dmp", _set_code("formatCode", coding_scheme="1.2.3"), "XDS-DMP-FORMAT-001"),
    ("mime-octet-stream", "dmp", _set(_kos, "mimeType", "application/octet-stream"), "XDS-DMP-MIME-001"),
    ("confidentiality-r", "dmp", lambda s: _kos(s).confidentialityCodes.append(
        replace(_kos(s).confidentialityCodes[0], node="R")), "XDS-DMP-CONF-001"),
    ("confidentiality-two-n", "dmp", lambda s: _kos(s).confidentialityCodes.append(
        replace(_kos(s).confidentialityCodes[0])), "XDS-DMP-CONF-001"),
    ("unknown-modality", "dmp", lambda s: setattr(_kos(s).eventCodes[0], "node", "ZZ"), "XDS-DMP-EVENT-001"),
    ("no-modality", "dmp", lambda s: setattr(_kos(s), "eventCodes", _kos(s).eventCodes[1:]), "XDS-DMP-EVENT-001"),
    ("event-foreign-scheme", "dmp", lambda s: _kos(s).eventCodes.append(Classification(
        _kos(s).eventCodes[0].scheme, "X", "1.2.3", "x")), "XDS-DMP-EVENT-001"),
    ("refid-garbage", "dmp", lambda s: _kos(s).referenceIdList.append("ACC2^^^1.2.3^accession"),
     "XDS-DMP-REFID-001"),
    ("refid-no-accession", "dmp", lambda s: _kos(s).referenceIdList.pop(0), "XDS-DMP-REFID-002"),
    ("practice-scheme", "dmp", _set_code("practiceSettingCode", coding_scheme="1.2.3"), "XDS-DMP-PRACTICE-001"),
    ("facility-scheme", "dmp", _set_code("healthcareFacilityTypeCode", coding_scheme="1.2.3"),
     "XDS-DMP-FACILITY-001"),
    ("signature-type", "dmp", lambda s: setattr(_sig(s), "typeCode", replace(_sig(s).typeCode, node="X")),
     "XDS-DMP-SIG-001"),
    ("signature-mime", "dmp", _set(_sig, "mimeType", "application/xml"), "XDS-DMP-SIG-001"),
    ("no-signature", "dmp", _drop_signature, "XDS-DMP-SIG-002"),
    ("signature-not-xml", "dmp", _resign_with(None, b"not xml"), "XDS-DMP-SIG-004"),
    ("signature-digest-wrong", "dmp", _resign_with(lambda s: b"other bytes"), "XDS-DMP-SIG-004"),
    ("signature-misses-kos", "dmp", _resign_with(None), "XDS-DMP-SIG-004"),
    ("no-signs", "dmp", lambda s: s.associations.remove(_assoc(s, "signs")), "XDS-DMP-SIG-003"),
    ("signature-unsigned", "dmp", _signature_edit(None), "XDS-DMP-SIG-005"),
    ("signature-time-altered", "dmp", _signature_edit(
        lambda b: re.sub(rb"<xades:SigningTime>\d{4}", b"<xades:SigningTime>1999", b)), "XDS-DMP-SIG-005"),
    ("signature-value-forged", "dmp", _signature_edit(_forge_value), "XDS-DMP-SIG-005"),
]


@pytest.mark.parametrize("profile", ["xds", "dmp"])
@pytest.mark.parametrize("folder", [False, True])
def test_good_submission_is_clean(profile, folder):
    sub = good_submission()
    if folder:
        _add_folder(sub)
    assert validate_submission(sub, profile) == []
    for mtom in (True, False):
        assert validate_message(*build_pnr_message(sub, mtom=mtom), profile, ITI41_ACTION) == []


@pytest.mark.parametrize(("name", "profile", "mutate", "rule"), SUBMISSION_MUTATIONS,
                         ids=[m[0] for m in SUBMISSION_MUTATIONS])
def test_mutation_breaks_exactly_its_rule(name, profile, mutate, rule):
    sub = good_submission()
    mutate(sub)
    assert _errors(validate_submission(sub, profile, check_documents=True)) == {rule}
    # the same through the wire: the serialized message, parsed back, gives the same verdict
    assert _errors(validate_message(*build_pnr_message(sub), profile, ITI41_ACTION)) == {rule}


def _message(**kw):
    return build_pnr_message(good_submission(), **kw)


def _drop_message_id(ct_body):
    ct, body = ct_body
    return ct, re.sub(rb"<wsa:MessageID>[^<]*</wsa:MessageID>", b"", body)


def _truncate(ct_body):
    ct, body = ct_body
    return ct, body[:-40]


# (name, content type + body, expected action, the one rule)
MESSAGE_MUTATIONS = [
    ("not-xml", ("application/soap+xml", b"<soap:Envelope"), None, "XDS-SOAP-001"),
    ("soap11", ("application/soap+xml", b'<e:Envelope xmlns:e="http://schemas.xmlsoap.org/soap/envelope/">'
                b"<e:Body/></e:Envelope>"), None, "XDS-SOAP-001"),
    ("text-xml", ("text/xml", _message(mtom=False)[1]), None, "XDS-SOAP-002"),
    ("multipart-mixed", ("multipart/mixed; boundary=x", _message()[1]), None, "XDS-SOAP-002"),
    ("truncated-mtom", _truncate(_message()), None, "XDS-MTOM-001"),
    ("wrong-action", _message(), ITI18_ACTION, "XDS-WSA-001"),
    ("no-message-id", _drop_message_id(_message(mtom=False)), ITI41_ACTION, "XDS-WSA-002"),
]


@pytest.mark.parametrize(("name", "message", "action", "rule"), MESSAGE_MUTATIONS,
                         ids=[m[0] for m in MESSAGE_MUTATIONS])
def test_message_mutation_breaks_exactly_its_rule(name, message, action, rule):
    assert _errors(validate_message(*message, "dmp", action)) == {rule}


def _request():
    return build_pnr_request(good_submission())


def test_xsd_violation_is_reported_with_origin():
    req = _request()
    req.find(f".//{{{RIM_NS}}}ExtrinsicObject").set("bogus", "1")
    findings = validate_submission(req, "dmp")
    assert _errors(findings) == {"XDS-XSD-001"} and findings[0].origin == "xsd"


def test_uplink_to_another_object():
    req = _request()
    eo = req.find(f".//{{{RIM_NS}}}ExtrinsicObject")
    author = next(c for c in eo.iterfind(f"{{{RIM_NS}}}Classification") if c.find(f"{{{RIM_NS}}}Slot") is not None
                  and c.find(f"{{{RIM_NS}}}Slot").get("name") == "authorPerson")
    author.set("classifiedObject", "Elsewhere")
    assert _errors(validate_submission(req, "dmp")) == {"XDS-LINK-001"}


def test_undecodable_document_is_pnr_001():
    req = _request()
    req.find("{urn:ihe:iti:xds-b:2007}Document").text = "!!!"
    assert _errors(validate_submission(req, "dmp")) == {"XDS-PNR-001"}  # libxml2 does not check base64 lexically


def test_warnings_never_errors():
    sub = good_submission()
    _kos(sub).extra_classifications.append(Classification("urn:uuid:11111111-1111-1111-1111-111111111111", "x",
                                                          "1.2", "x"))
    _kos(sub).eventCodes.append(Classification(_kos(sub).eventCodes[0].scheme, "774007", "1.2.250.1.213.1.1.5.695",
                                               "Tete et cou"))
    sub.submission_set.contentTypeCode = replace(sub.submission_set.contentTypeCode, coding_scheme="1.2.3")
    _kos(sub).languageCode = "en-US"
    _kos(sub).authors[0].person = "Dr Who"
    _kos(sub).authors[0].institutions = ["Hospital"]
    findings = validate_submission(sub, "dmp")
    assert {(f.rule, f.severity) for f in findings} == {
        ("XDS-CODE-002", Severity.WARNING), ("XDS-DMP-EVENT-002", Severity.WARNING),
        ("XDS-DMP-CONTENT-001", Severity.WARNING), ("XDS-DMP-LANG-001", Severity.WARNING),
        ("XDS-DMP-AUTHOR-001", Severity.WARNING)}
    _kos(sub).authors = []
    assert "XDS-DMP-AUTHOR-001" in {f.rule for f in validate_submission(sub, "dmp")}


def test_every_rule_is_in_the_catalog_and_every_error_rule_is_proven():
    catalog = default_catalog()
    ours = {r.id for r in catalog if r.file == "xds.yaml"}
    proven = {m[3] for m in SUBMISSION_MUTATIONS} | {m[3] for m in MESSAGE_MUTATIONS}
    proven |= {"XDS-XSD-001", "XDS-LINK-001", "XDS-PNR-001"}
    proven |= {"XDS-SQ-001", "XDS-SQ-002", "XDS-SQ-003", "XDS-SQ-004"}  # tests/xds/test_query_rules.py
    proven |= {"XDS-RESP-001", "XDS-RESP-002", "XDS-WSA-003"}  # idem (NIST responses)
    proven |= {"XDS-UPD-001"}  # test_iti57_status_update_with_bad_status
    proven |= {"XDS-RET-001"}  # tests/xds/test_query_rules.py::test_retrieve_request
    proven |= {"XDS-REG-001"}  # test_register_request_needs_repository_attributes
    warnings = {"XDS-CODE-002", "XDS-DMP-EVENT-002", "XDS-DMP-CONTENT-001", "XDS-DMP-LANG-001",
                "XDS-DMP-AUTHOR-001"}
    assert proven | warnings == ours
    assert all(catalog[r].source for r in ours)


def test_profile_and_input_errors():
    with pytest.raises(ValueError):
        validate_submission(good_submission(), "ihe")
    empty = etree.fromstring(b'<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body/></s:Envelope>')
    assert _errors(validate_submission(empty)) == {"XDS-SOAP-001"}
    assert validate_submission(copy.deepcopy(_request()), "xds") == []


def test_validate_and_parse_returns_what_it_decoded():
    from harness.xds.validate import validate_and_parse
    sub = good_submission()
    msg, parsed, findings = validate_and_parse(*build_pnr_message(sub), "dmp", ITI41_ACTION)
    assert findings == [] and msg.mtom and parsed.document_bytes == sub.document_bytes
    msg, parsed, findings = validate_and_parse("text/xml", b"<x/>")
    assert (msg, parsed) == (None, None) and _errors(findings) == {"XDS-SOAP-002"}


def test_registry_error_codes():
    from harness.xds.validate import registry_error_code
    assert registry_error_code("XDS-PID-002") == "XDSPatientIdDoesNotMatch"
    assert registry_error_code("XDS-HASH-002") == "XDSNonIdenticalHash"
    assert registry_error_code("XDS-DMP-CLASS-001") == "XDSRegistryMetadataError"


BAD_INPUT = [
    ("doctype", b'<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>'),
    ("invalid-utf8", b'<?xml version="1.0" encoding="UTF-8"?><s:Envelope xmlns:s="http://www.w3.org/2003/05/'
                     b'soap-envelope"><s:Body><a>\xff\xfe</a></s:Body></s:Envelope>'),
    ("billion-laughs", b'<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]>'
                       b"<l>&b;</l>"),
    ("empty", b""),
    ("binary", bytes(range(256))),
]


@pytest.mark.parametrize(("name", "body"), BAD_INPUT, ids=[b[0] for b in BAD_INPUT])
def test_bad_input_is_a_finding_not_a_crash(name, body):
    assert _errors(validate_message("application/soap+xml", body, "dmp")) == {"XDS-SOAP-001"}


def test_oversized_body_is_refused_before_parsing():
    from harness.soap import SoapFault
    from harness.soap.mtom import decode_message
    with pytest.raises(SoapFault, match="limit"):
        decode_message("application/soap+xml", b" " * 1000, max_bytes=999)


def _status_update(new: str = "urn:asip:ci-sis:2010:StatusType:Deleted") -> Submission:
    """An ITI-57 status change as the DMP deletes a document (ANS PoC): a SubmissionSet and one
    UpdateAvailabilityStatus association to a registered entry, no document."""
    ss = good_submission().submission_set
    upd = Association("assoc-update", ASSOCIATION_TYPES["UpdateAvailabilityStatus"], ss.id,
                      "urn:uuid:6a4e1c1a-9a0b-4f55-8f3a-1d2c3b4a5e6f",
                      {"OriginalStatus": [STATUS["Approved"]], "NewStatus": [new]})
    return Submission(submission_set=ss, associations=[upd])


@pytest.mark.parametrize("profile", ["xds", "dmp"])
def test_iti57_status_update_is_clean(profile):
    assert validate_submission(_status_update(), profile) == []


def test_iti57_status_update_with_bad_status():
    assert _errors(validate_submission(_status_update("Deleted"), "dmp")) == {"XDS-UPD-001"}


def test_register_request_needs_repository_attributes():
    from harness.soap.actions import ITI42_ACTION
    from harness.xds import submission_to_ebrim
    sub = good_submission()
    sor = submission_to_ebrim(sub)
    assert _errors(validate_submission(sor, "xds", action=ITI42_ACTION)) == {"XDS-REG-001"}  # no repositoryUniqueId
    for doc in sub.documents:
        doc.repositoryUniqueId = "1.2.250.1.999.9"
    assert validate_submission(submission_to_ebrim(sub), "xds", action=ITI42_ACTION) == []
    assert validate_submission(sor, "xds") == []  # a bare SubmitObjectsRequest may be ITI-41 metadata
