"""``drimcheck serve psc``: the Pro Santé Connect simulator on its own.

``--client-subject CLIENT_ID=DN`` (repeatable) registers a client's certificate subject: that client
authenticates by mutual TLS only (RFC 8705 §2.1.2 ``tls_client_auth``) and gets certificate-bound tokens (§3).
Without it, in TLS mode from the network PKI, drimbox-source and drimbox-consumer are registered with the
PKI's ``source-client`` and ``consumer-client`` certificates, as ``drimcheck serve source|consumer`` present them.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from simulators.psc.config import DEFAULT_USERS, PscConfig, PscConfigError
from simulators.psc.misbehaviours import MISBEHAVIOURS
from simulators.psc.service import Service, start_psc

# client of the users file -> its certificate in the network PKI (harness.pki._network_specs)
NETWORK_CLIENTS = {"drimbox-source": "source-client", "drimbox-consumer": "consumer-client"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--users", type=Path, default=DEFAULT_USERS,
                        help="YAML file of test professionals and clients (default: %(default)s)")
    parser.add_argument("--token-ttl", type=int, default=3600, metavar="SECONDS",
                        help="lifetime of access tokens in seconds (default: %(default)s)")
    parser.add_argument("--issuer", default="",
                        help="issuer URL to advertise (default: http://HOST:PORT/auth/realms/esante-wallet)")
    parser.add_argument("--client-subject", action="append", default=[], metavar="CLIENT_ID=DN",
                        help="register the subject DN (RFC 4514) of a client's certificate: that client then "
                             "authenticates by mutual TLS only (RFC 8705 tls_client_auth; a secret it sends is "
                             "refused with 401 invalid_client) and its tokens are bound to the certificate "
                             "(repeatable; needs HTTPS with a client CA). Default in TLS mode from the network "
                             "PKI: drimbox-source and drimbox-consumer with the PKI's source-client and "
                             "consumer-client certificates")
    parser.add_argument("--misbehave", default=None, choices=sorted(MISBEHAVIOURS), metavar="NAME",
                        help="answer wrongly in one way, to test a DRIMbox: " + ", ".join(sorted(MISBEHAVIOURS)))
    parser.add_argument("--tls-cert", default=None, help="PEM certificate: serve HTTPS")
    parser.add_argument("--tls-key", default=None, help="PEM private key of --tls-cert")
    parser.add_argument("--client-ca", default=None, help="PEM CA bundle: ask clients for a certificate (mTLS)")
    parser.add_argument("--client-cert", choices=("none", "optional", "required"), default="optional",
                        help="client certificate policy when --client-ca is given (default: %(default)s)")


def client_subjects(values: list[str]) -> dict[str, str]:
    """``["drimbox-source=CN=x,O=y", ...]`` -> {client_id: DN}; SystemExit naming a bad value."""
    out: dict[str, str] = {}
    for value in values:
        client_id, eq, dn = value.partition("=")
        if not eq or not client_id.strip() or "=" not in dn:
            raise SystemExit(f"drimcheck serve psc: --client-subject {value!r}: expected CLIENT_ID=DN "
                             "(e.g. drimbox-source=CN=host,OU=...,O=...)")
        out[client_id.strip()] = dn.strip()
    return out


def network_client_subjects(tls: Any) -> dict[str, str]:
    """The DRIMboxes' clients and the subjects of their ORG AUTH CLI certificates in a network PKI
    (``harness.tls.NetworkTls``): what ``drimcheck serve`` in TLS mode registers for tls_client_auth."""
    return {client_id: tls.pki.certificate(name).subject.rfc4514_string()
            for client_id, name in NETWORK_CLIENTS.items()}


def start(args: argparse.Namespace) -> Service:
    if bool(args.tls_cert) != bool(args.tls_key):
        raise SystemExit("--tls-cert and --tls-key go together")
    subjects = client_subjects(args.client_subject)
    tls = getattr(args, "tls", None)  # the network's PKI unless --plain-http or a certificate of one's own
    defaults: dict[str, str] = {}
    if tls is not None and not args.tls_cert:
        files = tls.files("psc")
        args.tls_cert, args.tls_key = files["cert"], files["key"]
        args.client_ca = args.client_ca or str(tls.ca)
        if not subjects and args.client_cert != "none":  # the network's DRIMboxes call by mutual TLS
            defaults = network_client_subjects(tls)
    if subjects and not (args.tls_cert and args.client_ca and args.client_cert != "none"):
        raise SystemExit("drimcheck serve psc: --client-subject needs HTTPS asking for client certificates "
                         "(not --plain-http, --client-cert none)")
    config = PscConfig(users_file=args.users, token_ttl=args.token_ttl, issuer=args.issuer,
                       tls_cert=args.tls_cert, tls_key=args.tls_key, client_ca=args.client_ca,
                       client_cert=args.client_cert, misbehaviour=args.misbehave, client_subjects=subjects)
    try:
        config.load()
        known = {c.client_id for c in config.clients}
        config.client_subjects = subjects or {k: v for k, v in defaults.items() if k in known}
        config.load()
    except PscConfigError as exc:
        raise SystemExit(f"drimcheck serve psc: {exc}") from None
    return start_psc(config, port=args.port, host=args.host)
