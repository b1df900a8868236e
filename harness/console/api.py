"""The console's REST API (``/api/v1``), mirroring the CLI, and the Gazelle EVS v2 endpoints (``/validation/v2``).

Every call but the OpenAPI document needs an API token (``Authorization: Bearer TOKEN``, RFC 6750 §2.1; the
EVS endpoints also take ``Authorization: GazelleAPIKey TOKEN``): 401 without one. Errors are JSON
``{"error": message, "problems": [...]}``. The OpenAPI 3.1 document is :data:`OPENAPI`.
"""

from __future__ import annotations

import base64
import binascii
from pathlib import Path
from typing import Any

from flask import Blueprint, current_app, g, jsonify, request, send_file

from harness import __version__
from harness.console import evs
from harness.console.evidence import load_results
from harness.console.jobs import campaign_dir
from harness.console.security import api_auth, may_see, sees_everything
from harness.console.service import (
    RequestError,
    campaign_request,
    check_profile_text,
    reachability,
    save_profile,
    validate_blobs,
)

api = Blueprint("api", __name__, url_prefix="/api/v1")
gazelle = Blueprint("evs", __name__, url_prefix="/validation/v2")


def _console() -> Any:
    return current_app.extensions["console"]


def error(message: str, status: int, problems: list[str] | None = None) -> Any:
    response = jsonify({"error": message, "problems": problems or [message]})
    response.status_code = status
    return response


@api.errorhandler(RequestError)
@gazelle.errorhandler(RequestError)
def _refused(exc: RequestError) -> Any:
    return error(str(exc), exc.status, exc.problems)


@api.get("/openapi.json")
def openapi() -> Any:
    return jsonify(OPENAPI)


# -- validate ------------------------------------------------------------------------------------
@api.post("/validate")
@api_auth()
def validate() -> Any:
    """Multipart ``file`` parts (repeatable), or JSON ``{files: [{name, content (base64)}], profile, together}``."""
    if request.files:
        blobs = [(f.filename or "upload", f.read()) for f in request.files.getlist("file")]
        profile = request.form.get("profile", "dmp")
        together = request.form.get("together") in ("1", "true", "on")
    else:
        body = request.get_json(silent=True)
        if not isinstance(body, dict) or not isinstance(body.get("files"), list):
            raise RequestError("send multipart/form-data file parts, or JSON {files: [{name, content}]}", status=400)
        blobs = []
        for i, item in enumerate(body["files"]):
            try:
                blobs.append((str(item.get("name") or f"file-{i}"),
                              base64.b64decode(item.get("content") or "", validate=True)))
            except (binascii.Error, ValueError, TypeError, AttributeError):
                raise RequestError(f"files[{i}].content is not base64", status=400) from None
        profile, together = str(body.get("profile", "dmp")), bool(body.get("together"))
    reports = validate_blobs(blobs, profile=profile, together=together)
    return jsonify({"ok": all(r["ok"] for r in reports), "reports": reports})


# -- profiles ------------------------------------------------------------------------------------
def _profile_json(p: dict[str, Any]) -> dict[str, Any]:
    return {"id": p["id"], "name": p["name"], "actor": p["actor"], "version": p["current_version"],
            "created": p["created"]}


def _visible_profile(profile_id: int) -> dict[str, Any] | None:
    p = _console().store.profile(profile_id)
    return p if p and may_see(g.user, p["created_by"]) else None


@api.get("/profiles")
@api_auth()
def list_profiles() -> Any:
    rows = [p for p in _console().store.list_profiles() if may_see(g.user, p["created_by"])]
    return jsonify([_profile_json(p) for p in rows])


@api.post("/profiles")
@api_auth()
def create_profile() -> Any:
    body = request.get_json(silent=True) or {}
    text = body.get("yaml")
    if not isinstance(text, str):
        raise RequestError("send JSON {yaml: PROFILE_TEXT}", status=400)
    pid, version, check = save_profile(_console().store, _console().data, g.user, text)
    return jsonify({"id": pid, "version": version, **check.to_dict()}), 201


