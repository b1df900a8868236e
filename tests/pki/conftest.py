"""Test PKIs made once per session (RSA key generation is the slow part): ours, a foreign one with
other names, and a twin with the same names but other keys."""

from __future__ import annotations

import pytest

from harness.pki import Pki


@pytest.fixture(scope="session")
def pki(tmp_path_factory) -> Pki:
    """The PKI under test. Tests that revoke or re-issue use names of their own."""
    pki = Pki.init(tmp_path_factory.mktemp("pki") / "ours")
    pki.issue("server", cn="db.drimcheck.test")
    pki.issue("client", cn="db.drimcheck.test", ou="399999999800019", usage="client")
    pki.issue("signer", cn="DRIMCHECK TEST SIGN", usage="sign")
    return pki


@pytest.fixture(scope="session")
def foreign(tmp_path_factory) -> Pki:
    """Another PKI with names of its own."""
    pki = Pki.init(tmp_path_factory.mktemp("pki") / "foreign", organisation="FOREIGN TEST")
    pki.issue("client", cn="db.foreign.test", usage="client")
    pki.issue("server", cn="db.foreign.test")
    return pki


@pytest.fixture(scope="session")
def twin(tmp_path_factory) -> Pki:
    """A PKI whose CAs carry exactly our CAs' names, with other keys (an impostor)."""
    pki = Pki.init(tmp_path_factory.mktemp("pki") / "twin")
    pki.issue("client", cn="db.drimcheck.test", usage="client")
    return pki

