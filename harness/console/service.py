"""What the console's pages and its API both do: check and save profiles, start campaigns, validate uploads.

Profiles are checked by the CLI's own functions (:func:`harness.sut.profile_from_data`,
:func:`harness.profile_cmd.placeholders_left`, :func:`harness.sut.missing_for_plan`,
:func:`harness.profile_cmd.endpoint_addresses`), so the console names the same problems as ``drimcheck profile
check``; campaign requests are checked by the runner's own resolution (:mod:`harness.runner`) before they are
queued, so a bad SUT or plan is refused at once with the CLI's message, not left to fail in the background.
"""

from __future__ import annotations

import os
import re
import socket
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from harness.console.jobs import profile_file
from harness.console.security import may_see
from harness.console.storage import Store

MAX_PROFILE_BYTES = 256 * 1024
MAX_ONLY = 50
ONLY_PATTERN = re.compile(r"^[A-Za-z0-9_.:/\[\]\-]{1,300}$")
ACTOR_ALIASES = {"source": "source_drimbox", "consumer": "consumer_drimbox", "dmp": "dmp", "content": "content"}


class RequestError(ValueError):
    """A request the console refuses; ``problems`` lists every reason (one line each)."""

    def __init__(self, message: str, problems: list[str] | None = None, status: int = 422) -> None:
        super().__init__(message)
        self.problems = problems or [message]
        self.status = status  # 400 a malformed request, 422 a well-formed one refused


@dataclass
class ProfileCheck:
    """A profile text as ``drimcheck profile check`` judges it: ``problems`` block a save, the rest inform."""

    name: str = ""
    actor: str = ""
    problems: list[str] = field(default_factory=list)
    placeholders: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "actor": self.actor, "problems": self.problems,
                "placeholders": self.placeholders, "missing_for_plan": self.missing}


def files_folder(data: Path) -> Path:
    """The folder relative paths in a console profile are read from (see :func:`jobs.profile_file`)."""
    return data / "files"


def check_profile_text(text: str, data: Path) -> ProfileCheck:
    """Every problem of a profile's YAML at once: YAML syntax, schema, paths (read from ``DATA/files/``),
    then, as information, the template placeholders left and what the actor's plan needs that is absent."""
    from harness.profile_cmd import placeholders_left
    from harness.sut import PLAN_NEEDS, missing_for_plan, profile_from_data

    if len(text.encode("utf-8")) > MAX_PROFILE_BYTES:
        return ProfileCheck(problems=[f"(file): larger than {MAX_PROFILE_BYTES // 1024} KB: a profile is a few lines"])
    try:
        data_obj = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        return ProfileCheck(problems=[f"(YAML): not readable: {exc}"])
    profile, problems = profile_from_data(data_obj, files_folder(data) / "profile.yaml")
    check = ProfileCheck(name=profile.name if isinstance(data_obj, dict) and data_obj.get("name") else "",
                         actor=profile.actor, problems=list(problems))
    if isinstance(data_obj, (dict, list)):
        check.placeholders = placeholders_left(data_obj)
    if profile.actor in PLAN_NEEDS and not problems:
        check.missing = missing_for_plan(profile, profile.actor)
    if not check.name and not problems:
        check.problems.append("name: required here: the console lists profiles by name (e.g. Acme DRIMbox 2.3)")
    return check


def template(actor: str) -> str:
    """The ``drimcheck profile init`` template of ``actor`` (source, consumer, dmp, content)."""
    from harness.profile_cmd import template as init_template

    if actor not in ACTOR_ALIASES:
        raise RequestError(f"actor {actor!r}: choose {', '.join(ACTOR_ALIASES)}")
    return init_template(actor)


def write_version(data: Path, profile_id: int, version: int, text: str) -> Path:
    """Write a version's file atomically (a reader never sees half of it)."""
    path = profile_file(data, profile_id, version)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
    return path


def save_profile(store: Store, data: Path, user: dict[str, Any], text: str,
                 profile_id: int | None = None) -> tuple[int, int, ProfileCheck]:
    """Create a profile or add a version to it; RequestError listing every problem when the text is refused
    (nothing is written then)."""
    check = check_profile_text(text, data)
    if not check.ok:
        raise RequestError(f"the profile has {len(check.problems)} problem(s)", check.problems)
    if profile_id is None:
        profile_id = store.add_profile(check.name, check.actor, text, user["id"])
        version = 1
    else:
        own = store.profile(profile_id)
        if own is None or not may_see(user, own["created_by"]):
            raise LookupError(f"no profile {profile_id}")
        version = store.add_version(profile_id, check.name, check.actor, text, user["id"])
    write_version(data, profile_id, version, text)
    return profile_id, version, check


