"""``drimcheck serve dmp``: the DMP simulator as a standalone service.

Options: ``--profile xds|dmp``, ``--vihf off|warn|enforce``, ``--db URL`` (sqlite:///PATH or
postgresql://...), ``--vihf-trust PEM`` (CA certificates for VIHF signatures, repeatable),
``--dmp-workdir DIR``, ``--dmp-fault NAME``, ``--repository-unique-id OID``, ``--workers N`` (processes
sharing the listening socket, default 1: see workers.py); ``--port`` / ``--host`` come from the CLI.
With ``--vihf enforce`` (the default) and no trust store every request is refused.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from simulators.dmp import reference
from simulators.dmp.config import DmpConfig
from simulators.dmp.faults import FAULTS
from simulators.dmp.reference import Reference
from simulators.dmp.workers import WorkerPool, start_workers


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--profile", choices=("dmp", "xds"), default="dmp",
                        help="metadata rules: dmp = IHE + CI-SIS (default), xds = IHE only")
    parser.add_argument("--vihf", choices=("off", "warn", "enforce"), default="enforce",
                        help="VIHF SAML assertion policy (default enforce)")
    parser.add_argument("--db", default=None, help="sqlite:///PATH (default <workdir>/dmp.sqlite) or "
                        "postgresql://USER@HOST/DB")
    parser.add_argument("--dmp-workdir", type=Path, default=Path("dmp-data"), help="folder of the SQLite file")
    parser.add_argument("--vihf-trust", type=Path, action="append", default=[],
                        help="PEM file of CA certificates trusted for VIHF signatures (repeatable)")
    parser.add_argument("--dmp-fault", choices=sorted(FAULTS), default=None, help="switch on one named fault")
    parser.add_argument("--repository-unique-id", default=DmpConfig.repository_unique_id)
    parser.add_argument("--workers", type=int, default=1,
                        help="worker processes sharing the port (default 1: one process, threads)")


def start(args: argparse.Namespace) -> Reference | WorkerPool:
    config = DmpConfig(profile=args.profile, vihf=args.vihf, db=args.db, workdir=args.dmp_workdir,
                       trust_store=[p.read_bytes() for p in args.vihf_trust], fault=args.dmp_fault,
                       repository_unique_id=args.repository_unique_id)
    workers = getattr(args, "workers", 1)
    if workers < 1:
        raise ValueError(f"--workers must be at least 1, not {workers}")
    tls = getattr(args, "tls", None)  # harness.tls.NetworkTls, None with --plain-http
    if workers > 1:
        return start_workers(config, workers, port=args.port or 0, host=args.host or "127.0.0.1",
                             tls=tls.files("dmp") if tls else None)
    return reference.start(config, port=args.port or 0, host=args.host or "127.0.0.1",
                           ssl_context=tls.context("dmp") if tls else None)

