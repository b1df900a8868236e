"""drimcheck: run campaigns, serve simulators, validate content, inspect the catalog.

Subcommand names and exit codes are a contract other tools rely on: 0 every SHALL passed (or
no error finding), 1 a requirement failed (or an error finding), 2 the harness could not run.
Errors are one line naming the cause and the fix; ``--debug`` shows the traceback.
"""

from __future__ import annotations

import argparse
import errno
import gc
import importlib
import json
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness import __version__

EXIT_HARNESS = 2
SIMULATORS = ("dmp", "source", "consumer", "psc", "pacs", "ris", "pki")
SERVE_EPILOG = """simulators:
  dmp       XDS.b registry + repository (ITI-41/RAD-68, ITI-18, ITI-43, ITI-57, VIHF)
  source    the reference Source DRIMbox (HL7 v2 over MLLP, KOS, RAD-68, WADO-RS)
  consumer  the reference Consumer DRIMbox (contextual call, PSC login, ITI-18/43, WADO-RS, import)
  psc       Pro Santé Connect (OpenID Connect provider, token introspection)
  pacs      embedded PACS (C-STORE, C-FIND, C-MOVE, C-GET, DICOMweb)
  ris       RIS (sends HL7 v2 messages over MLLP)
  pki       test PKI: OCSP responder, CRL and CA downloads over plain HTTP (C17)
  all       every actor wired to the others (--demo publishes a fixture exam)

examples:
  drimcheck serve all --demo                 (HTTPS from the test PKI; --plain-http to debug)
  drimcheck serve dmp --port 8090 --vihf-trust ca.pem
  drimcheck serve source --help
  drimcheck serve pacs --port 11112 --dicomweb-port 8042 --storage pacs-data
"""


class CliError(RuntimeError):
    """A harness error shown as one line, exit 2."""


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    # validate and fixtures own their argument parsing: forward everything after the name
    if argv and argv[0] in ("validate", "fixtures"):
        return _forward(argv[0], argv[1:], debug="--debug" in argv)
    args, extra = parser.parse_known_args(argv)
    if extra and getattr(args, "command", None) != "serve":
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    args.extra = extra
    if not getattr(args, "command", None):
        parser.print_help()
        return EXIT_HARNESS
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_HARNESS
    except SystemExit as exc:  # a simulator refusing an option value says why in its message
        if isinstance(exc.code, str):
            print(f"drimcheck: error: {exc.code}", file=sys.stderr)
            return EXIT_HARNESS
        raise
    except BrokenPipeError:  # the reader went away (``| head``): not an error of ours
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except OSError as exc:
        if args.debug:
            traceback.print_exc()
        hint = ": stop what holds it or choose another --port" if exc.errno == errno.EADDRINUSE else ""
        print(f"drimcheck: error: {exc.strerror or exc}{hint}", file=sys.stderr)
        return EXIT_HARNESS
    except Exception as exc:
        if args.debug:
            traceback.print_exc()
        print(f"drimcheck: error: {exc}", file=sys.stderr)
        return EXIT_HARNESS


