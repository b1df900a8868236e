"""``drimcheck whitelist``: write, sign and verify an ANS ``ListeBlancheDRIM-M`` (ANS DRIM-M_DATA
Liste blanche TEST/Readme.md).

``make`` writes an unsigned list from ``--entry`` values; ``sign`` adds the enveloped XAdES-BASELINE-B
signature (ETSI EN 319 132-1) with a key and certificate, or the ``whitelist-signer`` of a test PKI;
``verify`` checks a list as a DRIMbox does after each fetch: signature, chain to the CA, signer CN and
OU, validity, revocation (RFC 5280 §6), and says what it verified and what it could not.

Exit statuses of ``verify``, chosen so that nothing unverified passes for verified (a script testing
``== 0`` never trusts a list nobody vouches for, and one testing ``== 1`` still sees every list shown
wrong):

- 0 verified: signature, signer CN/OU, SigningTime within the signer's validity, validity at ``--at``
  and the chain to a trust anchor (``--ca``/``--pki``, or the system trust store); revocation too when
  a CRL was asked for (``--crl``, ``--fetch-crl``, ``--pki``).
- 1 refused: something is shown wrong (altered list, bad signature, foreign CA, other CN/OU, expired or
  revoked signer, SigningTime outside the signer's validity, CRL unreachable when asked for).
- 2 usage error or unreadable file.
- 3 not anchored: nothing is wrong, but no trust anchor vouches for the signer (no ``--ca``, and neither
  the signer's issuer nor a root the signature carries is in the system trust store; a root carried by
  the signature proves nothing). The list must not be trusted as it stands.

``--at`` (default ``now``) is when the signer's validity is checked: ``now`` is what a DRIMbox does
before trusting a list it fetches; ``signing-time`` (xades:SigningTime) is what a verifier of a
XAdES-BASELINE-B signature without timestamp can do for a list signed in the past (ETSI EN 319 132-1
§6.3; ETSI EN 319 102-1 for validation at a past time). A SigningTime outside the signer's validity is
refused whatever ``--at`` says.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from harness.pki import Pki, PkiError
from harness.whitelist import (
    AT_NOW,
    AT_SIGNING_TIME,
    SIGNER_CN,
    SIGNER_OU,
    Domain,
    Verdict,
    WhitelistError,
    at_phrase,
    build_whitelist,
    expired_since_signing,
    sign_whitelist,
    signer_label,
    verify_whitelist,
)

EXIT_OK, EXIT_REFUSED, EXIT_USAGE, EXIT_NOT_ANCHORED = 0, 1, 2, 3
SIGNER_NAME = "whitelist-signer"  # harness.pki.network_pki issues it: CN=Liste Blanche DRIM-M, OU=318751275100020
SIGNER_O = "AGENCE DU NUMERIQUE EN SANTE"

MAKE_EPILOG = """examples:
  drimcheck whitelist make --entry "1,db1.example.fr,vi1.example.fr,CN=db1.example.fr,OU=399999998000190,O=ACME,C=FR" \\
      --entry "2,db2.example.fr,,CN=db2.example.fr,OU=399999998000270,O=OTHER,C=FR" --out list.xml

Each --entry is ID,DB,VI,DN: the DRIMbox host, its viewer host (may be empty) and the DN of its
operator certificate (commas allowed: everything after the third comma is the DN)."""
SIGN_EPILOG = """examples:
  drimcheck whitelist sign --in list.xml --key signer.key --cert signer.pem --out signed.xml
  drimcheck whitelist sign --in list.xml --pki run/pki --out signed.xml   # the PKI's whitelist-signer"""
