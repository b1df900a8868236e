"""``drimcheck serve consumer``: the reference Consumer DRIMbox as a standalone service.

Options: ``--dmp-registry URL --dmp-repository URL --psc-issuer URL --pacs AET@host:port
--allow-host HOST[:PORT]`` (repeatable) and ``--whitelist XML [--whitelist-ca PEM]`` (the signed ANS
list of DRIMboxes, read once) make the allowlist; ``--whitelist-url URL --whitelist-ca PEM
[--whitelist-interval SECONDS]`` fetches the list at start and on that schedule, the allowlist following
the last list that verified (state at ``GET /kpi/whitelist``); ``--consumer-workdir DIR``, ``--accept TS=Q``,
``--consumer-fault NAME``, ``--vihf-key PEM --vihf-cert PEM`` (the structure's certificate that
signs the VIHF), ``--psc-client ID[:SECRET]``, ``--psc-client-cert PEM --psc-client-key PEM`` (the ORG AUTH CLI
certificate the token endpoint authenticates by mutual TLS, RFC 8705 §2.1 tls_client_auth, no secret; default in
TLS mode for an https:// PSC: the network PKI's ``consumer-client``; the secret only without a certificate:
``--plain-http``, the debugging exception, a plain-HTTP PSC, or a secret given explicitly). Without
``--dmp-registry`` the Consumer starts its own DMP simulator, PSC simulator and embedded PACS (a demo on one
machine). ``--port`` / ``--host`` come from the CLI.
"""

from __future__ import annotations

import argparse
from datetime import timedelta
from pathlib import Path

from harness.whitelist import WhitelistError, load_whitelist
from harness.whitelist_watch import WhitelistWatcher
from simulators.consumer import reference
from simulators.consumer import whitelist as consumer_whitelist
from simulators.consumer.config import DEFAULT_ACCEPT, ConsumerConfig
from simulators.consumer.faults import FAULTS
from simulators.consumer.reference import Reference
from simulators.consumer.tls import server_tls
from simulators.psc.mtls import add_client_arguments, client_credentials


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
                        help="CA the whitelist's signing certificate must chain to (repeatable)")
    _add_whitelist_watch(parser)
    parser.add_argument("--vihf-key", type=Path, default=None, metavar="PEM",
                        help="private key of the structure's certificate that signs the VIHF (unsigned without it)")
    parser.add_argument("--vihf-cert", type=Path, default=None, metavar="PEM", help="certificate of --vihf-key")
    add_client_arguments(parser, who="the Consumer", default_client=DEFAULT_CLIENT, default_secret=DEFAULT_SECRET,
                         network_client="consumer-client")
    parser.add_argument("--accept", action="append", default=[], metavar="TS=Q",
                        help="transfer syntax the Consumer asks for, with its q-value (repeatable; default: "
                             "every syntax it decodes, lossless first)")


def _add_whitelist_watch(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--whitelist-url", default=None, metavar="URL",
                        help="fetch the signed whitelist from URL (https://, or a file) at start and every "
                             "--whitelist-interval; needs --whitelist-ca; a list that does not verify leaves the "
                             "last good one in force")
    parser.add_argument("--whitelist-interval", type=float, default=86400.0, metavar="SECONDS",
                        help="seconds between two fetches of --whitelist-url (default 86400, the ANS daily refresh)")
    parser.add_argument("--whitelist-crl", default=None, metavar="FILE|URL",
                        help="CRL of the whitelist signer's CA, read again at each fetch")
    parser.add_argument("--whitelist-tls-ca", type=Path, default=None, metavar="PEM",
                        help="CA bundle that verifies the https:// server of --whitelist-url (default: system CAs)")


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