def _lazy_epilog(parser: argparse.ArgumentParser, factory: Callable[[], str]) -> None:
    """Give ``parser`` the epilog ``factory()`` makes, built only when its help is shown (each campaign and
    product starts a process that parses its command line; the epilog's imports cost a second of CPU)."""
    plain = parser.format_help

    def format_help() -> str:
        if parser.epilog is None:
            parser.epilog = factory()
        return plain()

    parser.format_help = format_help  # type: ignore[method-assign]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="drimcheck", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"drimcheck {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks of harness errors")
    sub = parser.add_subparsers(dest="command")

    run = sub.add_parser("run", help="run a campaign against a SUT and write its report",
                         description="Run the plans against a system under test and write the campaign's reports "
                                     "(report.html, results.json, junit.xml, coverage.csv, evidence.zip).",
                         formatter_class=argparse.RawDescriptionHelpFormatter)
    _lazy_epilog(run, _run_epilog)  # it names every fault: importing every simulator only for --help
    run.add_argument("--sut", required=True,
                     help="SUT profile (YAML) or reference:source|consumer|dmp|content[?fault=NAME] or reference:all")
    run.add_argument("--plan", action="append", required=True, help="plan name, 'all', or a plan folder (repeatable)")
    run.add_argument("--out", type=Path, help="campaign folder (default reports/out/<campaign-id>)")
    run.add_argument("--catalog", type=Path, help=argparse.SUPPRESS)
    run.add_argument("--quiet", action="store_true", help="no live progress")
    run.add_argument("--only", action="append", default=[], metavar="ID",
                     help="run only the tests of requirement ID, or the test node ID as results.json names it "
                          "(dmp/test_iti41.py::test_x); repeatable; the other requirements are reported not run")
    run.set_defaults(func=cmd_run)

    serve = sub.add_parser("serve", help="start simulators in the foreground until Ctrl-C", add_help=False,
                           description="Start simulators (or the reference products) in the foreground until "
                                       "Ctrl-C, printing their endpoints. 'drimcheck serve NAME --help' lists "
                                       "the options of NAME.", epilog=SERVE_EPILOG,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    serve.add_argument("-h", "--help", action="store_true", help="show the options of the named simulators")
    serve.add_argument("names", nargs="*", metavar="NAME",
                       help=f"simulators: {', '.join(SIMULATORS)}, or all (every actor, wired to the others)")
    serve.add_argument("--port", type=int, default=0, help="port (only with one simulator; 0 = free port)")
    serve.add_argument("--host", default="127.0.0.1", help="listen address (default loopback)")
    serve.set_defaults(func=cmd_serve, serve_parser=serve)

    sub.add_parser("validate", help="validate content files (KOS, XDS message, CDA, HL7)", add_help=False)
    sub.add_parser("fixtures", help="generate studies and the consistent fixture set", add_help=False)

    reqs = sub.add_parser("requirements", help="list the catalog, its coverage, or check it")
    reqs.add_argument("--coverage", action="store_true", help="show which tests verify each requirement")
    reqs.add_argument("--format", choices=("table", "csv", "json"), default="table")
    reqs.add_argument("--check", action="store_true",
                      help="fail on duplicates, missing sources, untested SHALLs without reason")
    reqs.add_argument("--write", action="store_true", help="rewrite testplans/catalog/coverage.csv")
    reqs.set_defaults(func=cmd_requirements)

    report = sub.add_parser("report", help="rebuild a campaign's reports from its results.json")
    report.add_argument("results", type=Path)
    report.add_argument("--out", type=Path, help="folder (default: beside results.json)")
    report.set_defaults(func=cmd_report)

    from harness.profile_cmd import add_parser as add_profile_parser

    add_profile_parser(sub)
    from harness.pki_cmd import add_parser as add_pki_parser
    from harness.whitelist_cmd import add_parser as add_whitelist_parser
    from reports.verify_cmd import add_parser as add_verify_parser

    add_pki_parser(sub)
    add_whitelist_parser(sub)
    add_verify_parser(sub)
    from harness.viewer_cmd import add_parser as add_viewer_parser

    add_viewer_parser(sub)
    from harness.load.command import add_parser as add_load_parser

    add_load_parser(sub)
    from harness.console.command import add_parser as add_console_parser

    add_console_parser(sub)
    return parser


def _run_epilog() -> str:
    """Plans, the reference's faults per actor and examples, for ``drimcheck run --help``."""
    from harness.faults import faults_of
    from harness.pytest_plugin import PLAN_ACTORS

    lines = ["plans (each checks one actor; 'all' runs every plan of the SUT's actor):"]
    lines += [f"  {plan:<18} checks a {actor}" if actor else
              f"  {plan:<18} measures a Source or a Consumer (run only when named, not by --plan all)"
              for plan, actor in PLAN_ACTORS.items()]
    lines.append("\nnamed faults of the reference implementation (reference:ACTOR?fault=NAME):")
    for alias, actor in (("source", "source_drimbox"), ("consumer", "consumer_drimbox"), ("dmp", "dmp")):
        names = sorted(faults_of(actor))
        lines.append(f"  {alias} ({len(names)}): " + ", ".join(names))
    lines.append("  content: one per validator rule (drimcheck run --sut reference:content?fault=x lists them)")
    lines += ["\nexamples:",
              "  drimcheck run --sut reference:all --plan all",
              "  drimcheck run --sut 'reference:source?fault=missing-retrieve-url' --plan source_drimbox",
              "  drimcheck profile init --actor source --out run/acme.yaml   # then fill it in",
              "  drimcheck run --sut run/acme.yaml --plan source_drimbox --out reports/out/acme-1",
              "\nexit status: 0 every SHALL in scope passed, 1 one failed, is inconclusive or was not run, "
              "2 harness error"]
    return "\n".join(lines)


# -- run -------------------------------------------------------------------------------------
def cmd_run(args: argparse.Namespace) -> int:
    from harness import runner
    from harness.catalog import CatalogError, load_catalog
    from reports.build import write_reports
    from reports.results import build_results

    try:
        catalog = load_catalog(args.catalog)
        profiles = runner.resolve_profiles(args.sut)
        runs = runner.resolve_plans(args.plan, profiles)
        runner.check_needs(runs)
        if args.only:
            runs = runner.select_only(runs, args.only)
        for profile in profiles:
            if not profile.reference:
                runner.check_reachable(profile)
    except (runner.HarnessError, CatalogError) as exc:
        raise CliError(str(exc)) from None
    cid = runner.new_campaign_id(profiles)
    out = (args.out or Path("reports/out") / cid).resolve()
    if out.exists() and any(out.iterdir()):
        raise CliError(f"output folder {out} is not empty: choose another --out")
    campaign = runner.Campaign(cid, out, runs, args.catalog, ["drimcheck", *sys.argv[1:]])
    print(f"campaign {cid}: {len(runs)} plan run(s) on {', '.join(p.name for p in profiles)}", flush=True)
    runner.execute(campaign, echo=not args.quiet)
    problem = runner.harness_problem(campaign)
    raws = [json.loads(r.raw.read_text()) for r in runs if r.raw and r.raw.exists()]
    results = build_results(
        campaign_id=cid, raws=raws, suts=[{**p.to_dict()} for p in profiles], plans=[r.plan for r in runs],
        catalog=catalog, evidence=out / "evidence", command=campaign.command, harness_error=problem)
    html = write_reports(results, out)
    s = results["summary"]
    counts = s["requirements"]
    print("requirements: " + ", ".join(f"{counts.get(v, 0)} {v.replace('_', ' ')}" for v in
                                        ("passed", "failed", "inconclusive", "not_run", "not_applicable",
                                         "not_tested")))
    if problem:
        print(f"drimcheck: error: {problem}", file=sys.stderr)
    for rid, why in (s.get("shall_not_passed") or {}).items():
        print(f"SHALL {rid}: {why}")
    print(f"report: {html}")
    return int(s["exit_code"])


# -- serve -----------------------------------------------------------------------------------
def _serve_module(name: str) -> Any:
    try:
        return importlib.import_module(f"simulators.{name}.serve")
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.startswith(f"simulators.{name}"):
            raise CliError(f"the {name} simulator is not built yet") from None
        raise


def _network_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="drimcheck serve all",
                                     description="every actor, wired to the others, each on a free port")
    parser.add_argument("--host", default="127.0.0.1", help="listen address (default loopback)")
    parser.add_argument("--workdir", type=Path, default=Path("network-data"),
                        help="folder of the actors' databases and PACS storage (default network-data)")
    parser.add_argument("--demo", action="store_true",
                        help="store a fixture exam in the Source's PACS and send its report, so the DMP lists it")
    _add_tls_arguments(parser)
    return parser


