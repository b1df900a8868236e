"""``drimcheck serve source``: the reference Source DRIMbox as a standalone service.

``--port`` (CLI) is the WADO-RS HTTP port; ``--mllp-port`` the HL7 listener; ``--dicom-port`` the Storage SCP
that takes IOCM rejection notes (IHE RAD-66). The Source needs a PACS
(``--pacs AET@HOST:PORT`` for the C-FIND, ``--pacs-dicomweb URL`` for retrieval), a DMP
(``--dmp URL`` = base of ``/registry`` and ``/repository``), Pro Santé Connect (``--psc-introspect URL``)
and, for a DMP that enforces VIHF, ``--vihf-key`` / ``--vihf-cert`` (PEM). Its DMP identity (ANS industriels
FAQ, dispositif DRIMbox): ``--identity-mode EG|EJ|EJ-EG``, ``--finess-eg`` (the default structure),
``--finess-ej`` and one ``--structure FINESS=KEYPEM,CERTPEM`` per structure it publishes for (the ORG AUTH CLI
that signs the VIHF of that structure's reports).

At PSC the Source authenticates by mutual TLS (RFC 8705 §2.1 ``tls_client_auth``: client_id, no secret)
with ``--psc-client-cert`` / ``--psc-client-key``, by default in TLS mode its ORG AUTH CLI certificate of the
network PKI (``source-client``) for an https:// PSC. The secret of ``--psc-client ID:SECRET`` is sent
(HTTP Basic) only without a certificate: with ``--plain-http`` (the debugging exception), a plain-HTTP PSC,
or a secret given explicitly and no ``--psc-client-cert``.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from simulators.psc.mtls import add_client_arguments, client_credentials
from simulators.source.config import SourceConfig
from simulators.source.faults import FAULTS, PACS_FAULTS
from simulators.source.reference import Reference, wado_tls
from simulators.source.reference import start as start_source


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--mllp-port", type=int, default=0, help="HL7 v2 MLLP port (0 = free port)")
    parser.add_argument("--dicom-port", type=int, default=0,
                        help="DICOM port of the Source's Storage SCP for IOCM rejection notes (0 = free port)")
    parser.add_argument("--dicom-aet", default="DRIMBOX-SRC", help="AE title of that Storage SCP")
    parser.add_argument("--pacs", default="DRIMPACS@127.0.0.1:11112", help="PACS for C-FIND: AET@HOST:PORT")
    parser.add_argument("--pacs-dicomweb", default="http://127.0.0.1:8042/dicom-web",
                        help="PACS DICOMweb base URL (instances are fetched there)")
    parser.add_argument("--pacs-retrieve", choices=("dicomweb", "cget"), default="dicomweb",
                        help="how instances are read from the PACS (frames and metadata always use DICOMweb)")
    parser.add_argument("--dmp", default="http://127.0.0.1:8080", help="DMP base URL (/registry, /repository)")
    parser.add_argument("--psc-introspect", default="", help="PSC introspection endpoint (empty = no token check)")
    add_client_arguments(parser, who="the Source", default_client=DEFAULT_CLIENT, default_secret=DEFAULT_SECRET,
                         network_client="source-client")
    parser.add_argument("--vihf-key", type=Path, default=None, help="PEM private key of the VIHF signer")
    parser.add_argument("--vihf-cert", type=Path, default=None, help="PEM certificate of the VIHF signer")
    parser.add_argument("--signing-key", type=Path, default=None,
                        help="PEM private key that signs Signature01 (default: the VIHF key)")
    parser.add_argument("--signing-cert", type=Path, default=None,
                        help="PEM certificate of --signing-key (default: the VIHF certificate)")
    parser.add_argument("--identity-mode", choices=("EG", "EJ", "EJ-EG"), default="EG",
                        help="which FINESS goes in the submission set and the VIHF (ANS FAQ dispositif DRIMbox): EG "
                             "the report's structure (default), EJ the legal entity (discouraged), EJ-EG the legal "
                             "entity in the VIHF and the structure in the submission set")
    parser.add_argument("--finess-eg", default="", metavar="FINESS",
                        help="the default structure: a report naming none is published for it (certificate: "
                             "its --structure, else --vihf-key/--vihf-cert)")
    parser.add_argument("--finess-ej", default="", metavar="FINESS", help="FINESS of the legal entity (EJ)")
    parser.add_argument("--structure", action="append", default=[], metavar="FINESS=KEYPEM,CERTPEM",
                        help="the ORG AUTH CLI key and certificate of a structure the Source publishes for "
                             "(repeatable); a report naming a structure without one is refused AE")
    parser.add_argument("--source-workdir", type=Path, default=Path("source-data"), help="folder of the SQLite file")
    parser.add_argument("--public-base", default="", help="WADO-RS base written in the KOS (default: our URL)")
    parser.add_argument("--source-fault", choices=sorted(set(FAULTS) - PACS_FAULTS), default=None,
                        help="switch on one named fault (those of the PACS behind it: drimcheck serve pacs "
                             "--pacs-fault)")
    parser.add_argument("--wado-client-auth", choices=("required", "optional", "none"), default="required",
                        help="client certificates at the WADO-RS (HTTPS): required (default: DRIMboxes authenticate "
                             "each other with IGC-Santé certificates), optional, none")
    parser.add_argument("--allow-client", action="append", default=[], metavar="DN",
                        help="subject DN of a Consumer's operator certificate allowed at the WADO-RS (repeatable; "
                             "default with neither this nor --whitelist: the network PKI's consumer-client)")
    parser.add_argument("--whitelist", type=Path, default=None, metavar="XML",
                        help="signed ANS whitelist: its DNCertificatOperateur entries are the allowed clients")
    parser.add_argument("--whitelist-ca", type=Path, action="append", default=[], metavar="PEM",
                        help="CA that must have issued the whitelist's signing certificate (repeatable)")
    parser.add_argument("--viewer-port", type=int, default=0,
                        help="port of the web viewer opened by professionals' browsers (0 = free port; HTTPS "
                             "without client certificate); its library: drimcheck viewer install")
    parser.add_argument("--no-viewer", action="store_true", help="do not serve the web viewer")


DEFAULT_CLIENT, DEFAULT_SECRET = "drimbox-source", "source-secret"


def psc_credentials(args: argparse.Namespace) -> tuple[str, str, tuple[str, str] | None]:
    """(client_id, secret, (certificate, key) or None) of the Source at PSC
    (:func:`simulators.psc.mtls.client_credentials`)."""
    return client_credentials(args, command="drimcheck serve source", url=getattr(args, "psc_introspect", "") or "",
                              default_client=DEFAULT_CLIENT, default_secret=DEFAULT_SECRET,
                              network_client="source-client")


def config_from(args: argparse.Namespace) -> SourceConfig:
    match = re.fullmatch(r"([^@]+)@([^:]+):(\d+)", args.pacs)
    if match is None:
        raise SystemExit(f"--pacs {args.pacs!r}: expected AET@HOST:PORT")
    client_id, secret, psc_cert = psc_credentials(args)
    dmp = args.dmp.rstrip("/")
    return SourceConfig(
        workdir=args.source_workdir, pacs_aet=match[1], pacs_host=match[2], pacs_port=int(match[3]),
        pacs_dicomweb=args.pacs_dicomweb, pacs_retrieve=args.pacs_retrieve,
        dmp_registry=dmp + "/registry", dmp_repository=dmp + "/repository",
        psc_introspect=args.psc_introspect, psc_client_id=client_id, psc_client_secret=secret,
        psc_client_cert=psc_cert,
        vihf_key=args.vihf_key.read_bytes() if args.vihf_key else None,
        vihf_cert=args.vihf_cert.read_bytes() if args.vihf_cert else None,
        signing_key=args.signing_key.read_bytes() if args.signing_key else None,
        signing_cert=args.signing_cert.read_bytes() if args.signing_cert else None,
        public_base=args.public_base, fault=args.source_fault, dicom_aet=args.dicom_aet,
        identity_mode=args.identity_mode, finess_eg=args.finess_eg, finess_ej=args.finess_ej,
        structures=structures(args.structure))


def structures(specs: list[str]) -> dict[str, tuple[bytes, bytes]]:
    """``FINESS=KEYPEM,CERTPEM`` options -> {FINESS: (key PEM, certificate PEM)}; SystemExit naming a bad one."""
    out: dict[str, tuple[bytes, bytes]] = {}
    for spec in specs:
        finess, _, files = spec.partition("=")
        key, _, cert = files.partition(",")
        if not finess or not key or not cert:
            raise SystemExit(f"--structure {spec!r}: expected FINESS=KEYPEM,CERTPEM")
        if finess in out:
            raise SystemExit(f"--structure {spec!r}: structure {finess} is given twice")
        try:
            out[finess] = (Path(key).read_bytes(), Path(cert).read_bytes())
        except OSError as exc:
            raise SystemExit(f"--structure {spec!r}: {exc}") from None
    return out


def allowed_clients(args: argparse.Namespace) -> tuple[str, ...] | None:
    """DNs from --allow-client and the verified --whitelist; None (any client the TLS layer accepts) when
    neither is given."""
    if not args.allow_client and args.whitelist is None:
        return None
    dns = list(args.allow_client)
    if args.whitelist is not None:
        from harness.whitelist import WhitelistError, load_whitelist

        try:
            wl = load_whitelist(args.whitelist.read_bytes(),
                                trusted_cas=tuple(p.read_bytes() for p in args.whitelist_ca))
        except (OSError, WhitelistError) as exc:
            raise SystemExit(f"drimcheck serve source: --whitelist {args.whitelist} refused: {exc}") from None
        dns += [d.dn for d in wl.domains if d.dn]
    return tuple(dns)


def start(args: argparse.Namespace) -> Reference:
    tls = getattr(args, "tls", None)  # harness.tls.NetworkTls, None with --plain-http
    config = config_from(args)
    try:
        config.identities()
    except ValueError as exc:
        raise SystemExit(f"drimcheck serve source: {exc}") from None
    allowed = allowed_clients(args)
    if tls is None:
        context, config.allowed_clients = None, None if allowed is None else (lambda: allowed)
    else:
        context, config.allowed_clients = wado_tls(tls, args.source_fault, allowed)
        if args.wado_client_auth != "required" and context is not None:
            context = tls.context("source", client_auth=args.wado_client_auth)
    source = start_source(config, host=args.host or "127.0.0.1", http_port=args.port or 0,
                          mllp_port=args.mllp_port, ssl_context=context, dicom_port=args.dicom_port)
    if not args.no_viewer:
        source.serve_viewer(host=args.host or "127.0.0.1", port=args.viewer_port,
                            ssl_context=tls.context("source") if tls is not None else None)
    return source
