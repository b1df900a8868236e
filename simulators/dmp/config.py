"""Settings of one DMP simulator instance (command line, start_reference, tests)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

# ANS DRIM-M_DATA Validateur XDS/XDS.xml: INS assigning authorities (INS-NIR, INS-NIA, test NIR, test NIA)
INS_OIDS = ("1.2.250.1.213.1.4.8", "1.2.250.1.213.1.4.9", "1.2.250.1.213.1.4.10", "1.2.250.1.213.1.4.11")


@dataclass
class DmpConfig:
    profile: str = "dmp"  # dmp (IHE + CI-SIS rules) | xds (IHE only)
    vihf: str = "off"  # off | warn | enforce
    db: str | None = None  # None -> <workdir>/dmp.sqlite; sqlite:///PATH; postgresql://...
    workdir: Path = field(default_factory=Path.cwd)
    repository_unique_id: str = "1.2.250.1.213.1.1.9.1"
    home_community_id: str = "urn:oid:1.2.250.1.213.1.1.9"
    registry_path: str = "/registry"
    repository_path: str = "/repository"
    max_body_bytes: int = 64 * 1024 * 1024
    # None: a patient is known when its assigning authority is an INS OID (dmp) or any (xds);
    # a set: only those CX values (the patient identity feed of the test environment)
    known_patients: set[str] | None = None
    trust_store: list[bytes] = field(default_factory=list)  # PEM CA certificates for VIHF signatures
    fault: str | None = None

    def __post_init__(self) -> None:
        if self.profile not in ("dmp", "xds"):
            raise ValueError(f"profile must be dmp or xds, not {self.profile!r}")
        if self.vihf not in ("off", "warn", "enforce"):
            raise ValueError(f"vihf must be off, warn or enforce, not {self.vihf!r}")
        for name in ("registry_path", "repository_path"):
            if not getattr(self, name).startswith("/"):
                raise ValueError(f"{name} must start with '/'")
