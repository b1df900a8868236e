"""RAD-107 access checks and bad input: bearer token, KOS-SOPInstanceUID, path tricks, odd Accept (ANS PoC,
RFC 7662)."""

from __future__ import annotations

import time

import pytest

from harness.checks import expect, expect_equal, inconclusive
from testplans.psc_auth import expect_by_certificate, psc_calls
from testplans.source_drimbox.conftest import published_kos
from testplans.source_drimbox.consumer import ANY_DICOM, request


def _target(env, key: str = "main") -> tuple[str, str]:
    kos = published_kos(env, key).kos()
    return str(kos.StudyInstanceUID), str(kos.SOPInstanceUID)


def _still_serving(env, rule: str) -> None:
    study, kos = _target(env)
    reply = request(env.wado, f"/studies/{study}", token=env.token(), kos=kos)
    expect_equal(reply.status, 200, rule=rule, location=f"GET /studies/{study}",
                 message="after bad input the server keeps serving")


@pytest.mark.requirement("SRC-WADO-TOKEN")
@pytest.mark.parametrize("case", ["missing", "unknown", "revoked", "expired"])
def test_tokens_that_are_not_active_get_401(env, case):
    study, kos = _target(env)
    token = None
    if case == "unknown":
        token = "not-a-token-issued-by-psc"
    elif case == "revoked":
        token = env.token()
        env.psc.revoke(token)
    elif case == "expired":
        token = env.token(ttl=1)
        time.sleep(1.5)
    reply = request(env.wado, f"/studies/{study}", token=token, kos=kos)
    expect_equal(reply.status, 401, rule="SRC-WADO-TOKEN", location=f"Authorization ({case} token)",
                 message="only a token PSC says active opens the images")


@pytest.mark.requirement("SRC-WADO-KOSUID")
def test_missing_kos_uid_answers_400(env):
    study, _kos = _target(env)
    reply = request(env.wado, f"/studies/{study}", token=env.token())
    expect_equal(reply.status, 400, rule="SRC-WADO-KOSUID", location="KOS-SOPInstanceUID (absent)",
                 message="the header is required")


@pytest.mark.requirement("SRC-WADO-KOSUID")
@pytest.mark.parametrize("case", ["unknown", "other study"])
def test_kos_uid_not_of_this_study_answers_404(env, case):
    study, _kos = _target(env)
    other = "2.25.123456789" if case == "unknown" else _target(env, "jls")[1]
    reply = request(env.wado, f"/studies/{study}", token=env.token(), kos=other)
    expect_equal(reply.status, 404, rule="SRC-WADO-KOSUID", location=f"KOS-SOPInstanceUID ({case})",
                 message="the UID must be the stored KOS of this study")


@pytest.mark.requirement("SRC-WADO-PATH")
@pytest.mark.parametrize(("case", "template"), [
    ("dot segments", "/studies/{study}/../../studies/{study}"),
    ("encoded slash", "/studies/{study}%2Fseries%2F1.2.3"),
    ("encoded dot segments", "/studies/%2e%2e/%2e%2e/etc/passwd"),
    ("not a UID", "/studies/abc'--"),
])
def test_path_tricks_answer_400(env, case, template):
    study, kos = _target(env)
    reply = request(env.wado, template.format(study=study), token=env.token(), kos=kos)
    expect_equal(reply.status, 400, rule="SRC-WADO-PATH", location=case, message="only canonical UIDs are served")
    _still_serving(env, "SRC-WADO-PATH")


@pytest.mark.requirement("SRC-WADO-ACCEPT-BAD")
@pytest.mark.parametrize("case", ["huge", "bad q-value", "garbage"])
def test_bad_accept_is_refused_cleanly(env, case):
    study, kos = _target(env)
    accept = {"huge": [", ".join([ANY_DICOM] * 400)],
              "bad q-value": [ANY_DICOM + "; q=abc"],
              "garbage": ['multipart/related; type="application/dicom"; transfer-syntax=";;;,,\x7f']}[case]
    reply = request(env.wado, f"/studies/{study}", token=env.token(), kos=kos, accept=accept)
    expect(reply.status in (400, 406, 413, 431), rule="SRC-WADO-ACCEPT-BAD", location=f"Accept ({case})",
           expected="400, 406, 413 or 431", observed=reply.status, message="a clear client-error status")
    _still_serving(env, "SRC-WADO-ACCEPT-BAD")


def _author_token(env, entry) -> str | None:
    """A PSC token of the KOS's author (XDS authorPerson IDNPS = "8" + RPPS), registered at PSC when new."""
    from simulators.psc.config import User

    ids = [a.person.split("^", 1)[0] for a in entry.authors if a.person and a.person.split("^", 1)[0]]
    if not ids:
        return None
    rpps = ids[0][1:] if ids[0].startswith("8") and len(ids[0]) == 12 else ids[0]
    users = env.psc.provider.users
    if env.psc.provider.find_user(rpps) is None:
        users[rpps] = User(rpps=rpps, given_name="Auteur", family_name="KOS")
    return env.token_for(rpps)


