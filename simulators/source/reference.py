"""Wire the reference Source DRIMbox: SQLite store, outbox, MLLP listener, WADO-RS server, IOCM listener."""

from __future__ import annotations

import ssl
import warnings
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from harness.dicom import Peer, find, query
from harness.servers import RunningServer, serve_wsgi
from harness.tls import ClientGate
from simulators.source.auth import Introspector
from simulators.source.config import SourceConfig
from simulators.source.faults import FAULTS
from simulators.source.iocm import RejectionListener
from simulators.source.kos import ImageRef
from simulators.source.mllp import MllpListener
from simulators.source.publish import Outbox, publish_behaviour_for, vihf_security
from simulators.source.rad107 import PacsWeb, Rad107App
from simulators.source.report import ReportProcessor, image_refs
from simulators.source.store import SourceStore

IMAGE_KEYS = dict(StudyInstanceUID="", SeriesInstanceUID="", SOPInstanceUID="", SOPClassUID="", InstanceNumber="",
                  Modality="", PatientID="", AccessionNumber="", StudyDate="", StudyTime="")


def pacs_finder(config: SourceConfig):
    """IMAGE-level C-FIND on the study (ANS PoC flow)."""
    peer = Peer(config.pacs_host, config.pacs_port, config.pacs_aet, config.calling_aet)

    def find_images(study_uid: str) -> list[ImageRef]:
        return image_refs(find(peer, query("IMAGE", **{**IMAGE_KEYS, "StudyInstanceUID": study_uid})))

    return find_images


class Reference:
    """A running Source: ``endpoints`` (wado_rs, mllp, base), ``store``, ``stop()``; a context manager."""

    viewer: RunningServer | None = None  # the web viewer's listener (serve_viewer)

    def __init__(self, config: SourceConfig, host: str = "127.0.0.1", http_port: int = 0, mllp_port: int = 0,
                 ssl_context: ssl.SSLContext | None = None, dicom_port: int = 0) -> None:
        if config.fault is not None and config.fault not in FAULTS:
            raise KeyError(f"unknown Source fault {config.fault!r}; known: {', '.join(sorted(FAULTS))}")
        config.workdir.mkdir(parents=True, exist_ok=True)
        self.config = config
        publishing = publish_behaviour_for(config.fault)
        identities = config.identities(publishing)  # ValueError before anything is opened
        self.store = SourceStore(config.workdir / "source.sqlite")
        self.outbox = Outbox(self.store, initial=config.retry_initial, maximum=config.retry_max,
                             timeout=config.http_timeout, retry=publishing.retry, mtom=publishing.mtom)
        psc_cert, psc_secret = config.psc_client_cert, config.psc_client_secret
        how = replace(TlsBehaviour(), **FAULTY.get(config.fault or "", {}))
        if not how.psc_mtls:  # the named fault: the secret registered with the client, never the certificate
            psc_cert, psc_secret = None, psc_secret or SourceConfig.psc_client_secret
        introspector = Introspector(config.psc_introspect, config.psc_client_id, psc_secret, cert=psc_cert,
                                    binding=how.token_binding) if config.psc_introspect else None
        if config.pacs_retrieve not in ("dicomweb", "cget"):
            raise ValueError(f"pacs_retrieve must be dicomweb or cget, not {config.pacs_retrieve!r}")
        dimse = None
        if config.pacs_retrieve == "cget":
            from simulators.source.cget import PacsDimse

            dimse = PacsDimse(config.pacs_host, config.pacs_port, config.pacs_aet, config.calling_aet)
        app = Rad107App(self.store, PacsWeb(config.pacs_dicomweb), introspector, config.wado_path, config.fault,
                        dimse)
        self.wado_app, self.psc_client = app, (config.psc_client_id, psc_secret, psc_cert)
        self.http: RunningServer | None = None
        self.mllp: MllpListener | None = None
        self.iocm: RejectionListener | None = None
        try:
            gated = ClientGate(app, config.allowed_clients, required=ssl_context is not None
                               and ssl_context.verify_mode == ssl.CERT_REQUIRED)
            self.http = serve_wsgi(gated, "source-wado-rs", port=http_port, host=host, ssl_context=ssl_context)
            config.public_base = config.public_base or self.http.url + config.wado_path
            self.processor = ReportProcessor(
                self.store, self.outbox, pacs_finder(config), lambda: config.public_base, config.dmp_registry,
                config.dmp_repository, config.institution, config.source_id, config.fault,
                vihf_security(config.vihf_key, config.vihf_cert, publishing.vihf_patient, identities), config.signer(),
                identities)
            self.mllp = MllpListener(lambda raw: self._on_message(raw), host=host, port=mllp_port)
            # IOCM rejection notes from the PACS / Image Manager (IHE RAD-66), a DICOM Storage SCP
            self.iocm = RejectionListener(self.processor.reject, ae_title=config.dicom_aet, host=host, port=dicom_port)
            self.outbox.start()
        except BaseException:
            self.stop()
            raise
        self.endpoints = {"wado_rs": config.public_base, "mllp": self.mllp.address, "base": self.http.url,
                          "iocm": self.iocm.address}

    def _on_message(self, raw: bytes) -> bytes:
        return self.processor.acknowledge(raw)

    def serve_viewer(self, viewer: Any = None, host: str = "127.0.0.1", port: int = 0,
                     ssl_context: ssl.SSLContext | None = None) -> str:
        """Serve the web viewer (``simulators.source.viewer``) on its own listener, logging professionals in at
        the PSC this Source introspects with (its client id and certificate); its URL, also ``endpoints["viewer"]``."""
        from simulators.source.viewer import ViewerConfig, issuer_of, start_viewer

        client_id, secret, cert = self.psc_client
        viewer = viewer or ViewerConfig(psc_issuer=issuer_of(self.config.psc_introspect), client_id=client_id,
                                        client_secret=secret or "", psc_client_cert=cert)
        self.viewer = start_viewer(viewer, self.wado_app, self.store, self.config.wado_path, host=host, port=port,
                                   ssl_context=ssl_context)
        self.endpoints["viewer"] = self.viewer.url + "/viewer"
        return self.endpoints["viewer"]

    def stop(self) -> None:
        if self.viewer is not None:
            self.viewer.stop()
            self.viewer = None
        if self.iocm is not None:
            self.iocm.stop()
            self.iocm = None
        if self.mllp is not None:
            self.mllp.stop()
            self.mllp = None
        if self.http is not None:
            self.http.stop()
            self.http = None
        self.outbox.stop()
        self.store.close()

    def __enter__(self) -> Reference:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start(config: SourceConfig, host: str = "127.0.0.1", http_port: int = 0, mllp_port: int = 0,
          ssl_context: ssl.SSLContext | None = None, dicom_port: int = 0) -> Reference:
    """The Source with its WADO-RS served over HTTPS when ``ssl_context`` is given."""
    return Reference(config, host, http_port, mllp_port, ssl_context, dicom_port)