VERIFY_EPILOG = """examples:
  drimcheck whitelist verify signed.xml --ca run/pki/ca.pem --crl run/pki/crl.pem
  drimcheck whitelist verify signed.xml --pki run/pki                 # its ca.pem and crl.pem
  drimcheck whitelist verify ans.xml --ca igc-sante-test.pem --fetch-crl
  drimcheck whitelist verify ans.xml --ca igc-sante-test.pem --at signing-time   # a list signed in the past
  drimcheck whitelist verify ans.xml        # no CA: the signature only; the chain is reported NOT anchored

--at: when the signer's validity is checked: now (default; what a DRIMbox does with a list it
fetches), signing-time (the list's xades:SigningTime) or an ISO 8601 time. A SigningTime outside the
signer's validity is refused whatever --at says. No network access unless --fetch-crl.

exit status: 0 verified (signature, signer, validity and the chain to a trust anchor; revocation when
a CRL was asked for), 1 refused (each problem listed), 2 a usage error or a file that cannot be read,
3 the signature is valid but no trust anchor vouches for the signer (no --ca, issuer not in the system
trust store): NOT anchored, not to be trusted as it stands."""


class UsageError(Exception):
    """A bad option value or an unreadable file: one line naming the flag, exit 2."""


def add_parser(sub: Any) -> None:
    """Register ``whitelist make``, ``sign`` and ``verify`` under the ``drimcheck`` subcommands ``sub``."""
    raw = argparse.RawDescriptionHelpFormatter
    top = sub.add_parser("whitelist", help="write, sign or verify the ANS whitelist of DRIMboxes",
                         description="Write, sign or verify a ListeBlancheDRIM-M, the ANS list of DRIMboxes.",
                         epilog=f"{MAKE_EPILOG}\n\n{SIGN_EPILOG}\n\n{VERIFY_EPILOG}", formatter_class=raw)
    wsub = top.add_subparsers(dest="whitelist_command", required=True, metavar="{make,sign,verify}")
    make = wsub.add_parser("make", help="write an unsigned list", epilog=MAKE_EPILOG, formatter_class=raw,
                           description="Write an unsigned ListeBlancheDRIM-M from --entry values.")
    make.add_argument("--entry", action="append", required=True, metavar="ID,DB,VI,DN",
                      help="one DRIMbox (repeatable)")
    make.add_argument("--denomination", default="DRIMCHECK", help="the operator name of every entry")
    make.add_argument("--contact", default="", help="the SupportContact of every entry")
    make.add_argument("--out", type=Path, required=True, metavar="XML", help="file to write")
    make.set_defaults(func=cmd_make)
    sign = wsub.add_parser("sign", help="sign a list (enveloped XAdES-BASELINE-B)", epilog=SIGN_EPILOG,
                           formatter_class=raw, description="Sign a list as the ANS does: enveloped "
                           "XAdES-BASELINE-B, exc-c14n, RSA-SHA256. A signature already there is replaced.")
    sign.add_argument("--in", dest="input", type=Path, required=True, metavar="XML", help="the list to sign")
    sign.add_argument("--key", type=Path, metavar="PEM", help="the signer's private key")
    sign.add_argument("--cert", type=Path, metavar="PEM", help="the signer's certificate (then its intermediates)")
    sign.add_argument("--chain", type=Path, metavar="PEM", help="more intermediate certificates for KeyInfo")
    sign.add_argument("--pki", type=Path, metavar="DIR",
                      help=f"take {SIGNER_NAME} of this test PKI (issued there when missing) instead of --key/--cert")
    sign.add_argument("--out", type=Path, required=True, metavar="XML", help="file to write")
    sign.set_defaults(func=cmd_sign)
    verify = wsub.add_parser("verify", help="verify a signed list", epilog=VERIFY_EPILOG, formatter_class=raw,
                             description="Verify a list as a DRIMbox does after each fetch: signature, chain "
                                         "to the CA, signer CN and OU, validity, revocation; say what was "
                                         "verified and what was not.")
    verify.add_argument("file", type=Path, metavar="XML", help="the signed list")
    verify.add_argument("--ca", type=Path, metavar="PEM", help="CA certificate(s) the signer must chain to "
                                                               "(without: the system trust store, else NOT anchored)")
    verify.add_argument("--pki", type=Path, metavar="DIR", help="a test PKI: its ca.pem, and its crl.pem "
                                                                 "unless --crl or --fetch-crl")
    revocation = verify.add_mutually_exclusive_group()
    revocation.add_argument("--crl", type=Path, metavar="FILE", help="CRL of the signer's CA (PEM or DER)")
    revocation.add_argument("--fetch-crl", action="store_true",
                            help="fetch the CRL from the signer certificate's distribution point")
    verify.add_argument("--at", default=AT_NOW, metavar="signing-time|now|ISO",
                        help="when the signer's validity is checked: now (default), signing-time (the list's "
                             "xades:SigningTime) or a time such as 2026-10-01T00:00:00Z")
    verify.add_argument("--signer-cn", default=SIGNER_CN, help=f"expected signer CN (default {SIGNER_CN!r})")
    verify.add_argument("--signer-ou", default=SIGNER_OU, help=f"expected signer OU (default {SIGNER_OU})")
    verify.set_defaults(func=cmd_verify)


