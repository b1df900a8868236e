"""ModelStat: the KPI record the Consumer keeps for each contextual call (ANS FAQ, Ségur vague 2).

One JSON line per call in ``<workdir>/ModelStat.jsonl``: ``Nombre_Appel`` (always 1, summed by
the collector), ``Statut_Appel`` (``succes`` | ``erreur``), the time, and the reason of an error.
:func:`whitelist_record` is the state of the daily whitelist fetch (ANS FAQ, whitelist refresh).
"""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from pathlib import Path

SUCCESS, ERROR = "succes", "erreur"
ABSENT = "absente"  # no whitelist is fetched (allowlist given by hand, or a list read once at start)
FILE_NAME = "ModelStat.jsonl"


class ModelStat:
    """Append-only KPI file; thread-safe (the WSGI server serves calls in parallel)."""

    def __init__(self, workdir: Path) -> None:
        self.path = Path(workdir) / FILE_NAME
        self._lock = threading.Lock()

    def record(self, status: str, reason: str = "") -> dict:
        if status not in (SUCCESS, ERROR):
            raise ValueError(f"Statut_Appel must be {SUCCESS!r} or {ERROR!r}, not {status!r}")
        entry = {"Date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"), "Nombre_Appel": 1,
                 "Statut_Appel": status}
        if reason:
            entry["Motif"] = reason
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "a", encoding="utf-8") as fh:
                fh.write(json.dumps(entry, ensure_ascii=False) + "\n")
        return entry

    def entries(self) -> list[dict]:
        with self._lock:
            if not self.path.exists():
                return []
            return [json.loads(line) for line in self.path.read_text(encoding="utf-8").splitlines() if line]


def whitelist_record(status: dict | None) -> dict:
    """The whitelist KPI: the watcher's status with ``Statut_ListeBlanche`` ``succes`` (the last fetch
    verified), ``erreur`` (it failed: the last good list stays in force) or ``absente`` (no fetch)."""
    if status is None:
        return {"Statut_ListeBlanche": ABSENT}
    ok = status.get("last_success") is not None and status.get("consecutive_failures") == 0
    return {"Statut_ListeBlanche": SUCCESS if ok else ERROR, **status}
