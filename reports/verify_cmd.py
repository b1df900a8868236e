"""``drimcheck verify-bundle``: check a campaign's evidence.zip against its signed manifest.

Every file against ``MANIFEST.sha256``, the CMS detached signature ``MANIFEST.sha256.p7s`` over the
manifest (RFC 5652) and, with ``--ca``, the signer's certificate path to that CA. Exit 0 intact and
signed, 1 problems found (each is listed), 2 the zip or the CA file cannot be read.
"""

from __future__ import annotations

import argparse
import sys
import zipfile
from pathlib import Path
from typing import Any

from cryptography import x509

from reports.signing import MANIFEST_NAME, MAX_MANIFEST_BYTES, SIGNATURE_NAME, BundleCheck, verify_bundle

EXIT_OK, EXIT_PROBLEMS, EXIT_UNREADABLE = 0, 1, 2

EPILOG = f"""examples:
  drimcheck verify-bundle reports/out/CAMPAIGN/evidence.zip --ca ~/.cache/drimcheck/pki/ca.pem
  drimcheck verify-bundle evidence.zip        # files and signature; who signed is not checked

what is checked: every file listed in {MANIFEST_NAME} has the SHA-256 listed, no listed file is missing
and no file is unlisted; {SIGNATURE_NAME} (CMS, RFC 5652) verifies over {MANIFEST_NAME}; with --ca, the
signer's certificate chains to a certificate of that file. Entries with an absolute path or '..' and
manifests over {MAX_MANIFEST_BYTES // (1024 * 1024)} MiB are refused.

the same signature without drimcheck (in the unzipped folder):
  openssl cms -verify -binary -inform DER -in {SIGNATURE_NAME} -content {MANIFEST_NAME} \\
      -CAfile ca.pem -purpose any -out /dev/null && sha256sum -c {MANIFEST_NAME}

exit status: 0 intact and signed (and chained to --ca when given), 1 problems found (each is listed),
2 the zip or the CA file cannot be read."""


def add_parser(sub: Any) -> None:
    """Register ``verify-bundle`` under the ``drimcheck`` subcommands ``sub``."""
    parser = sub.add_parser("verify-bundle", help="check an evidence.zip: file hashes, signature, signer",
                            description="Check a campaign's evidence.zip: every file against MANIFEST.sha256, "
                                        "the manifest's CMS signature and, with --ca, who signed it.",
                            epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("zip", type=Path, metavar="ZIP", help="the evidence.zip of a campaign")
    parser.add_argument("--ca", type=Path, metavar="PEM",
                        help="PEM CA certificate(s) the signer must chain to (default: the chain is not checked)")
    parser.set_defaults(func=cmd_verify_bundle)


def cmd_verify_bundle(args: argparse.Namespace) -> int:
    """Print what was checked and each problem; the exit status of the module docstring."""
    if not args.zip.is_file() or not zipfile.is_zipfile(args.zip):
        what = "not found" if not args.zip.exists() else "not a zip file"
        print(f"drimcheck: error: {args.zip}: {what}: give the evidence.zip of a campaign", file=sys.stderr)
        return EXIT_UNREADABLE
    ca_pem = None
    if args.ca is not None:
        try:
            ca_pem = args.ca.read_bytes()
            x509.load_pem_x509_certificates(ca_pem)
        except (OSError, ValueError) as exc:
            print(f"drimcheck: error: --ca {args.ca}: not a readable PEM certificate file ({exc})", file=sys.stderr)
            return EXIT_UNREADABLE
    check = verify_bundle(args.zip, ca_pem)
    report(args.zip, check)
    return EXIT_OK if check.ok else EXIT_PROBLEMS


def report(path: Path, check: BundleCheck) -> None:
    """What held, then one line per problem, then the verdict."""
    print(f"{path}: {check.files} file(s) listed in {MANIFEST_NAME}")
    for note in check.notes:
        print(note)
    for problem in check.problems:
        print(problem)
    if not check.ok:
        print(f"{len(check.problems)} problem(s): this bundle is not the one that was signed, or was never signed")
    elif check.chain_checked:
        print(f"ok: every file matches the manifest signed by {check.signer}, who chains to the given CA")
    else:
        print(f"ok: every file matches the manifest signed by {check.signer}; give --ca to check who that is")
