"""SUT profiles: what is under test and where it listens.

A profile is a YAML file validated against ``schemas/sut-profile.schema.json``; instead of a
file, ``reference:source`` (``consumer``, ``dmp``, ``content``) names the built-in reference
implementation and ``reference:source?fault=NAME`` the same with one named fault switched on.

A relative profile path is read from the current directory, every path inside a profile from
the profile's own folder; :class:`SutProfile` holds them absolute, so a plan reads them from
any directory. A profile with problems raises :class:`ProfileError` listing all of them.
"""

from __future__ import annotations

import difflib
import json
import os
from dataclasses import dataclass, field
from functools import cache
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
PORT_NAMES = ("dmp", "psc", "pacs", "source", "consumer", "ris", "whitelist")  # keys of options.ports
# fields holding a file or folder path, resolved against the profile's folder
PATH_FIELDS = ("credentials.vihf_key", "credentials.vihf_cert", "credentials.vihf_ca",
               "credentials.evidence_key", "credentials.evidence_cert",
               "tls.ca", "tls.cert", "tls.key", "tls.pki", "options.cda_xsd", "options.schematron")
# keys earlier versions read, and what replaces them
REPLACED = {"options.dmp_port": "options.ports.dmp", "options.psc_port": "options.ports.psc"}

# plan -> (field, why the plan needs it): a field missing here is a problem `profile check` reports.
# Plan names equal the actor they check.
PLAN_NEEDS: dict[str, list[tuple[str, str]]] = {
    "source_drimbox": [
        ("endpoints.wado_rs", "it retrieves the published studies there, as a Consumer does"),
        ("endpoints.mllp", "it sends the RIS's HL7 v2 reports (ORU, MDM, OMI) there"),
        ("endpoints.dicom", "it C-STOREs its fixture studies into the PACS the Source reads"),
        ("options.ports.dmp", "it starts its DMP simulator on that port, so the Source can be configured "
                              "beforehand with registry http://127.0.0.1:PORT/registry and repository "
                              "http://127.0.0.1:PORT/repository"),
        ("options.ports.psc", "it starts its Pro Santé Connect simulator on that port, so the Source can be "
                              "configured beforehand with issuer http://127.0.0.1:PORT/auth/realms/esante-wallet"),
        ("credentials.vihf_ca", "its DMP simulator enforces VIHF against that CA and it verifies the VIHF and "
                                "Signature01 signatures with it; without it the VIHF requirement is inconclusive"),
    ],
    "consumer_drimbox": [
        ("endpoints.contextual_call", "its browser posts the contextual call there"),
        ("endpoints.base", "it reads the Consumer's pages and /kpi under that URL (otherwise it guesses the "
                           "contextual call URL's parent)"),
        ("driver", "someone must perform the screen steps (open an exam, import) whose traffic it checks"),
        ("options.ports.dmp", "it starts its DMP simulator on that port: configure the Consumer with registry "
                              "http://127.0.0.1:PORT/registry and repository http://127.0.0.1:PORT/repository"),
        ("options.ports.psc", "it starts its Pro Santé Connect simulator on that port: configure the Consumer "
                              "with issuer http://127.0.0.1:PORT/auth/realms/esante-wallet"),
        ("options.ports.pacs", "it starts the local PACS (AE LOCALPACS) on that port, where the Consumer imports"),
        ("options.ports.source", "it starts a recording Source DRIMbox on that port: allow 127.0.0.1:PORT "
                                 "in the Consumer's list of Source DRIMboxes"),
        ("credentials.vihf_ca", "it checks the VIHF the Consumer signs against that CA; without it that "
                                "check is not applicable"),
    ],
    "dmp": [
        ("endpoints.registry", "it sends ITI-18 queries and ITI-57 updates there"),
        ("endpoints.repository", "it sends ITI-41 submissions and ITI-43 retrievals there"),
        ("credentials.vihf_key", "it signs the VIHF of its requests with that key; without it requests carry "
                                 "no VIHF and a DMP that requires one refuses them all"),
        ("credentials.vihf_cert", "its VIHF signatures carry that certificate (the one matching vihf_key)"),
    ],
    "content": [
        ("files", "they are the files it validates"),
    ],
}
# plan -> (field, what it changes): read when given, never a problem when absent
_TLS = [("tls.ca", "the harness's HTTP clients trust the SUT's https endpoints through that CA"),
        ("tls.cert", "the harness's HTTP clients present that certificate (mutual TLS)"),
        ("tls.key", "key of tls.cert"),
        ("tls.verify", "false turns the check of the SUT's certificate off"),
        ("tls.pki", "the source_drimbox plan's transport-security tests present the expired, revoked and "
                    "non-whitelisted client certificates of that test PKI (the one the Source trusts); the "
                    "peers the plans start serve HTTPS from it (default: the PKI of drimcheck serve)"),
        ("tls.peers", "https (default) or http: how the peers the plans start serve (C17); http to debug only")]
