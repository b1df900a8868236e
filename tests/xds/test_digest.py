"""The SHA-1 memo shared by the validator, the DMP manifest rule and the repository."""

from __future__ import annotations

import base64
import hashlib
import os

from harness.xds import digest


def test_each_bytes_object_gets_its_own_digest_even_past_the_memo_size():
    blobs = [os.urandom(1000) for _ in range(3 * digest._recent.maxlen)]
    for _ in range(2):  # the second pass finds the first ones evicted
        for data in blobs:
            assert digest.sha1_hex(data) == hashlib.sha1(data).hexdigest()
            assert digest.sha1_b64(data) == base64.b64encode(hashlib.sha1(data).digest()).decode()


def test_equal_bytes_in_another_object_are_hashed_and_agree():
    data = os.urandom(5000)
    copy = bytes(bytearray(data))
    assert copy is not data
    assert digest.sha1(data) == digest.sha1(copy) == hashlib.sha1(data).digest()


def test_the_same_object_is_hashed_once(monkeypatch):
    calls = []
    real = hashlib.sha1
    monkeypatch.setattr(digest.hashlib, "sha1", lambda data: calls.append(1) or real(data))
    data = os.urandom(90_000)
    assert digest.sha1_hex(data) == digest.sha1_hex(data) == real(data).hexdigest()
    assert digest.sha1_b64(data) == base64.b64encode(real(data).digest()).decode()
    assert len(calls) == 1
