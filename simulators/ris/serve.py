"""``drimcheck serve ris``: send RIS messages to a Source DRIMbox over MLLP and print each ACK.

A one-shot "service": ``--to HOST:PORT`` and one or more ``--send FILE`` (HL7 v2, segments ending in CR
or LF); each file is sent, its ACK printed, then the service stays up (no endpoint) until Ctrl-C.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path

from simulators.ris.client import MllpClientError, send


@dataclass
class Service:
    endpoints: dict[str, str] = field(default_factory=dict)

    def stop(self) -> None:
        return None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--to", default="127.0.0.1:2575", help="MLLP address of the Source (HOST:PORT)")
    parser.add_argument("--send", type=Path, action="append", default=[], help="HL7 v2 file to send (repeatable)")


def start(args: argparse.Namespace) -> Service:
    for path in args.send:
        message = path.read_bytes().replace(b"\r\n", b"\r").replace(b"\n", b"\r")
        try:
            _raw, ack = send(args.to, message)
        except MllpClientError as exc:
            print(f"{path}: no acknowledgement ({exc})")
            continue
        print(f"{path}: {ack.code if ack else 'unparseable ACK'} {ack.text if ack else ''}".rstrip())
    return Service({"target": args.to})
