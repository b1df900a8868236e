"""WSGI helpers of the Consumer and its test peers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def captured(app: Callable, actor: str) -> Any:
    """``app`` behind ``harness.capture.CaptureMiddleware``, recording as ``actor``."""
    from harness.capture import CaptureMiddleware

    return CaptureMiddleware(app, actor=actor)
