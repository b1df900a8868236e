"""ITI-43 Retrieve Document Set: byte-for-byte, several documents, partial success, unknown repository."""

from __future__ import annotations

import pytest

from harness.checks import expect, expect_equal
from testplans.dmp.conftest import kos_entry
from testplans.dmp.helpers import PARTIAL, expect_error, expect_success, get_documents


def _repository(client, dmp, uid: str) -> str:
    if dmp.repository_unique_id:
        return dmp.repository_unique_id
    [entry] = get_documents(client, "DMP-RET-BYTES", unique_ids=[uid])
    return entry["repositoryUniqueId"]


@pytest.mark.requirement("DMP-RET-BYTES")
def test_retrieve_returns_the_kos_byte_for_byte(client, submitted, dmp):
    sub = submitted()
    kos = kos_entry(sub)
    result = client.retrieve([(_repository(client, dmp, kos.uniqueId), kos.uniqueId)])
    expect_success(result, "DMP-RET-BYTES", "ITI-43 of the KOS")
    expect(len(result.documents) == 1, rule="DMP-RET-BYTES", location="RetrieveDocumentSetResponse",
           expected="1 DocumentResponse", observed=len(result.documents), message="document count")
    doc = result.documents[0]
    original = sub.document_bytes[kos.id]
    expect(doc.data == original, rule="DMP-RET-BYTES", location=f"Document {kos.uniqueId}",
           expected=f"{len(original)} bytes, identical", observed=f"{len(doc.data)} bytes, "
           f"{'identical' if doc.data == original else 'different'}", message="retrieved bytes differ")
    expect_equal(doc.mime_type, "application/dicom", rule="DMP-RET-BYTES", location=f"mimeType of {kos.uniqueId}")


@pytest.mark.requirement("DMP-RET-MULTI")
def test_retrieve_several_documents(client, submitted, dmp):
    sub = submitted()
    repo = _repository(client, dmp, kos_entry(sub).uniqueId)
    result = client.retrieve([(repo, d.uniqueId) for d in sub.documents])
    expect_success(result, "DMP-RET-MULTI", "ITI-43 of two documents")
    expect(result.message is not None and result.message.mtom, rule="DMP-RET-MULTI", location="Content-Type",
           expected="multipart/related XOP", observed=result.content_type, message="response is not MTOM")
    expect_equal({d.document_unique_id for d in result.documents}, {d.uniqueId for d in sub.documents},
                 rule="DMP-RET-MULTI", location="DocumentResponse", message="documents returned")


@pytest.mark.requirement("DMP-RET-PARTIAL")
def test_retrieve_partial_success(client, submitted, dmp):
    kos = kos_entry(submitted())
    repo = _repository(client, dmp, kos.uniqueId)
    result = client.retrieve([(repo, kos.uniqueId), (repo, "2.25.1")])
    expect_error(result, "XDSDocumentUniqueIdError", "DMP-RET-PARTIAL", "ITI-43 of a known and an unknown document",
                 status=PARTIAL)
    expect_equal([d.document_unique_id for d in result.documents], [kos.uniqueId], rule="DMP-RET-PARTIAL",
                 location="DocumentResponse", message="the known document must still be returned")


@pytest.mark.requirement("DMP-RET-ERR-REPO")
def test_retrieve_unknown_repository(client, submitted):
    kos = kos_entry(submitted())
    result = client.retrieve([("1.2.3.4.5.6.7.8.9", kos.uniqueId)])
    expect_error(result, "XDSUnknownRepositoryId", "DMP-RET-ERR-REPO", "ITI-43 naming another repository")
