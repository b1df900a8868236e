"""The whitelist's life: fetch the ANS list on a schedule, verify each copy, keep the last good one.

ANS FAQ ("dispositif DRIMbox", whitelist refresh): a DRIMbox fetches the list every day and verifies its
signature after each fetch; a list that does not verify (unsigned, altered, foreign CA, expired or
revoked signer) is corrupted and must not replace the one in force. C17: the list comes over HTTPS
(verified against a CA bundle); only the CRL may come over plain HTTP. Verification is
:func:`harness.whitelist.load_whitelist` (XML-DSig 1.1, ETSI EN 319 132 XAdES, RFC 5280) at the
watcher's clock, never at the list's SigningTime: a list whose signer has expired since it was signed
is refused, with a sentence saying so.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import requests

from harness.whitelist import SIGNER_CN, SIGNER_OU, Whitelist, WhitelistError, load_whitelist

log = logging.getLogger(__name__)
MAX_BYTES = 4 * 1024 * 1024


def _now() -> datetime:
    return datetime.now(UTC)


def _iso(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if moment else None


def _is_url(source: str | Path) -> bool:
    return isinstance(source, str) and source.lower().startswith(("http://", "https://"))


class WhitelistWatcher:
    """Keeps ``current``, the last list that verified, from ``source`` (https:// or http:// URL, or a file).

    ``start()`` fetches once then every ``interval`` in a daemon thread; ``refresh_now()`` fetches at
    once (tests); ``stop()`` ends the thread. ``on_change(whitelist)`` is called when a list whose bytes
    differ from the current one's is accepted. ``crl`` is the signer CA's CRL: bytes, a file read again
    at each fetch, or an http(s) URL fetched at each fetch; ``fetch_crl`` takes it from the signer
    certificate's distribution point. ``clock`` gives the verification time and the status times.
    ``verify_tls`` is requests' ``verify`` (a CA bundle path, or True for the system's CAs).
    """

    def __init__(self, source: str | Path, ca_pem: bytes | Sequence[bytes], *, interval: timedelta = timedelta(days=1),
                 crl: bytes | str | Path | None = None, fetch_crl: bool = False,
                 on_change: Callable[[Whitelist | None], Any] | None = None, clock: Callable[[], datetime] = _now,
                 verify_tls: str | bool = True, client_cert: tuple[str, str] | None = None,
                 signer_cn: str | None = SIGNER_CN, signer_ou: str | None = SIGNER_OU, timeout: float = 30.0,
                 keep_last: bool = True) -> None:
        if interval.total_seconds() <= 0:
            raise ValueError(f"interval must be positive, not {interval}")
        self.source, self.ca_pem, self.interval, self.crl, self.fetch_crl = source, ca_pem, interval, crl, fetch_crl
        self.on_change, self.clock, self.verify_tls, self.client_cert = on_change, clock, verify_tls, client_cert
        self.signer_cn, self.signer_ou, self.timeout = signer_cn, signer_ou, timeout
        # keep_last=False drops the list in force when a fetched one fails (on_change(None)): what the ANS FAQ's
        # daily fetch must not do (a named fault of the reference Consumer shows it)
        self.keep_last = keep_last
        self._lock = threading.Lock()  # one refresh at a time; guards the state below
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._current: Whitelist | None = None
        self._digest = ""
        self._last_fetch: datetime | None = None
        self._last_success: datetime | None = None
        self._last_error: str | None = None
        self._failures = 0
        self._fetches = 0

    @property
    def current(self) -> Whitelist | None:
        """The list in force: the last one that verified, or None when none has yet."""
        return self._current

    # -- fetching ------------------------------------------------------------------------------------
    def _get(self, url: str, what: str, *, the_list: bool) -> bytes:
        # the list: the configured CA bundle and client certificate; a CRL: plain HTTP or system CAs (C17)
        verify, cert = (self.verify_tls, self.client_cert) if the_list else (True, None)
        try:
            response = requests.get(url, timeout=self.timeout, verify=verify, cert=cert)
        except requests.RequestException as exc:
            raise WhitelistError(f"the {what} at {url} is unreachable: {exc}") from None
        if response.status_code != 200:
            raise WhitelistError(f"the {what} at {url} answered HTTP {response.status_code} instead of the file")
        if len(response.content) > MAX_BYTES:
            raise WhitelistError(f"the {what} at {url} is larger than {MAX_BYTES} bytes")
        return response.content

    def _read(self, source: str | Path, what: str, *, the_list: bool) -> bytes:
        if _is_url(source):
            return self._get(str(source), what, the_list=the_list)
        path = Path(str(source).removeprefix("file://"))
        try:
            return path.read_bytes()
        except OSError as exc:
            raise WhitelistError(f"the {what} {path} cannot be read: {exc.strerror or exc}") from None

    def _fetch(self) -> tuple[bytes, Whitelist]:
        data = self._read(self.source, "whitelist", the_list=True)
        crl = self.crl if isinstance(self.crl, bytes | None) else self._read(self.crl, "CRL", the_list=False)
        # at the fetch time, as a DRIMbox must: a signer valid when it signed but expired since is refused
        return data, load_whitelist(data, self.ca_pem, at=self.clock(), crl=crl, fetch_crl=self.fetch_crl,
                                    signer_cn=self.signer_cn, signer_ou=self.signer_ou, timeout=self.timeout)

    def refresh_now(self) -> bool:
        """Fetch and verify now; True when the fetched list was accepted (it is then ``current``)."""
        with self._lock:
            self._last_fetch, self._fetches = self.clock(), self._fetches + 1
            try:
                data, wl = self._fetch()
            except ValueError as exc:  # WhitelistError, or a certificate cryptography cannot read
                self._failed(str(exc))
                return False
            digest = hashlib.sha256(data).hexdigest()
            changed = digest != self._digest
            self._current, self._digest = wl, digest
            self._last_success, self._last_error, self._failures = self._last_fetch, None, 0
        if changed:
            log.info("whitelist %s accepted: %d entries, generated %s, signed by %s", self.source, len(wl.domains),
                     wl.generated or "?", wl.signer)
            self._notify(wl)
        return True

    def _failed(self, reason: str) -> None:
        self._last_error, self._failures = reason, self._failures + 1
        if not self.keep_last and self._current is not None:
            self._current, self._digest = None, ""
            log.warning("whitelist %s refused: %s; the list in force is dropped", self.source, reason)
            self._notify(None)
            return
        kept = self._current
        keeping = (f"keeping the list generated {kept.generated or '?'} signed by {kept.signer}, accepted at "
                   f"{_iso(self._last_success)}" if kept is not None else "no list is in force")
        cert = kept.signer_certificate if kept is not None else None
        if cert is not None and self._last_fetch is not None and self._last_fetch > cert.not_valid_after_utc:
            keeping += f" (its own signer expired on {_iso(cert.not_valid_after_utc)}: a newer list is needed)"
        log.warning("whitelist %s refused (%d failure(s) in a row): %s; %s", self.source, self._failures, reason,
                    keeping)

    def _notify(self, wl: Whitelist | None) -> None:
        if self.on_change is None:
            return
        try:
            self.on_change(wl)
        except Exception:  # a failing listener must not stop the schedule
            log.exception("whitelist %s: the on_change callback failed", self.source)

    # -- schedule --------------------------------------------------------------------------------------
    def start(self) -> WhitelistWatcher:
        """Fetch once now, then every ``interval`` in a daemon thread until ``stop()``."""
        if self._thread is not None:
            return self
        if _is_url(self.source) and str(self.source).lower().startswith("http://"):
            log.warning("whitelist %s is fetched over plain HTTP: C17 wants it encrypted (https://)", self.source)
        self.refresh_now()
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="whitelist-watch", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.interval.total_seconds()):
            try:
                self.refresh_now()
            except Exception:  # never let the schedule die; the next round tries again
                log.exception("whitelist %s: refresh failed unexpectedly", self.source)

    def stop(self) -> None:
        """End the schedule (the list in force stays readable)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def __enter__(self) -> WhitelistWatcher:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- KPI -----------------------------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        """The list's state for the KPI: fetch times, last error, failures in a row, the list in force."""
        with self._lock:
            wl = self._current
            running = self._thread is not None and self._last_fetch is not None
            return {
                "source": str(self.source), "interval_seconds": self.interval.total_seconds(),
                "last_fetch": _iso(self._last_fetch), "last_success": _iso(self._last_success),
                "last_error": self._last_error, "consecutive_failures": self._failures, "fetches": self._fetches,
                "next_fetch": _iso(self._last_fetch + self.interval) if running and self._last_fetch else None,
                "in_force": wl is not None, "generated": wl.generated if wl else None,
                "date_maj": wl.updated if wl else None, "signer": wl.signer if wl else None,
                "signing_time": wl.signing_time if wl else None, "entries": len(wl.domains) if wl else 0,
                "sha256": self._digest or None,
            }
