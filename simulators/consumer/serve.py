"""``drimcheck serve consumer``: the reference Consumer DRIMbox as a standalone service.

Options: ``--dmp-registry URL --dmp-repository URL --psc-issuer URL --pacs AET@host:port
--allow-host HOST[:PORT]`` (repeatable: the DRIMbox allowlist), ``--consumer-workdir DIR``,
``--consumer-fault NAME``. Without ``--dmp-registry`` the Consumer starts its own DMP simulator,
PSC simulator and embedded PACS (a demo on one machine). ``--port`` / ``--host`` come from the CLI.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from simulators.consumer import reference
from simulators.consumer.config import DEFAULT_ACCEPT, ConsumerConfig
from simulators.consumer.faults import FAULTS
from simulators.consumer.reference import Reference


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dmp-registry", default=None, help="DMP ITI-18 endpoint (default: own DMP simulator)")
    parser.add_argument("--dmp-repository", default=None, help="DMP ITI-43 endpoint")
    parser.add_argument("--psc-issuer", default=None, help="Pro Santé Connect realm URL")
    parser.add_argument("--pacs", default="", help="local PACS for the import, AET@host:port")
    parser.add_argument("--allow-host", action="append", default=[], metavar="HOST[:PORT]",
                        help="Source DRIMbox host the Consumer may retrieve from (repeatable)")
    parser.add_argument("--consumer-workdir", type=Path, default=Path("consumer-data"),
                        help="folder of the KPI file, logs and temporary downloads")
    parser.add_argument("--consumer-fault", choices=sorted(FAULTS), default=None, help="switch on one named fault")
    parser.add_argument("--accept", action="append", default=[], metavar="TS=Q",
                        help="transfer syntax the Consumer asks for, with its q-value (repeatable; default: "
                             "every syntax it decodes, lossless first)")


def parse_accept_option(values: list[str]) -> tuple[tuple[str, float], ...]:
    """``["1.2.840.10008.1.2.4.80=1", ...]`` -> ((uid, q), ...); SystemExit naming a bad value."""
    out = []
    for value in values:
        uid, eq, q = value.partition("=")
        try:
            weight = float(q) if eq else 1.0
        except ValueError:
            weight = -1.0
        if not uid.replace(".", "").isdigit() or not 0 <= weight <= 1:
            raise SystemExit(f"drimcheck serve consumer: --accept {value!r}: expected UID=Q with 0 <= Q <= 1")
        out.append((uid, weight))
    return tuple(out) or DEFAULT_ACCEPT


def start(args: argparse.Namespace) -> Reference:
    if not args.dmp_registry:
        ref = reference.start_reference(args.consumer_fault, args.consumer_workdir, port=args.port or 0,
                                        host=args.host or "127.0.0.1")
        ref.config.allowed_hosts = tuple(args.allow_host)
        ref.config.accept = parse_accept_option(args.accept)
        return ref
    missing = [f"--{n.replace('_', '-')}" for n in ("dmp_repository", "psc_issuer") if not getattr(args, n)]
    if missing:
        raise SystemExit(f"drimcheck serve consumer: {', '.join(missing)} required with --dmp-registry")
    config = ConsumerConfig(workdir=args.consumer_workdir, registry_url=args.dmp_registry,
                            repository_url=args.dmp_repository, psc_issuer=args.psc_issuer, pacs=args.pacs,
                            allowed_hosts=tuple(args.allow_host), fault=args.consumer_fault,
                            accept=parse_accept_option(args.accept))
    return reference.start(config, port=args.port or 0, host=args.host or "127.0.0.1")
