"""``drimcheck serve psc``: the Pro Santé Connect simulator on its own."""

from __future__ import annotations

import argparse
from pathlib import Path

from simulators.psc.config import DEFAULT_USERS, PscConfig
from simulators.psc.misbehaviours import MISBEHAVIOURS
from simulators.psc.service import Service, start_psc


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--users", type=Path, default=DEFAULT_USERS,
                        help="YAML file of test professionals and clients (default: %(default)s)")
    parser.add_argument("--token-ttl", type=int, default=3600, metavar="SECONDS",
                        help="lifetime of access tokens in seconds (default: %(default)s)")
    parser.add_argument("--issuer", default="",
                        help="issuer URL to advertise (default: http://HOST:PORT/auth/realms/esante-wallet)")


    parser.add_argument("--misbehave", default=None, choices=sorted(MISBEHAVIOURS), metavar="NAME",
                        help="answer wrongly in one way, to test a DRIMbox: " + ", ".join(sorted(MISBEHAVIOURS)))
    parser.add_argument("--tls-cert", default=None, help="PEM certificate: serve HTTPS")
    parser.add_argument("--tls-key", default=None, help="PEM private key of --tls-cert")
    parser.add_argument("--client-ca", default=None, help="PEM CA bundle: ask clients for a certificate (mTLS)")
    parser.add_argument("--client-cert", choices=("none", "optional", "required"), default="optional",
                        help="client certificate policy when --client-ca is given (default: %(default)s)")


def start(args: argparse.Namespace) -> Service:
    if bool(args.tls_cert) != bool(args.tls_key):
        raise SystemExit("--tls-cert and --tls-key go together")
    tls = getattr(args, "tls", None)  # the network's PKI unless --plain-http or a certificate of one's own
    if tls is not None and not args.tls_cert:
        files = tls.files("psc")
        args.tls_cert, args.tls_key = files["cert"], files["key"]
        args.client_ca = args.client_ca or str(tls.ca)
    config = PscConfig(users_file=args.users, token_ttl=args.token_ttl, issuer=args.issuer,
                       tls_cert=args.tls_cert, tls_key=args.tls_key, client_ca=args.client_ca,
                       client_cert=args.client_cert, misbehaviour=args.misbehave)
    return start_psc(config, port=args.port, host=args.host)
