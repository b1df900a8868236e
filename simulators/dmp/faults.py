"""Named faults of the DMP simulator: each swaps one handler for one that misbehaves in one way
(STYLE.md §4) and breaks exactly the requirement ids it names (the fault proof checks it)."""

from __future__ import annotations

import hashlib
from dataclasses import replace

from harness.faults import Fault
from simulators.dmp import ebxml as E
from simulators.dmp.registry import Handlers, Parsed, Registry
from simulators.dmp.storage import Batch, StoredObject

FAULTS: dict[str, Fault] = {f.name: f for f in (
    Fault("non-atomic-submission", "a rejected submission leaves the documents that passed their own "
          "checks registered and stored", ("DMP-PNR-ATOMIC",)),
    Fault("ignores-status-filter", "FindDocuments returns entries of every status, whatever "
          "$XDSDocumentEntryStatus asks", ("DMP-SQ-FD-STATUS",)),
    Fault("wrong-hash", "the hash the repository computes for a document sent without one is not its "
          "SHA-1 (SHA-256 cut to 40 hex digits)", ("DMP-PNR-HASH-COMPUTED",)),
    Fault("skips-hash-check", "a document whose given hash differs from its content is accepted",
          ("DMP-PNR-ERR-HASH",)),
    Fault("no-deprecate-on-replace", "an RPLC submission leaves the replaced entry Approved",
          ("DMP-PNR-RPLC",)),
    Fault("vihf-signature-not-verified", "the VIHF assertion's presence, attributes, time and patient are "
          "checked, its XML signature and signer are not", ("DMP-VIHF-002",)),
    Fault("retrieve-alters-bytes", "ITI-43 returns the document with a trailing newline added",
          ("DMP-RET-BYTES",)),
    Fault("signature-not-verified", "Signature01 must be there and list the documents, but its "
          "SignatureValue is not verified", ("DMP-PNR-ERR-SIGNATURE",)),
)}


def _sha256_40(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:40]


def _store_survivors(registry: Registry, parsed: Parsed, docs: dict[str, bytes], errors: list) -> None:
    """Commit each document entry that no error names, one by one (what atomicity forbids)."""
    named = {e.location for e in errors} | {e.context for e in errors}
    repo = registry.config.repository_unique_id
    for x in parsed.extrinsics:
        ind = E.index_extrinsic(x)
        if x.get("id") in docs and ind.unique_id not in named and x.get("id") not in named:
            data = docs[x.get("id")]
            E.set_slot(x, "repositoryUniqueId", [repo])
            from simulators.dmp.registry import _xml

            batch = Batch(objects=[StoredObject(E.index_extrinsic(x), E.APPROVED, _xml(x))],
                          documents=[(repo, ind.unique_id or "", x.get("mimeType"), data)])
            try:
                registry.storage.commit(batch)
            except Exception:
                pass


def handlers_for(fault: str | None) -> Handlers:
    base = Handlers()
    if fault is None:
        return base
    if fault not in FAULTS:
        raise KeyError(f"unknown DMP fault {fault!r}; known: {', '.join(sorted(FAULTS))}")
    changes = {
        "non-atomic-submission": {"on_reject": _store_survivors},
        "ignores-status-filter": {"status_filter": False},
        "wrong-hash": {"compute_hash": _sha256_40},
        "skips-hash-check": {"verify_hash": False},
        "no-deprecate-on-replace": {"deprecate_replaced": False},
        "vihf-signature-not-verified": {"vihf_signature": False},
        "retrieve-alters-bytes": {"retrieve_bytes": lambda data: data + b"\n"},
        "signature-not-verified": {"skipped_rules": frozenset({"XDS-DMP-SIG-005"})},
    }[fault]
    return replace(base, **changes)
