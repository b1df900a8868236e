"""``drimcheck console``: serve the web console; ``drimcheck console adduser NAME --role ROLE``: make an account.

The console listens on loopback by default. On another address it needs TLS (``--tls-cert``/``--tls-key``, or
``--behind-https`` when a TLS proxy terminates in front of it): a session cookie and a password never cross a
network in clear (control point C17 asks every flow to be encrypted). On its first start, with no account yet,
it makes the ``admin`` account: its password is read from ``--admin-password-file``, else drawn at random and
printed once.
"""

from __future__ import annotations

import argparse
import getpass
import ipaddress
import secrets
import ssl
from pathlib import Path
from typing import Any

ROLES = ("vendor", "assessor", "admin")  # harness.console.storage.ROLES, not imported here: drimcheck starts fast

EPILOG = """examples:
  drimcheck console                                   # http://127.0.0.1:8400, data in console-data/
  drimcheck console --admin-password-file admin.pw    # first start: the admin account's password
  drimcheck console adduser acme --role vendor        # asks the password
  drimcheck console --db postgresql://drimcheck:drimcheck@127.0.0.1:5432/drimcheck --data /srv/console
  drimcheck console --host 0.0.0.0 --tls-cert console.pem --tls-key console.key"""


def add_parser(sub: Any) -> None:
    """Register ``drimcheck console`` under the ``drimcheck`` subcommands ``sub``."""
    console = sub.add_parser("console", help="serve the web console (profiles, campaigns, evidence, validators, API)",
                             description="Serve the web console of DRIMcheck: systems under test, campaigns run in "
                                         "the background and watched live, evidence, sign-off, validators, a REST "
                                         "API and a Gazelle EVS v2 endpoint.",
                             epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    _common(console)
    console.add_argument("--port", type=int, default=8400, help="port (default 8400; 0 = a free port)")
    console.add_argument("--host", default="127.0.0.1", help="listen address (default loopback)")
    console.add_argument("--jobs", type=int, default=1, help="campaigns run at once (default 1)")
    console.add_argument("--tls-cert", type=Path, help="serve HTTPS with this certificate chain (PEM)")
    console.add_argument("--tls-key", type=Path, help="key of --tls-cert (PEM)")
    console.add_argument("--behind-https", action="store_true",
                         help="a TLS proxy serves the console: cookies are marked Secure, a non-loopback --host is "
                              "accepted without --tls-cert")
    console.add_argument("--admin-password-file", type=Path,
                         help="first start: the admin account's password (else one is printed once)")
    console.set_defaults(func=cmd_console)
    csub = console.add_subparsers(dest="console_command", metavar="{adduser}")
    add = csub.add_parser("adduser", help="create an account (the password is asked, or read from a file)")
    _common(add)
    add.add_argument("name")
    add.add_argument("--role", required=True, choices=ROLES)
    add.add_argument("--password-file", type=Path, help="read the password from this file (first line)")
    add.set_defaults(func=cmd_adduser)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", type=Path, default=argparse.SUPPRESS,
                        help="folder of the database, campaigns and profile files (default console-data)")
    parser.add_argument("--db", default=argparse.SUPPRESS,
                        help="postgresql://user:password@host/db (default SQLite in --data)")


def _data_db(args: argparse.Namespace) -> tuple[Path, str | None]:
    return Path(getattr(args, "data", None) or "console-data"), getattr(args, "db", None)


def _read_password(path: Path | None, prompt: str) -> str:
    if path is not None:
        if not path.is_file():
            raise SystemExit(f"password file {path} not found")
        lines = path.read_text(encoding="utf-8").splitlines()
        return lines[0] if lines else ""
    first = getpass.getpass(prompt)
    if first != getpass.getpass("again: "):
        raise SystemExit("the two passwords differ: nothing was created")
    return first


def cmd_adduser(args: argparse.Namespace) -> int:
    from harness.console.app import ConsoleConfig, open_store
    from harness.console.security import hash_password
    from harness.console.storage import StoreError

    data, db = _data_db(args)
    password = _read_password(args.password_file, f"password of {args.name}: ")
    try:
        hashed = hash_password(password)
        store = open_store(ConsoleConfig(data=data, db=db))
    except (ValueError, StoreError) as exc:
        raise SystemExit(str(exc)) from None
    try:
        store.add_user(args.name, hashed, args.role)
    except ValueError as exc:
        raise SystemExit(str(exc)) from None
    finally:
        store.close()
    print(f"account {args.name} ({args.role}) created")
    return 0


def ensure_admin(store: Any, password_file: Path | None) -> str | None:
    """On a console with no account, make ``admin``; the password printed when it was drawn here, else None."""
    from harness.console.security import hash_password

    if store.user_count():
        if password_file is not None:
            print("accounts exist already: --admin-password-file is ignored "
                  "(drimcheck console adduser makes more)", flush=True)
        return None
    drawn = None
    if password_file is not None:
        password = _read_password(password_file, "")
    else:
        password = drawn = secrets.token_urlsafe(12)
    try:
        store.add_user("admin", hash_password(password), "admin")
    except ValueError as exc:
        raise SystemExit(f"--admin-password-file: {exc}") from None
    return drawn


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def cmd_console(args: argparse.Namespace) -> int:
    if getattr(args, "console_command", None):
        return args.func(args)
    from harness.console.app import ConsoleConfig, create_app, stop_app
    from harness.console.storage import StoreError
    from harness.servers import serve_wsgi

    data, db = _data_db(args)
    if bool(args.tls_cert) != bool(args.tls_key):
        raise SystemExit("--tls-cert and --tls-key go together")
    if not _loopback(args.host) and not args.tls_cert and not args.behind_https:
        raise SystemExit(f"--host {args.host} is reachable from the network: give --tls-cert/--tls-key, or "
                         "--behind-https when a TLS proxy is in front (passwords and sessions never go in clear)")
    context = None
    if args.tls_cert:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(str(args.tls_cert), str(args.tls_key))
    https = bool(context) or args.behind_https
    try:
        app = create_app(ConsoleConfig(data=data, db=db, https=https, jobs=max(1, args.jobs), start_worker=False))
    except StoreError as exc:
        raise SystemExit(str(exc)) from None
    console = app.extensions["console"]
    drawn = ensure_admin(console.store, args.admin_password_file)
    console.worker.start()
    try:
        server = serve_wsgi(app, "console", port=args.port, host=args.host, ssl_context=context)
    except BaseException:
        stop_app(app)
        raise
    scheme = "https" if context else "http"
    print(f"console   {scheme}://{args.host}:{server.port}/   data {data.resolve()}", flush=True)
    if drawn:
        print(f"first start: account admin, password {drawn} (shown once; change it by making another admin)",
              flush=True)
    from harness.servers import stop_requested, wait_for_stop

    stop = stop_requested()  # before "serving": a signal sent as soon as it is read is kept
    print("serving; Ctrl-C stops", flush=True)
    try:
        wait_for_stop(stop)
    finally:
        server.stop()
        stop_app(app)
        print("stopped", flush=True)
    return 0
