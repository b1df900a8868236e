"""``drimcheck serve consumer``: the reference Consumer DRIMbox as a standalone service.

Options: ``--dmp-registry URL --dmp-repository URL --psc-issuer URL --pacs AET@host:port
--allow-host HOST[:PORT]`` (repeatable) and ``--whitelist XML [--whitelist-ca PEM]`` (the signed ANS
list of DRIMboxes) make the allowlist; ``--consumer-workdir DIR``, ``--accept TS=Q``,
``--consumer-fault NAME``, ``--vihf-key PEM --vihf-cert PEM`` (the structure's certificate that
signs the VIHF), ``--psc-client ID:SECRET``. Without ``--dmp-registry`` the Consumer starts its own DMP simulator,
PSC simulator and embedded PACS (a demo on one machine). ``--port`` / ``--host`` come from the CLI.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from simulators.consumer import reference
from simulators.consumer.config import DEFAULT_ACCEPT, ConsumerConfig
from simulators.consumer.faults import FAULTS
from simulators.consumer.reference import Reference
from simulators.consumer.whitelist import WhitelistError, load_whitelist


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
    parser.add_argument("--whitelist", type=Path, default=None, metavar="XML",
                        help="ANS ListeBlancheDRIM-M (signed): its db hosts join the allowlist; refused if "
                             "unsigned or altered")
    parser.add_argument("--whitelist-ca", type=Path, action="append", default=[], metavar="PEM",
                        help="CA that must have issued the whitelist's signing certificate (repeatable)")
    parser.add_argument("--vihf-key", type=Path, default=None, metavar="PEM",
                        help="private key of the structure's certificate that signs the VIHF (unsigned without it)")
    parser.add_argument("--vihf-cert", type=Path, default=None, metavar="PEM", help="certificate of --vihf-key")
    parser.add_argument("--psc-client", default="drimbox-consumer:consumer-secret", metavar="CLIENT_ID:SECRET",
                        help="the Consumer's client at Pro Santé Connect (default drimbox-consumer:consumer-secret)")
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


def allowlist(args: argparse.Namespace) -> tuple[tuple[str, ...], dict[str, str]]:
    """(allowed hosts, viewer per host) from --allow-host and the verified --whitelist."""
    hosts, viewers = list(args.allow_host), {}
    if args.whitelist is not None:
        try:
            wl = load_whitelist(args.whitelist.read_bytes(),
                                trusted_cas=tuple(p.read_bytes() for p in args.whitelist_ca))
        except (OSError, WhitelistError) as exc:
            raise SystemExit(f"drimcheck serve consumer: whitelist {args.whitelist} refused: {exc}") from None
        hosts += wl.hosts
        viewers = {d.db.lower(): d.vi for d in wl.domains if d.db and d.vi}
    return tuple(hosts), viewers


def start(args: argparse.Namespace) -> Reference:
    hosts, viewers = allowlist(args)
    if not args.dmp_registry:
        ref = reference.start_reference(args.consumer_fault, args.consumer_workdir, port=args.port or 0,
                                        host=args.host or "127.0.0.1")
        ref.config.allowed_hosts, ref.config.viewers = hosts, viewers
        ref.config.accept = parse_accept_option(args.accept)
        return ref
    missing = [f"--{n.replace('_', '-')}" for n in ("dmp_repository", "psc_issuer") if not getattr(args, n)]
    if missing:
        raise SystemExit(f"drimcheck serve consumer: {', '.join(missing)} required with --dmp-registry")
    if bool(args.vihf_key) != bool(args.vihf_cert):
        raise SystemExit("drimcheck serve consumer: --vihf-key and --vihf-cert go together")
    client_id, _, secret = args.psc_client.partition(":")
    config = ConsumerConfig(workdir=args.consumer_workdir, registry_url=args.dmp_registry,
                            repository_url=args.dmp_repository, psc_issuer=args.psc_issuer, pacs=args.pacs,
                            allowed_hosts=hosts, viewers=viewers, fault=args.consumer_fault,
                            accept=parse_accept_option(args.accept), client_id=client_id, client_secret=secret,
                            vihf_key=args.vihf_key.read_bytes() if args.vihf_key else None,
                            vihf_cert=args.vihf_cert.read_bytes() if args.vihf_cert else None)
    return reference.start(config, port=args.port or 0, host=args.host or "127.0.0.1")
