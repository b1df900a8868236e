"""``drimcheck profile``: write a SUT profile template for an actor, check a profile before a campaign.

``init`` writes every field the actor's plan reads, each with what it is, why the plan reads it and an
example: placeholders (``CHANGE-ME``, ``change-me.invalid``, port 0) for what the plan needs, commented-out
lines for the rest. ``check`` reports every problem at once: schema and paths, placeholders left, fields the
plan needs, endpoints that refuse a TCP connection. Exit 0 ready, 1 problems found, 2 unreadable file.
"""

from __future__ import annotations

import argparse
import socket
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from harness.sut import (
    PLAN_NEEDS,
    PLAN_OPTIONAL,
    REFERENCE_ALIASES,
    ProfileUnreadable,
    SutProfile,
    field_path,
    field_value,
    flow,
    missing_for_plan,
    profile_from_data,
    read_profile_file,
    schema_node,
)

PLACEHOLDER = "change-me"  # every placeholder of a template holds it (any case)
PLACEHOLDER_HOST = "change-me.invalid"  # .invalid never resolves (RFC 6761 §6.4)
TOP_ORDER = ("name", "actor", "driver", "endpoints", "credentials", "tls", "files", "options")
ACTOR_TITLES = {"source_drimbox": "a Source DRIMbox", "consumer_drimbox": "a Consumer DRIMbox",
                "dmp": "a DMP (XDS.b registry and repository)", "content": "content files a product produced"}
EXIT_OK, EXIT_PROBLEMS, EXIT_UNREADABLE = 0, 1, 2

INIT_EPILOG = """examples:
  drimcheck profile init --actor source --out run/acme-source.yaml
  drimcheck profile init --actor content          # print the template

Then replace every CHANGE-ME / change-me.invalid value and every port 0, uncomment the optional lines
you need, and run `drimcheck profile check FILE`."""
CHECK_EPILOG = """examples:
  drimcheck profile check run/acme-source.yaml
  drimcheck profile check run/acme-dmp.yaml --plan dmp --no-connect

exit status: 0 ready for `drimcheck run`, 1 problems found (each one is listed), 2 the file cannot be read."""


def add_parser(sub: Any) -> None:
    """Register ``profile init`` and ``profile check`` under the ``drimcheck`` subcommands ``sub``."""
    raw = argparse.RawDescriptionHelpFormatter
    profile = sub.add_parser("profile", help="write a SUT profile template, or check a profile",
                             description="Write a SUT profile template for an actor, or check a profile.",
                             epilog=f"{INIT_EPILOG}\n\n{CHECK_EPILOG}", formatter_class=raw)
    psub = profile.add_subparsers(dest="profile_command", required=True, metavar="{init,check}")
    init = psub.add_parser("init", help="write a commented profile template for an actor",
                           description="Write a commented SUT profile template: every field the actor's plan "
                                       "reads, what it is, why the plan reads it, an example.",
                           epilog=INIT_EPILOG, formatter_class=raw)
    init.add_argument("--actor", required=True, choices=sorted(REFERENCE_ALIASES), metavar="ACTOR",
                      help="source, consumer, dmp or content (or source_drimbox, consumer_drimbox)")
    init.add_argument("--out", type=Path, help="file to write (default: print the template)")
    init.add_argument("--force", action="store_true", help="overwrite --out when it exists")
    init.set_defaults(func=cmd_init)
    check = psub.add_parser("check", help="list every problem of a profile before a campaign",
                            description="Validate a SUT profile (every bad field at once), list the placeholders "
                                        "left, what the plan needs that the profile lacks, and whether each "
                                        "endpoint accepts a TCP connection.",
                            epilog=CHECK_EPILOG, formatter_class=raw)
    check.add_argument("file", metavar="FILE", help="the SUT profile (YAML)")
    check.add_argument("--plan", choices=list(PLAN_NEEDS), metavar="PLAN",
                       help=f"check for this plan ({', '.join(PLAN_NEEDS)}; default: the plans of the actor)")
    check.add_argument("--no-connect", action="store_true", help="do not try the endpoints")
    check.add_argument("--timeout", type=float, default=3.0, help="seconds per connection attempt (default 3)")
    check.set_defaults(func=cmd_check)