def _error(message: str) -> int:
    print(f"drimcheck: error: {message}", file=sys.stderr)
    return EXIT_USAGE


def _read(path: Path, flag: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise UsageError(f"{flag} {path}: {exc.strerror or exc}") from None


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def _time(text: str, flag: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(f"{flag} {text!r}: expected an ISO 8601 time such as 2026-10-01T00:00:00Z") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


# -- make --------------------------------------------------------------------------------------------
def parse_entry(text: str, denomination: str = "", contact: str = "") -> Domain:
    """``ID,DB,VI,DN`` (the DN keeps its commas) as a Domain; UsageError naming ``--entry``."""
    parts = text.split(",", 3)
    if len(parts) != 4 or not parts[0].strip() or not parts[1].strip():
        raise UsageError(f"--entry {text!r}: expected ID,DB,VI,DN (VI may be empty, e.g. 1,db.example,,CN=db.example)")
    ident, db, vi, dn = (p.strip() for p in parts)
    return Domain(ident, db, vi, denomination, dn, contact)


def cmd_make(args: argparse.Namespace) -> int:
    try:
        domains = [parse_entry(e, args.denomination, args.contact) for e in args.entry]
    except UsageError as exc:
        return _error(str(exc))
    _write(args.out, build_whitelist(domains))
    print(f"wrote {args.out}: {len(domains)} entries, unsigned; sign it with `drimcheck whitelist sign --in "
          f"{args.out} ...`")
    return EXIT_OK


# -- sign --------------------------------------------------------------------------------------------
def _pki_signer(folder: Path) -> tuple[bytes, bytes]:
    try:
        pki = Pki.open(folder)
        if not (pki.cert_path(SIGNER_NAME).is_file() and pki.key_path(SIGNER_NAME).is_file()):
            pki.issue(SIGNER_NAME, cn=SIGNER_CN, ou=SIGNER_OU, o=SIGNER_O, usage="sign")
    except PkiError as exc:
        raise UsageError(f"--pki {folder}: {exc}") from None
    return pki.key_path(SIGNER_NAME).read_bytes(), pki.cert_path(SIGNER_NAME).read_bytes()


def _signer_files(args: argparse.Namespace) -> tuple[bytes, bytes, bytes]:
    if args.pki and (args.key or args.cert):
        raise UsageError("--pki takes the signer from the PKI: leave out --key and --cert")
    if args.pki:
        key, cert = _pki_signer(args.pki)
    elif args.key and args.cert:
        key, cert = _read(args.key, "--key"), _read(args.cert, "--cert")
    else:
        raise UsageError("--key and --cert (or --pki DIR) are needed to sign")
    return key, cert, _read(args.chain, "--chain") if args.chain else b""


def cmd_sign(args: argparse.Namespace) -> int:
    try:
        key, cert, chain = _signer_files(args)
        data = _read(args.input, "--in")
    except UsageError as exc:
        return _error(str(exc))
    try:
        signed = sign_whitelist(data, key, cert, chain)
    except WhitelistError as exc:
        return _error(f"--in {args.input}: {exc}")
    _write(args.out, signed)
    print(f"wrote {args.out}: signed (XAdES-BASELINE-B, enveloped)")
    return EXIT_OK


# -- verify ------------------------------------------------------------------------------------------
def _trust(args: argparse.Namespace) -> tuple[bytes, bytes | None]:
    """The CA bundle (b'' without --ca/--pki) and the CRL given, if any."""
    ca = _read(args.ca, "--ca") if args.ca else _read(args.pki / "ca.pem", "--pki") if args.pki else b""
    if args.crl:
        return ca, _read(args.crl, "--crl")
    if args.pki and not args.fetch_crl:
        return ca, _read(args.pki / "crl.pem", "--pki")
    return ca, None


def _at(text: str) -> datetime | str:
    return text if text in (AT_NOW, AT_SIGNING_TIME) else _time(text, "--at")


def cmd_verify(args: argparse.Namespace) -> int:
    try:
        ca, crl = _trust(args)
        at = _at(args.at)
        data = _read(args.file, "XML")
    except UsageError as exc:
        return _error(str(exc))
    verdict = verify_whitelist(data, ca, at=at, crl=crl, fetch_crl=args.fetch_crl,
                               signer_cn=args.signer_cn or None, signer_ou=args.signer_ou or None)
    print(describe(verdict, str(args.file)))
    return {"verified": EXIT_OK, "not anchored": EXIT_NOT_ANCHORED}.get(verdict.status, EXIT_REFUSED)


def summary(verdict: Verdict) -> str:
    """One line: ``signature valid; signer CN=..., OU=...; chain anchored in ... | NOT anchored: why``."""
    if verdict.signer is None:
        return "signature NOT valid"
    chain = (f"chain anchored in {verdict.anchor}" if verdict.anchored else
             f"chain NOT anchored: {verdict.unanchored_reason}" if verdict.unanchored_reason else
             "chain NOT verified")
    return f"signature valid; signer {signer_label(verdict.signer)}; {chain}"


def describe(verdict: Verdict, name: str) -> str:
    """The verdict as ``verify`` prints it: status, what was verified and what not, the signer, the entries."""
    status = {"verified": "VERIFIED", "not anchored": "NOT ANCHORED"}.get(verdict.status, "REFUSED")
    lines = [f"{name}: {status}"]
    lines += [f"  - {problem}" for problem in verdict.problems]
    lines.append(f"  {summary(verdict)}")
    lines += ["  verified:", *(f"    + {v}" for v in verdict.verified)] if verdict.verified else []
    lines += ["  NOT verified:", *(f"    - {u}" for u in verdict.unverified)] if verdict.unverified else []
    lines += [f"  note: {n}" for n in verdict.notes]
    cert, signed = verdict.signer, verdict.signing_time
    if cert is not None and signed is not None and verdict.at_label != "signing time" and \
            expired_since_signing(cert, signed, verdict.at):
        lines.append("  hint: --at signing-time checks the list as of its SigningTime (a DRIMbox fetching it must not)")
    if cert is not None:
        lines += [f"  signer     {cert.subject.rfc4514_string()}", f"  issuer     {cert.issuer.rfc4514_string()}",
                  f"  carried    {' <- '.join(signer_label(c) for c in verdict.path)} (the signature's certificates)",
                  f"  signed at  {signed:%Y-%m-%dT%H:%M:%SZ} (xades:SigningTime)" if signed else
                  "  signed at  (no readable SigningTime)",
                  f"  checked    {at_phrase(verdict.at_label, verdict.at)}"]
    wl = verdict.whitelist
    if wl is not None:
        lines += [f"  generated  {wl.generated or '(no DateDeGeneration)'}", f"  entries    {len(wl.domains)}"]
        lines += [f"    {d.identifiant:>4}  {d.db}  vi={d.vi or '-'}  {d.dn}" for d in wl.domains]
    lines.append({"verified": "OK", "not anchored": "NOT ANCHORED: the signature is valid but no trust anchor "
                  "vouches for its signer; do not trust this list as it stands (give --ca)"}
                 .get(verdict.status, "REFUSED"))
    return "\n".join(lines)