def reachability(text: str, data: Path, timeout: float = 3.0) -> list[dict[str, Any]]:
    """Whether each endpoint of the profile accepts a TCP connection, as ``drimcheck profile check`` tries
    them (its :func:`~harness.profile_cmd.endpoint_addresses`; placeholders and impossible ports not tried)."""
    from harness.profile_cmd import PLACEHOLDER, endpoint_addresses
    from harness.sut import profile_from_data

    try:
        profile, _ = profile_from_data(yaml.safe_load(text), files_folder(data) / "profile.yaml")
    except yaml.YAMLError:
        return []
    rows = []
    for where, host, port in endpoint_addresses(profile):
        if PLACEHOLDER in host.lower() or not 0 < port < 65536:
            rows.append({"field": where, "address": f"{host}:{port}", "ok": False,
                         "message": "placeholder or impossible port: not tried"})
            continue
        try:
            with socket.create_connection((host, port), timeout=timeout):
                rows.append({"field": where, "address": f"{host}:{port}", "ok": True, "message": "accepts connections"})
        except (OSError, OverflowError) as exc:
            rows.append({"field": where, "address": f"{host}:{port}", "ok": False,
                         "message": f"does not accept a connection ({exc.strerror or exc}): start the SUT or "
                                    "fix the address"})
    return rows


# -- campaigns ---------------------------------------------------------------------------------------
def plan_names() -> list[str]:
    from harness.runner import available_plans

    return sorted(available_plans())


def campaign_request(store: Store, data: Path, user: dict[str, Any], *, sut: str = "", profile_id: int | None = None,
                     plans: list[str], only: list[str] | None = None, rerun_of: int | None = None) -> int:
    """Queue a campaign after the runner's own checks (SUT, plans of its actor, what the profile lacks);
    RequestError with the CLI's message when refused."""
    from harness import runner

    only = [o.strip() for o in only or [] if o.strip()]
    if not plans:
        raise RequestError("choose at least one plan (or all)")
    known = plan_names()
    bad = [p for p in plans if p != "all" and p not in known]
    if bad:
        raise RequestError(f"unknown plan(s) {', '.join(bad)}: choose from all, {', '.join(known)}")
    if len(only) > MAX_ONLY or any(not ONLY_PATTERN.match(o) for o in only):
        raise RequestError(f"'only' takes up to {MAX_ONLY} requirement ids or test node ids "
                           "(letters, digits, . _ - : / [ ])")
    version = None
    if profile_id is not None:
        profile = store.profile(profile_id)
        if profile is None or not may_see(user, profile["created_by"]):
            raise RequestError(f"no profile {profile_id}")
        version = profile["current_version"]
        path = profile_file(data, profile_id, version)
        if not path.is_file():
            write_version(data, profile_id, version, store.version(profile_id, version)["yaml"])
        spec, sut = str(path), f"profile:{profile_id}"
    else:
        spec = sut.strip()
        if not spec.startswith("reference:"):
            raise RequestError("the SUT is a stored profile or a reference (reference:source|consumer|dmp|content"
                               "[?fault=NAME], reference:all)")
    try:
        profiles = runner.resolve_profiles(spec)
        runner.check_needs(runner.resolve_plans(plans, profiles))
    except runner.HarnessError as exc:
        raise RequestError(str(exc)) from None
    return store.add_campaign(sut=sut if profile_id is None else f"profile:{profile_id}", plans=plans, only=only,
                              user_id=user["id"], profile_id=profile_id, profile_version=version, rerun_of=rerun_of)


def sut_label(store: Store, campaign: dict[str, Any]) -> str:
    if campaign["profile_id"]:
        profile = store.profile(campaign["profile_id"])
        name = profile["name"] if profile else f"profile {campaign['profile_id']}"
        return f"{name} (v{campaign['profile_version']})"
    return campaign["sut"]


# -- validators --------------------------------------------------------------------------------------
MAX_UPLOAD_FILES = 20


def validate_blobs(blobs: list[tuple[str, bytes]], profile: str = "dmp",
                   together: bool = False) -> list[dict[str, Any]]:
    """``drimcheck validate`` on uploaded files: each written to a private temporary folder (its kind detected
    as the CLI does, XDM ZIPs included), then validated; ``together`` adds the cross-document group."""
    from werkzeug.utils import secure_filename

    from harness.validators import validate_files

    if profile not in ("dmp", "xds"):
        raise RequestError(f"profile {profile!r}: choose dmp (IHE + CI-SIS/DMP rules) or xds (IHE rules only)")
    if not blobs:
        raise RequestError("no file to validate")
    if len(blobs) > MAX_UPLOAD_FILES:
        raise RequestError(f"at most {MAX_UPLOAD_FILES} files at once")
    with tempfile.TemporaryDirectory(prefix="drimcheck-console-") as tmp:
        paths = []
        for index, (name, content) in enumerate(blobs):
            safe = secure_filename(name or "") or f"file-{index}"
            path = Path(tmp) / f"{index:02d}-{safe}"
            path.write_bytes(content)
            paths.append(path)
        reports = validate_files(paths, profile=profile, cross_groups=[paths] if together and len(paths) > 1 else None)
        out = []
        for report in reports:
            item = report.to_dict() | {"ok": report.ok}
            item["file"] = _display_name(str(report.path), tmp, blobs)
            out.append(item)
    return out


def _display_name(path: str, tmp: str, blobs: list[tuple[str, bytes]]) -> str:
    """The name the user gave (not the temporary path)."""
    rel = os.path.relpath(path, tmp)
    parts = []
    for piece in rel.split("+"):
        name = Path(piece).name
        index = int(name[:2]) if name[:2].isdigit() else None
        parts.append(blobs[index][0] if index is not None and index < len(blobs) else name)
    return "+".join(parts)
