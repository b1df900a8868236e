"""The requirement catalog: one YAML record per requirement, under testplans/catalog/.

Tests link to requirements (``@pytest.mark.requirement("SRC-KOS-004")``), never the other way
round; the loader refuses unknown fields and duplicate ids so a typo cannot hide a requirement.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import jsonschema
import yaml

CATALOG_DIR = Path(__file__).resolve().parent.parent / "testplans" / "catalog"
SCHEMA_PATH = Path(__file__).resolve().parent.parent / "schemas" / "requirement.schema.json"


class CatalogError(ValueError):
    """The catalog cannot be loaded (bad YAML, schema violation, duplicate id)."""


@dataclass(frozen=True)
class Requirement:
    id: str
    title: str
    level: str
    actor: str
    source: str
    official_id: str | None = None
    not_tested_reason: str | None = None
    not_applicable_when: str | None = None  # the only condition under which a SHALL may be not applicable
    description: str | None = None
    tags: tuple[str, ...] = ()
    file: str = ""

    def to_dict(self) -> dict:
        return {k: v for k, v in {
            "id": self.id, "title": self.title, "level": self.level, "actor": self.actor,
            "source": self.source, "official_id": self.official_id,
            "not_tested_reason": self.not_tested_reason, "not_applicable_when": self.not_applicable_when,
            "description": self.description,
            "tags": list(self.tags), "file": self.file}.items() if v not in (None, [])}


@dataclass
class Catalog:
    requirements: dict[str, Requirement]
    digest: str
    problems: list[str] = field(default_factory=list)  # duplicates found while loading
    folder: Path | None = None  # where the catalog files were read

    def __contains__(self, rid: str) -> bool:
        return rid in self.requirements

    def __getitem__(self, rid: str) -> Requirement:
        return self.requirements[rid]

    def __iter__(self):
        return iter(self.requirements.values())

    def __len__(self) -> int:
        return len(self.requirements)

    def unknown(self, ids: Iterable[str]) -> list[str]:
        return [i for i in ids if i not in self.requirements]

    def for_actor(self, actor: str) -> list[Requirement]:
        return [r for r in self if r.actor == actor]


def _schema() -> dict:
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))


def _yaml(raw: bytes) -> Any:
    """``yaml.safe_load`` through libyaml when PyYAML has it (5x faster: every campaign process loads the
    catalog); a file libyaml refuses is read again by the pure loader, whose message shows the line."""
    loader = getattr(yaml, "CSafeLoader", None)
    if loader is not None:
        try:
            return yaml.load(raw, Loader=loader)  # CSafeLoader: the safe loader, in C
        except yaml.YAMLError:
            pass
    return yaml.safe_load(raw)


def load_catalog(folder: Path | None = None) -> Catalog:
    """Load and validate every ``*.yaml`` file of the catalog folder."""
    folder = folder or CATALOG_DIR
    validator = jsonschema.Draft202012Validator(_schema())
    requirements: dict[str, Requirement] = {}
    problems: list[str] = []
    digest = hashlib.sha256()
    files = sorted(folder.glob("*.yaml"))
    for path in files:
        raw = path.read_bytes()
        digest.update(path.name.encode() + b"\0" + raw)
        try:
            records = _yaml(raw) or []
        except yaml.YAMLError as exc:
            raise CatalogError(f"{path}: not valid YAML: {exc}") from None
        errors = sorted(validator.iter_errors(records), key=lambda e: list(e.absolute_path))
        if errors:
            err = errors[0]
            where = "/".join(str(p) for p in err.absolute_path)
            raise CatalogError(f"{path}: record {where or '(root)'}: {err.message}")
        for rec in records:
            if rec["id"] in requirements:
                problems.append(f"duplicate id {rec['id']} in {path.name} and {requirements[rec['id']].file}")
                continue
            requirements[rec["id"]] = Requirement(**{**rec, "tags": tuple(rec.get("tags", ())),
                                                      "file": path.name})
    return Catalog(requirements, digest.hexdigest(), problems, folder)


@lru_cache(maxsize=1)
def default_catalog() -> Catalog:
    return load_catalog()


def catalog_files() -> list[Path]:
    return sorted(CATALOG_DIR.glob("*.yaml"))


__all__ = ["Catalog", "CatalogError", "Requirement", "default_catalog", "load_catalog"]
