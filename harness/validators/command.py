"""``drimcheck validate FILE [FILE ...] [--format text|json] [--profile xds|dmp] [--with FILE ...]``.

Exit status: 0 no error finding, 1 at least one error finding, 2 a path cannot be read.
``--with`` names companion files: they are validated too, and all the files given (positional and
``--with``) form one group for the cross-document checks (XVAL-*). JSON output is a list of
``{file, kind, findings, rule_sets}``; the cross-document group appears as kind ``cross``.

Every verdict says what it rests on: the rule sets that ran (with their version where known: "CI-SIS
IMG-CR-IMG schematron 2024.01", "ebRS 3.0 / ebRIM 3.0 + IHE XDS.b XSD") and those skipped, with the reason
(``rule_sets``: ``{name, version, status: ran|skipped, reason}``; in text, the ``ran:`` and ``skipped:`` lines).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from harness.findings import Severity
from harness.validators import FileReport, ValidationOptions, validate_files
from harness.validators.xdm import is_xdm_package


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="drimcheck validate",
        description="Validate KOS, XDS messages, CR-IMG CDA, HL7 v2 files and IHE XDM packages.",
        epilog="examples:\n  drimcheck validate kos.dcm pnr.xml cr-img.xml oru.hl7\n"
               "  drimcheck validate --with cr-img.xml --with oru.hl7 kos.dcm   # cross-document checks\n"
               "  drimcheck validate --schematron CI-SIS_IMG-CR-IMG_2024.01.sch cr-img.xml\n"
               "  drimcheck validate KA202401/ export.zip   # XDM media: a folder holding IHE_XDM/, or a ZIP\n"
               "exit status: 0 no error finding, 1 an error finding, 2 a file cannot be read",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("files", nargs="+", type=Path, metavar="FILE",
                        help="KOS (.dcm or DICOM as XML), XDS message (SOAP, MTOM package), CR-IMG CDA, HL7 v2, "
                             "XDM package (folder holding IHE_XDM/, or ZIP); the kind is detected")
    parser.add_argument("--format", choices=("text", "json"), default="text",
                        help="text: one verdict per file with its findings and the rule sets that ran (default); "
                             "json: the same as a document")
    parser.add_argument("--profile", choices=("xds", "dmp"), default="dmp",
                        help="xds: IHE rules only; dmp: IHE + CI-SIS / DMP rules (default)")
    parser.add_argument("--with", dest="with_files", nargs="+", type=Path, default=[], metavar="FILE",
                        help="companion files checked for cross-document consistency with FILE(s)")
    parser.add_argument("--dciodvfy", dest="dciodvfy", action="store_true", default=None,
                        help="run dicom3tools dciodvfy on DICOM files (default: when installed)")
    parser.add_argument("--no-dciodvfy", dest="dciodvfy", action="store_false", help="do not run dciodvfy")
    parser.add_argument("--cda-xsd", type=Path, help="CI-SIS CDA_extended.xsd to validate CDA against")
    parser.add_argument("--schematron", type=Path, help="CI-SIS schematron (.sch or its folder) for CDA")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    paths = [*args.files, *args.with_files]
    for extra in (args.cda_xsd, args.schematron):
        if extra is not None:
            paths_ok = extra.exists()
            if not paths_ok:
                print(f"drimcheck validate: {extra}: no such file or folder", file=sys.stderr)
                return 2
    for path in paths:
        if not path.is_file() and not is_xdm_package(path):
            print(f"drimcheck validate: {path}: not a readable file", file=sys.stderr)
            return 2
    options = ValidationOptions(dciodvfy=args.dciodvfy, cda_xsd=args.cda_xsd, schematron=args.schematron)
    groups = [paths] if args.with_files else None
    try:
        reports = validate_files(paths, profile=args.profile, cross_groups=groups, options=options)
    except OSError as exc:
        print(f"drimcheck validate: {exc}", file=sys.stderr)
        return 2
    if args.format == "json":
        print(json.dumps([r.to_dict() for r in reports], indent=1, ensure_ascii=False))
    else:
        print(render_text(reports))
    return 0 if all(r.ok for r in reports) else 1


def render_text(reports: list[FileReport]) -> str:
    lines = []
    for report in reports:
        counts = {s: sum(1 for f in report.findings if f.severity is s) for s in Severity}
        verdict = "OK" if report.ok else "FAILED"
        lines.append(f"{report.path} [{report.kind}] {verdict}: {counts[Severity.ERROR]} error(s), "
                     f"{counts[Severity.WARNING]} warning(s), {counts[Severity.INFO]} info")
        lines.extend(render_rule_sets(report))
        lines.extend(f"  {f}" + (f"  <{f.origin}>" if f.origin != "drimcheck" else "") for f in report.findings)
    return "\n".join(lines)


def render_rule_sets(report: FileReport) -> list[str]:
    """``  ran: A; B 2024.01`` and ``  skipped: C (why)``: what the verdict above rests on."""
    done = [str(r) for r in report.rule_sets if r.ran]
    left = [str(r) for r in report.rule_sets if not r.ran]
    return ([f"  ran: {'; '.join(done)}"] if done else ["  ran: no rule set"]) + (
        [f"  skipped: {'; '.join(left)}"] if left else [])


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
