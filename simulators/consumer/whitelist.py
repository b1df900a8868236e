"""The ANS whitelist of DRIMboxes, as the Consumer imports it: see :mod:`harness.whitelist`.

Verification moved to the harness, where the Source uses it too (the Consumer's client-certificate DN
against the list); these names stay importable from here. :func:`watcher` is the Consumer's fetch of the
list from a URL (ANS FAQ: fetched daily, verified at each fetch, the last good list kept), with the named
faults of :mod:`simulators.consumer.faults` that weaken it (``Behaviour.whitelist``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

from harness.whitelist import Domain, Whitelist, WhitelistError, load_whitelist, verify_signature
from harness.whitelist_watch import WhitelistWatcher

__all__ = ["Domain", "Whitelist", "WhitelistError", "follow", "load_whitelist", "verify_signature", "watcher"]


def watcher(source: str | Path, cas: Sequence[bytes], *, interval: timedelta, crl: str | Path | bytes | None = None,
            verify_tls: str | bool = True, fault: str | None = None) -> WhitelistWatcher:
    """The Consumer's watcher of the list at ``source`` (not started): verified against ``cas`` and the
    signer CA's ``crl`` at each fetch, the last good list kept; a fault named in ``Behaviour.whitelist``
    skips the chain (``any-signer``), the CRL (``no-crl``) or the keeping (``drop-on-failure``)."""
    from simulators.consumer.faults import behaviour_for

    how = behaviour_for(fault).whitelist
    any_signer = how == "any-signer"  # no CA, so no CRL either (a CRL is checked against the CA)
    return WhitelistWatcher(source, () if any_signer else tuple(cas), interval=interval,
                            crl=None if how == "no-crl" or any_signer else crl, verify_tls=verify_tls,
                            keep_last=how != "drop-on-failure")


def follow(config: Any, source: WhitelistWatcher, static_hosts: tuple[str, ...]) -> None:
    """Make the Consumer's allowed hosts and viewers follow the list in force (none when it was dropped), its
    status the KPI."""
    def apply(wl: Whitelist | None) -> None:
        config.viewers = {d.db.lower(): d.vi for d in wl.domains if d.db and d.vi} if wl else {}
        config.allowed_hosts = static_hosts + (wl.hosts if wl else ())

    source.on_change = apply
    config.whitelist_status = source.status
