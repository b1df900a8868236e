"""WADO-RS retrieval from the Source DRIMbox: headers, negotiation, reference check, error statuses
(ANS DRIM-M_DATA Simulateur client wadoRS; IHE RAD-107; DICOM PS3.18 §10.4)."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from harness.checks import expect, expect_equal, fail
from harness.dicomweb.accept import AcceptError, parse_accept
from harness.dicomweb.mediatype import split_quoted
from harness.tls import session
from testplans.consumer_drimbox import conftest
from testplans.consumer_drimbox.conftest import PROFESSIONAL
from testplans.consumer_drimbox.traffic import psc_token_requests, require_kos


def import_exam(world, exam, **local: str) -> dict[str, str]:
    """The import through the driver, once the Consumer holds the exam's KOS (else the test is inconclusive:
    getting the KOS is CON-RET-ITI43's question)."""
    statuses = conftest.import_exam(world, exam, **local)
    require_kos(exam.unique_id)
    return statuses


def pacs_instances(world, series_uid: str) -> set[str]:
    return {r["SOPInstanceUID"] for r in world.pacs.store.records({"series_uid": [series_uid]})}


def expect_shown(statuses: dict[str, str], series_uid: str, wanted: str, rule: str, message: str) -> None:
    """What the Consumer showed the professional for a series, as its driver reported it."""
    expect_equal(statuses.get(series_uid), wanted, rule=rule, location=f"import result of series {series_uid}",
                 message=message)


@pytest.fixture(scope="module")
def happy(world):
    """One exam imported without trouble; the header tests read its WADO-RS requests."""
    from testplans.consumer_drimbox.conftest import publish_exam
    from testplans.consumer_drimbox.exams import new_patient

    exam = publish_exam(world, new_patient(), series=2, instances=2)
    return exam, import_exam(world, exam)


