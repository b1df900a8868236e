"""Assertions shared by the dmp plan tests: each failure names its rule, location, expected, observed.

The query checks are exact: an answer holds the entries the query defines, no fewer and no more, each
with the status it must have; an entry of another patient is named as such (entries.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from harness.checks import expect, fail
from harness.xds.clients import SoapResult, XdsClient
from harness.xds.query import entry_summary
from testplans.dmp.entries import APPROVED, Ledger, listing, plural, status_name, type_name

SUCCESS = "urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Success"
FAILURE = "urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Failure"
PARTIAL = "urn:ihe:iti:2007:ResponseStatusType:PartialSuccess"

Summary = dict[str, Any]


def where(result: SoapResult) -> str:
    env = result.envelope
    return f"HTTP {result.http_status} {env.action if env else result.content_type}"


def answer(result: SoapResult) -> str:
    """What the SUT answered, in words: ``status Failure with XDSRegistryError (context)``, a SOAP fault..."""
    if result.fault is not None:
        return f"SOAP {result.fault.code} fault: {result.fault.reason}"
    if result.message is None:
        return f"an undecodable response ({result.decode_error})"
    errors = "; ".join(f"{e.code} ({e.context})" if e.context else e.code for e in result.errors)
    return f"status {status_name(result.status) or 'absent'}" + (f" with {errors}" if errors else "")


def expect_success(result: SoapResult, rule: str, what: str) -> None:
    if result.fault is not None or result.message is None:
        fail(rule, where(result), "a RegistryResponse with status Success", answer(result),
             f"{what}: SOAP fault or undecodable response")
    expect(result.status == SUCCESS, rule=rule, location=where(result), expected="status Success",
           observed=answer(result), message=f"{what} failed")


def expect_registry_response(result: SoapResult, rule: str, what: str) -> None:
    """A RegistryResponse, whatever its status (for checks of the message, not of the outcome)."""
    expect(result.fault is None and result.message is not None and result.status in (SUCCESS, FAILURE, PARTIAL),
           rule=rule, location=where(result), expected="a RegistryResponse", observed=answer(result),
           message=f"{what}: no RegistryResponse")


def expect_error(result: SoapResult, code: str, rule: str, what: str, status: str = FAILURE) -> None:
    if result.fault is not None or result.message is None:
        fail(rule, where(result), f"status {status_name(status)} with {code}", answer(result),
             f"{what}: a SOAP fault instead of a RegistryResponse")
    expect(result.status == status and code in result.error_codes, rule=rule, location=where(result),
           expected=f"status {status_name(status)} with {code}", observed=answer(result),
           message=f"{what}: wrong response")


def expect_fault(result: SoapResult, rule: str, what: str, code: str = "Sender") -> None:
    expect(result.fault is not None and result.fault.code == code and result.http_status in (400, 500),
           rule=rule, location=where(result), expected=f"SOAP 1.2 {code} fault (HTTP 400/500)",
           observed=f"HTTP {result.http_status}, {answer(result)}", message=what)


def query(client: XdsClient, name: str, params: Mapping[str, Any], rule: str, *,
          return_type: str = "LeafClass") -> SoapResult:
    """Run a stored query that must succeed (fails ``rule`` otherwise)."""
    result = client.query(name, params, return_type=return_type)
    expect_success(result, rule, name)
    assert result.query is not None
    return result


def find(client: XdsClient, patient: str, rule: str, statuses: list[str] | None = None,
         **params: Any) -> list[Summary]:
    """FindDocuments -> entry summaries (fails the rule when the query itself fails)."""
    params = {"$XDSDocumentEntryPatientId": patient, "$XDSDocumentEntryStatus": statuses or [APPROVED], **params}
    return summaries(query(client, "FindDocuments", params, rule))


def get_documents(client: XdsClient, rule: str, *, unique_ids: list[str] | None = None,
                  uuids: list[str] | None = None) -> list[Summary]:
    params = ({"$XDSDocumentEntryUniqueId": unique_ids} if unique_ids is not None
              else {"$XDSDocumentEntryEntryUUID": uuids})
    return summaries(query(client, "GetDocuments", params, rule))


def summaries(result: SoapResult, kind: str | None = None) -> list[Summary]:
    assert result.query is not None
    objects = result.query.objects if kind is None else result.query.of_kind(kind)
    return [entry_summary(o) for o in objects]


def uids(found: list[Summary]) -> set[str]:
    return {s["uniqueId"] for s in found}


def _entry(ledger: Ledger, s: Summary) -> str:
    return f"{ledger.name(s['uniqueId'], s)} ({status_name(s['status'])})"


def expect_entries(found: list[Summary], expected: Iterable[str], *, ledger: Ledger, rule: str, location: str,
                   what: str, patient: str | None = None, status: str | Mapping[str, str] | None = APPROVED) -> None:
    """``found`` holds exactly the ``expected`` uniqueIds, once each, of ``patient`` (when given), each
    with ``status`` (one status for all, or by uniqueId; None: not checked)."""
    want = set(expected)

    def status_of(uid: str) -> str | None:
        return status.get(uid) if isinstance(status, Mapping) else status

    foreign = [s for s in found if patient is not None and s["patientId"] != patient]
    judged = [s for s in found if s in foreign or s["uniqueId"] in want or ledger.judged(s["uniqueId"])]
    seen = [s["uniqueId"] for s in found]
    problems = []
    if foreign:
        named = (ledger.name(s["uniqueId"], s) for s in foreign)
        problems.append(f"{plural(len(foreign), 'entry', 'entries')} of another patient: {listing(named)}")
    extra = [s for s in judged if s["uniqueId"] not in want and s not in foreign]
    if extra:
        problems.append(f"entries it should not return: {listing(_entry(ledger, s) for s in extra)}")
    missing = want - set(seen)
    if missing:
        problems.append(f"missing: {listing(ledger.name(u) for u in missing)}")
    twice = {u for u in seen if seen.count(u) > 1 and u in want}
    if twice:
        problems.append(f"returned more than once: {listing(ledger.name(u) for u in twice)}")
    wrong = [s for s in found if s["uniqueId"] in want and status_of(s["uniqueId"])
             and s["status"] != status_of(s["uniqueId"])]
    if wrong:
        problems.append("wrong status: " + listing(f"{_entry(ledger, s)} instead of "
                                                   f"{status_name(status_of(s['uniqueId']))}" for s in wrong))
    if not problems:
        return
    others = len(found) - len(judged)
    observed = listing((_entry(ledger, s) for s in judged), "no entry") + (
        f", and {plural(others, 'entry', 'entries')} left aside (registered before this test)" if others else "")
    fail(rule, location, listing((f"{ledger.name(u)} ({status_name(status_of(u))})" if status_of(u)
                                  else ledger.name(u) for u in want), "no entry"), observed,
         f"{what}: {'; '.join(problems)}")


def expect_ids(found: Iterable[str], expected: Iterable[str], *, ledger: Ledger, rule: str, location: str,
               what: str) -> None:
    """``found`` (entryUUIDs, e.g. ObjectRefs) is exactly ``expected``, leaving aside ids registered before
    this test when the profile fixes the patients."""
    got, want = [i for i in found if i in set(expected) or ledger.judged(i)], set(expected)
    if set(got) == want and len(got) == len(want):
        return
    problems = [f"{label}: {listing(ledger.name(i) for i in ids)}" for label, ids in
                (("missing", want - set(got)), ("not expected", set(got) - want)) if ids]
    if len(got) != len(set(got)):
        problems.append("some returned more than once")
    fail(rule, location, listing((ledger.name(i) for i in want), "no object"),
         listing((ledger.name(i) for i in got), "no object"), f"{what}: {'; '.join(problems)}")


def expect_associations(found: list[Summary], expected: Iterable[tuple[str, str, str]], *, ledger: Ledger,
                        rule: str, location: str, what: str) -> None:
    """``found`` associations are exactly the (type, sourceObject, targetObject) triples ``expected``."""
    want = sorted(expected)
    got = sorted((s["associationType"] or "", s["sourceObject"] or "", s["targetObject"] or "") for s in found)
    judged = [t for t in got if t in want or ledger.judged(t[1]) or ledger.judged(t[2])]
    if judged == want:
        return

    def text(triples: Iterable[tuple[str, str, str]]) -> list[str]:
        return [f"{type_name(t)} from {ledger.name(s)} to {ledger.name(o)}" for t, s, o in triples]

    problems = [f"{label}: {listing(text(ts))}" for label, ts in
                (("missing", [t for t in want if t not in judged]),
                 ("not expected", [t for t in judged if t not in want])) if ts]
    if not problems:
        problems = ["some returned more than once"]
    fail(rule, location, listing(text(want), "no association"), listing(text(judged), "no association"),
         f"{what}: {'; '.join(problems)}")


__all__ = ["FAILURE", "PARTIAL", "SUCCESS", "answer", "expect_associations", "expect_entries", "expect_error",
           "expect_fault", "expect_ids", "expect_registry_response", "expect_success", "find", "get_documents",
           "query", "summaries", "uids"]
