"""ebRIM parse/serialize round trips, and reading real messages of the corpus."""

from __future__ import annotations

import pytest
from lxml import etree
from xds_testdata import DMP_SAMPLE, INS, corpus_file, good_submission

from harness.soap import decode_message, parse_envelope
from harness.xds import MetadataError, parse_pnr, parse_registry_object_list, submission_to_ebrim
from harness.xds.builder import build_pnr_message, build_pnr_request
from harness.xds.ebrim import parse_submit_objects
from harness.xds.model import ASSOCIATION_TYPES, RIM_NS, Folder, Submission


def test_round_trip_through_ebrim(good):
    again = parse_submit_objects(submission_to_ebrim(good))
    assert again.submission_set == good.submission_set
    assert again.documents == good.documents
    assert again.associations == good.associations


@pytest.mark.parametrize("mtom", [True, False])
def test_round_trip_through_pnr_message(good, mtom):
    ctype, body = build_pnr_message(good, mtom=mtom)
    msg = decode_message(ctype, body)
    again = parse_pnr(msg.envelope.body, msg.attachments)
    assert again.document_bytes == good.document_bytes
    assert again.documents == good.documents


def test_folder_round_trip(good):
    from harness.xds.model import FOLDER_CLASSIFICATION_SCHEMES, Classification
    good.folders.append(Folder(id="F1", uniqueId="1.2.3.9", patientId=INS, title="f", lastUpdateTime="2024",
                               codeList=[Classification(FOLDER_CLASSIFICATION_SCHEMES["codeList"], "c", "s", "d")]))
    again = parse_submit_objects(submission_to_ebrim(good))
    assert again.folders == good.folders and again.submission_set == good.submission_set


def test_parse_dmp_sample():
    root = parse_envelope(corpus_file(str(DMP_SAMPLE)).read_bytes()).body
    sub = parse_pnr(root)
    assert sub.submission_set.id == "SubmissionSet01" and sub.submission_set.patientId == INS
    kos, sig = sub.documents
    assert (kos.classCode.node, kos.typeCode.node, kos.formatCode.node) == (
        "31", "IMG-KOS", "1.2.840.10008.5.1.4.1.1.88.59")
    assert kos.hash == "40F393C8374838DA6115DE7B140CAEEF06866EBF" and kos.size == "109448"
    assert len(kos.referenceIdList) == 3 and [e.node for e in kos.eventCodes] == ["63337009", "MR"]
    assert kos.authors[0].institutions == ["BCOM^^^^^&1.2.250.1.71.4.2.2&ISO^IDNST^^^499700367909006"]
    assert {c.node for c in sig.confidentialityCodes} == {"N", "MASQUE_PS", "INVISIBLE_PATIENT"}
    assert [a.short_type for a in sub.associations] == ["HasMember", "HasMember", "signs"]
    assert sub.document_bytes == {}  # the sample's xop:Include parts are not in the file


def test_parse_nist_pnr_with_top_level_classifications():
    root = parse_envelope(corpus_file("xds", "nist-messagevalidator", "soap-pnr.xml").read_bytes()).body
    sub = parse_pnr(root)
    assert sub.submission_set is not None and sub.submission_set.has_node_classification
    assert sub.documents and all(d.uniqueId for d in sub.documents)


def test_parse_registry_object_list_splits_folders():
    root = etree.parse(str(corpus_file("xds", "dcm4chee-xds", "CreateFolderWithDocument.xml"))).getroot()
    rol = root.find(f"{{{RIM_NS}}}RegistryObjectList")
    docs, sets, folders, assocs = parse_registry_object_list(rol)
    assert len(sets) == 1 and len(folders) == 1 and docs
    assert any(a.type == ASSOCIATION_TYPES["HasMember"] for a in assocs)


def test_errors():
    with pytest.raises(MetadataError):
        parse_pnr(etree.Element("{urn:ihe:iti:xds-b:2007}ProvideAndRegisterDocumentSetRequest"))
    with pytest.raises(MetadataError):
        parse_submit_objects(etree.Element("{urn:oasis:names:tc:ebxml-regrep:xsd:lcm:3.0}SubmitObjectsRequest"))
    req = build_pnr_request(good_submission())
    req.find("{urn:ihe:iti:xds-b:2007}Document").text = "!!!"
    with pytest.raises(MetadataError, match="base64"):
        parse_pnr(req)


def test_empty_submission_serializes():
    assert parse_submit_objects(submission_to_ebrim(Submission())).documents == []