# -- init ------------------------------------------------------------------------------------
def cmd_init(args: argparse.Namespace) -> int:
    text = template(args.actor)
    if args.out is None:
        sys.stdout.write(text)
        return EXIT_OK
    if args.out.exists() and not args.force:
        print(f"drimcheck: error: {args.out} exists: choose another --out or add --force", file=sys.stderr)
        return EXIT_UNREADABLE
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    print(f"wrote {args.out}: replace the CHANGE-ME values, then run `drimcheck profile check {args.out}`")
    return EXIT_OK


@dataclass(frozen=True)
class _Field:
    dotted: str
    needed: bool
    why: str


def template(actor: str) -> str:
    """A commented YAML profile for ``actor`` (an actor or its reference alias) that loads without error."""
    actor = REFERENCE_ALIASES[actor]
    fields = [_Field(d, True, w) for d, w in PLAN_NEEDS[actor]] + [_Field(d, False, w) for d, w in PLAN_OPTIONAL[actor]]
    tree: dict[str, Any] = {"name": _Field("name", True, "")}
    for f in sorted(fields, key=lambda f: _order(f.dotted)):
        node = tree
        *parents, leaf = f.dotted.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = f
    lines = [f"# DRIMcheck SUT profile: {ACTOR_TITLES[actor]}, checked by the {actor} plan.",
             "# Replace every CHANGE-ME / change-me.invalid value and every port 0; uncomment the optional lines",
             "# you need. Relative paths are read from this file's folder. Then run:",
             "#   drimcheck profile check THIS_FILE",
             "#   drimcheck run --sut THIS_FILE --plan " + actor,
             "# Every field: schemas/sut-profile.schema.json.", ""]
    for key in sorted(tree, key=TOP_ORDER.index):
        if key not in ("name", "actor"):
            lines.append("")
        _render(key, tree[key], "", actor, lines)
        if key == "name":
            lines.append(f"actor: {actor}")
    return "\n".join(lines).replace("\n\n\n", "\n\n") + "\n"


def _order(dotted: str) -> list[int]:
    """Position of each part of ``dotted`` in the schema, so the template follows the schema's order."""
    parts = dotted.split(".")
    out, node = [TOP_ORDER.index(parts[0])], schema_node(parts[0])
    for part in parts[1:]:
        keys = list(node.get("properties", {}))
        out.append(keys.index(part) if part in keys else len(keys))
        node = node.get("properties", {}).get(part, {})
    return out


def _render(key: str, item: Any, prefix: str, actor: str, lines: list[str]) -> None:
    dotted = prefix + key
    pad = "  " * dotted.count(".")
    if isinstance(item, dict):
        description = schema_node(dotted).get("description", "")
        if description and not prefix:
            lines.extend(_comment(description, pad))
        lines.append(f"{pad}{key}:")
        for child, sub in item.items():
            _render(child, sub, dotted + ".", actor, lines)
        return
    node = schema_node(dotted)
    example = (node.get("examples") or [None])[0]
    lines.extend(_comment(("" if item.needed else "(optional) ") + node.get("description", ""), pad))
    if item.needed and item.why:
        lines.extend(_comment(f"needed by the {actor} plan: {item.why}", pad))
    value = _placeholder(dotted, node) if item.needed else None
    if value is None:
        lines.append(f"{pad}# {key}: {flow(example)}")
    else:
        hint = f"   # example: {flow(example)}" if example is not None and value != example else ""
        lines.append(f"{pad}{key}: {flow(value)}{hint}")


def _comment(text: str, pad: str) -> list[str]:
    return [f"{pad}# {line}" for line in textwrap.wrap(text, width=110 - len(pad), break_on_hyphens=False)]


def _placeholder(dotted: str, node: dict[str, Any]) -> Any:
    """The value a template gives a needed field; None: the field is written commented out (paths, lists)."""
    example = (node.get("examples") or [None])[0]
    if dotted == "name":
        return "CHANGE-ME product name and version"
    if dotted == "driver":
        return "operator"
    if dotted.startswith("options.ports."):
        return 0
    if dotted == "endpoints.dicom":
        return {"ae_title": "CHANGE-ME", "host": PLACEHOLDER_HOST, "port": example["port"]}
    if node.get("type") != "string" or dotted.startswith(("credentials.vihf", "tls.")):
        return None
    if node.get("pattern") == "^https?://":
        url = urlsplit(example)
        return urlunsplit(url._replace(netloc=PLACEHOLDER_HOST))
    if node.get("pattern") == "^[^:]+:[0-9]+$":
        return f"{PLACEHOLDER_HOST}:{example.rsplit(':', 1)[1]}"
    return "CHANGE-ME"


