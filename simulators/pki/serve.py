"""``drimcheck serve pki``: the test PKI's OCSP responder and CRL/CA downloads, over plain HTTP (C17).

Without ``--port`` it listens on the port of the PKI's base URL, the one its certificates name in their
AIA (OCSP, caIssuers) and CRL distribution point, so a relying party that follows them finds it.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from harness.pki import Pki, PkiError, default_folder, network_pki
from harness.servers import LOOPBACK, PortInUseError, RunningServer, check_port_free, serve_wsgi
from simulators.pki.app import create_app


@dataclass
class Service:
    """``endpoints``: ocsp, crl (DER), crl_pem, ca, intermediate."""

    pki: Pki
    server: RunningServer
    endpoints: dict[str, str]

    def stop(self) -> None:
        self.server.stop()

    def __enter__(self) -> Service:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_responder(pki: Pki, port: int = 0, host: str = LOOPBACK) -> Service:
    """Serve ``pki``'s OCSP responder and downloads on ``host:port`` (0: a free port) until ``stop()``."""
    server = serve_wsgi(create_app(pki), "pki", port=port, host=host)
    url = server.url
    return Service(pki, server, {"ocsp": f"{url}/ocsp", "crl": f"{url}/crl.der", "crl_pem": f"{url}/crl.pem",
                                 "ca": f"{url}/ca.pem", "intermediate": f"{url}/intermediate.pem"})


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--pki", type=Path, default=None, metavar="DIR",
                        help="PKI folder, created if missing (default: the network's PKI, $DRIMCHECK_PKI or "
                             "~/.cache/drimcheck/pki, with every simulator's certificate)")


def _base_port(pki: Pki) -> int:
    url = urlsplit(pki.base_url)
    return url.port or (443 if url.scheme == "https" else 80)


def start(args: argparse.Namespace) -> Service:
    try:
        pki = Pki.ensure(args.pki) if args.pki else network_pki(default_folder())
    except (PkiError, OSError) as exc:
        raise SystemExit(f"--pki: {exc}") from None
    host = args.host or LOOPBACK
    port = args.port or _base_port(pki)
    if not args.port:
        try:
            check_port_free(port, host)
        except PortInUseError:
            raise SystemExit(f"--port: port {port} of {pki.base_url}, which the certificates of {pki.folder} name "
                             f"for OCSP and the CRL, is in use on {host}: free it or choose --port") from None
    elif port != _base_port(pki):
        print(f"note: the certificates of {pki.folder} name {pki.base_url} for OCSP and the CRL, "
              f"not port {port}", file=sys.stderr)
    return start_responder(pki, port=port, host=host)