# plan -> (field, what it changes): used when given, never a problem when absent
PLAN_OPTIONAL: dict[str, list[tuple[str, str]]] = {
    "source_drimbox": [
        ("endpoints.iocm", "it sends an IOCM rejection note there (the Source's Storage SCP or the Image Manager "
                           "forwarding to it); without it SRC-IOCM-* are not run"),
        ("credentials.psc_client_id", "its PSC simulator registers that client, which the Source uses to "
                                      "introspect tokens; default drimbox-source"),
        ("credentials.psc_client_secret", "secret of that client; default source-secret"),
        ("credentials.psc_client_subject", "subject of the certificate the Source presents to PSC (RFC 8705); "
                                           "default the test PKI's source-client"),
        ("options.tls_scan", "true scans the WADO-RS with testssl.sh (SRC-SEC-SCAN, about 30 s); else not run"),
        ("options.publish_timeout", "seconds a publication is waited for after the ACK AA, and a refused report "
                                    "watched for a publication that must not come; default 20"),
        ("options.performance", "the performance plan's study (ans or small), repeats, thresholds and C-MOVE "
                                "destination (DB.SO.102); defaults: the ANS-shaped study, 3, the catalog's, "
                                "STORESCP:9999"),
        ("options.identity_mode", "the Source's DMP identity mode (EG, EJ, EJ-EG): the FINESS SRC-DMP-IDENTITY-MODE "
                                  "expects; without it, or without credentials.structures, SRC-DMP-* are not run"),
        ("options.finess_ej", "FINESS of the legal entity, expected with identity_mode EJ and EJ-EG"),
        ("options.finess_eg", "FINESS of the default structure: the plan's first structure when it is declared"),
        ("credentials.structures", "FINESS -> PEM certificate of each structure's ORG AUTH CLI (two at least): "
                                   "SRC-DMP-STRUCTURE-CERT checks each report's VIHF is signed with its structure's"),
        *_TLS,
    ],
    "consumer_drimbox": [
        ("options.operator", "with driver: operator, how long each step waits (timeout) and a step file (steps) "
                             "for unattended runs"),
        ("options.ports.whitelist", "the plan serves the signed whitelist there (https://127.0.0.1:PORT/"
                                    "ListeBlancheDRIM-M.xml); without it the CON-WL requirements are not applicable"),
        ("options.whitelist_interval", "seconds between two fetches of the whitelist by the Consumer; default 60"),
        ("options.tls_scan", "true scans the Consumer's interface with testssl.sh (CON-SEC-SCAN, about 30 s); "
                             "else not run"),
        ("options.performance", "the performance plan's study (ans or small), repeats and thresholds; defaults: "
                                "the ANS-shaped study, 3, the catalog's"),
        ("credentials.psc_client_subject", "subject of the certificate the Consumer presents to PSC (RFC 8705); "
                                           "default the test PKI's consumer-client"),
        *_TLS,
    ],
    "dmp": [
        ("endpoints.repository_unique_id", "ITI-43 names that repository; without it the plan reads it from "
                                           "ITI-18 answers and DMP-PNR-ATOMIC skips its retrieval check"),
        ("options.patients", "the tests use these patients; by default each test uses a fresh test INS"),
        *_TLS,
    ],
    "content": [
        ("options.profile", "the rules applied"),
        ("options.groups", "the files checked together for cross-document consistency"),
        ("options.cda_xsd", "CDA-XSD-001 is not applicable without it"),
        ("options.schematron", "CDA-SCH-001 is not applicable without it"),
        ("options.dciodvfy", "false skips dciodvfy"),
    ],
}


class ProfileError(ValueError):
    """The profile cannot be used; ``problems`` holds one line per bad field (field path: what is wrong)."""

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.problems = problems if problems is not None else [message]


class ProfileUnreadable(ProfileError):
    """The profile file is missing, or is not UTF-8 YAML."""


