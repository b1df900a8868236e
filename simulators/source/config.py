"""Settings of one reference Source DRIMbox (``start_reference``, ``drimcheck serve source``, tests)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class SourceConfig:
    """Where the Source's peers are, and how it behaves; every field has a usable default."""

    workdir: Path = field(default_factory=Path.cwd)
    # PACS: DIMSE for the study lookup (ANS PoC: IMAGE-level C-FIND), DICOMweb for retrieval
    pacs_host: str = "127.0.0.1"
    pacs_port: int = 11112
    pacs_aet: str = "DRIMPACS"
    calling_aet: str = "DRIMBOX-SRC"
    dicom_aet: str = "DRIMBOX-SRC"  # AE title of the Source's own Storage SCP (IOCM rejection notes)
    pacs_dicomweb: str = ""  # base URL of the PACS's DICOMweb (…/dicom-web)
    pacs_retrieve: str = "dicomweb"  # dicomweb (the PACS's WADO-RS) | cget (DIMSE C-GET)
    # DMP (ANS PoC endpoints: /registry ITI-57, /repository ITI-41)
    dmp_registry: str = ""
    dmp_repository: str = ""
    # Pro Santé Connect introspection (ANS PoC, RFC 7662)
    psc_introspect: str = ""
    psc_client_id: str = "drimbox-source"
    psc_client_secret: str = "source-secret"  # HTTP Basic, used only without psc_client_cert
    # (certificate file, key file) of the ORG AUTH CLI certificate: introspect by mutual TLS (RFC 8705 §2.1
    # tls_client_auth), no secret sent; None = the secret
    psc_client_cert: tuple[str, str] | None = None
    # VIHF signer (ANS DRIM-M_DATA Validateur XDS): PEM key + certificate the DMP trusts; no VIHF is sent without them
    vihf_key: bytes | None = None
    vihf_cert: bytes | None = None
    # Signature01 signer (XAdES, IGC-Santé ORG SIGN): PEM key + certificate; without them the
    # VIHF pair signs, and without that a throwaway pair (harness.xds.builder.throwaway_signer)
    signing_key: bytes | None = None
    signing_cert: bytes | None = None

    # DMP identity (ANS industriels FAQ, dispositif DRIMbox; simulators.source.publish.Identities): the identity
    # mode (EG, EJ or EJ-EG: which FINESS goes in the submission set and the VIHF), the default structure's FINESS
    # (a report naming none is published for it; its certificate defaults to the VIHF pair), the legal entity's,
    # and the ORG AUTH CLI (key, certificate) PEM of each structure the Source publishes for, by FINESS.
    # None of them set: one identity for every report (the ANS sample's structure, the VIHF pair).
    identity_mode: str = "EG"
    finess_eg: str = ""
    finess_ej: str = ""
    structures: dict[str, tuple[bytes, bytes]] = field(default_factory=dict)

    def signer(self) -> tuple[bytes, bytes] | None:
        if self.signing_key and self.signing_cert:
            return self.signing_key, self.signing_cert
        if self.vihf_key and self.vihf_cert:
            return self.vihf_key, self.vihf_cert
        return None

    def identities(self, behaviour: Any = None) -> Any:
        """The Source's :class:`simulators.source.publish.Identities` (ValueError naming what is wrong)."""
        from simulators.source.publish import Identities

        return Identities(mode=self.identity_mode, finess_eg=self.finess_eg, finess_ej=self.finess_ej,
                          structures=dict(self.structures),
                          default_pair=(self.vihf_key, self.vihf_cert) if self.vihf_key and self.vihf_cert else None,
                          name=self.institution.split("^", 1)[0],
                          separate_signature=bool(self.signing_key and self.signing_cert), behaviour=behaviour)
    # WADO-RS (RAD-107) path on our HTTP server; public_base is set once the port is known
    wado_path: str = "/wado-rs"
    public_base: str = ""
    # FINESS in XON-10 (ANS DRIM-M_DATA KOS_OK.xml)
    institution: str = "Centre de radiologie DRIMcheck^^^^^^^^^750803447"
    source_id: str = "1.2.250.1.999.1.1"  # XDS sourceId of this Source
    # outbox back-off: first retry after retry_initial s, doubled each time, capped at retry_max s
    retry_initial: float = 0.2
    retry_max: float = 2.0
    http_timeout: float = 10.0
    fault: str | None = None
    # mutual TLS of the WADO-RS: DNs of the Consumers' operator certificates allowed (None: any certificate
    # the TLS layer accepted), a callable as the whitelist in force may change
    allowed_clients: Any = None