@api.get("/profiles/<int:profile_id>")
@api_auth()
def get_profile(profile_id: int) -> Any:
    p = _visible_profile(profile_id)
    if p is None:
        return error(f"no profile {profile_id}", 404)
    text = _console().store.version(profile_id, p["current_version"])["yaml"]
    versions = _console().store.versions(profile_id)
    return jsonify(_profile_json(p) | {"yaml": text, "versions": [v["version"] for v in versions]})


@api.put("/profiles/<int:profile_id>")
@api_auth()
def update_profile(profile_id: int) -> Any:
    if _visible_profile(profile_id) is None:
        return error(f"no profile {profile_id}", 404)
    body = request.get_json(silent=True) or {}
    if not isinstance(body.get("yaml"), str):
        raise RequestError("send JSON {yaml: PROFILE_TEXT}", status=400)
    pid, version, check = save_profile(_console().store, _console().data, g.user, body["yaml"], profile_id)
    return jsonify({"id": pid, "version": version, **check.to_dict()})


@api.post("/profiles/check")
@api_auth()
def check_profile() -> Any:
    """``drimcheck profile check`` on a text, nothing saved; ``connect: true`` also tries the endpoints."""
    body = request.get_json(silent=True) or {}
    if not isinstance(body.get("yaml"), str):
        raise RequestError("send JSON {yaml: PROFILE_TEXT, connect: false}", status=400)
    out = check_profile_text(body["yaml"], _console().data).to_dict()
    if body.get("connect"):
        out["endpoints"] = reachability(body["yaml"], _console().data)
    return jsonify(out)


# -- campaigns -----------------------------------------------------------------------------------
def campaign_json(c: dict[str, Any]) -> dict[str, Any]:
    return {"id": c["id"], "state": c["state"], "sut": c["sut"], "profile_version": c["profile_version"],
            "plans": c["plans"], "only": c["only"], "created": c["created"], "started": c["started"],
            "finished": c["finished"], "by": c.get("by"), "exit_code": c["exit_code"],
            "verdict": None if c["partial"] and c["state"] != "finished" else c["verdict"],
            "partial": bool(c["partial"]), "progress": {"done": c["done"], "total": c["total"]},
            "error": c["error"], "rerun_of": c["rerun_of"]}


def _visible_campaign(campaign_id: int) -> dict[str, Any] | None:
    c = _console().store.campaign(campaign_id)
    return c if c and may_see(g.user, c["created_by"]) else None


@api.get("/campaigns")
@api_auth()
def list_campaigns() -> Any:
    rows = _console().store.list_campaigns()
    return jsonify([campaign_json(c) for c in rows if sees_everything(g.user) or c["created_by"] == g.user["id"]])


@api.post("/campaigns")
@api_auth()
def start_campaign() -> Any:
    """``{sut: "reference:..."}`` or ``{profile_id: N}``, ``plans: [...]``, optional ``only: [...]``."""
    body = request.get_json(silent=True) or {}
    plans = body.get("plans")
    if not isinstance(plans, list) or not all(isinstance(p, str) for p in plans):
        raise RequestError("send JSON {sut | profile_id, plans: [...], only: [...]}", status=400)
    only = body.get("only") or []
    if not isinstance(only, list) or not all(isinstance(o, str) for o in only):
        raise RequestError("only: a list of requirement ids or test node ids", status=400)
    profile_id = body.get("profile_id")
    if profile_id is not None and not isinstance(profile_id, int):
        raise RequestError("profile_id: a number", status=400)
    cid = campaign_request(_console().store, _console().data, g.user, sut=str(body.get("sut") or ""),
                           profile_id=profile_id, plans=plans, only=only)
    return jsonify(campaign_json(_console().store.campaign(cid))), 202


@api.get("/campaigns/<int:campaign_id>")
@api_auth()
def campaign_status(campaign_id: int) -> Any:
    c = _visible_campaign(campaign_id)
    return jsonify(campaign_json(c)) if c else error(f"no campaign {campaign_id}", 404)