# -- check -----------------------------------------------------------------------------------
def cmd_check(args: argparse.Namespace) -> int:
    if args.file.startswith("reference:"):
        print(f"{args.file}: the built-in reference implementation; nothing to configure")
        return EXIT_OK
    try:
        path, data = read_profile_file(args.file)
    except ProfileUnreadable as exc:
        print(f"drimcheck: error: {exc}", file=sys.stderr)
        return EXIT_UNREADABLE
    profile, schema_problems = profile_from_data(data, path)
    if args.plan and profile.actor and args.plan != profile.actor:
        print(f"drimcheck: error: plan {args.plan} checks actor {args.plan}; {args.file} is a {profile.actor} "
              f"profile (plan that fits: {profile.actor})", file=sys.stderr)
        return EXIT_UNREADABLE
    plans = [args.plan] if args.plan else [p for p in PLAN_NEEDS if p == profile.actor]
    print(f"{args.file}: {profile.actor or 'unknown actor'} profile {profile.name!r}")
    problems = _section("schema and paths", schema_problems, "ok")
    left = placeholders_left(data)
    problems += _section("placeholders left from `profile init`", left, "none")
    for plan in plans:
        missing = missing_for_plan(profile, plan)
        problems += _section(f"what plan {plan} needs", missing, "all given")
        unset = [dotted for dotted, _why in PLAN_OPTIONAL[plan] if field_value(profile, dotted) is None]
        if unset:
            print(f"  optional, not given: {', '.join(unset)} (`drimcheck profile init --actor {plan}` "
                  "says what each does)")
    if not args.no_connect:
        unreachable = [line for line in _try_endpoints(profile, args.timeout) if not line.startswith("ok ")]
        problems += len(unreachable)
    if problems:
        print(f"{problems} problem(s): fix them, then run `drimcheck profile check {args.file}` again")
        return EXIT_PROBLEMS
    print(f"ready: drimcheck run --sut {args.file} --plan {plans[0] if plans else 'all'}")
    return EXIT_OK


def _section(title: str, lines: list[str], empty: str) -> int:
    print(f"{title}: {empty}" if not lines else f"{title}:")
    for line in lines:
        print(f"  - {line}")
    return len(lines)


def placeholders_left(data: Any, loc: list[Any] | None = None) -> list[str]:
    """One line per value of ``data`` that still holds a template placeholder (``change-me``, any case)."""
    loc = loc or []
    if isinstance(data, dict):
        return [line for key, value in data.items() for line in placeholders_left(value, [*loc, key])]
    if isinstance(data, list):
        return [line for i, value in enumerate(data) for line in placeholders_left(value, [*loc, i])]
    if isinstance(data, str) and PLACEHOLDER in data.lower():
        return [f"{field_path(loc)}: {data!r} is the template's placeholder: put the real value"]
    return []


def endpoint_addresses(profile: SutProfile) -> list[tuple[str, str, int]]:
    """(field, host, port) of every endpoint that is an address (URL, host:port, or {host, port})."""
    out = []
    for key, value in profile.endpoints.items():
        if isinstance(value, dict) and value.get("host") and value.get("port"):
            out.append((f"endpoints.{key}", str(value["host"]), int(value["port"])))
        elif isinstance(value, str) and "://" in value:
            url = urlsplit(value)
            try:
                port = url.port or (443 if url.scheme == "https" else 80)
            except ValueError:
                continue
            if url.hostname:
                out.append((f"endpoints.{key}", url.hostname, port))
        elif isinstance(value, str) and value.rpartition(":")[2].isdigit():
            host, _, port = value.rpartition(":")
            out.append((f"endpoints.{key}", host, int(port)))
    return out


def _try_endpoints(profile: SutProfile, timeout: float) -> list[str]:
    # placeholders and impossible ports are reported already
    addresses = [a for a in endpoint_addresses(profile) if PLACEHOLDER not in a[1].lower() and 0 < a[2] < 65536]
    lines = []
    for where, host, port in addresses:
        try:
            with socket.create_connection((host, port), timeout=timeout):
                lines.append(f"ok {where} {host}:{port} accepts connections")
        except (OSError, OverflowError) as exc:
            lines.append(f"{where} {host}:{port} does not accept a connection ({exc.strerror or exc}): "
                         "start the SUT or fix the address")
    print("endpoints:" if addresses else "endpoints: none to try")
    for line in lines:
        print(f"  {line}" if line.startswith("ok ") else f"  - {line}")
    return lines
