"""``drimcheck serve psc``: the Pro Santé Connect simulator on its own."""

from __future__ import annotations

import argparse
from pathlib import Path

from simulators.psc.config import DEFAULT_USERS, PscConfig
from simulators.psc.service import Service, start_psc


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--users", type=Path, default=DEFAULT_USERS,
                        help="YAML file of test professionals and clients (default: %(default)s)")
    parser.add_argument("--token-ttl", type=int, default=3600, metavar="SECONDS",
                        help="lifetime of access tokens in seconds (default: %(default)s)")
    parser.add_argument("--issuer", default="",
                        help="issuer URL to advertise (default: http://HOST:PORT/auth/realms/esante-wallet)")


def start(args: argparse.Namespace) -> Service:
    config = PscConfig(users_file=args.users, token_ttl=args.token_ttl, issuer=getattr(args, "issuer", ""))
    return start_psc(config, port=args.port, host=args.host)
