"""Peers of the whitelist tests: a test PKI shaped like IGC-Santé with good and bad signers, a foreign
PKI, lists signed by each, the ANS samples, and a file server whose files a test swaps."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import pytest

from harness.pki import Pki
from harness.whitelist import SIGNER_CN, SIGNER_OU, Domain, build_whitelist, sign_whitelist

ANS_O = "AGENCE DU NUMERIQUE EN SANTE"
ANS_FOLDER = "drim-m-data/Référencement DRIMBox/Liste blanche TEST"
DOMAINS = (
    Domain("1", "db1.drimcheck.test", "vi1.drimcheck.test", "ACME IMAGERIE",
           "CN=db1.drimcheck.test,OU=399999998000190,O=ACME IMAGERIE,ST=Paris (75),C=FR", "support@acme.test",
           "2026-01-02T03:04:05Z"),
    Domain("2", "db2.drimcheck.test", "", "AUTRE",
           "CN=db2.drimcheck.test,OU=399999998000270,O=AUTRE,C=FR", "support@autre.test", "2026-02-03T04:05:06Z"),
)
# name -> issue() arguments besides the name: the good signer and one signer per way of being wrong
SIGNERS = {
    "whitelist-signer": {"cn": SIGNER_CN, "ou": SIGNER_OU, "o": ANS_O},
    "revoked-signer": {"cn": SIGNER_CN, "ou": SIGNER_OU, "o": ANS_O},
    "wrong-cn": {"cn": "Liste Noire DRIM-M", "ou": SIGNER_OU, "o": ANS_O},
    "wrong-ou": {"cn": SIGNER_CN, "ou": "399999998000190", "o": "ACME IMAGERIE"},
}


@pytest.fixture(scope="session")
def pki(tmp_path_factory) -> Pki:
    """A PKI whose ``whitelist-signer`` is the ANS-like signer; ``revoked-signer`` is revoked (crl.pem);
    ``expired-signer`` expired yesterday; ``wrong-cn`` / ``wrong-ou`` have another CN / OU."""
    pki = Pki.init(tmp_path_factory.mktemp("pki") / "pki")
    for name, subject in SIGNERS.items():
        pki.issue(name, usage="sign", **subject)
    now = dt.datetime.now(dt.UTC)
    pki.issue("expired-signer", cn=SIGNER_CN, ou=SIGNER_OU, o=ANS_O, usage="sign",
              not_before=now - dt.timedelta(days=30), not_after=now - dt.timedelta(days=1))
    pki.revoke("revoked-signer")
    return pki


@pytest.fixture(scope="session")
def lapsed(pki: Pki) -> bytes:
    """The two DOMAINS signed 30 minutes ago by ``lapsed-signer``, valid from 50 to 10 minutes ago (the test
    CAs exist since an hour ago): valid at signing time, expired since."""
    now = dt.datetime.now(dt.UTC)
    pki.issue("lapsed-signer", cn=SIGNER_CN, ou=SIGNER_OU, o=ANS_O, usage="sign",
              not_before=now - dt.timedelta(minutes=50), not_after=now - dt.timedelta(minutes=10))
    return sign_whitelist(build_whitelist(DOMAINS, generated=now - dt.timedelta(minutes=35)),
                          pki.key_path("lapsed-signer").read_bytes(),
                          pki.cert_path("lapsed-signer").read_bytes(), signing_time=now - dt.timedelta(minutes=30))


@pytest.fixture(scope="session")
def foreign(tmp_path_factory) -> Pki:
    """Another CA with a signer of the right name: its lists must not be trusted by ``pki``'s users."""
    pki = Pki.init(tmp_path_factory.mktemp("foreign") / "pki", organisation="ELSEWHERE")
    pki.issue("whitelist-signer", usage="sign", **SIGNERS["whitelist-signer"])
    return pki


@pytest.fixture(scope="session")
def plain() -> bytes:
    return build_whitelist(DOMAINS, generated=dt.datetime(2026, 3, 1, tzinfo=dt.UTC))


@pytest.fixture(scope="session")
def sign_as(pki: Pki) -> Callable[..., bytes]:
    """``sign_as(name, data=None, of=pki)``: the list (default the two DOMAINS) signed by ``name`` of ``of``."""
    def sign(name: str, data: bytes | None = None, of: Pki = pki) -> bytes:
        return sign_whitelist(data or build_whitelist(DOMAINS), of.key_path(name).read_bytes(),
                              of.cert_path(name).read_bytes())
    return sign


@pytest.fixture(scope="session")
def signed(sign_as) -> bytes:
    return sign_as("whitelist-signer")


@pytest.fixture(scope="session")
def trust(pki: Pki) -> dict:
    """load_whitelist arguments of a DRIMbox trusting ``pki``: its CA and its CRL."""
    return {"trusted_cas": pki.ca_path.read_bytes(), "crl": (pki.folder / "crl.pem").read_bytes()}


@pytest.fixture
def ans(corpus: Path) -> Callable[..., bytes]:
    """``ans(*parts)``: an ANS sample under the corpus's whitelist folder; the test skips when it is absent."""
    def read(*parts: str) -> bytes:
        path = corpus.joinpath(*parts) if parts[0].startswith("drim-m-data") else corpus.joinpath(ANS_FOLDER, *parts)
        if not path.exists():
            pytest.skip(f"corpus file missing: {path}")
        return path.read_bytes()
    return read


class Files:
    """A WSGI app serving ``files[path]`` (bytes) with 200, anything else 404; tests swap the bytes."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.requests: list[str] = []

    def __call__(self, environ: dict, start_response: Callable) -> list[bytes]:
        path = environ.get("PATH_INFO", "")
        self.requests.append(path)
        if path not in self.files:
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"not here"]
        body = self.files[path]
        start_response("200 OK", [("Content-Type", "application/xml"), ("Content-Length", str(len(body)))])
        return [body]


@pytest.fixture
def files() -> Files:
    return Files()