def _bearer(req) -> str:
    scheme, _, token = (req.header("Authorization") or "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def _requests(world, exam):
    seen = [r for s in exam.series_uids for r in world.source.seen(s)]
    if not seen:
        fail("CON-WADO-URL", world.source_url, "WADO-RS requests for the exam", "none",
             "the Consumer sent no WADO-RS request to the Source named in the KOS")
    return seen


@pytest.mark.requirement("CON-WADO-URL")
def test_each_series_is_retrieved_at_its_retrieve_url(world, happy):
    exam, _ = happy
    for series_uid in exam.series_uids:
        wanted = urlsplit(exam.retrieve_url(series_uid)).path
        paths = [(r.method, r.path) for r in world.source.seen(series_uid)]
        expect(("GET", wanted) in paths, rule="CON-WADO-URL", location=f"series {series_uid}",
               expected=f"GET {wanted}", observed=paths, message="series not retrieved at its KOS Retrieve URL")


@pytest.mark.requirement("CON-WADO-AUTH")
def test_bearer_token_is_the_professionals_psc_token(world, happy):
    exam, _ = happy
    for req in _requests(world, exam):
        scheme, _, token = (req.header("Authorization") or "").partition(" ")
        expect(scheme.lower() == "bearer" and token, rule="CON-WADO-AUTH", location=f"GET {req.path} Authorization",
               expected="Bearer <PSC access token>", observed=req.header("Authorization"),
               message="no bearer token")
        record = world.psc.store.find(token.strip(), "access_token")
        expect(record is not None and record.access_token == token.strip(), rule="CON-WADO-AUTH",
               location="Authorization token", expected="an access token issued by PSC", observed=token[:40],
               message="the token is not one PSC issued")
        expect_equal(record.user.rpps, PROFESSIONAL, rule="CON-WADO-AUTH", location="token subject",
                     message="the token is not the logged-in professional's")


@pytest.mark.requirement("CON-WADO-KOSUID")
def test_kos_sop_instance_uid_header(world, happy):
    exam, _ = happy
    for req in _requests(world, exam):
        expect_equal(req.header("Kos-Sopinstanceuid"), exam.kos_uid, rule="CON-WADO-KOSUID",
                     location=f"GET {req.path} KOS-SOPInstanceUID", message="header missing or not the KOS UID")


@pytest.mark.requirement("CON-WADO-ACCEPT")
def test_accept_lists_transfer_syntaxes_with_q(world, happy):
    exam, _ = happy
    for req in _requests(world, exam):
        lines = req.header_lines("Accept")
        try:
            ranges = parse_accept(lines)
        except AcceptError as exc:
            fail("CON-WADO-ACCEPT", f"GET {req.path} Accept", "a valid Accept", lines, str(exc))
        elements = [e.strip() for line in lines for e in split_quoted(line, ",") if e.strip()]
        expect(len(ranges) >= 2, rule="CON-WADO-ACCEPT", location="Accept", expected=">= 2 transfer syntaxes",
               observed=lines, message="only one representation offered")
        for rng, raw in zip(ranges, elements, strict=False):
            expect(rng.media_type == "multipart/related" and rng.related_type == "application/dicom",
                   rule="CON-WADO-ACCEPT", location=f"Accept element {raw!r}",
                   expected='multipart/related; type="application/dicom"', observed=rng.media_type,
                   message="wrong media type")
            expect(bool(rng.transfer_syntax), rule="CON-WADO-ACCEPT", location=f"Accept element {raw!r}",
                   expected="transfer-syntax=<UID>", observed=raw, message="no transfer syntax")
            params = [p.strip().split("=", 1)[0].lower() for p in split_quoted(raw, ";")[1:]]
            expect("q" in params, rule="CON-WADO-ACCEPT", location=f"Accept element {raw!r}", expected="q=<0..1>",
                   observed=raw, message="no q-value: the Source cannot know the Consumer's preference")


@pytest.mark.requirement("CON-REF-CHECK")
@pytest.mark.parametrize("action", ["missing", "extra"])
def test_instances_are_checked_against_the_kos(world, publish, action):
    exam = publish(series=2, instances=4)
    broken, fine = exam.series_uids
    world.source.misbehave(broken, always=action)
    statuses = import_exam(world, exam)
    expect_equal(pacs_instances(world, broken), set(), rule="CON-REF-CHECK", location=f"local PACS series {broken}",
                 message=f"a series with a {action} instance was imported")
    expect_equal(pacs_instances(world, fine), {r.sop_instance_uid for r in exam.series[fine]}, rule="CON-REF-CHECK",
                 location=f"local PACS series {fine}", message="the intact series must still be imported")
    expect_shown(statuses, broken, "incomplete", "CON-REF-CHECK",
                 f"a series with a {action} instance must be shown as incomplete")


@pytest.mark.requirement("CON-ERR-401")
def test_401_reauthenticates_and_retries(world, publish):
    exam = publish(series=1, instances=2)
    series = exam.series_uids[0]
    world.source.misbehave(series, "401")
    import_exam(world, exam)
    seen = world.source.seen(series)
    statuses = [r.status for r in seen]
    expect(statuses[:1] == [401] and 200 in statuses[1:], rule="CON-ERR-401", location=f"requests for {series}",
           expected="401 then a successful retry", observed=statuses, message="no retry after the 401")
    retry = next(r for r in seen[1:] if r.status == 200)
    refused, renewed = _bearer(seen[0]), _bearer(retry)
    if renewed:  # a retry without any bearer token is CON-WADO-AUTH's finding
        expect(renewed != refused, rule="CON-ERR-401", location=f"GET {retry.path} Authorization",
               expected="a new access token, not the one the Source refused",
               observed=f"the refused token {refused[:24]}...",
               message="the Consumer asked again with the token the Source had refused")
        expect(world.psc.store.find(renewed, "access_token") is not None, rule="CON-ERR-401",
               location=f"GET {retry.path} Authorization", expected="an access token issued by PSC",
               observed=renewed[:40], message="the token of the retry is not one PSC issued")
    expect(bool(psc_token_requests("refresh_token") or psc_token_requests("authorization_code", timeout=0)),
           rule="CON-ERR-401", location="PSC token endpoint", expected="a new token after the 401", observed="none",
           message="the Consumer retried without re-authenticating")
    expect_equal(pacs_instances(world, series), {r.sop_instance_uid for r in exam.series[series]},
                 rule="CON-ERR-401", location="local PACS", message="series not imported after re-authentication")


@pytest.mark.requirement("CON-ERR-410")
def test_410_shows_images_deleted(world, publish):
    exam = publish(series=1, instances=2)
    series = exam.series_uids[0]
    world.source.misbehave(series, always="410")
    statuses = import_exam(world, exam)
    expect_equal(pacs_instances(world, series), set(), rule="CON-ERR-410", location="local PACS",
                 message="nothing may be imported from a 410")
    expect_shown(statuses, series, "deleted", "CON-ERR-410",
                 "the professional must be told the images were deleted at the source")


@pytest.mark.requirement("CON-ERR-404")
def test_404_is_retried_and_reported_per_series(world, publish):
    exam = publish(series=2, instances=2)
    gone, fine = exam.series_uids
    world.source.misbehave(gone, always="404")
    statuses = import_exam(world, exam)
    attempts = len(world.source.seen(gone))
    expect(attempts >= 2, rule="CON-ERR-404", location=f"requests for {gone}", expected=">= 2 (retried)",
           observed=attempts, message="a 404 was not retried")
    expect_equal(pacs_instances(world, fine), {r.sop_instance_uid for r in exam.series[fine]}, rule="CON-ERR-404",
                 location=f"local PACS series {fine}", message="the other series must be imported")
    expect_shown(statuses, gone, "not-found", "CON-ERR-404", "the 404 must be reported for its series")


@pytest.mark.requirement("CON-ERR-5XX")
@pytest.mark.parametrize("status", ["500", "503"])
def test_5xx_is_retried(world, publish, status):
    exam = publish(series=1, instances=2)
    series = exam.series_uids[0]
    world.source.misbehave(series, status)
    import_exam(world, exam)
    statuses = [r.status for r in world.source.seen(series)]
    expect(statuses[:1] == [int(status)] and 200 in statuses[1:], rule="CON-ERR-5XX",
           location=f"requests for {series}", expected=f"{status} then a successful retry", observed=statuses,
           message="a server error was not retried")
    expect_equal(pacs_instances(world, series), {r.sop_instance_uid for r in exam.series[series]},
                 rule="CON-ERR-5XX", location="local PACS", message="series not imported after the retry")


@pytest.mark.requirement("CON-ERR-406")
def test_406_is_reported_and_nothing_imported(world, publish):
    exam = publish(series=1, instances=2)
    series = exam.series_uids[0]
    world.source.misbehave(series, always="406")
    statuses = import_exam(world, exam)
    expect_equal(pacs_instances(world, series), set(), rule="CON-ERR-406", location="local PACS",
                 message="nothing may be imported after a 406")
    expect_shown(statuses, series, "not-acceptable", "CON-ERR-406", "the 406 must be reported for its series")


@pytest.mark.requirement("CON-ERR-MULTIPART")
@pytest.mark.parametrize("action", ["truncate", "wrong-boundary", "bad-length"])
def test_malformed_multipart_imports_nothing(world, publish, action):
    exam = publish(series=2, instances=3)
    broken, fine = exam.series_uids
    world.source.misbehave(broken, always=action)
    statuses = import_exam(world, exam)
    expect_equal(pacs_instances(world, broken), set(), rule="CON-ERR-MULTIPART", location=f"local PACS {broken}",
                 message=f"part of a series with a {action} multipart was imported")
    expect_equal(pacs_instances(world, fine), {r.sop_instance_uid for r in exam.series[fine]},
                 rule="CON-ERR-MULTIPART", location=f"local PACS {fine}", message="the intact series must be imported")
    alive = session().get(world.consumer_base + "/", timeout=30)
    expect(alive.status_code < 500, rule="CON-ERR-MULTIPART", location=world.consumer_base,
           expected="the Consumer keeps serving", observed=alive.status_code, message="server error after bad input")
    expect_shown(statuses, broken, "malformed", "CON-ERR-MULTIPART", "the malformed answer must be reported")


@pytest.mark.requirement("CON-URL-ALLOWLIST")
def test_retrieve_url_outside_the_allowlist_is_refused(world, publish):
    exam = publish(series=2, instances=2, outside=True)
    outside, inside = exam.series_uids
    statuses = import_exam(world, exam)
    expect_equal(world.outsider.seen(outside), [], rule="CON-URL-ALLOWLIST", location=world.outsider_url,
                 message="a request was sent to a host outside the allowlist")
    expect_equal(pacs_instances(world, outside), set(), rule="CON-URL-ALLOWLIST", location="local PACS",
                 message="a series from outside the allowlist was imported")
    expect_equal(pacs_instances(world, inside), {r.sop_instance_uid for r in exam.series[inside]},
                 rule="CON-URL-ALLOWLIST", location="local PACS", message="the allowed series must be imported")
    expect_shown(statuses, outside, "refused", "CON-URL-ALLOWLIST", "the refusal must be reported")