@api.post("/campaigns/<int:campaign_id>/cancel")
@api_auth()
def cancel_campaign(campaign_id: int) -> Any:
    c = _visible_campaign(campaign_id)
    if c is None:
        return error(f"no campaign {campaign_id}", 404)
    if not _console().worker.cancel(campaign_id):
        return error(f"campaign {campaign_id} has already ended ({c['state']})", 409)
    return jsonify(campaign_json(_console().store.campaign(campaign_id)))


def _out(campaign_id: int) -> Path:
    return campaign_dir(_console().data, campaign_id) / "out"


@api.get("/campaigns/<int:campaign_id>/results")
@api_auth()
def campaign_results(campaign_id: int) -> Any:
    c = _visible_campaign(campaign_id)
    if c is None:
        return error(f"no campaign {campaign_id}", 404)
    results = load_results(_out(campaign_id)) if c["state"] == "finished" else None
    if results is None:
        return error(f"campaign {campaign_id} is {c['state']}: it has no results.json (partial outcomes are not a "
                     "result)", 409)
    return jsonify(results)


@api.get("/campaigns/<int:campaign_id>/report")
@api_auth()
def campaign_report(campaign_id: int) -> Any:
    """``?file=report.html`` (default), ``junit.xml``, ``results.json``, ``coverage.csv`` or ``evidence.zip``."""
    c = _visible_campaign(campaign_id)
    if c is None:
        return error(f"no campaign {campaign_id}", 404)
    name = request.args.get("file", "report.html")
    if name not in REPORT_FILES:
        return error(f"file {name!r}: choose {', '.join(REPORT_FILES)}", 400)
    path = _out(campaign_id) / name
    if c["state"] != "finished" or not path.is_file():
        return error(f"campaign {campaign_id} is {c['state']}: no {name}", 409)
    return send_file(path, mimetype=REPORT_FILES[name], as_attachment=name != "report.html",
                     download_name=f"campaign-{campaign_id}-{name}")


REPORT_FILES = {"report.html": "text/html", "junit.xml": "application/xml", "results.json": "application/json",
                "coverage.csv": "text/csv", "evidence.zip": "application/zip"}


# -- Gazelle EVS v2 ------------------------------------------------------------------------------
@gazelle.get("/profiles")
@api_auth()
def evs_profiles() -> Any:
    return jsonify(evs.profiles())


@gazelle.post("/validate")
@api_auth()
def evs_validate() -> Any:
    body = request.get_json(silent=True)
    if body is None:
        raise RequestError("send a JSON validation request {validationProfileId, inputs}", status=400)
    return jsonify(evs.validate(body))


# -- OpenAPI 3.1 ---------------------------------------------------------------------------------
def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


