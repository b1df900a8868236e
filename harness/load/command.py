"""``drimcheck load``: put a system under test under concurrent load with Locust, and report it.

``drimcheck load --sut SUT --scenario NAME --users N --spawn-rate R --duration T [--workers K] [--out DIR]``
sets the target up (``harness.load.targets``), runs the scenario in Locust processes (``harness.load.run``),
writes ``results.json``, ``report.html`` and ``report.md`` into ``--out`` and prints the summary.
``drimcheck load worker --master-host HOST [--master-port PORT]`` joins a master started on another machine
with ``--remote-workers``. Exit status: 0 no request failed, 1 some failed, 2 the load could not run.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path
from typing import Any

from harness.load.spec import SCENARIO_NAMES

EPILOG = """scenarios:
  wado-storm        Consumers retrieving the study's series over WADO-RS (RAD-107), bearer token + KOS UID
  rad68-burst       a Source publishing a new KOS per request to a DMP (RAD-68, SOAP 1.2 + MTOM, VIHF)
  dmp-mix           ITI-18 FindDocuments (3 in 4) and ITI-43 Retrieve (1 in 4) at a DMP
  contextual-calls  the contextual call (form POST) at a Consumer, redirects followed

what each needs (a profile's product must hold it already; the reference gets it at set-up):
  wado-storm        reference:source (the study is generated and published), or a source_drimbox profile
                    with endpoints.wado_rs, and --study-uid, --kos-uid (and --series) of a published study,
                    and --token (repeatable) or --psc-issuer of a PSC simulator the Source trusts
  rad68-burst       reference:dmp, or a dmp profile (endpoints.registry/repository, credentials.vihf_*)
  dmp-mix           the same; the set-up publishes --documents KOS first
  contextual-calls  reference:consumer, or a consumer_drimbox profile with endpoints.contextual_call

examples:
  drimcheck load --sut reference:source --scenario wado-storm --users 20 --spawn-rate 5 --duration 60
  drimcheck load --sut reference:source --scenario wado-storm --study small --users 4 --duration 10 --workers 2
  drimcheck load --sut acme.yaml --scenario wado-storm --study-uid 1.2.3 --kos-uid 1.2.4 --token "$TOKEN"
  drimcheck load --sut reference:dmp --scenario rad68-burst --users 8 --duration 30 \\
      --workers 1 --remote-workers 2 --master-host 10.0.0.5     (then on each other machine:)
  drimcheck load worker --master-host 10.0.0.5 --master-port PORT

exit status: 0 no request failed, 1 some request failed, 2 the load could not run"""


def add_parser(sub: Any) -> None:
    """Register ``load`` (and ``load worker``) under the ``drimcheck`` subcommands ``sub``."""
    load = sub.add_parser("load", help="put a SUT under concurrent load (Locust) and report it",
                          description="Run a load scenario against a system under test with Locust and write "
                                      "results.json, report.html (charts) and report.md.",
                          epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    load.add_argument("role", nargs="?", choices=("worker",),
                      help="worker: join a master on another machine (with --master-host)")
    load.add_argument("--sut", help="reference:source|dmp|consumer, or a SUT profile (YAML)")
    load.add_argument("--scenario", choices=SCENARIO_NAMES)
    load.add_argument("--users", type=int, default=10, help="concurrent users (default 10)")
    load.add_argument("--spawn-rate", type=float, default=10.0, help="users started per second (default 10)")
    load.add_argument("--duration", default="30s", help="run time: 90, 90s, 2m, 1h (default 30s)")
    load.add_argument("--workers", type=int, default=0,
                      help="local Locust worker processes under a master (default 0: one local process)")
    load.add_argument("--remote-workers", type=int, default=0,
                      help="more workers the master waits for, started elsewhere with drimcheck load worker")
    load.add_argument("--master-host", default="127.0.0.1",
                      help="address the master binds (with workers) or the worker joins (default 127.0.0.1)")
    load.add_argument("--master-port", type=int, default=0, help="master's port (default: a free one; "
                                                                 "a worker's default 5557)")
    load.add_argument("--out", type=Path, help="folder of the reports (default reports/out/load-<time>)")
    data = load.add_argument_group("the target's data")
    data.add_argument("--study", default="ans", help="reference:source: fixture study, ans (1300 CT images, "
                                                     "JPEG-LS, ~200 MB) or small (default ans)")
    data.add_argument("--study-uid", help="profile: Study Instance UID of a study the Source published")
    data.add_argument("--kos-uid", help="profile: SOP Instance UID of that study's KOS (KOS-SOPInstanceUID)")
    data.add_argument("--series", action="append", default=[], help="profile: a series to retrieve (repeatable; "
                                                                     "default the whole study)")
    data.add_argument("--token", action="append", default=[],
                      help="bearer token to send (repeatable: users take them in turn); default: issued by PSC")
    data.add_argument("--psc-issuer", help="profile: issuer URL of a PSC simulator issuing test tokens")
    data.add_argument("--documents", type=int, default=20, help="dmp-mix: KOS published first (default 20)")
    load.add_argument("--quiet", action="store_true", help="do not echo the load processes' output")
    load.set_defaults(func=cmd_load)


def parse_duration(text: str) -> float:
    """``90``, ``90s``, ``2m``, ``1h``, ``1m30s`` -> seconds; ValueError when unreadable or not positive."""
    match = re.fullmatch(r"\s*(?:(\d+(?:\.\d+)?)h)?\s*(?:(\d+(?:\.\d+)?)m)?\s*(?:(\d+(?:\.\d+)?)s?)?\s*", text)
    if not match or not any(match.groups()):
        raise ValueError(f"--duration {text!r}: give seconds (90, 90s) or 2m, 1h, 1m30s")
    h, m, s = (float(g) if g else 0.0 for g in match.groups())
    total = h * 3600 + m * 60 + s
    if total <= 0:
        raise ValueError(f"--duration {text!r}: must be more than 0 s")
    return total


def cmd_load(args: argparse.Namespace) -> int:
    from harness.cli import CliError

    if args.role == "worker":
        return _worker(args)
    for flag, value in (("--sut", args.sut), ("--scenario", args.scenario)):
        if not value:
            raise CliError(f"{flag} is required (drimcheck load --help)")
    try:
        duration = parse_duration(args.duration)
    except ValueError as exc:
        raise CliError(str(exc)) from None
    if args.users < 1 or args.spawn_rate <= 0 or args.workers < 0 or args.remote_workers < 0:
        raise CliError("--users must be >= 1, --spawn-rate > 0, --workers and --remote-workers >= 0")
    out = (args.out or Path("reports/out") / time.strftime("load-%Y%m%d-%H%M%S")).resolve()
    if out.exists() and any(out.iterdir()):
        raise CliError(f"output folder {out} is not empty: choose another --out")
    return run_command(args, duration, out)


def run_command(args: argparse.Namespace, duration: float, out: Path) -> int:
    from harness.cli import CliError
    from harness.load.report import render_markdown
    from harness.load.run import Distribution, LoadError, RunInfo, run_load
    from harness.load.spec import LoadSpec, SpecError
    from harness.load.targets import TargetError, TargetOptions, prepare
    from harness.sut import ProfileError

    options = TargetOptions(study=args.study, study_uid=args.study_uid, kos_uid=args.kos_uid, series=args.series,
                            tokens=args.token, psc_issuer=args.psc_issuer, documents=args.documents,
                            token_ttl=int(duration) + 600)
    dist = Distribution(workers=args.workers, remote_workers=args.remote_workers, master_host=args.master_host,
                        master_port=args.master_port)
    try:
        print(f"setting up {args.scenario} on {args.sut}", flush=True)
        with prepare(args.sut, args.scenario, options) as prepared:
            spec = LoadSpec(scenario=args.scenario, target=prepared.target, users=args.users,
                            spawn_rate=args.spawn_rate, duration=duration, **prepared.tls, **prepared.vihf)
            spec.check()
            for key, value in prepared.setup.items():
                print(f"  {key}: {value}", flush=True)
            print(f"running {args.users} users for {duration:g} s"
                  + (f" with {args.workers + args.remote_workers} worker(s)" if dist.distributed else ""), flush=True)
            results = run_load(spec, out, RunInfo(args.sut, ["drimcheck", *sys.argv[1:]], prepared.setup), dist,
                               echo=not args.quiet)
    except (TargetError, ProfileError, SpecError, LoadError) as exc:
        raise CliError(str(exc)) from None
    print(render_markdown(results))
    print(f"report: {out / 'report.html'}")
    return 1 if results["total"]["failures"] else 0


def _worker(args: argparse.Namespace) -> int:
    """Join a remote master: ``python -m harness.load.worker worker`` in this process's place."""
    import os

    from harness.load.run import _env

    port = args.master_port or 5557
    cmd = [sys.executable, "-m", "harness.load.worker", "worker", "--master-host", args.master_host,
           "--master-port", str(port)]
    os.execve(sys.executable, cmd, _env())
    return 0  # not reached