@dataclass
class SutProfile:
    name: str
    actor: str
    reference: bool = False
    fault: str | None = None
    endpoints: dict[str, Any] = field(default_factory=dict)
    credentials: dict[str, Any] = field(default_factory=dict)  # paths held absolute
    tls: dict[str, Any] = field(default_factory=dict)  # paths held absolute
    files: list[Path] = field(default_factory=list)
    options: dict[str, Any] = field(default_factory=dict)  # paths held absolute
    source: str = ""  # the reference spec, or the profile file's absolute path
    driver: str | None = None  # reference | operator | /abs/module.py:Class

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "actor": self.actor, "reference": self.reference, "fault": self.fault,
                "endpoints": self.endpoints, "files": [str(f) for f in self.files], "source": self.source}

    def spec(self) -> str:
        """A string that ``load_profile`` turns back into this profile, from any directory."""
        return self.source

    def port(self, name: str) -> int:
        """The port ``options.ports.<name>`` pins for the harness's peer ``name``; 0 when not pinned."""
        if name not in PORT_NAMES:
            raise ValueError(f"unknown peer {name!r}: options.ports has {', '.join(PORT_NAMES)}")
        return int((self.options.get("ports") or {}).get(name) or 0)

    def http_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of a ``requests`` call to the SUT: ``verify`` and, for mutual TLS, ``cert``.

        ``verify`` is False when ``tls.verify`` is false, else the ``tls.ca`` path, else True.
        """
        tls = self.tls or {}
        verify: bool | str = False if tls.get("verify") is False else tls.get("ca") or True
        kwargs: dict[str, Any] = {"verify": verify}
        if tls.get("cert") and tls.get("key"):
            kwargs["cert"] = (tls["cert"], tls["key"])
        return kwargs


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
    """Turn ``reference:...`` or a YAML file path into a profile, or raise ProfileError naming every problem."""
    if spec.startswith("reference:"):
        return parse_reference(spec)
    path, data = read_profile_file(spec)
    profile, problems = profile_from_data(data, path)
    if problems:
        raise ProfileError(problem_summary(spec, problems), problems)
    return profile


def read_profile_file(spec: str) -> tuple[Path, Any]:
    """The absolute path of the profile file and its YAML content; ProfileUnreadable when it cannot be read."""
    path = Path(os.path.abspath(spec))
    if not path.is_file():
        raise ProfileUnreadable(f"SUT profile {spec!r} not found (looked for {path}): give a YAML file or "
                                "reference:source|consumer|dmp|content")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ProfileUnreadable(f"{spec}: not readable YAML ({exc.__class__.__name__}: {exc})") from None
    return path, data


def profile_from_data(data: Any, path: Path) -> tuple[SutProfile, list[str]]:
    """The profile in ``data`` (read from ``path``) as far as it is valid, and every problem found in it.

    Keys left empty count as absent; relative paths are resolved against ``path``'s folder.
    """
    data = _drop_empty(data) if isinstance(data, dict) else data
    problems = schema_problems(data)
    if not isinstance(data, dict):
        return SutProfile(name=path.stem, actor="", source=str(path)), problems
    base = path.parent
    section = {key: dict(data[key]) if isinstance(data.get(key), dict) else {}
               for key in ("endpoints", "credentials", "tls", "options")}
    for dotted in PATH_FIELDS:
        key, sub = dotted.split(".")
        if isinstance(section[key].get(sub), str):
            section[key][sub] = _resolve(section[key][sub], base, dotted, problems)
    structures = section["credentials"].get("structures")
    if isinstance(structures, dict):
        section["credentials"]["structures"] = _structure_paths(structures, base, problems)
    operator = section["options"].get("operator")
    if isinstance(operator, dict) and isinstance(operator.get("steps"), str):
        section["options"]["operator"] = {**operator, "steps": _resolve(operator["steps"], base,
                                                                         "options.operator.steps", problems)}
    files = [Path(_resolve(f, base, f"files[{i}]", problems))
             for i, f in enumerate(data.get("files") or []) if isinstance(f, str)]
    groups = section["options"].get("groups")
    if isinstance(groups, list):
        section["options"]["groups"] = [
            [_resolve(f, base, f"options.groups[{i}][{j}]", problems) if isinstance(f, str) else f
             for j, f in enumerate(group)] if isinstance(group, list) else group
            for i, group in enumerate(groups)]
    driver = data.get("driver") if isinstance(data.get("driver"), str) else None
    if driver and ".py:" in driver:
        module, _, cls = driver.rpartition(":")
        driver = _resolve(module, base, "driver", problems) + ":" + cls
    actor = data.get("actor") if data.get("actor") in ACTORS else ""
    name = data.get("name") if isinstance(data.get("name"), str) else path.stem
    return SutProfile(name=name, actor=actor, endpoints=section["endpoints"], credentials=section["credentials"],
                      tls=section["tls"], files=files, options=section["options"], source=str(path),
                      driver=driver), problems


def problem_summary(where: str, problems: list[str]) -> str:
    """``where: problem`` for one problem, else a count line then one indented line per problem."""
    if len(problems) == 1:
        return f"{where}: {problems[0]}"
    return f"{where}: {len(problems)} problems\n" + "\n".join(f"  {p}" for p in problems)


def validate_profile_data(data: Any, where: str) -> None:
    """Raise ProfileError listing every schema problem of ``data`` (paths are not checked)."""
    problems = schema_problems(_drop_empty(data) if isinstance(data, dict) else data)
    if problems:
        raise ProfileError(problem_summary(where, problems), problems)


def _drop_empty(data: dict[str, Any]) -> dict[str, Any]:
    """A key whose value is left empty (``ports:`` with every line commented out) counts as absent."""
    return {k: _drop_empty(v) if isinstance(v, dict) else v for k, v in data.items() if v is not None}


def _structure_paths(structures: dict[Any, Any], base: Path, problems: list[str]) -> dict[str, Any]:
    """``credentials.structures`` with each certificate path absolute; a FINESS YAML read as a number (unquoted
    digits, a leading 0 read as octal) is a problem, not silently another FINESS."""
    out: dict[str, Any] = {}
    for finess, path in structures.items():
        where = f"credentials.structures.{finess}"
        if not isinstance(finess, str):
            problems.append(f"{where}: quote the FINESS ('{finess}': ...): YAML reads unquoted digits as a number, "
                            "and a leading 0 as octal")
            continue
        out[finess] = _resolve(path, base, where, problems) if isinstance(path, str) else path
    return out


def _resolve(value: str, base: Path, where: str, problems: list[str]) -> str:
    path = Path(value).expanduser()
    full = Path(os.path.abspath(path if path.is_absolute() else base / path))
    if not full.exists():
        problems.append(f"{where}: {value} does not exist (looked for {full}; relative paths are read "
                        "from the profile's folder)")
    return str(full)


# -- schema problems, worded for a person -----------------------------------------------------
@cache
def _schema() -> dict[str, Any]:
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))


def schema_problems(data: Any) -> list[str]:
    """One line per schema problem of ``data``: the field path, then what is wrong and how to fix it."""
    validator = jsonschema.Draft202012Validator(_schema())
    errors = sorted(validator.iter_errors(data), key=lambda e: [str(p) for p in e.absolute_path])
    lines: list[str] = []
    for err in errors:
        for line in _describe(err):
            if line not in lines:
                lines.append(line)
    return lines


def field_path(parts: Any) -> str:
    """``['options', 'groups', 0, 1]`` -> ``options.groups[0][1]``."""
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


_TYPE_WORDS = {"object": "a mapping (key: value lines)", "array": "a list", "string": "a text",
               "integer": "a whole number", "boolean": "true or false"}
_PATTERN_WORDS = {
    "^https?://": "an http:// or https:// URL",
    "^[^:]+:[0-9]+$": "host:port",
    "^[0-2](\\.(0|[1-9][0-9]*))+$": "an OID (numbers separated by dots)",
    "^(reference|operator|.+\\.py:[A-Za-z_][A-Za-z0-9_]*)$": "reference, operator, or path/to/module.py:ClassName",
    "^(?:[0-9]{2}|2[AB])[0-9]{7}$": "a FINESS (9 characters: 2 digits, or 2A / 2B, then 7 digits)",
}


def _describe(err: jsonschema.ValidationError) -> list[str]:
    loc = field_path(err.absolute_path)
    where = loc or "(top level)"
    schema, value = err.schema, err.instance
    if err.validator == "required":
        return [f"{_join(loc, name)}: required, missing{_hint(schema, name)}"
                for name in err.validator_value if name not in value]
    if err.validator == "additionalProperties":
        known = list(schema.get("properties", {}))
        return [_unknown_key(_join(loc, key), key, known) for key in value if key not in known]
    if err.validator == "dependentRequired":
        return [f"{_join(loc, key)}: needs {_join(loc, dep)} as well" for key, deps in err.validator_value.items()
                if key in value for dep in deps if dep not in value]
    if err.validator == "type":
        if not loc:
            return ["(top level): a profile is a mapping of fields (actor: ..., endpoints: ...), "
                    f"not {_kind(value)}"]
        return [f"{loc}: must be {_TYPE_WORDS.get(err.validator_value, err.validator_value)}, not {_kind(value)}"
                f"{_example(schema)}"]
    if err.validator == "enum":
        return [f"{where}: {value!r} is not one of {', '.join(map(str, err.validator_value))}"]
    if err.validator == "pattern":
        wanted = _PATTERN_WORDS.get(err.validator_value, f"text matching {err.validator_value}")
        return [f"{where}: {value!r} is not {wanted}{_example(schema)}"]
    if err.validator in ("minimum", "maximum"):
        return [f"{where}: {value} is out of range {schema.get('minimum', '')}..{schema.get('maximum', '')}"]
    if err.validator == "maxLength":
        return [f"{where}: {value!r} is longer than {err.validator_value} characters"]
    return [f"{where}: {err.message}"]


def _join(loc: str, key: str) -> str:
    return f"{loc}.{key}" if loc else key


def _kind(value: Any) -> str:
    words = {dict: "a mapping", list: "a list", str: "a text", bool: "true/false", int: "a number",
             float: "a number", type(None): "empty"}
    return f"{words.get(type(value), type(value).__name__)} ({value!r})" if not isinstance(value, (dict, list)) \
        else words[type(value)]


def _hint(schema: dict[str, Any], name: str) -> str:
    sub = schema.get("properties", {}).get(name, {})
    return f" ({sub['description']})" if sub.get("description") else ""


def _example(schema: dict[str, Any]) -> str:
    examples = schema.get("examples")
    return f"; example: {flow(examples[0])}" if examples else ""


def _unknown_key(where: str, key: str, known: list[str]) -> str:
    if where in REPLACED:
        return f"{where}: no longer read: use {REPLACED[where]}"
    close = difflib.get_close_matches(key, known, n=1)
    hint = f"did you mean {close[0]}? " if close else ""
    return f"{where}: unknown field; {hint}known here: {', '.join(known)}"


def flow(value: Any) -> str:
    """``value`` as one line of YAML (flow style), quoted where YAML needs it."""
    if isinstance(value, (dict, list)):
        return yaml.safe_dump(value, default_flow_style=True, width=10**6, allow_unicode=True).strip()
    text = yaml.safe_dump(value, width=10**6, allow_unicode=True)
    return text.removesuffix("\n").removesuffix("\n...").strip()


# -- what each plan needs ----------------------------------------------------------------------
def schema_node(dotted: str) -> dict[str, Any]:
    """The schema of field ``dotted`` (``options.ports.dmp``); {} when the schema has no such field."""
    node = _schema()
    for part in dotted.split("."):
        node = node.get("properties", {}).get(part)
        if node is None:
            return {}
    return node


def field_value(profile: SutProfile, dotted: str) -> Any:
    """The value of field ``dotted`` in ``profile``, None when absent (a port of 0 is absent: not pinned)."""
    head, _, rest = dotted.partition(".")
    if head == "options" and rest.startswith("ports."):
        return profile.port(rest.split(".", 1)[1]) or None
    value: Any = getattr(profile, head, None)
    for part in rest.split(".") if rest else []:
        value = value.get(part) if isinstance(value, dict) else None
    return value if value not in ("", [], {}) else None


def missing_for_plan(profile: SutProfile, plan: str) -> list[str]:
    """One sentence per field ``plan`` needs that ``profile`` lacks: the field, why, an example value."""
    if plan not in PLAN_NEEDS:
        raise ValueError(f"unknown plan {plan!r}: known plans are {', '.join(PLAN_NEEDS)}")
    if profile.reference:
        return []
    out = []
    for dotted, why in PLAN_NEEDS[plan]:
        if field_value(profile, dotted) is None:
            examples = schema_node(dotted).get("examples")
            example = f"; for example {dotted}: {flow(examples[0])}" if examples else ""
            out.append(f"{dotted} is missing: the {plan} plan needs it because {why}{example}")
    return out
