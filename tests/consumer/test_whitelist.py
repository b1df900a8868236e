"""simulators.consumer.whitelist on the ANS samples: signed list accepted, unsigned or altered refused."""

from __future__ import annotations

import pytest

from harness.vihf import throwaway_pki
from simulators.consumer.whitelist import WhitelistError, load_whitelist

FOLDER = "drim-m-data/Référencement DRIMBox/Liste blanche TEST"


@pytest.fixture
def signed(corpus):
    path = corpus / FOLDER / "Liste blanche signée" / "LISTEBLANCHE_DRIM-M_SIGNEE_TEST.xml"
    if not path.exists():
        pytest.skip(f"corpus file missing: {path}")
    return path.read_bytes()


def test_signed_list_is_accepted(signed):
    wl = load_whitelist(signed)
    assert "db3.test.mesimagesmedicales.fr" in wl.hosts
    assert "Liste Blanche DRIM-M" in wl.signer and "IGC-SANTE" in wl.issuer


def test_unsigned_list_is_refused(corpus):
    path = corpus / FOLDER / "Liste blanche non signée" / "LISTEBLANCHE_DRIM-M_NONSIGNEE_TEST.xml"
    if not path.exists():
        pytest.skip(f"corpus file missing: {path}")
    with pytest.raises(WhitelistError, match="not signed"):
        load_whitelist(path.read_bytes())


@pytest.mark.parametrize(("old", "new"), [
    (b"<db>db3.test.mesimagesmedicales.fr</db>", b"<db>evil.example</db>"),  # a host swapped
    (b"<Denomination>ANS</Denomination>", b"<Denomination>ANS </Denomination>"),  # one space
])
def test_altered_list_is_refused(signed, old, new):
    assert old in signed
    with pytest.raises(WhitelistError, match="altered"):
        load_whitelist(signed.replace(old, new, 1))


def test_altered_signature_value_is_refused(signed):
    start = signed.index(b"<ds:SignatureValue")
    start = signed.index(b">", start) + 1
    flipped = signed[:start] + (b"A" if signed[start:start + 1] != b"A" else b"B") + signed[start + 1:]
    with pytest.raises(WhitelistError, match="does not verify"):
        load_whitelist(flipped)


def test_untrusted_signer_is_refused(signed):
    with pytest.raises(WhitelistError, match="trusted CA"):
        load_whitelist(signed, trusted_cas=(throwaway_pki("other").ca_pem,))


@pytest.mark.parametrize("data", [b"", b"<a/>", b"<!DOCTYPE x [<!ENTITY e 'x'>]><ListeBlancheDRIM-M/>",
                                  b'<ListeBlancheDRIM-M versionFormat="9"/>'])
def test_not_a_whitelist(data):
    with pytest.raises(WhitelistError):
        load_whitelist(data)
