"""Load a fixture study into a PACS (embedded or Orthanc) by C-STORE, for plans and benches."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from harness.dicom.client import DimseError, Peer, StoreResult, store


def load_study_into_pacs(files: Iterable[Path | str], host: str, port: int, aet: str,
                         calling_aet: str = "DRIMCHECK", batch: int = 2000) -> StoreResult:
    """C-STORE every file (in batches of ``batch`` per association); raise if any is refused.

    ``files`` may be a folder: every ``*.dcm`` below it is sent, sorted by path.
    """
    paths = _expand(files)
    peer = Peer(host, port, aet, calling_aet)
    total = StoreResult()
    for start in range(0, len(paths), batch):
        part = store(peer, paths[start:start + batch])
        total.statuses.update(part.statuses)
        total.bytes_sent += part.bytes_sent
        total.elapsed += part.elapsed
    if total.failed:
        uid, status = next(iter(total.failed.items()))
        raise DimseError(f"{len(total.failed)} instance(s) refused by {peer}, first {uid} with 0x{status:04X}",
                         status)
    return total


def _expand(files: Iterable[Path | str] | Path | str) -> list[Path]:
    if isinstance(files, str | Path) and Path(files).is_dir():
        return sorted(Path(files).rglob("*.dcm"))
    return [Path(f) for f in files]  # type: ignore[union-attr]
