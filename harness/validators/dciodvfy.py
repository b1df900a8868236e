"""Run dicom3tools' ``dciodvfy`` on a DICOM file and turn its messages into findings.

Mapping (our verdict never depends on dciodvfy being installed, DESIGN "Real parts"):
``Error - ...`` -> severity warning, ``Warning - ...`` -> info, all with rule ``DCIODVFY`` and
origin ``dciodvfy``. dciodvfy errors are not our errors: it flags the DRIMbox Retrieve URL at series
level as "not in standard IOD" (Standard Extended SOP Class, expected in ANS DRIM-M_DATA KOS_OK.xml) and does not know
the CI-SIS rules; our own KOS-* rules give the verdict. Identical messages are merged with a count.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from collections import Counter

from harness.findings import Finding, info, warning

RULE = "DCIODVFY"
TIMEOUT_S = 30
_TAG = re.compile(r"\(0x([0-9a-fA-F]{4}),0x([0-9a-fA-F]{4})\)")
_PATH = re.compile(r"</([^>]*)>")


def available() -> bool:
    return shutil.which("dciodvfy") is not None


def run_dciodvfy(data: bytes) -> list[Finding]:
    """Findings from ``dciodvfy -new`` on ``data``; empty when the tool is absent."""
    exe = shutil.which("dciodvfy")
    if exe is None:
        return []
    fd, name = tempfile.mkstemp(suffix=".dcm")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        try:
            proc = subprocess.run([exe, "-new", name], capture_output=True, timeout=TIMEOUT_S, check=False)
        except subprocess.TimeoutExpired:
            return [warning(RULE, "(file)", f"dciodvfy did not finish in {TIMEOUT_S} s", origin="dciodvfy")]
        text = (proc.stderr + proc.stdout).decode("latin-1", "replace")
    finally:
        os.unlink(name)
    return parse_output(text)


def parse_output(text: str) -> list[Finding]:
    """Turn dciodvfy's text report into findings (sans-IO, tested on recorded output)."""
    counts: Counter[tuple[str, str, str]] = Counter()
    for line in text.splitlines():
        kind, _, message = line.strip().partition(" - ")
        if kind not in ("Error", "Warning") and " - Error - " not in line and " - Warning - " not in line:
            continue
        if kind not in ("Error", "Warning"):
            kind = "Error" if " - Error - " in line else "Warning"
            message = line.split(f" - {kind} - ", 1)[1]
        message = message.strip()
        if message.startswith("</") and "> - " in message:
            message = message.split("> - ", 1)[1]
        counts[(kind, _location(line), message)] += 1
    findings = []
    for (kind, loc, message), n in counts.items():
        text_msg = message if n == 1 else f"{message} (x{n})"
        make = warning if kind == "Error" else info
        findings.append(make(RULE, loc, text_msg, origin="dciodvfy"))
    return findings


def _location(line: str) -> str:
    tag = _TAG.search(line)
    if tag:
        return f"({tag.group(1).upper()},{tag.group(2).upper()})"
    path = _PATH.search(line)
    return path.group(1) if path else "(dataset)"
