"""``drimcheck serve pacs``: the embedded PACS on the command line.

``--port`` (DIMSE, 0 = free) and ``--host`` come from the CLI; this module adds ``--aet``,
``--storage``, ``--dicomweb-port``, ``--move-destination AET=HOST:PORT`` (repeatable) and ``--pacs-fault NAME``
(a named fault of the PACS behind the reference Source, DB.SO.102: ``simulators.source.faults``).
"""

from __future__ import annotations

import argparse

from simulators.pacs.dimse import FAULTY
from simulators.pacs.server import EmbeddedPacs, start_pacs


def _destination(text: str) -> tuple[str, tuple[str, int]]:
    try:
        aet, _, address = text.partition("=")
        host, _, port = address.rpartition(":")
        if not aet or not host or not port.isdigit():
            raise ValueError
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected AET=HOST:PORT, got {text!r}") from None
    return aet, (host, int(port))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--aet", default="DRIMPACS", help="AE title of the PACS (default DRIMPACS)")
    parser.add_argument("--storage", default=None, help="folder for files + index (default: a temp folder)")
    parser.add_argument("--dicomweb-port", type=int, default=0, help="DICOMweb port (0 = free port)")
    parser.add_argument("--no-dicomweb", action="store_true", help="serve DIMSE only")
    parser.add_argument("--move-destination", type=_destination, action="append", default=[],
                        metavar="AET=HOST:PORT", help="a C-MOVE destination this PACS knows")
    parser.add_argument("--pacs-fault", choices=sorted(FAULTY), default=None,
                        help="switch on one named fault of the PACS (its C-MOVE's pace: the performance plan's "
                             "DB.SO.102)")


def start(args: argparse.Namespace) -> EmbeddedPacs:
    tls = getattr(args, "tls", None)  # harness.tls.NetworkTls, None with --plain-http
    return start_pacs(args.storage, aet=args.aet, host=args.host, port=args.port,
                      dicomweb=not args.no_dicomweb, dicomweb_port=args.dicomweb_port,
                      known_aes=dict(args.move_destination), ssl_context=tls.context("pacs") if tls else None,
                      fault=args.pacs_fault)
