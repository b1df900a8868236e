"""What the dmp plan registered, named the way a person reads a failure ("the decoy patient's KOS 2.25.1").

Every query test also registers the same metadata for a second, *decoy* patient, so a registry that
answers with another patient's entries is caught. The :class:`Ledger` remembers each uniqueId (and the
entryUUIDs learnt from answers) with its owner, so the checks of helpers.py can say which entry was
missing or leaked instead of printing identifiers alone.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from harness.xds import Submission

APPROVED = "urn:oasis:names:tc:ebxml-regrep:StatusType:Approved"
DEPRECATED = "urn:oasis:names:tc:ebxml-regrep:StatusType:Deprecated"
DELETED = "urn:asip:ci-sis:2010:StatusType:Deleted"  # the DMP deletion status (CI-SIS, ITI-57 NewStatus)
ALL_STATUSES = [APPROVED, DEPRECATED, DELETED]
HAS_MEMBER = "urn:oasis:names:tc:ebxml-regrep:AssociationType:HasMember"
SIGNS = "urn:ihe:iti:2007:AssociationType:signs"
RPLC = "urn:ihe:iti:2007:AssociationType:RPLC"

TEST_OWNER, DECOY_OWNER = "test patient", "decoy patient"
_KINDS = {"application/dicom": "KOS", "text/xml": "Signature01"}


def status_name(status: str | None) -> str:
    """``Approved`` for ``urn:...:StatusType:Approved`` (ebRIM 3.0 §2.5.1); ``no status`` when absent."""
    if not status:
        return "no status"
    return status.rsplit(":", 1)[-1]


def type_name(association_type: str | None) -> str:
    return (association_type or "untyped").rsplit(":", 1)[-1]


def listing(names: Iterable[str], empty: str = "nothing") -> str:
    """``a, b and c`` (sorted), or ``empty``."""
    items = sorted(names)
    if not items:
        return empty
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def plural(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def kos_of(sub: Submission) -> Any:
    return next(d for d in sub.documents if d.mimeType == "application/dicom")


def signature_of(sub: Submission) -> Any:
    return next(d for d in sub.documents if d.mimeType == "text/xml")


@dataclass
class Ledger:
    """The objects this run registered, by uniqueId and by entryUUID, with the patient they belong to.

    ``fresh_patients`` is False when the profile fixes the patients (``options.patients``): a query
    may then also return entries of earlier runs, which the exact checks leave aside (only the objects
    of this run, and any entry of another patient, are judged)."""

    fresh_patients: bool = True
    names: dict[str, str] = field(default_factory=dict)  # uniqueId or entryUUID -> name
    owners: dict[str, str] = field(default_factory=dict)  # uniqueId or entryUUID -> patient CX
    decoys: dict[str, Submission] = field(default_factory=dict)  # test submission set uniqueId -> its twin

    def record(self, sub: Submission, owner: str, tag: str = "") -> None:
        patient = sub.submission_set.patientId or ""
        prefix = f"{tag} " if tag else ""
        for doc in sub.documents:
            self._name(doc.uniqueId, f"the {owner}'s {prefix}{_KINDS.get(doc.mimeType, 'document')} "
                                     f"{doc.uniqueId}", patient)
        uid = sub.submission_set.uniqueId
        self._name(uid, f"the {owner}'s {prefix}submission set {uid}", patient)

    def _name(self, key: str | None, name: str, patient: str) -> None:
        if key:
            self.names[key], self.owners[key] = name, patient

    def learn(self, summaries: Iterable[Mapping[str, Any]]) -> None:
        """Name the entryUUIDs of answered objects whose uniqueId this run registered."""
        for s in summaries:
            uid, ident = s.get("uniqueId"), s.get("id")
            if uid in self.names and ident and ident not in self.names:
                self._name(ident, self.names[uid], self.owners[uid])

    def judged(self, key: str | None) -> bool:
        """Whether an answered object counts in an exact comparison (see the class docstring)."""
        return self.fresh_patients or key in self.names

    def name(self, key: str | None, summary: Mapping[str, Any] | None = None) -> str:
        if key in self.names:
            return self.names[key]
        summary = summary or {}
        kind = _KINDS.get(summary.get("mimeType") or "", "entry")
        patient = summary.get("patientId")
        return f"{kind} {key or '(no identifier)'}" + (f" of patient {patient}" if patient else "")

    def association(self, summary: Mapping[str, Any]) -> str:
        """``signs from the test patient's Signature01 2.25.1 to the test patient's submission set 2.25.2``."""
        return (f"{type_name(summary.get('associationType'))} from {self.name(summary.get('sourceObject'))} "
                f"to {self.name(summary.get('targetObject'))}")
