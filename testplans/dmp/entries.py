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
    """The objects this run registered (``known``: uniqueId or entryUUID -> (kind, patient), shared by the
    session), named from the point of view of one test: its ``patient`` and ``decoy`` patient.

    ``fresh_patients`` is False when the profile fixes the patients (``options.patients``): a query
    may then also return entries of earlier tests and runs, which the exact checks leave aside (only the
    objects this test registered, ``own``, and any entry of another patient, are judged)."""

    patient: str
    decoy: str
    known: dict[str, tuple[str, str]] = field(default_factory=dict)
    fresh_patients: bool = True
    decoys: dict[str, Submission] = field(default_factory=dict)  # test submission set uniqueId -> its twin
    own: set[str] = field(default_factory=set)  # the keys this test registered

    def record(self, sub: Submission, tag: str = "") -> None:
        patient = sub.submission_set.patientId or ""
        prefix = f"{tag} " if tag else ""
        for doc in sub.documents:
            if doc.uniqueId:
                self._add(doc.uniqueId, f"{prefix}{_KINDS.get(doc.mimeType or '', 'document')} {doc.uniqueId}",
                          patient)
        uid = sub.submission_set.uniqueId
        if uid:
            self._add(uid, f"{prefix}submission set {uid}", patient)

    def _add(self, key: str, kind: str, patient: str) -> None:
        self.known[key] = (kind, patient)
        self.own.add(key)

    def learn(self, summaries: Iterable[Mapping[str, Any]]) -> None:
        """Name the entryUUIDs of answered objects whose uniqueId this run registered."""
        for s in summaries:
            uid, ident = s.get("uniqueId"), s.get("id")
            if uid in self.known and ident and ident not in self.known:
                self.known[ident] = self.known[uid]
            if uid in self.own and ident:
                self.own.add(ident)

    def judged(self, key: str | None) -> bool:
        """Whether an answered object counts in an exact comparison (see the class docstring)."""
        return self.fresh_patients or key in self.own

    def whose(self, patient: str | None) -> str:
        """``the test patient``, ``the decoy patient`` or ``patient <CX>``."""
        if patient == self.patient:
            return f"the {TEST_OWNER}"
        if patient == self.decoy:
            return f"the {DECOY_OWNER}"
        return f"patient {patient}" if patient else "no patient"

    def name(self, key: str | None, summary: Mapping[str, Any] | None = None) -> str:
        """``the decoy patient's KOS 2.25.1``, ``KOS 2.25.1 of patient <CX>``; an object this run did not
        register is named from ``summary``."""
        if key in self.known:
            kind, patient = self.known[key]
        else:
            summary = summary or {}
            kind = f"{_KINDS.get(summary.get('mimeType') or '', 'entry')} {key or '(no identifier)'}"
            patient = summary.get("patientId")
        if patient in (self.patient, self.decoy):
            return f"{self.whose(patient)}'s {kind}"
        return f"{kind} of {self.whose(patient)}" if patient else kind

    def association(self, summary: Mapping[str, Any]) -> str:
        """``signs from the test patient's Signature01 2.25.1 to the test patient's submission set 2.25.2``."""
        return (f"{type_name(summary.get('associationType'))} from {self.name(summary.get('sourceObject'))} "
                f"to {self.name(summary.get('targetObject'))}")
