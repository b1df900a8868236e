"""simulators.ris.messages: every message the RIS simulator sends (the source_drimbox plan's fixtures) conforms
to IG-hl7v2 as harness.validators.hl7v2 checks it, so the Source's envelope validation refuses none of them."""

from __future__ import annotations

import pytest

from harness.validators.hl7v2 import parse_hl7, validate_hl7
from simulators.ris import messages as M

EX = M.exam("ris-messages", series=1, instances=2)
MESSAGES = {
    "ORU F": lambda: M.oru(EX), "ORU F revised": lambda: M.oru(EX, cda=M.revised_cda(EX)),
    "ORU C": lambda: M.oru(EX, "C"), "ORU D": lambda: M.oru(EX, "D"),
    "MDM T02": lambda: M.mdm(EX, "T02"), "MDM T10": lambda: M.mdm(EX, "T10"), "MDM T04": lambda: M.mdm(EX, "T04"),
    "OMI cancel": lambda: M.omi_cancel(EX),
}


@pytest.mark.parametrize("name", MESSAGES)
def test_every_fixture_message_validates_without_findings(name):
    assert validate_hl7(MESSAGES[name]()) == []


@pytest.mark.parametrize(("status", "order_control"), [("F", "NW"), ("C", "RO"), ("D", "CA")])
def test_order_control_agrees_with_the_result_status(status, order_control):
    """IG-hl7v2 "Le segment ORC": NW new, RO replacement, CA deletion, consistent with OBX-11."""
    msg = parse_hl7(M.oru(EX, status))
    assert msg.first("ORC").get(1) == order_control
    assert [o.get(11) for o in msg.all("OBX") if o.get(2) == "ED"] == [status]


def test_each_message_has_its_own_control_id():
    assert len({parse_hl7(M.oru(EX)).first("MSH").get(10) for _ in range(3)}) == 3
