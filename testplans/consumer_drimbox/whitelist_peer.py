"""The ANS whitelist as the consumer_drimbox plan serves it to the Consumer under test.

The Consumer fetches ``ListeBlancheDRIM-M`` from a URL on a schedule and must verify it at each fetch (ANS
FAQ, dispositif DRIMbox: fetched daily, signature verified after each fetch; ANS DRIM-M_DATA Référencement
DRIMBox/Liste blanche TEST/Readme.md), so the plan serves it, over HTTPS from the peers' PKI, from a server
that records each fetch and the bytes it got. The lists are signed like the agency's (enveloped XAdES,
"Liste Blanche DRIM-M", OU of the ANS) by certificates of the peers' PKI, whose ``ca.pem`` and CRL the
Consumer is configured with; the bad ones are the cases the label names: re-signed by another CA, altered
after signing, unsigned, signed by an expired signer, signed by a revoked one.

Every list names the plan's Source at ``localhost`` (the Consumer's static allowlist holds only
``127.0.0.1:<port>``, so a retrieval at localhost shows a list is in force); each bad one also names
``127.0.0.1``, which would open the server outside the allowlist to the Consumer if the list were used.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.x509.oid import NameOID

from harness.pki import Pki
from harness.whitelist import Domain, build_whitelist, sign_whitelist

PATH = "/ListeBlancheDRIM-M.xml"
SOURCE_HOST = "localhost"  # the plan's Source as the lists name it
OUTSIDE_HOST = "127.0.0.1"  # what the bad lists add
BAD = ("foreign-ca", "altered", "unsigned", "expired-signer", "revoked-signer")


@dataclass
class Fetch:
    at: float
    sha256: str


@dataclass
class ListServer:
    """WSGI app serving the current list at :data:`PATH` and recording each fetch."""

    data: bytes = b""
    fetches: list[Fetch] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def serve(self, data: bytes) -> str:
        """Serve ``data`` from now on; its SHA-256, to wait for fetches of it."""
        with self._lock:
            self.data = data
        return hashlib.sha256(data).hexdigest()

    def fetched(self, digest: str) -> int:
        with self._lock:
            return sum(1 for f in self.fetches if f.sha256 == digest)

    def wait_fetches(self, digest: str, count: int, timeout: float) -> bool:
        """Whether the list ``digest`` was fetched ``count`` more times within ``timeout`` seconds: a second
        fetch shows the Consumer is done with the first (it fetches one at a time)."""
        start = self.fetched(digest)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.fetched(digest) >= start + count:
                return True
            time.sleep(0.05)
        return False

    def __call__(self, environ: dict, start_response: Any) -> list[bytes]:
        if environ.get("PATH_INFO") != PATH or environ.get("REQUEST_METHOD") not in ("GET", "HEAD"):
            start_response("404 Not Found", [("Content-Type", "text/plain"), ("Content-Length", "10")])
            return [b"not found\n"]
        with self._lock:
            data = self.data
            self.fetches.append(Fetch(time.time(), hashlib.sha256(data).hexdigest()))
        start_response("200 OK", [("Content-Type", "application/xml"), ("Content-Length", str(len(data)))])
        return [data] if environ["REQUEST_METHOD"] == "GET" else []


def _domains(outside: bool) -> list[Domain]:
    domains = [Domain("DRIMCHECK-SOURCE", SOURCE_HOST, denomination="DRIMcheck plan Source",
                      contact="drimcheck@localhost")]
    if outside:
        domains.append(Domain("DRIMCHECK-OUTSIDE", OUTSIDE_HOST, denomination="not a DRIMbox of the network",
                              contact="drimcheck@localhost"))
    return domains


def _subject(pki: Pki) -> tuple[str, str, str]:
    """CN, OU and O of the PKI's whitelist signer: the bad lists' signers differ from it in nothing else, so a
    refusal can only come from what each case changes."""
    name = pki.certificate("whitelist-signer").subject

    def first(oid: x509.ObjectIdentifier) -> str:
        values = name.get_attributes_for_oid(oid)
        return str(values[0].value) if values else ""

    return first(NameOID.COMMON_NAME), first(NameOID.ORGANIZATIONAL_UNIT_NAME), first(NameOID.ORGANIZATION_NAME)


def _signers(pki: Pki) -> dict[str, tuple[Path, Path]]:
    """The peers' PKI's whitelist signers, issued once: valid, expired since signing, revoked (in the CRL)."""
    now = dt.datetime.now(dt.UTC)
    current = pki.current()
    cn, ou, o = _subject(pki)
    if "whitelist-signer-expired" not in current:
        pki.issue("whitelist-signer-expired", cn=cn, ou=ou, o=o, usage="sign",
                  not_before=now - dt.timedelta(days=30), not_after=now - dt.timedelta(days=1))
    revoked = current.get("whitelist-signer-revoked")
    if revoked is None:
        pki.issue("whitelist-signer-revoked", cn=cn, ou=ou, o=o, usage="sign")
    if revoked is None or not revoked.get("revoked_at"):
        pki.revoke("whitelist-signer-revoked")
    return {name: (pki.cert_path(name), pki.key_path(name))
            for name in ("whitelist-signer", "whitelist-signer-expired", "whitelist-signer-revoked")}


def _sign(data: bytes, cert: Path, key: Path, chain: bytes, when: dt.datetime | None = None) -> bytes:
    return sign_whitelist(data, key.read_bytes(), cert.read_bytes(), chain, signing_time=when)


def make_lists(pki: Pki, folder: Path) -> dict[str, bytes]:
    """``good`` (the Source at localhost) and each bad case of :data:`BAD` (the Source and 127.0.0.1)."""
    signers = _signers(pki)
    chain = pki.intermediate_path.read_bytes()
    good = build_whitelist(_domains(outside=False))
    bad = build_whitelist(_domains(outside=True))
    cert, key = signers["whitelist-signer"]
    lists = {"good": _sign(good, cert, key, chain), "unsigned": bad}
    # altered: signed naming another host, then that host changed to 127.0.0.1 in the signed bytes
    decoy = build_whitelist([*_domains(outside=False), Domain("DRIMCHECK-OUTSIDE", "127.0.0.9",
                                                                denomination="not a DRIMbox of the network",
                                                                contact="drimcheck@localhost")])
    lists["altered"] = _sign(decoy, cert, key, chain).replace(b">127.0.0.9<", f">{OUTSIDE_HOST}<".encode())
    expired_cert, expired_key = signers["whitelist-signer-expired"]
    lists["expired-signer"] = _sign(bad, expired_cert, expired_key, chain,
                                    when=dt.datetime.now(dt.UTC) - dt.timedelta(days=10))
    revoked_cert, revoked_key = signers["whitelist-signer-revoked"]
    lists["revoked-signer"] = _sign(bad, revoked_cert, revoked_key, chain)
    foreign_dir = folder / "foreign-ca"
    foreign = Pki.open(foreign_dir) if (foreign_dir / "index.json").exists() else \
        Pki.init(foreign_dir, organisation="DRIMCHECK OTHER CA")
    cn, ou, o = _subject(pki)
    other = foreign.issue("whitelist-signer", cn=cn, ou=ou, o=o, usage="sign")
    lists["foreign-ca"] = _sign(bad, other.cert, other.key, foreign.intermediate_path.read_bytes())
    return lists