@pytest.mark.requirement("SRC-WADO-MASK")
def test_masked_study_is_served_to_its_author_only(env):
    pub = published_kos(env, "masked")
    entry, kos = pub.kos_entry(), pub.kos()
    codes = {c.node for c in entry.confidentialityCodes}
    expect("MASQUE_PS" in codes, rule="SRC-WADO-MASK", location="DMP: KOS DocumentEntry confidentialityCode",
           expected="MASQUE_PS (the report's OBX flag MASQUE_PS = Y)", observed=sorted(codes),
           message="the manifest is published masked from professionals")
    study, uid = str(kos.StudyInstanceUID), str(kos.SOPInstanceUID)
    reply = request(env.wado, f"/studies/{study}", token=env.token(), kos=uid)
    expect_equal(reply.status, 403, rule="SRC-WADO-MASK", location=f"GET /studies/{study} (another professional)",
                 message="a study published MASQUE_PS is hidden from professionals other than its author")
    token = _author_token(env, entry)
    if token is not None:
        reply = request(env.wado, f"/studies/{study}", token=token, kos=uid)
        expect_equal(reply.status, 200, rule="SRC-WADO-MASK", location=f"GET /studies/{study} (its author)",
                     message="the author of a masked manifest still retrieves the images")


@pytest.mark.requirement("SRC-WADO-MASK")
def test_invisible_to_patient_is_still_served_to_professionals(env):
    kos = published_kos(env, "invisible").kos()
    reply = request(env.wado, f"/studies/{kos.StudyInstanceUID}", token=env.token(), kos=str(kos.SOPInstanceUID))
    expect_equal(reply.status, 200, rule="SRC-WADO-MASK", location="INVISIBLE_PATIENT + INVISIBLE_REP_LEGAUX",
                 message="flags about the patient and legal representatives do not hide images from professionals")


@pytest.mark.requirement("SRC-SEC-PSC-MTLS")
def test_tokens_are_introspected_at_psc_by_certificate_without_secret(env):
    if not env.psc.endpoints["introspect"].startswith("https://"):
        inconclusive("the plan's PSC is plain HTTP (tls.peers: http), so no client certificate can be presented")
    study, kos = _target(env)
    reply = request(env.wado, f"/studies/{study}", token=env.token(), kos=kos)
    calls = psc_calls("/token/introspect")
    if not calls:
        inconclusive(f"the Source introspected no token at the plan's PSC (it answered {reply.status}; checking the "
                     "token is SRC-WADO-TOKEN's question), so how it authenticates there cannot be seen")
    expect_by_certificate(calls, "SRC-SEC-PSC-MTLS", "the Source")


def _thumbprint_of_another_certificate() -> str:
    """x5t#S256 of a throwaway certificate made here: one the plan never presents."""
    import datetime as dt

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    from simulators.psc.mtls import x5t_s256

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "another DRIMbox")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now)
            .not_valid_after(now + dt.timedelta(days=1)).sign(key, hashes.SHA256()))
    return x5t_s256(cert)


@pytest.mark.requirement("SRC-SEC-TOKEN-BINDING")
def test_a_certificate_bound_token_is_served_over_its_certificate_only(env):
    from simulators.psc.mtls import x5t_s256
    from testplans.source_drimbox.consumer import client_certificate

    mine = client_certificate()
    if mine is None:
        inconclusive("the plan presents no client certificate (tls.cert), so a token bound to one cannot be tried")
    if not env.wado.startswith("https://"):
        inconclusive(f"the WADO-RS is plain HTTP ({env.wado}): no client certificate to bind a token to "
                     "(see SRC-SEC-HTTPS)")
    study, kos = _target(env)
    unknown = request(env.wado, f"/studies/{study}", token="not-a-token-issued-by-psc", kos=kos)
    if unknown.status != 401:
        inconclusive(f"the Source answers {unknown.status} to a token PSC never issued: it does not check tokens "
                     "at all (see SRC-WADO-TOKEN), so their binding cannot be judged")
    if env.security is not None:
        from harness import tlsprobe

        anonymous = tlsprobe.probe(env.wado, tlsprobe.client_context(env.security.ca),
                                   path=f"/studies/{study}/metadata", accept="application/dicom+json")
        if not anonymous.refused:
            inconclusive(f"the Source serves a client without certificate ({anonymous}): without mutual TLS a "
                         "bound token has no certificate to be checked against (see SRC-SEC-MTLS)")
    own = request(env.wado, f"/studies/{study}", token=env.token(x5t_s256=x5t_s256(mine)), kos=kos)
    expect_equal(own.status, 200, rule="SRC-SEC-TOKEN-BINDING",
                 location=f"GET /studies/{study} with a token bound to the certificate presented",
                 message="a token bound to the client certificate of the connection is served (RFC 8705 §3)")
    other = request(env.wado, f"/studies/{study}", token=env.token(x5t_s256=_thumbprint_of_another_certificate()),
                    kos=kos)
    expect_equal(other.status, 401, rule="SRC-SEC-TOKEN-BINDING",
                 location=f"GET /studies/{study} with a token bound to another certificate",
                 message="a token bound to another client certificate is refused: introspection's cnf x5t#S256 "
                         "differs from the connection's certificate (RFC 8705 §3.2)")
