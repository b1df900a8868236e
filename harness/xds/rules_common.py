"""Helpers shared by the XDS rule modules (validate.py, dmp_rules.py): locations, OID forms, value sets.

Public: :func:`loc`, :func:`is_oid`, :func:`is_unique_id`, :data:`CX`, :func:`codes`.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

import yaml

CODES_FILE = Path(__file__).resolve().parents[2] / "schemas" / "codes" / "dmp-xds.yaml"
OID = re.compile(r"^(0|[1-9]\d*)(\.(0|[1-9]\d*))+$")  # ITI TF-3 §4.2.3.1 (OID data type, ≤ 64 chars)
CX = re.compile(r"^([^\^&]+)\^\^\^&([^&\^]+)&ISO(\^([^\^]*))?$")  # id^^^&OID&ISO[^type] (CX, ITI TF-3 §4.2.3.1)


@lru_cache(maxsize=1)
def codes() -> dict:
    """The CI-SIS/DMP value sets (schemas/codes/dmp-xds.yaml), loaded once."""
    return yaml.safe_load(CODES_FILE.read_text(encoding="utf-8"))


def loc(obj_kind: str, obj_id: str, tail: str = "") -> str:
    """An XPath-like location: ``ExtrinsicObject[@id='X']/Slot[@name='hash']``."""
    return f"{obj_kind}[@id='{obj_id}']" + (f"/{tail}" if tail else "")


def is_oid(value: str) -> bool:
    return len(value) <= 64 and bool(OID.match(value))


def is_unique_id(value: str) -> bool:
    """DocumentEntry.uniqueId: OID, or OID^extension with extension ≤ 16 chars (ITI TF-3 §4.2.3.2 uniqueId)."""
    root, _, ext = value.partition("^")
    return is_oid(root) and len(ext) <= 16
