"""Random and mutated input never crashes a validator: it returns findings (hypothesis)."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fixtures.mutations.goodset import good_set
from harness.validators import detect_kind, validate_bytes
from harness.validators.cross import cross_validate

GOOD = good_set()
EXAMPLES = int(os.environ.get("DRIMCHECK_FUZZ", "60"))  # more locally: DRIMCHECK_FUZZ=2000
FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def flip(data: bytes, positions: list[int], values: list[int]) -> bytes:
    buf = bytearray(data)
    for pos, val in zip(positions, values, strict=False):
        buf[pos % len(buf)] = val
    return bytes(buf)


@FUZZ
@given(st.binary(max_size=2048))
def test_random_bytes(data):
    kind = detect_kind(data)
    assert isinstance(validate_bytes(data, kind), list)
    for forced in ("dicom", "cda", "hl7"):
        assert isinstance(validate_bytes(data, forced), list)


@FUZZ
@given(st.sampled_from(sorted(GOOD)), st.lists(st.integers(0, 1 << 20), min_size=1, max_size=8),
       st.lists(st.integers(0, 255), min_size=1, max_size=8), st.integers(1, 1 << 20))
def test_corrupted_good_files(name, positions, values, cut):
    data = flip(GOOD[name], positions, values)[: max(1, cut % (len(GOOD[name]) + 1))]
    findings = validate_bytes(data, detect_kind(data, name))
    assert isinstance(findings, list)
    assert isinstance(cross_validate(kos=data if name.endswith(".dcm") else None,
                                     cda=data if name.endswith("cr-img.xml") else None,
                                     hl7=data if name.endswith(".hl7") else None), list)