_ERRORS = {"401": {"$ref": "#/components/responses/Unauthorized"}}
_ID = [{"name": "campaign_id", "in": "path", "required": True, "schema": {"type": "integer"}}]
_PID = [{"name": "profile_id", "in": "path", "required": True, "schema": {"type": "integer"}}]
_PROFILE_TEXT = {"type": "object", "required": ["yaml"], "properties": {"yaml": {"type": "string"}}}
OPENAPI: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "DRIMcheck console API", "version": __version__,
             "description": "Campaigns, SUT profiles, results and validators of DRIMcheck, the conformance test bed "
                            "of the DRIM-M imaging network; the same operations as the drimcheck CLI."},
    "servers": [{"url": "/"}],
    "security": [{"bearer": []}],
    "paths": {
        "/api/v1/validate": {"post": {
            "summary": "Validate content files (drimcheck validate)",
            "requestBody": {"required": True, "content": {
                "multipart/form-data": {"schema": {"type": "object", "properties": {
                    "file": {"type": "array", "items": {"type": "string", "contentMediaType":
                                                        "application/octet-stream"}},
                    "profile": {"type": "string", "enum": ["dmp", "xds"]}, "together": {"type": "string"}}}},
                "application/json": {"schema": _ref("ValidateRequest")}}},
            "responses": {"200": _json(_ref("ValidateResponse"), "findings per file"), **_ERRORS,
                          "400": {"$ref": "#/components/responses/Error"}}}},
        "/api/v1/profiles": {
            "get": {"summary": "List SUT profiles", "responses": {
                "200": _json({"type": "array", "items": _ref("Profile")}, "profiles"), **_ERRORS}},
            "post": {"summary": "Create a SUT profile (checked like drimcheck profile check)",
                     "requestBody": {"required": True, "content": {"application/json": {"schema": _PROFILE_TEXT}}},
                     "responses": {"201": _json(_ref("ProfileSaved"), "created"), **_ERRORS,
                                   "422": {"$ref": "#/components/responses/Error"}}}},
        "/api/v1/profiles/check": {"post": {
            "summary": "Check a profile text without saving it",
            "requestBody": {"required": True, "content": {"application/json": {"schema": {
                "type": "object", "required": ["yaml"],
                "properties": {"yaml": {"type": "string"}, "connect": {"type": "boolean"}}}}}},
            "responses": {"200": _json(_ref("ProfileCheck"), "every problem"), **_ERRORS}}},
        "/api/v1/profiles/{profile_id}": {
            "parameters": _PID,
            "get": {"summary": "A profile, its current text and versions", "responses": {
                "200": _json(_ref("Profile"), "the profile"), **_ERRORS,
                "404": {"$ref": "#/components/responses/Error"}}},
            "put": {"summary": "Save a new version", "requestBody": {"required": True, "content": {
                "application/json": {"schema": _PROFILE_TEXT}}},
                "responses": {"200": _json(_ref("ProfileSaved"), "saved"), **_ERRORS,
                              "404": {"$ref": "#/components/responses/Error"},
                              "422": {"$ref": "#/components/responses/Error"}}}},
        "/api/v1/campaigns": {
            "get": {"summary": "List campaigns", "responses": {
                "200": _json({"type": "array", "items": _ref("Campaign")}, "campaigns"), **_ERRORS}},
            "post": {"summary": "Start a campaign (drimcheck run)", "requestBody": {"required": True, "content": {
                "application/json": {"schema": _ref("CampaignRequest")}}},
                "responses": {"202": _json(_ref("Campaign"), "queued"), **_ERRORS,
                              "422": {"$ref": "#/components/responses/Error"}}}},
        "/api/v1/campaigns/{campaign_id}": {"parameters": _ID, "get": {
            "summary": "A campaign's state and progress", "responses": {
                "200": _json(_ref("Campaign"), "the campaign"), **_ERRORS,
                "404": {"$ref": "#/components/responses/Error"}}}},
        "/api/v1/campaigns/{campaign_id}/cancel": {"parameters": _ID, "post": {
            "summary": "Cancel a queued or running campaign", "responses": {
                "200": _json(_ref("Campaign"), "cancelled"), **_ERRORS,
                "409": {"$ref": "#/components/responses/Error"}}}},
        "/api/v1/campaigns/{campaign_id}/results": {"parameters": _ID, "get": {
            "summary": "results.json of a finished campaign (schemas/results.schema.json)", "responses": {
                "200": _json({"type": "object"}, "results"), **_ERRORS,
                "409": {"$ref": "#/components/responses/Error"}}}},
        "/api/v1/campaigns/{campaign_id}/report": {"parameters": [*_ID, {
            "name": "file", "in": "query", "schema": {"type": "string", "enum": list(REPORT_FILES)}}], "get": {
            "summary": "A report file of a finished campaign", "responses": {
                "200": {"description": "the file", "content": {t: {} for t in sorted(set(REPORT_FILES.values()))}},
                **_ERRORS, "409": {"$ref": "#/components/responses/Error"}}}},
        "/validation/v2/profiles": {"get": {
            "summary": "Gazelle EVS API v2: validation profiles", "responses": {
                "200": _json({"type": "array", "items": {"type": "object"}}, "profiles"), **_ERRORS}}},
        "/validation/v2/validate": {"post": {
            "summary": "Gazelle EVS API v2: validate base64 inputs", "requestBody": {"required": True, "content": {
                "application/json": {"schema": _ref("EvsRequest")}}},
            "responses": {"200": _json({"type": "object"}, "ValidationReport"), **_ERRORS,
                          "400": {"$ref": "#/components/responses/Error"}}}},
    },
    "components": {
        "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                                       "description": "an API token made on the console's API tokens page"}},
        "responses": {
            "Unauthorized": _json(_ref("Error"), "no valid API token"),
            "Error": _json(_ref("Error"), "refused, with every reason"),
        },
        "schemas": {
            "Error": {"type": "object", "required": ["error"], "properties": {
                "error": {"type": "string"}, "problems": {"type": "array", "items": {"type": "string"}}}},
            "ValidateRequest": {"type": "object", "required": ["files"], "properties": {
                "files": {"type": "array", "items": {"type": "object", "required": ["content"], "properties": {
                    "name": {"type": "string"}, "content": {"type": "string", "contentEncoding": "base64"}}}},
                "profile": {"type": "string", "enum": ["dmp", "xds"]}, "together": {"type": "boolean"}}},
            "ValidateResponse": {"type": "object", "properties": {
                "ok": {"type": "boolean"}, "reports": {"type": "array", "items": {"type": "object", "properties": {
                    "file": {"type": "string"}, "kind": {"type": "string"}, "ok": {"type": "boolean"},
                    "findings": {"type": "array", "items": {"type": "object"}},
                    "rule_sets": {"type": "array", "items": {"type": "object"}}}}}}},
            "Profile": {"type": "object", "properties": {
                "id": {"type": "integer"}, "name": {"type": "string"}, "actor": {"type": "string"},
                "version": {"type": "integer"}, "yaml": {"type": "string"},
                "versions": {"type": "array", "items": {"type": "integer"}}}},
            "ProfileCheck": {"type": "object", "properties": {
                "name": {"type": "string"}, "actor": {"type": "string"},
                "problems": {"type": "array", "items": {"type": "string"}},
                "placeholders": {"type": "array", "items": {"type": "string"}},
                "missing_for_plan": {"type": "array", "items": {"type": "string"}},
                "endpoints": {"type": "array", "items": {"type": "object"}}}},
            "ProfileSaved": {"type": "object", "properties": {
                "id": {"type": "integer"}, "version": {"type": "integer"},
                "problems": {"type": "array", "items": {"type": "string"}}}},
            "CampaignRequest": {"type": "object", "required": ["plans"], "properties": {
                "sut": {"type": "string", "examples": ["reference:content", "reference:dmp?fault=wrong-hash"]},
                "profile_id": {"type": "integer"},
                "plans": {"type": "array", "items": {"type": "string"}},
                "only": {"type": "array", "items": {"type": "string"}}}},
            "Campaign": {"type": "object", "properties": {
                "id": {"type": "integer"},
                "state": {"type": "string", "enum": ["queued", "running", "finished", "failed", "cancelled",
                                                     "interrupted"]},
                "sut": {"type": "string"}, "plans": {"type": "array", "items": {"type": "string"}},
                "only": {"type": "array", "items": {"type": "string"}},
                "verdict": {"type": ["string", "null"]}, "partial": {"type": "boolean"},
                "exit_code": {"type": ["integer", "null"]}, "error": {"type": ["string", "null"]},
                "progress": {"type": "object", "properties": {"done": {"type": "integer"},
                                                              "total": {"type": "integer"}}}}},
            "EvsRequest": {"type": "object", "required": ["validationProfileId", "inputs"], "properties": {
                "validationProfileId": {"type": "string"},
                "inputs": {"type": "array", "items": {"type": "object", "required": ["content"], "properties": {
                    "id": {"type": "string"}, "itemId": {"type": "string"},
                    "content": {"type": "string", "contentEncoding": "base64"}}}}}},
        },
    },
}
OPENAPI["paths"]["/api/v1/openapi.json"] = {"get": {"summary": "This document", "security": [],
                                                    "responses": {"200": {"description": "OpenAPI 3.1"}}}}
