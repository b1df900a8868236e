"""``drimcheck pki``: make a test PKI shaped like IGC-Santé, issue and revoke its certificates, list them.

The PKI (``harness.pki``) is a root, the intermediate "TEST AC IGC-SANTE ELEMENTAIRE ORGANISATIONS" and the
leaves it issues, with a CRL; ``drimcheck serve pki --pki DIR`` answers OCSP for it. Exit 0 done, 2 a flag
or folder at fault (one line naming it).
"""

from __future__ import annotations

import argparse
import datetime as dt
import ipaddress
import sys
from pathlib import Path
from typing import Any

from harness.pki import REASONS, USAGES, Pki, PkiError, check_name, is_host_name

EXIT_OK, EXIT_USAGE = 0, 2
EPILOG = """examples:
  drimcheck pki init --out run/pki --base-url http://127.0.0.1:8088
  drimcheck pki issue --out run/pki --name acme-db --cn db.acme.test --usage server --dns db.acme.test
  drimcheck pki issue --out run/pki --name acme-auth --cn db.acme.test --ou 399999999800019 --usage client
  drimcheck pki issue --out run/pki --name acme-sign --cn "ACME SIGN" --usage sign --days 365
  drimcheck pki revoke --out run/pki --name acme-auth --reason keyCompromise
  drimcheck pki show --out run/pki
  drimcheck serve pki --pki run/pki          # OCSP responder, CRL and CA downloads

files in DIR: ca.pem (trust anchor), intermediate.pem, NAME.pem (certificate + intermediate), NAME.key,
crl.pem / crl.der, index.json; the keys are mode 0600."""


def add_parser(sub: Any) -> None:
    """Register ``pki init|issue|revoke|show`` under the ``drimcheck`` subcommands ``sub``."""
    raw = argparse.RawDescriptionHelpFormatter
    pki = sub.add_parser("pki", help="make a test PKI shaped like IGC-Santé (certificates, CRL, revocation)",
                         description="Make a test PKI shaped like IGC-Santé: a root, the intermediate TEST AC "
                                     "IGC-SANTE ELEMENTAIRE ORGANISATIONS, server (TLS), client (ORG AUTH CLI) "
                                     "and signing (ORG SIGN) certificates, a CRL.",
                         epilog=EPILOG, formatter_class=raw)
    psub = pki.add_subparsers(dest="pki_command", required=True, metavar="{init,issue,revoke,show}")
    init = psub.add_parser("init", help="create the root, the intermediate, an empty CRL", epilog=EPILOG,
                           formatter_class=raw)
    _out(init, "folder to create (new or empty)")
    init.add_argument("--organisation", default="DRIMCHECK TEST", help="O of the CAs (default: %(default)s)")
    init.add_argument("--base-url", default="http://127.0.0.1:8088",
                      help="where `drimcheck serve pki` answers; certificates name BASE/ocsp and BASE/crl.der "
                           "(default: %(default)s)")
    init.add_argument("--days", type=int, default=3650, help="validity of the CAs in days (default: %(default)s)")
    init.set_defaults(func=cmd_init)
    _issue_parser(psub, raw)
    revoke = psub.add_parser("revoke", help="revoke a certificate and re-sign the CRL", epilog=EPILOG,
                             formatter_class=raw)
    _out(revoke, "the PKI folder")
    revoke.add_argument("--name", required=True, help="name the certificate was issued under")
    revoke.add_argument("--reason", default="keyCompromise", choices=REASONS, metavar="REASON",
                        help=f"RFC 5280 reason: {', '.join(REASONS)} (default: %(default)s)")
    revoke.set_defaults(func=cmd_revoke)
    show = psub.add_parser("show", help="list the certificates: subject, usage, serial, expiry, status",
                           epilog=EPILOG, formatter_class=raw)
    _out(show, "the PKI folder")
    show.set_defaults(func=cmd_show)


