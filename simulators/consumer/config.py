"""Settings of one reference Consumer DRIMbox (command line, start_reference, tests)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Transfer syntaxes this Consumer can decode (pylibjpeg, pyjpegls, openjpeg, pydicom RLE), with the
# q-value it sends for each in Accept (ANS DRIM-M_DATA Simulateur client wadoRS: lossless first, then lossy,
# explicit VR last resort).
DEFAULT_ACCEPT: tuple[tuple[str, float], ...] = (
    ("1.2.840.10008.1.2.4.80", 1.0),  # JPEG-LS lossless, PS3.5 A.4.3
    ("1.2.840.10008.1.2.4.90", 0.9),  # JPEG 2000 lossless, PS3.5 A.4.4
    ("1.2.840.10008.1.2.4.70", 0.8),  # JPEG lossless SV1, PS3.5 A.4.1
    ("1.2.840.10008.1.2.5", 0.7),  # RLE lossless, PS3.5 A.4.2
    ("1.2.840.10008.1.2.4.91", 0.6),  # JPEG 2000 (lossy allowed)
    ("1.2.840.10008.1.2.4.50", 0.5),  # JPEG baseline (lossy)
    ("1.2.840.10008.1.2.1", 0.4),  # Explicit VR Little Endian, PS3.5 A.2
)


@dataclass
class ConsumerConfig:
    """Where the Consumer's peers are and how it behaves; every field has a usable default."""

    workdir: Path = field(default_factory=Path.cwd)
    registry_url: str = ""  # DMP ITI-18 endpoint
    repository_url: str = ""  # DMP ITI-43 endpoint
    psc_issuer: str = ""  # PSC realm URL: <issuer>/protocol/openid-connect/{auth,token,userinfo}
    client_id: str = "drimbox-consumer"
    client_secret: str = "consumer-secret"  # HTTP Basic at the token endpoint, used only without psc_client_cert
    # (certificate file, key file) presented to PSC: the token endpoint authenticates it by mutual TLS
    # (RFC 8705 §2.1 tls_client_auth), no secret sent; None = the secret
    psc_client_cert: tuple[str, str] | None = None
    public_url: str = ""  # this Consumer's base URL, for the PSC redirect_uri (set when it listens)
    allowed_hosts: tuple[str, ...] = ()  # DRIMbox whitelist: host[:port] the Consumer may retrieve from
    viewers: dict[str, str] = field(default_factory=dict)  # DRIMbox host -> its viewer host (whitelist vi)
    # the state of the fetched whitelist (harness.whitelist_watch.WhitelistWatcher.status), for the KPI
    whitelist_status: Callable[[], dict[str, Any]] | None = None
    pacs: str = ""  # local PACS "AET@host:port" for the import
    calling_aet: str = "DRIMCONSUMER"
    accept: tuple[tuple[str, float], ...] = DEFAULT_ACCEPT
    retries: int = 2  # extra attempts after a 404 / 5xx / connection error, per series
    retry_delay: float = 0.05
    timeout: float = 60.0
    max_part_bytes: int = 512 * 1024 * 1024
    max_entries: int = 500  # exams shown; the rest is reported as cut off
    # VIHF attributes of the software (ANS DRIM-M_DATA Validateur XDS); the professional's come from PSC userinfo
    vihf_issuer: str = "CN=DRIMbox Consumer, OU=499700367909006, O=DRIMCHECK, C=FR"  # when unsigned
    vihf_key: bytes | None = None  # PEM key + certificate of the structure (IGC-Santé ORG AUTH CLI)
    vihf_cert: bytes | None = None
    # (certificate, key) files presented to Sources' WADO-RS: the DRIMbox's ORG AUTH CLI (mutual TLS)
    wado_client_cert: tuple[str, str] | None = None
    structure_id: str = "499700367909006"
    lps_id: str = "DRIMCHECK-CONSUMER"
    lps_name: str = "DRIMcheck reference Consumer DRIMbox"
    lps_version: str = "1.0"
    lps_homologation: str = "DRIMCHECK-TEST"
    secteur_activite: str = "SA25^1.2.250.1.71.4.2.4"
    # appended to the Source's scheme://host; {kos}: the SOP Instance UID of the KOS (dropped when unknown)
    viewer_path: str = "/viewer?StudyInstanceUID={study}&KOS={kos}"
    fault: str | None = None

    def psc(self, name: str) -> str:
        """A PSC endpoint URL (ANS PoC: .../protocol/openid-connect/{auth,token,userinfo})."""
        return f"{self.psc_issuer}/protocol/openid-connect/{name}"
