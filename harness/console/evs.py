"""A Gazelle EVS validation API v2 face on DRIMcheck's validators, so tools that call Gazelle's External
Validation Service (Gazelle Maestro, Test Management) can call DRIMcheck the same way.

Shapes follow the Gazelle ``validation-service-api`` 2.0 models as the public Matchbox implementation
(ahdis/matchbox, ``validation/gazelle/models/validation``) copies them:

- ``GET /validation/v2/profiles``: a list of ``{profileID, profileName, version, domain, coveredItems, standards,
  inputs: [{id, label, required}]}``;
- ``POST /validation/v2/validate``: ``{validationProfileId, inputs: [{id, itemId, content (base64), location}]}``;
  the answer is a ``ValidationReport``: ``{uuid, dateTime, modelVersion "2.0", disclaimer, validationMethod
  {validationServiceName, validationServiceVersion, validationProfileID, validationProfileVersion,
  validationProfileName}, overallResult, inputs, reports, counters}``, each sub-report ``{name, standards,
  subReportResult, subReports, assertionReports, subCounters}``, each assertion ``{assertionID, assertionType,
  description, subjectLocation, subjectValue, requirementIDs, severity, priority, result}``, results PASSED /
  FAILED / UNDEFINED, severities ERROR / WARNING / INFO, counters ``numberOfAssertions``,
  ``numberOfFailedWithInfos|Warnings|Errors``, ``numberOfUnexpectedErrors``, ``numberOfUndefined``.

Not confirmed from a public text: the priority value ``PERMITTED`` (only ``MANDATORY`` and ``RECOMMENDED`` were
seen), the echo of ``inputs`` in the report without their ``content`` (we leave the content out: the caller sent
it), and the HTTP status of a malformed request (we answer 400 with ``{"error": ...}``).

Results: a sub-report per input is FAILED when a finding is an error, UNDEFINED when the input is of no known
kind or no rule set could run on it, else PASSED (the verdict of ``drimcheck validate``; the rule sets it
skipped are listed as UNDEFINED assertions); the overall result is the heaviest (UNDEFINED > FAILED > PASSED,
Gazelle's weights).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import uuid
from typing import Any

from harness import __version__
from harness.console.service import RequestError, validate_blobs

MODEL_VERSION = "2.0"
SERVICE_NAME = "DRIMcheck"
INPUT_ID = "contentToValidate"
PROFILES = {
    "drimcheck-dmp": ("dmp", "DRIM-M content: IHE and CI-SIS / DMP rules (KOS, XDS metadata, CR-IMG CDA, HL7 v2, XDM)"),
    "drimcheck-xds": ("xds", "IHE rules only (KOS, XDS metadata, CDA, HL7 v2, XDM)"),
}
STANDARDS = ["IHE RAD TF-3 KOS (XDS-I.b)", "IHE ITI TF-3 XDS.b metadata", "CI-SIS CR-IMG", "HL7 v2.5 (IHE PAM FR)",
             "IHE ITI TF-2b XDM (ITI-32)"]
WEIGHT = {"PASSED": 0, "FAILED": 1, "UNDEFINED": 2}
SEVERITY = {"error": "ERROR", "warning": "WARNING", "info": "INFO"}
PRIORITY = {"error": "MANDATORY", "warning": "RECOMMENDED", "info": "PERMITTED"}
MAX_INPUTS = 20


def profiles() -> list[dict[str, Any]]:
    return [{"profileID": pid, "profileName": name, "version": __version__, "domain": "DRIM-M",
             "coveredItems": ["KOS", "XDS metadata", "CR-IMG CDA", "HL7 v2", "XDM"], "standards": STANDARDS,
             "inputs": [{"id": INPUT_ID, "label": "a DRIMbox content file (DICOM, XML, HL7 v2, XDM ZIP)",
                         "required": True}]}
            for pid, (_rules, name) in PROFILES.items()]


def parse_request(body: Any) -> tuple[str, list[tuple[str, bytes]]]:
    """(profile id, [(item id, bytes)]) of a validation request; RequestError naming every problem."""
    problems = []
    if not isinstance(body, dict):
        raise RequestError("the body is a JSON object {validationProfileId, inputs}", status=400)
    pid = body.get("validationProfileId")
    if not isinstance(pid, str) or pid not in PROFILES:
        problems.append(f"validationProfileId: {pid!r} is not one of {', '.join(PROFILES)} "
                        "(GET /validation/v2/profiles)")
    inputs = body.get("inputs")
    blobs: list[tuple[str, bytes]] = []
    if not isinstance(inputs, list) or not inputs:
        problems.append("inputs: a non-empty list of {id, itemId, content (base64)}")
        inputs = []
    if len(inputs) > MAX_INPUTS:
        problems.append(f"inputs: at most {MAX_INPUTS}")
        inputs = []
    for i, item in enumerate(inputs):
        if not isinstance(item, dict):
            problems.append(f"inputs[{i}]: an object {{id, itemId, content}}")
            continue
        if item.get("location") and not item.get("content"):
            problems.append(f"inputs[{i}].location: content given by URL is not fetched: send it as content")
            continue
        try:
            content = base64.b64decode(item.get("content") or "", validate=True)
        except (binascii.Error, ValueError, TypeError):
            problems.append(f"inputs[{i}].content: not base64")
            continue
        if not content:
            problems.append(f"inputs[{i}].content: empty")
            continue
        blobs.append((str(item.get("itemId") or item.get("id") or f"input-{i}"), content))
    if problems:
        raise RequestError(f"{len(problems)} problem(s) in the validation request", problems, status=400)
    return pid, blobs


def validate(body: Any) -> dict[str, Any]:
    pid, blobs = parse_request(body)
    rules, name = PROFILES[pid]
    items = validate_blobs(blobs, profile=rules)
    reports = [_sub_report(item) for item in items]
    counters = _sum([r["subCounters"] for r in reports])
    overall = max((r["subReportResult"] for r in reports), key=WEIGHT.__getitem__, default="UNDEFINED")
    return {
        "uuid": str(uuid.uuid4()), "dateTime": dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds"),
        "modelVersion": MODEL_VERSION,
        "disclaimer": "DRIMcheck conformance findings; a PASSED input met the rule sets listed, the rule sets "
                      "listed UNDEFINED were not run on it.",
        "validationMethod": {"validationServiceName": SERVICE_NAME, "validationServiceVersion": __version__,
                             "validationProfileID": pid, "validationProfileVersion": __version__,
                             "validationProfileName": name},
        "overallResult": overall,
        "inputs": [{"id": INPUT_ID, "itemId": item_id} for item_id, _ in blobs],
        "reports": reports, "counters": counters,
    }


def _sub_report(item: dict[str, Any]) -> dict[str, Any]:
    assertions = [_assertion(f) for f in item["findings"]]
    assertions += [{"assertionID": f"RULESET-{r['name']}", "assertionType": "rule set",
                    "description": f"rule set {r['name']} not run: {r.get('reason') or 'no reason given'}",
                    "severity": "INFO", "priority": "PERMITTED", "result": "UNDEFINED"}
                   for r in item["rule_sets"] if r["status"] == "skipped"]
    ran = any(r["status"] == "ran" for r in item["rule_sets"])
    if not item["ok"]:
        result = "FAILED"
    elif item["kind"] == "unknown" or not ran:
        result = "UNDEFINED"
    else:
        result = "PASSED"
    standards = [f"{r['name']} {r['version']}" if r.get("version") else r["name"]
                 for r in item["rule_sets"] if r["status"] == "ran"]
    report = {"name": f"{item['file']} ({item['kind']})", "subReportResult": result,
              "assertionReports": assertions or None, "subCounters": _count(assertions)}
    if standards:
        report["standards"] = standards
    return {k: v for k, v in report.items() if v is not None}


def _assertion(finding: dict[str, Any]) -> dict[str, Any]:
    sev = finding["severity"]
    expected = f" (expected {finding['expected']})" if finding.get("expected") else ""
    out = {"assertionID": finding["rule"], "assertionType": finding.get("origin") or "drimcheck",
           "description": finding["message"] + expected,
           "subjectLocation": finding.get("location") or None, "subjectValue": finding.get("found") or None,
           "requirementIDs": [finding["rule"]], "severity": SEVERITY.get(sev, "INFO"),
           "priority": PRIORITY.get(sev, "PERMITTED"), "result": "FAILED"}
    return {k: v for k, v in out.items() if v is not None}


def _count(assertions: list[dict[str, Any]]) -> dict[str, int]:
    failed = [a for a in assertions if a["result"] == "FAILED"]
    return {"numberOfAssertions": len(assertions),
            "numberOfFailedWithInfos": sum(a["severity"] == "INFO" for a in failed),
            "numberOfFailedWithWarnings": sum(a["severity"] == "WARNING" for a in failed),
            "numberOfFailedWithErrors": sum(a["severity"] == "ERROR" for a in failed),
            "numberOfUnexpectedErrors": 0,
            "numberOfUndefined": sum(a["result"] == "UNDEFINED" for a in assertions)}


def _sum(counters: list[dict[str, int]]) -> dict[str, int]:
    keys = ("numberOfAssertions", "numberOfFailedWithInfos", "numberOfFailedWithWarnings", "numberOfFailedWithErrors",
            "numberOfUnexpectedErrors", "numberOfUndefined")
    return {k: sum(c[k] for c in counters) for k in keys}
