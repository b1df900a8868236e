"""ITI-43 Retrieve Document Set: byte-for-byte, several documents, partial success, unknown repository."""

from __future__ import annotations

import pytest

from harness.checks import expect, expect_equal
from testplans.dmp.conftest import kos_entry, lookup
from testplans.dmp.entries import listing
from testplans.dmp.helpers import PARTIAL, expect_error, expect_success


def _repository(client, dmp, ledger, uid: str) -> str:
    """The repositoryUniqueId to ask: the profile's, else the one the registry gives for the entry."""
    return dmp.repository_unique_id or lookup(client, ledger, uid)["repositoryUniqueId"]


@pytest.mark.requirement("DMP-RET-BYTES")
def test_retrieve_returns_each_document_byte_for_byte(client, submitted, dmp, ledger):
    """ITI-43 (ITI TF-2b §3.43.4.2.2): the KOS and Signature01, each asked alone, come back exactly as
    provided, with their mimeType."""
    sub = submitted()
    for doc in sub.documents:
        result = client.retrieve([(_repository(client, dmp, ledger, doc.uniqueId), doc.uniqueId)])
        expect_success(result, "DMP-RET-BYTES", f"ITI-43 of {ledger.name(doc.uniqueId)}")
        where = f"RetrieveDocumentSetResponse for {ledger.name(doc.uniqueId)}"
        got = [d.document_unique_id for d in result.documents]
        expect(got == [doc.uniqueId], rule="DMP-RET-BYTES", location=where, expected=ledger.name(doc.uniqueId),
               observed=listing((ledger.name(u) for u in got), "no document"), message="not the one document asked for")
        data, original = result.documents[0].data, sub.document_bytes[doc.id]
        same = "identical" if data == original else "different"
        expect(data == original, rule="DMP-RET-BYTES", location=where, expected=f"{len(original)} bytes, identical",
               observed=f"{len(data)} bytes, {same}", message="the retrieved bytes are not the provided ones")
        expect_equal(result.documents[0].mime_type or "no mimeType", doc.mimeType, rule="DMP-RET-BYTES",
                     location=f"{where} mimeType", message="not the mimeType the document was provided with")


@pytest.mark.requirement("DMP-RET-MULTI")
def test_retrieve_several_documents(client, submitted, dmp, ledger):
    """Several DocumentRequests in one ITI-43 (ITI TF-2b §3.43.4.1.2) answered in one MTOM/XOP response
    (§3.43.5.1) holding exactly those documents."""
    sub = submitted()
    repo = _repository(client, dmp, ledger, kos_entry(sub).uniqueId)
    result = client.retrieve([(repo, d.uniqueId) for d in sub.documents])
    expect_success(result, "DMP-RET-MULTI", "ITI-43 of two documents")
    expect(result.message is not None and result.message.mtom, rule="DMP-RET-MULTI", location="Content-Type",
           expected="multipart/related XOP", observed=result.content_type, message="response is not MTOM")
    got = sorted(d.document_unique_id for d in result.documents)
    want = sorted(d.uniqueId for d in sub.documents)
    expect(got == want, rule="DMP-RET-MULTI", location="DocumentResponse",
           expected=listing(ledger.name(u) for u in want), observed=listing((ledger.name(u) for u in got), "none"),
           message="not the documents asked for")


@pytest.mark.requirement("DMP-RET-PARTIAL")
def test_retrieve_partial_success(client, submitted, dmp, ledger):
    kos = kos_entry(submitted())
    repo = _repository(client, dmp, ledger, kos.uniqueId)
    result = client.retrieve([(repo, kos.uniqueId), (repo, "2.25.1")])
    expect_error(result, "XDSDocumentUniqueIdError", "DMP-RET-PARTIAL", "ITI-43 of a known and an unknown document",
                 status=PARTIAL)
    got = [d.document_unique_id for d in result.documents]
    expect(got == [kos.uniqueId], rule="DMP-RET-PARTIAL", location="DocumentResponse",
           expected=ledger.name(kos.uniqueId), observed=listing((ledger.name(u) for u in got), "no document"),
           message="the known document must still be returned")


@pytest.mark.requirement("DMP-RET-ERR-REPO")
def test_retrieve_unknown_repository(client, submitted):
    kos = kos_entry(submitted())
    result = client.retrieve([("1.2.3.4.5.6.7.8.9", kos.uniqueId)])
    expect_error(result, "XDSUnknownRepositoryId", "DMP-RET-ERR-REPO", "ITI-43 naming another repository")