def _out(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument("--out", type=Path, required=True, metavar="DIR", help=what)


def _issue_parser(psub: Any, raw: type[argparse.HelpFormatter]) -> None:
    issue = psub.add_parser("issue", help="issue (or re-issue) a certificate: NAME.pem and NAME.key",
                            epilog=EPILOG, formatter_class=raw)
    _out(issue, "the PKI folder")
    issue.add_argument("--name", required=True, help="file stem: NAME.pem, NAME.key (A-Z a-z 0-9 . _ -)")
    issue.add_argument("--cn", required=True, help="common name (a server's host name)")
    issue.add_argument("--ou", help="organisational unit (IGC-Santé: 3 + SIRET of the structure)")
    issue.add_argument("--o", help="organisation (default: the PKI's)")
    issue.add_argument("--usage", required=True, choices=USAGES,
                       help="server (TLS serverAuth), client (clientAuth, ORG AUTH CLI) or sign (ORG SIGN)")
    issue.add_argument("--dns", action="append", default=[], metavar="HOST", help="DNS name in the SAN (repeatable)")
    issue.add_argument("--ip", action="append", default=[], metavar="IP", help="IP address in the SAN (repeatable)")
    issue.add_argument("--days", type=int, default=825, help="validity in days (default: %(default)s)")
    issue.set_defaults(func=cmd_issue)


def _error(flag: str, value: object, why: str) -> int:
    print(f"drimcheck: error: {flag} {value}: {why}", file=sys.stderr)
    return EXIT_USAGE


def _open(folder: Path) -> Pki | int:
    try:
        return Pki.open(folder)
    except PkiError as exc:
        return _error("--out", folder, str(exc))


# -- init ------------------------------------------------------------------------------------
def cmd_init(args: argparse.Namespace) -> int:
    if args.days <= 0:
        return _error("--days", args.days, "give a positive number of days")
    if not args.base_url.startswith(("http://", "https://")):
        return _error("--base-url", args.base_url, "give an http:// URL (OCSP and CRLs are plain HTTP)")
    try:
        pki = Pki.init(args.out, organisation=args.organisation, base_url=args.base_url, days=args.days)
    except (PkiError, OSError) as exc:
        return _error("--out", args.out, str(exc))
    root, inter = pki.certificate("ca"), pki.certificate("intermediate")
    print(f"wrote {pki.ca_path} (trust anchor: {root.subject.rfc4514_string()})")
    print(f"wrote {pki.intermediate_path} ({inter.subject.rfc4514_string()})")
    print(f"wrote {pki.key_path('root')} and {pki.key_path('intermediate')} (mode 0600)")
    print(f"wrote {pki.folder / 'crl.pem'}, {pki.folder / 'crl.der'} (empty) and {pki.folder / 'index.json'}")
    return EXIT_OK


# -- issue -----------------------------------------------------------------------------------
def _issue_problem(args: argparse.Namespace) -> int | None:
    """Exit status of the first flag at fault, None when all are fine."""
    try:
        check_name(args.name)
    except PkiError as exc:
        return _error("--name", args.name, str(exc))
    bad_dns = [h for h in args.dns if not is_host_name(h)]
    if bad_dns:
        return _error("--dns", bad_dns[0], "not a host name")
    for ip in args.ip:
        try:
            ipaddress.ip_address(ip)
        except ValueError:
            return _error("--ip", ip, "not an IP address")
    if args.days <= 0:
        return _error("--days", args.days, "give a positive number of days")
    if not args.cn.strip():
        return _error("--cn", repr(args.cn), "the common name is empty")
    return None


def cmd_issue(args: argparse.Namespace) -> int:
    problem = _issue_problem(args)
    if problem is not None:
        return problem
    pki = _open(args.out)
    if isinstance(pki, int):
        return pki
    issued = pki.issue(args.name, cn=args.cn, ou=args.ou, o=args.o, usage=args.usage, dns=args.dns, ips=args.ip,
                       days=args.days)
    cert = pki.certificate(args.name)
    print(f"wrote {issued.cert} (certificate + intermediate) and {issued.key} (mode 0600)")
    print(f"  {issued.subject}, {args.usage}, serial {issued.serial:x}, valid until "
          f"{cert.not_valid_after_utc:%Y-%m-%d}")
    return EXIT_OK


# -- revoke ----------------------------------------------------------------------------------
def cmd_revoke(args: argparse.Namespace) -> int:
    pki = _open(args.out)
    if isinstance(pki, int):
        return pki
    try:
        check_name(args.name)
        if args.name not in pki.current():
            raise PkiError(f"no certificate of that name in {pki.folder} (see `drimcheck pki show --out {args.out}`)")
        pki.revoke(args.name, args.reason)
    except PkiError as exc:
        return _error("--name", args.name, str(exc))
    entry = pki.current()[args.name]
    print(f"revoked {args.name} (serial {entry['serial']:x}, {entry['reason']}, {entry['revoked_at']})")
    print(f"wrote {pki.folder / 'crl.pem'} and {pki.folder / 'crl.der'}")
    return EXIT_OK


# -- show ------------------------------------------------------------------------------------
def _status(entry: dict[str, Any], now: dt.datetime) -> str:
    if entry["revoked_at"]:
        return f"revoked {entry['revoked_at'][:10]} ({entry['reason']})"
    if dt.datetime.fromisoformat(entry["not_after"]) < now:
        return "expired"
    if dt.datetime.fromisoformat(entry["not_before"]) > now:
        return "not yet valid"
    return "valid"


def cmd_show(args: argparse.Namespace) -> int:
    pki = _open(args.out)
    if isinstance(pki, int):
        return pki
    now = dt.datetime.now(dt.UTC)
    rows = [(e["name"], e["subject"], e["usage"], f"{e['serial']:x}", e["not_after"][:10], _status(e, now))
            for e in pki.current().values()]
    header = ("name", "subject", "usage", "serial", "not after", "status")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    print(f"{pki.folder}: trust anchor {pki.ca_path.name}, {len(rows)} certificate(s)")
    for row in [header, *rows]:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    return EXIT_OK