def _add_tls_arguments(parser: argparse.ArgumentParser) -> None:
    from harness.pki import default_folder

    parser.add_argument("--pki", type=Path, default=None, metavar="DIR",
                        help=f"test PKI the HTTPS certificates come from, made on first use "
                             f"(default {default_folder()}; its ca.pem is what clients must trust)")
    parser.add_argument("--plain-http", action="store_true",
                        help="serve plain HTTP instead of HTTPS (debugging only: control point C17 wants every "
                             "flow encrypted)")


def _tls_of(sim_args: argparse.Namespace, host: str) -> Any:
    """The network TLS of ``drimcheck serve`` (None with --plain-http); certificates cover ``host``."""
    if sim_args.plain_http:
        return None
    from harness.tls import network_tls

    hosts = tuple(dict.fromkeys((host, "127.0.0.1", "localhost")))
    return network_tls(sim_args.pki, hosts)


def _serve_until_stopped(services: list[tuple[str, Any]], starter: Callable[[], None]) -> int:
    """Run ``starter`` (which appends to ``services``), print endpoints, wait for Ctrl-C or SIGTERM."""
    from harness.servers import stop_requested, wait_for_stop

    stop = stop_requested()  # before the start: a signal from then on ends the wait below, never the start itself
    try:
        starter()
        gc.freeze()  # what start-up built lives as long as the process: the cyclic GC need not scan it again
        print("serving; Ctrl-C stops", flush=True)
        wait_for_stop(stop)
    finally:
        for _name, service in reversed(services):
            service.stop()
        print("stopped", flush=True)
    return 0


