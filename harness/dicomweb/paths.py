"""WADO-RS resource paths (DICOM PS3.18 §10.4.1 Retrieve resources, IHE RAD-107).

``/studies/{study}[/series/{series}[/instances/{instance}[/frames/{list}]]][/metadata]``.
Parsing is strict on purpose: each UID is digits and dots, at most 64 characters (PS3.5 §9.1),
so ``..``, ``%2F``, ``%2e``, empty segments and anything else that could walk a file tree or a
PACS query are a ValueError, which a server answers with 400.
Pass the raw request path (WSGI ``RAW_URI`` without the query) so percent-encoding is seen.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

UID_MAX_LENGTH = 64  # PS3.5 §9.1
MAX_FRAMES = 10_000  # frames in one /frames/{list}
_UID = re.compile(r"^[0-9]+(\.[0-9]+)*$")
_FRAME = re.compile(r"^[1-9][0-9]{0,8}$")
_LEVELS = ("studies", "series", "instances")


@dataclass(frozen=True)
class WadoPath:
    """A parsed WADO-RS retrieve path; ``level`` is study, series, instance or frames."""

    study: str
    series: str | None = None
    instance: str | None = None
    frames: tuple[int, ...] | None = None
    metadata: bool = False

    @property
    def level(self) -> str:
        if self.frames is not None:
            return "frames"
        if self.instance is not None:
            return "instance"
        return "series" if self.series is not None else "study"

    def to_path(self) -> str:
        """Back to the canonical path (without base), e.g. for a Content-Location."""
        path = f"/studies/{self.study}"
        if self.series is not None:
            path += f"/series/{self.series}"
        if self.instance is not None:
            path += f"/instances/{self.instance}"
        if self.frames is not None:
            path += "/frames/" + ",".join(map(str, self.frames))
        return path + ("/metadata" if self.metadata else "")


def is_uid(value: str) -> bool:
    """A DICOM UID as PS3.5 §9.1 allows on the wire here: digits and dots, ≤ 64 characters."""
    return len(value) <= UID_MAX_LENGTH and bool(_UID.match(value))


def check_uid(value: str, what: str = "UID") -> str:
    if not is_uid(value):
        raise ValueError(f"invalid {what} {value[:80]!r}: digits and dots, at most {UID_MAX_LENGTH} chars")
    return value


def parse_frame_list(text: str) -> tuple[int, ...]:
    """``"1,3,5"`` -> ``(1, 3, 5)``; frame numbers start at 1 (PS3.18 §10.4.1.1.5)."""
    items = text.split(",")
    if len(items) > MAX_FRAMES:
        raise ValueError(f"more than {MAX_FRAMES} frames requested")
    if not all(_FRAME.match(item) for item in items):
        raise ValueError(f"invalid frame list {text[:80]!r}: positive integers separated by commas")
    return tuple(int(item) for item in items)


def parse_wado_path(path: str, base: str = "") -> WadoPath:
    """Parse ``path`` (a raw request path, query excluded) under the WADO-RS ``base`` path."""
    base = base.rstrip("/")
    if base and not (path == base or path.startswith(base + "/")):
        raise ValueError(f"path {path[:80]!r} is not under the WADO-RS base {base!r}")
    segments = path[len(base):].split("/")
    if segments[0] != "" or len(segments) < 3:
        raise ValueError(f"not a WADO-RS retrieve path: {path[:80]!r}")
    segments = segments[1:]
    metadata = segments[-1] == "metadata"
    if metadata:
        segments = segments[:-1]
    uids: dict[str, str] = {}
    frames = None
    for i in range(0, len(segments), 2):
        key = segments[i]
        value = segments[i + 1] if i + 1 < len(segments) else None
        expected = _LEVELS[i // 2] if i // 2 < len(_LEVELS) else "frames"
        if key != expected or value is None:
            raise ValueError(f"unexpected segment {key[:40]!r} in {path[:80]!r} (expected {expected!r})")
        if key == "frames":
            if metadata or i + 2 != len(segments):
                raise ValueError(f"frames must end the path: {path[:80]!r}")
            frames = parse_frame_list(value)
        else:
            uids[key] = check_uid(value, f"{key} UID")
    return WadoPath(uids["studies"], uids.get("series"), uids.get("instances"), frames, metadata)
