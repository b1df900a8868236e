"""What a load process needs to run a scenario, as one JSON document.

The command builds it after the set-up (study published, tokens issued) and hands it to the load process on
its standard input, never on disk, since it holds bearer tokens and the client key; a distributed master sends
it to each worker over Locust's own channel (a custom message), so a worker started on another machine with
``drimcheck load worker --master-host HOST`` needs nothing but the address. PEM material is written, for the
HTTP client, to a private temporary folder of the load process and removed when it ends.
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

SCENARIO_NAMES = ("wado-storm", "rad68-burst", "dmp-mix", "contextual-calls")
MAX_SPEC_BYTES = 16 * 1024 * 1024  # a spec is a few kB (a token per user at most): refuse anything absurd


class SpecError(ValueError):
    """The load specification is unusable; the message says which field and why."""


@dataclass
class LoadSpec:
    """``target`` holds the scenario's own fields (URLs, tokens, study, documents, form); TLS and VIHF
    material is PEM text (None: not used)."""

    scenario: str
    target: dict[str, Any]
    users: int = 10
    spawn_rate: float = 10.0
    duration: float = 30.0
    tls_ca: str | None = None
    tls_insecure: bool = False
    tls_client_cert: str | None = None
    tls_client_key: str | None = None
    vihf_key: str | None = None
    vihf_cert: str | None = None
    _files: dict[str, str] = field(default_factory=dict, repr=False, compare=False)

    def to_json(self) -> str:
        data = asdict(self)
        data.pop("_files")
        return json.dumps(data)

    @classmethod
    def from_json(cls, text: str | bytes) -> LoadSpec:
        if len(text) > MAX_SPEC_BYTES:
            raise SpecError(f"load specification of {len(text)} bytes exceeds {MAX_SPEC_BYTES}")
        try:
            data = json.loads(text)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise SpecError(f"load specification is not JSON: {exc}") from None
        if not isinstance(data, dict):
            raise SpecError("load specification must be a JSON object")
        known = {k for k in cls.__dataclass_fields__ if not k.startswith("_")}
        unknown = set(data) - known
        if unknown:
            raise SpecError(f"load specification has unknown field(s) {sorted(unknown)}")
        try:
            spec = cls(**data)
        except TypeError as exc:
            raise SpecError(f"load specification: {exc}") from None
        spec.check()
        return spec

    def check(self) -> None:
        if self.scenario not in SCENARIO_NAMES:
            raise SpecError(f"unknown scenario {self.scenario!r}: choose one of {', '.join(SCENARIO_NAMES)}")
        if not isinstance(self.users, int) or self.users < 1:
            raise SpecError(f"users must be a whole number >= 1, not {self.users!r}")
        if not self.spawn_rate or self.spawn_rate <= 0:
            raise SpecError(f"spawn rate must be > 0, not {self.spawn_rate!r}")
        if not self.duration or self.duration <= 0:
            raise SpecError(f"duration must be > 0 seconds, not {self.duration!r}")

    # -- material for the HTTP client, written once per process --------------------------------
    def _file(self, name: str, text: str) -> str:
        if name not in self._files:
            folder = self._files.get("") or tempfile.mkdtemp(prefix="drimcheck-load-")
            if "" not in self._files:
                os.chmod(folder, 0o700)
                self._files[""] = folder
                atexit.register(shutil.rmtree, folder, True)
            path = Path(folder) / name
            path.write_text(text, encoding="utf-8")
            os.chmod(path, 0o600)
            self._files[name] = str(path)
        return self._files[name]

    def tls_verify(self) -> bool | str:
        """``verify`` of a requests session: False when the check is off, the CA file, else the system's CAs."""
        if self.tls_insecure:
            return False
        return self._file("ca.pem", self.tls_ca) if self.tls_ca else True

    def tls_cert(self) -> tuple[str, str] | None:
        """``cert`` of a requests session (mutual TLS), or None."""
        if not (self.tls_client_cert and self.tls_client_key):
            return None
        return self._file("client.pem", self.tls_client_cert), self._file("client.key", self.tls_client_key)

    def vihf(self) -> tuple[bytes | None, bytes | None]:
        if not (self.vihf_key and self.vihf_cert):
            return None, None
        return self.vihf_key.encode(), self.vihf_cert.encode()
