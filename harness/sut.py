"""SUT profiles: what is under test and where it listens.

A profile is a YAML file validated against ``schemas/sut-profile.schema.json``; instead of a
file, ``reference:source`` (``consumer``, ``dmp``, ``content``) names the built-in reference
implementation and ``reference:source?fault=NAME`` the same with one named fault switched on.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import jsonschema
import yaml

from harness.faults import faults_of

SCHEMA_PATH = Path(__file__).resolve().parent.parent / "schemas" / "sut-profile.schema.json"

ACTORS = ("source_drimbox", "consumer_drimbox", "dmp", "content")
REFERENCE_ALIASES = {
    "source": "source_drimbox", "source_drimbox": "source_drimbox",
    "consumer": "consumer_drimbox", "consumer_drimbox": "consumer_drimbox",
    "dmp": "dmp", "content": "content",
}


class ProfileError(ValueError):
    """The profile cannot be used; the message says which field and how to fix it."""


@dataclass
class SutProfile:
    name: str
    actor: str
    reference: bool = False
    fault: str | None = None
    endpoints: dict[str, Any] = field(default_factory=dict)
    credentials: dict[str, Any] = field(default_factory=dict)
    tls: dict[str, Any] = field(default_factory=dict)
    files: list[Path] = field(default_factory=list)
    options: dict[str, Any] = field(default_factory=dict)
    source: str = ""  # the spec or path the profile came from

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "actor": self.actor, "reference": self.reference, "fault": self.fault,
                "endpoints": self.endpoints, "files": [str(f) for f in self.files], "source": self.source}

    def spec(self) -> str:
        """A string that ``load_profile`` turns back into this profile."""
        return self.source


def parse_reference(spec: str) -> SutProfile:
    body = spec.split(":", 1)[1]
    alias, _, query = body.partition("?")
    actor = REFERENCE_ALIASES.get(alias)
    if actor is None:
        raise ProfileError(f"unknown reference actor {alias!r}: use one of "
                           f"reference:source, reference:consumer, reference:dmp, reference:content")
    params = parse_qs(query, keep_blank_values=True)
    unknown = set(params) - {"fault"}
    if unknown:
        raise ProfileError(f"{spec}: unknown parameter(s) {sorted(unknown)}; only ?fault=NAME is accepted")
    fault = params.get("fault", [None])[0]
    if fault is not None:
        known = faults_of(actor)
        if fault not in known:
            listing = ", ".join(sorted(known)) or "none yet"
            raise ProfileError(f"unknown fault {fault!r} for {actor}; known faults: {listing}")
    name = f"reference:{alias}" + (f"?fault={fault}" if fault else "")
    return SutProfile(name=name, actor=actor, reference=True, fault=fault, source=spec)


def load_profile(spec: str) -> SutProfile:
    """Turn ``reference:...`` or a YAML file path into a profile, or raise ProfileError."""
    if spec.startswith("reference:"):
        return parse_reference(spec)
    path = Path(spec)
    if not path.is_file():
        raise ProfileError(f"SUT profile {spec!r} not found: give a YAML file or reference:source|consumer|dmp")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ProfileError(f"{path}: not readable YAML ({exc.__class__.__name__}: {exc})") from None
    validate_profile_data(data, str(path))
    base = path.resolve().parent
    files = [(base / f) if not Path(f).is_absolute() else Path(f) for f in data.get("files", [])]
    missing = [str(f) for f in files if not f.exists()]
    if missing:
        raise ProfileError(f"{path}: files: {missing[0]} does not exist")
    return SutProfile(name=data.get("name", path.stem), actor=data["actor"],
                      endpoints=data.get("endpoints", {}), credentials=data.get("credentials", {}),
                      tls=data.get("tls", {}), files=files, options=data.get("options", {}),
                      source=str(path))


def validate_profile_data(data: Any, where: str) -> None:
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    errors = sorted(jsonschema.Draft202012Validator(schema).iter_errors(data),
                    key=lambda e: list(e.absolute_path))
    if errors:
        err = errors[0]
        loc = ".".join(str(p) for p in err.absolute_path) or "(top level)"
        raise ProfileError(f"{where}: field {loc}: {err.message}")