def _print_endpoints(name: str, endpoints: dict[str, str]) -> None:
    for key, url in endpoints.items():
        print(f"{name:<9} {key:<18} {url}", flush=True)


def cmd_serve_all(args: argparse.Namespace) -> int:
    """The national network on loopback: the actors started with each other's addresses."""
    parser = _network_parser()
    if args.help:
        parser.print_help()
        return 0
    if args.port:
        raise CliError("--port applies to one simulator; with all, each takes a free port")
    net_args = parser.parse_args(args.extra)
    from simulators.network import start_network

    services: list[tuple[str, Any]] = []

    def starter() -> None:
        tls = _tls_of(net_args, args.host)
        network = start_network(net_args.workdir, host=args.host, demo=net_args.demo, tls=tls)
        if tls is not None:
            print(f"{'tls':<9} {'trust_anchor':<18} {tls.ca}", flush=True)
        services.append(("network", network))
        for name, part in network.parts:
            _print_endpoints(name, part.endpoints)
        for key, value in network.demo.items():
            print(f"{'demo':<9} {key:<18} {value}", flush=True)

    return _serve_until_stopped(services, starter)


def cmd_serve(args: argparse.Namespace) -> int:
    if not args.names:
        if args.help:
            args.serve_parser.print_help()
            return 0
        raise CliError("name the simulator(s) to start: " + ", ".join((*SIMULATORS, "all"))
                       + " (drimcheck serve --help)")
    unknown = [n for n in args.names if n not in (*SIMULATORS, "all")]
    if unknown:
        raise CliError(f"unknown simulator {unknown[0]!r}: choose from {', '.join((*SIMULATORS, 'all'))}")
    if "all" in args.names:
        if len(args.names) > 1:
            raise CliError("'all' starts every actor: name no other simulator with it")
        return cmd_serve_all(args)
    names = list(dict.fromkeys(args.names))
    if args.port and len(names) > 1:
        raise CliError("--port applies to one simulator; with several, each takes a free port")
    modules = {name: _serve_module(name) for name in names}
    parser = argparse.ArgumentParser(prog=f"drimcheck serve {' '.join(names)}", conflict_handler="resolve")
    parser.add_argument("--port", type=int, default=0, help="port (only with one simulator; 0 = free port)")
    parser.add_argument("--host", default="127.0.0.1", help="listen address (default loopback)")
    _add_tls_arguments(parser)  # before the modules': the pki simulator's own --pki (same meaning) wins
    for module in modules.values():
        module.add_arguments(parser)
    if args.help:
        parser.print_help()
        return 0
    sim_args = parser.parse_args(args.extra)
    sim_args.port, sim_args.host = args.port, args.host
    _check_ports(sim_args)
    sim_args.tls = _tls_of(sim_args, args.host)  # the pki simulator itself stays plain HTTP (C17 exemption)
    created = _folders_to_create(sim_args)
    services: list[tuple[str, Any]] = []

    def starter() -> None:
        try:
            for name, module in modules.items():
                services.append((name, module.start(sim_args)))
                _print_endpoints(name, services[-1][1].endpoints)
        except BaseException:
            for _name, service in reversed(services):
                service.stop()
            services.clear()
            _remove_created(created)  # a failed start leaves nothing behind
            raise

    return _serve_until_stopped(services, starter)


def _check_ports(sim_args: argparse.Namespace) -> None:
    """Name the option whose port is taken, before anything starts (not a bare 'address in use')."""
    from harness.servers import PortInUseError, check_port_free

    for key, value in sorted(vars(sim_args).items()):
        if key.endswith("port") and isinstance(value, int) and value:
            try:
                check_port_free(value, sim_args.host or "127.0.0.1")
            except PortInUseError:
                raise CliError(f"--{key.replace('_', '-')} {value}: the port is already in use on "
                               f"{sim_args.host or '127.0.0.1'}: stop what holds it or choose another") from None