@dataclass(frozen=True)
class TlsBehaviour:
    """How the WADO-RS's TLS is set up; the reference's choices are the defaults (C17 and mutual TLS between
    DRIMboxes), a named transport fault swaps one field (``FAULTY``)."""

    https: bool = True
    legacy_versions: bool = False  # TLS 1.0 / 1.1 accepted, with the ECDHE CBC suites they need
    static_rsa: bool = False  # TLS 1.2 also negotiates suites without forward secrecy, 3DES, RC4
    client_auth: str = "required"
    crl: bool = True
    whitelist: bool = True
    psc_mtls: bool = True  # introspection at PSC by the client certificate (RFC 8705 §2.1), else the secret
    token_binding: bool = True  # a certificate-bound token served over its certificate only (RFC 8705 §3)


FAULTY: dict[str, dict[str, object]] = {
    "plain-http": {"https": False},
    "legacy-tls": {"legacy_versions": True},
    "weak-ciphers": {"static_rsa": True},
    "no-client-certificate": {"client_auth": "none"},
    "no-revocation-check": {"crl": False},
    "any-client-certificate": {"whitelist": False},
    "psc-client-secret": {"psc_mtls": False},
    "ignores-token-binding": {"token_binding": False},
}


def wado_tls(tls: Any, fault: str | None = None, allowed: tuple[str, ...] | None = None
             ) -> tuple[ssl.SSLContext | None, Any]:
    """The WADO-RS's server context and allowed-clients callable for a network TLS (harness.tls.NetworkTls):
    TLS 1.2+, AEAD suites with forward secrecy, client certificates required and checked against the PKI's
    CRL, the subjects in ``allowed`` (None: the network's Consumer, ``consumer-client``) served."""
    how = replace(TlsBehaviour(), **FAULTY.get(fault or "", {}))
    if tls is None or not how.https:
        return None, None
    if allowed is None:
        allowed = (tls.pki.certificate("consumer-client").subject.rfc4514_string(),)
    if how.crl:
        context = tls.context("source", client_auth=how.client_auth)
    else:
        from harness.tls import server_context

        context = server_context(tls.pki.cert_path("source"), tls.pki.key_path("source"), tls.ca, how.client_auth)
    if how.legacy_versions:
        context.set_ciphers("ECDHE+AESGCM:ECDHE+CHACHA20:ECDHE+AES:@SECLEVEL=0")
        with warnings.catch_warnings():  # the fault enables the deprecated versions on purpose
            warnings.simplefilter("ignore", DeprecationWarning)
            context.minimum_version = ssl.TLSVersion.TLSv1
    if how.static_rsa:
        context.set_ciphers("DEFAULT:@SECLEVEL=0")
    frozen = allowed
    return context, (lambda: frozen) if how.whitelist else None


def start_reference(fault: str | None, workdir: Path, ssl_context: ssl.SSLContext | None = None, **peers: str
                    ) -> Reference:
    """The reference Source for plans; ``peers`` fill :class:`SourceConfig` (PACS, DMP, PSC endpoints;
    ``psc_client_cert=(cert, key)`` introspects by mutual TLS, RFC 8705 §2.1, instead of the secret).

    Without peers it starts with none configured: the plan's conftest passes them (it starts the
    PACS, DMP and PSC simulators first).
    """
    config = SourceConfig(workdir=Path(workdir), fault=fault)
    for key, value in peers.items():
        if not hasattr(config, key):
            raise TypeError(f"unknown Source setting {key!r}")
        setattr(config, key, type(getattr(config, key))(value) if getattr(config, key) is not None else value)
    return start(config, ssl_context=ssl_context)
