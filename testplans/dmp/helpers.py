"""Assertions shared by the dmp plan tests: each failure names its rule, location, expected, observed."""

from __future__ import annotations

from typing import Any

from harness.checks import expect, fail
from harness.xds.clients import SoapResult, XdsClient
from harness.xds.query import entry_summary
from testplans.dmp.conftest import ALL_STATUSES, APPROVED

SUCCESS = "urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Success"
FAILURE = "urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Failure"
PARTIAL = "urn:ihe:iti:2007:ResponseStatusType:PartialSuccess"


def where(result: SoapResult) -> str:
    env = result.envelope
    return f"HTTP {result.http_status} {env.action if env else result.content_type}"


def expect_success(result: SoapResult, rule: str, what: str) -> None:
    if result.fault is not None or result.message is None:
        fail(rule, where(result), "a RegistryResponse with status Success",
             result.fault or result.decode_error, f"{what}: SOAP fault or undecodable response")
    expect(result.status == SUCCESS, rule=rule, location=where(result), expected=SUCCESS,
           observed=f"{result.status} {[(e.code, e.context) for e in result.errors]}", message=f"{what} failed")


def expect_error(result: SoapResult, code: str, rule: str, what: str, status: str = FAILURE) -> None:
    if result.fault is not None or result.message is None:
        fail(rule, where(result), f"status {status} with {code}", result.fault or result.decode_error,
             f"{what}: a SOAP fault instead of a RegistryResponse")
    expect(result.status == status and code in result.error_codes, rule=rule, location=where(result),
           expected=f"{status} with RegistryError {code}", observed=f"{result.status} {result.error_codes}",
           message=f"{what}: wrong response")


def expect_fault(result: SoapResult, rule: str, what: str, code: str = "Sender") -> None:
    observed = result.fault.code if result.fault else (result.decode_error or f"{result.status} (no fault)")
    expect(result.fault is not None and result.fault.code == code and result.http_status in (400, 500),
           rule=rule, location=where(result), expected=f"SOAP 1.2 {code} fault (HTTP 400/500)",
           observed=f"HTTP {result.http_status} {observed}", message=what)


def find(client: XdsClient, patient: str, rule: str, statuses: list[str] | None = None,
         **params: Any) -> list[dict[str, Any]]:
    """FindDocuments -> entry summaries (fails the rule when the query itself fails)."""
    query = {"$XDSDocumentEntryPatientId": patient, "$XDSDocumentEntryStatus": statuses or [APPROVED], **params}
    result = client.query("FindDocuments", query)
    expect_success(result, rule, "FindDocuments")
    return [entry_summary(o) for o in result.query.objects]


def get_documents(client: XdsClient, rule: str, *, unique_ids: list[str] | None = None,
                  uuids: list[str] | None = None) -> list[dict[str, Any]]:
    params = ({"$XDSDocumentEntryUniqueId": unique_ids} if unique_ids is not None
              else {"$XDSDocumentEntryEntryUUID": uuids})
    result = client.query("GetDocuments", params)
    expect_success(result, rule, "GetDocuments")
    return [entry_summary(o) for o in result.query.objects]


def uids(summaries: list[dict[str, Any]]) -> set[str]:
    return {s["uniqueId"] for s in summaries}


__all__ = ["ALL_STATUSES", "FAILURE", "PARTIAL", "SUCCESS", "expect_error", "expect_fault", "expect_success",
           "find", "get_documents", "uids"]