def _folders_to_create(sim_args: argparse.Namespace) -> list[Path]:
    """Work folders named by the options that do not exist yet (the start creates them)."""
    return [Path(v) for k, v in vars(sim_args).items()
            if (k.endswith("workdir") or k == "storage") and v and not Path(v).exists()]


def _remove_created(folders: list[Path]) -> None:
    import shutil

    for folder in folders:
        shutil.rmtree(folder, ignore_errors=True)


# -- validate / fixtures (forwarded) ----------------------------------------------------------
def _forward(name: str, argv: list[str], debug: bool) -> int:
    target = {"validate": "harness.validators.command", "fixtures": "fixtures.command"}[name]
    argv = [a for a in argv if a != "--debug"]
    try:
        module = importlib.import_module(target)
    except ModuleNotFoundError as exc:
        if exc.name and target.startswith(exc.name):
            print(f"drimcheck: error: `drimcheck {name}` is not built yet", file=sys.stderr)
            return EXIT_HARNESS
        raise
    try:
        return int(module.main(argv))
    except Exception as exc:
        if debug:
            traceback.print_exc()
        print(f"drimcheck: error: {exc}", file=sys.stderr)
        return EXIT_HARNESS


# -- requirements ----------------------------------------------------------------------------
def cmd_requirements(args: argparse.Namespace) -> int:
    from harness.catalog import load_catalog
    from harness.coverage import (
        COVERAGE_FILE,
        catalog_problems,
        collect_links,
        coverage_csv,
        coverage_rows,
        fault_ratio,
    )

    catalog = load_catalog()
    links = collect_links() if (args.coverage or args.check or args.write) else {}
    rows = coverage_rows(catalog, links)
    if args.write:
        COVERAGE_FILE.write_text(coverage_csv(rows), encoding="utf-8")
        print(f"wrote {COVERAGE_FILE}")
    if args.format == "json":
        print(json.dumps([r.__dict__ | {"tests": list(r.tests), "faults": list(r.faults)} for r in rows], indent=1))
    elif args.format == "csv":
        print(coverage_csv(rows), end="")
    else:
        if args.coverage:
            print(f"{'requirement':<22} {'level':<6} {'actor':<17} {'status':<10} tests (faults that prove it)")
        for r in rows:
            line = f"{r.id:<22} {r.level:<6} {r.actor:<17}"
            if args.coverage:
                line += f" {r.status:<10} " + (", ".join(t.split('::')[-1] for t in r.tests) or r.reason)
                line += f"  (faults: {', '.join(r.faults)})" if r.faults else ""
            else:
                line += " " + catalog[r.id].title
            print(line)
        verified = sum(r.status == "verified" for r in rows)
        print(f"{len(rows)} requirements" + (f", {verified} verified by tests" if links else ""))
        if args.coverage:
            for actor, (proven, total) in sorted(fault_ratio(rows).items()):
                if actor in ("source_drimbox", "consumer_drimbox", "dmp", "content"):
                    print(f"{actor}: {proven} of {total} SHALL requirements proven by a named fault "
                          f"({100 * proven // max(total, 1)} %)")
    if args.check:
        problems = catalog_problems(catalog, links)
        for p in problems:
            print(f"catalog: {p}", file=sys.stderr)
        if problems:
            return 1
        print("catalog check: ok")
    return 0


# -- report ----------------------------------------------------------------------------------
def cmd_report(args: argparse.Namespace) -> int:
    from reports.build import write_reports

    if not args.results.is_file():
        raise CliError(f"results file {args.results} not found: give the results.json of a campaign")
    try:
        results = json.loads(args.results.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CliError(f"{args.results} is not a results.json ({exc})") from None
    out = args.out or args.results.parent
    try:
        html = write_reports(results, out.resolve(), args.results.parent.resolve() / "evidence")
    except Exception as exc:
        if exc.__class__.__name__ == "ValidationError":
            raise CliError(f"{args.results} does not follow schemas/results.schema.json: "
                           f"{getattr(exc, 'message', exc)}") from None
        raise
    print(f"report: {html}")
    return int(results["summary"]["exit_code"])


if __name__ == "__main__":
    sys.exit(main())