def whitelist_watcher(args: argparse.Namespace) -> WhitelistWatcher | None:
    """The watcher of --whitelist-url (not started), or None; SystemExit naming a bad option."""
    if not args.whitelist_url:
        return None
    if args.whitelist is not None:
        raise SystemExit("drimcheck serve consumer: --whitelist and --whitelist-url exclude each other")
    if not args.whitelist_ca:
        raise SystemExit("drimcheck serve consumer: --whitelist-url needs --whitelist-ca PEM (the list is trusted "
                         "only through its signer's CA)")
    if not args.whitelist_interval > 0:
        raise SystemExit(f"drimcheck serve consumer: --whitelist-interval {args.whitelist_interval}: expected "
                         "a number of seconds above 0")
    try:
        cas = tuple(p.read_bytes() for p in args.whitelist_ca)
    except OSError as exc:
        raise SystemExit(f"drimcheck serve consumer: --whitelist-ca {exc.filename}: {exc.strerror}") from None
    return consumer_whitelist.watcher(args.whitelist_url, cas, interval=timedelta(seconds=args.whitelist_interval),
                                      crl=args.whitelist_crl, fault=args.consumer_fault,
                                      verify_tls=str(args.whitelist_tls_ca) if args.whitelist_tls_ca else True)


def follow_whitelist(config: ConsumerConfig, watcher: WhitelistWatcher, static_hosts: tuple[str, ...]) -> None:
    """Make the Consumer's allowed hosts and viewers follow the watcher's list in force, its status the KPI."""
    consumer_whitelist.follow(config, watcher, static_hosts)


def _with_watcher(ref: Reference, watcher: WhitelistWatcher | None, hosts: tuple[str, ...]) -> Reference:
    if watcher is not None:
        follow_whitelist(ref.config, watcher, hosts)
        ref._cleanups.append(watcher.stop)  # Reference.stop runs its cleanups after stopping the server
        watcher.start()
    return ref


DEFAULT_CLIENT, DEFAULT_SECRET = "drimbox-consumer", "consumer-secret"


def psc_credentials(args: argparse.Namespace) -> tuple[str, str, tuple[str, str] | None]:
    """(client_id, secret, (certificate, key) or None) of the Consumer at PSC
    (:func:`simulators.psc.mtls.client_credentials`)."""
    return client_credentials(args, command="drimcheck serve consumer", url=getattr(args, "psc_issuer", "") or "",
                              default_client=DEFAULT_CLIENT, default_secret=DEFAULT_SECRET,
                              network_client="consumer-client")


def start(args: argparse.Namespace) -> Reference:
    hosts, viewers = allowlist(args)
    watcher = whitelist_watcher(args)
    tls = getattr(args, "tls", None)  # harness.tls.NetworkTls, None with --plain-http
    context = server_tls(tls, args.consumer_fault)
    if not args.dmp_registry:
        ref = reference.start_reference(args.consumer_fault, args.consumer_workdir, port=args.port or 0,
                                        host=args.host or "127.0.0.1", ssl_context=context)
        ref.config.allowed_hosts, ref.config.viewers = hosts, viewers
        ref.config.accept = parse_accept_option(args.accept)
        return _with_watcher(ref, watcher, hosts)
    missing = [f"--{n.replace('_', '-')}" for n in ("dmp_repository", "psc_issuer") if not getattr(args, n)]
    if missing:
        raise SystemExit(f"drimcheck serve consumer: {', '.join(missing)} required with --dmp-registry")
    if bool(args.vihf_key) != bool(args.vihf_cert):
        raise SystemExit("drimcheck serve consumer: --vihf-key and --vihf-cert go together")
    client_id, secret, psc_cert = psc_credentials(args)
    config = ConsumerConfig(workdir=args.consumer_workdir, registry_url=args.dmp_registry,
                            repository_url=args.dmp_repository, psc_issuer=args.psc_issuer, pacs=args.pacs,
                            allowed_hosts=hosts, viewers=viewers, fault=args.consumer_fault,
                            accept=parse_accept_option(args.accept), client_id=client_id, client_secret=secret,
                            psc_client_cert=psc_cert,
                            vihf_key=args.vihf_key.read_bytes() if args.vihf_key else None,
                            vihf_cert=args.vihf_cert.read_bytes() if args.vihf_cert else None,
                            wado_client_cert=tls.client("consumer-client") if tls else None)
    return _with_watcher(reference.start(config, port=args.port or 0, host=args.host or "127.0.0.1",
                                         ssl_context=context), watcher, hosts)
