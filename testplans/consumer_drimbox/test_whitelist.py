"""The ANS whitelist of DRIMboxes as the Consumer fetches it (ANS FAQ, dispositif DRIMbox: fetched daily,
verified after each fetch; ANS DRIM-M_DATA Référencement DRIMBox/Liste blanche TEST/Readme.md): a list is
used only when its signature verifies, its signer chains to the IGC-Santé CA and is neither expired nor
revoked, and a refused list leaves the last good one in force.

Decided from outcomes: the plan serves the lists (``whitelist_peer``) and watches the Consumer fetch them;
what a list in force allows shows in where the Consumer then sends its WADO-RS requests. Every list names
the plan's Source at ``localhost`` (outside the Consumer's static allowlist); each bad one also names
``127.0.0.1``, opening the server outside the allowlist. A Consumer that used a bad list retrieves from that
server; one that dropped the good list no longer retrieves at ``localhost``.
"""

from __future__ import annotations

import pytest

from harness.checks import expect, inconclusive, not_applicable
from testplans.consumer_drimbox import conftest
from testplans.consumer_drimbox.exams import new_patient
from testplans.consumer_drimbox.traffic import require_kos
from testplans.consumer_drimbox.whitelist_peer import SOURCE_HOST


def _serve_and_wait(world, name: str) -> None:
    """Serve the list ``name`` and wait until the Consumer fetched it twice (so the first is processed)."""
    digest = world.lists.serve(world.list_variants[name])
    timeout = 3 * world.list_interval + 10
    if not world.lists.wait_fetches(digest, 2, timeout):
        inconclusive(f"the Consumer did not fetch {world.whitelist_url} twice within {timeout:.0f} s after the "
                     f"'{name}' list was served (options.whitelist_interval: {world.list_interval:g} s)")


def _requests_at(source, exam) -> list:
    return [r for s in exam.series_uids for r in source.seen(s)]


@pytest.fixture(scope="module")
def lists(world):
    """The good list in force, and the control that the Consumer follows the lists it fetches: a host named
    only by the good list is retrieved from."""
    if world.lists is None:
        not_applicable(world.list_reason)
    _serve_and_wait(world, "good")
    exam = conftest.publish_exam(world, new_patient(), series=1, instances=1, source_host=SOURCE_HOST)
    conftest.import_exam(world, exam)
    require_kos(exam.unique_id)
    if not _requests_at(world.source, exam):
        inconclusive(f"with the good list in force the Consumer sent no WADO-RS request to {SOURCE_HOST}, the host "
                     "only that list names: it does not follow the list it fetches (or retrieves nothing), so "
                     "its refusal of a bad list cannot be seen")
    yield world
    _serve_and_wait(world, "good")


def _bad_list_is_not_used(world, name: str, rule: str, why: str) -> None:
    _serve_and_wait(world, name)
    try:
        exam = conftest.publish_exam(world, new_patient(), series=1, instances=1, outside=True)
        conftest.import_exam(world, exam)
        require_kos(exam.unique_id)
        reached = [r for r in world.outsider.requests if exam.study_uid in r.path]
        expect(not reached, rule=rule, location=f"{world.whitelist_url} ({name})",
               expected=f"the list refused ({why}): no WADO-RS request to {world.outsider_url}, which only that "
                        "list names", observed=[f"{r.method} {r.path}" for r in reached],
               message="a whitelist that does not verify is not used")
    except BaseException:
        _serve_and_wait(world, "good")  # a list the Consumer used must not weigh on the next case
        raise


@pytest.mark.requirement("CON-WL-SIGNED")
@pytest.mark.parametrize("name, why", [
    ("foreign-ca", "its signer does not chain to the IGC-Santé CA"),
    ("altered", "an entry was changed after signing: the signature's digest differs"),
    ("unsigned", "it carries no signature"),
], ids=["foreign-ca", "altered", "unsigned"])
def test_a_list_that_does_not_verify_is_not_used(lists, name, why):
    _bad_list_is_not_used(lists, name, "CON-WL-SIGNED", why)


@pytest.mark.requirement("CON-WL-VALIDITY")
@pytest.mark.parametrize("name, why", [
    ("expired-signer", "its signer's certificate has expired since it signed (verified at the fetch time)"),
    ("revoked-signer", "its signer's certificate is in the CA's CRL (RFC 5280 §6.3)"),
], ids=["expired-signer", "revoked-signer"])
def test_a_list_of_an_expired_or_revoked_signer_is_not_used(lists, name, why):
    _bad_list_is_not_used(lists, name, "CON-WL-VALIDITY", why)


@pytest.mark.requirement("CON-WL-KEEP")
def test_the_last_good_list_stays_in_force_after_a_refused_one(lists):
    world = lists
    _serve_and_wait(world, "unsigned")
    try:
        exam = conftest.publish_exam(world, new_patient(), series=1, instances=1, source_host=SOURCE_HOST)
        conftest.import_exam(world, exam)
        require_kos(exam.unique_id)
        seen = _requests_at(world.source, exam)
        expect(bool(seen), rule="CON-WL-KEEP", location=f"{world.whitelist_url} (altered list served)",
               expected=f"WADO-RS requests at {SOURCE_HOST}, which the last good list names",
               observed="none: the Consumer stopped retrieving from the hosts of the list it had accepted",
               message="a refused whitelist leaves the last good one in force")
    finally:
        _serve_and_wait(world, "good")
