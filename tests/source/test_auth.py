"""simulators.source.auth: national ids from introspection, the MASQUE_PS rule, flags read back from a RAD-68."""

from __future__ import annotations

from harness.xds import build_pnr_message, kos_submission
from simulators.source.auth import TokenCheck, access_from_pnr, masking_refusal, national_ids
from simulators.source.store import KosAccess

AUTHOR = "899700367909"  # harness.xds.builder.DEFAULT_AUTHOR (IDNPS = "8" + RPPS)


def _who(*ids: str) -> TokenCheck:
    return TokenCheck(True, ids=frozenset(ids))


def test_national_ids_from_psc_claims():
    claims = {"active": True, "sub": "f:0b9c-11:810001000002", "preferred_username": "810001000002"}
    assert national_ids(claims) == {"810001000002"}
    assert national_ids({"active": True}) == frozenset()


def test_masque_ps_hides_from_other_professionals_only():
    masked = KosAccess("1.2.3", ("N", "MASQUE_PS"), (AUTHOR,))
    assert masking_refusal(masked, _who("810001000002")) is not None
    assert masking_refusal(masked, _who()) is not None
    assert masking_refusal(masked, _who(AUTHOR)) is None
    assert masking_refusal(KosAccess("1.2.3", ("N", "MASQUE_PS"), ("99700367909",)), _who(AUTHOR)) is None


def test_patient_flags_do_not_restrict_professionals():
    access = KosAccess("1.2.3", ("N", "INVISIBLE_PATIENT", "INVISIBLE_REPRESENTANTS_LEGAUX"), (AUTHOR,))
    assert masking_refusal(access, _who("810001000002")) is None


def test_access_read_back_from_the_pnr():
    from pydicom.uid import generate_uid

    sub = kos_submission(b"DICM" * 40, patient_id="1^^^&1.2.250.1.213.1.4.10&ISO^NH", study_uid=str(generate_uid()),
                         extra_confidentiality=["MASQUE_PS"])
    entry = sub.documents[0].id
    ctype, body = build_pnr_message(sub, mtom=True)
    access = access_from_pnr("1.2.3", entry, ctype, body)
    assert access is not None and "MASQUE_PS" in access.confidentiality and access.authors == (AUTHOR,)
    assert access_from_pnr("1.2.3", "urn:uuid:not-there", ctype, body) is None
