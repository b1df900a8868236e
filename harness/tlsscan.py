"""A product's TLS scanned by testssl.sh, the maintained scanner the security plans rely on for control point
C17 of the DRIMbox label (every flow encrypted): TLS 1.2 or 1.3 only, no weak cipher suites, no TLS
compression, a chain to the trusted CA and the right names.

testssl.sh (GPL-2) runs as an external program, never imported: sslyze, the Python alternative, is AGPL.
Debian ships it as package ``testssl.sh``, binary ``/usr/bin/testssl``. :func:`scan` runs only the checks C17
needs (``-p`` protocols, ``-s`` cipher categories, ``-S`` server defaults and certificate, ``-C`` CRIME, i.e.
TLS compression), about 25 to 40 seconds against a loopback server, and reads the JSON file testssl.sh writes.

Which testssl.sh ids fail C17 is explicit (:data:`FAILING_IDS`), each with the public rule it breaks:
RFC 9325 (BCP 195) and ANSSI's guide "Recommandations de sécurité relatives à TLS" (ANSSI-PA-035). Every other
finding is evidence: those testssl.sh itself rates MEDIUM or worse are listed by :meth:`ScanReport.concerns`,
never as a failure, because some do not apply to a private PKI (``cert_validityPeriod`` follows the CA/Browser
Forum's limits, IGC-Santé certificates last three years; ``cert_revocation`` and OCSP stapling are matters of
the PKI's policy). A check testssl.sh could not make is :meth:`ScanReport.unchecked`, never a pass, and a
scanner that is missing, crashes or times out raises instead of returning a partial report.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

NAMES = ("testssl.sh", "testssl")  # upstream's name, then Debian's
INSTALL_HINT = "install it with: apt-get install testssl.sh (Debian/Ubuntu; the binary is /usr/bin/testssl)"
# protocols, standard cipher categories, server defaults + certificate, CRIME (TLS compression)
CHECKS = ("-p", "-s", "-S", "-C")
DEFAULT_TIMEOUT = 300.0  # a whole scan; each connection has its own 10 s limits below
CONNECT_TIMEOUT = 10
MAX_JSON_BYTES = 16 * 1024 * 1024  # a scan of these checks writes ~20 kB; more is not testssl.sh's JSON
TAIL_CHARS = 2000
ERR_EXIT = 242  # testssl.sh exit codes from here up are its own errors (ERR_CHILD .. ERR_BASH); below, a count
# variables testssl.sh is given; every other one of the caller's (DEBUG, COLOR, FAST, OPENSSL...) would change it
PASSED_ENV = ("PATH", "TESTSSL_INSTALL_DIR")
SEVERE = ("MEDIUM", "HIGH", "CRITICAL")

PROTOCOLS = {"SSLv2": "SSLv2", "SSLv3": "SSLv3", "TLS1": "TLS 1.0", "TLS1_1": "TLS 1.1", "TLS1_2": "TLS 1.2",
             "TLS1_3": "TLS 1.3"}
# testssl.sh's cipher categories (-s, ids cipherlist_<name>) in plain words
CIPHER_CATEGORIES = {
    "NULL": "NULL suites, no encryption at all",
    "aNULL": "anonymous suites, no server authentication",
    "EXPORT": "export-grade suites (40 to 56 bit keys)",
    "LOW": "64-bit, DES, RC2 or RC4 suites",
    "3DES_IDEA": "3DES or IDEA suites (64-bit blocks, SWEET32; 3DES gives 112 bits)",
    "OBSOLETED": "obsoleted CBC suites (no AEAD)",
    "STRONG_NOFS": "AEAD suites without forward secrecy (static RSA key transport)",
    "STRONG_FS": "AEAD suites with forward secrecy",
    "STRONG": "AEAD suites",
}
ALIASES = {"AVERAGE": "OBSOLETED"}  # testssl.sh 3.0's id of the category 3.1 renamed

# The testssl.sh ids that fail C17, with the rule each breaks. The text of ScanReport.problems() says which
# finding of the id fails (a protocol or category "offered", CRIME "VULNERABLE", a chain not "passed"...).
FAILING_IDS: dict[str, str] = {
    "SSLv2": "RFC 9325 §3.1.1: MUST NOT negotiate SSL 2.0",
    "SSLv3": "RFC 9325 §3.1.1: MUST NOT negotiate SSL 3.0",
    "TLS1": "RFC 9325 §3.1.1: MUST NOT negotiate TLS 1.0",
    "TLS1_1": "RFC 9325 §3.1.1: MUST NOT negotiate TLS 1.1",
    "TLS1_2": "RFC 9325 §3.1.1: MUST support TLS 1.2 (fails only when TLS 1.3 is not offered either)",
    "TLS1_3": "RFC 9325 §3.1.1: SHOULD support TLS 1.3 (fails only when TLS 1.2 is not offered either)",
    "cipherlist_NULL": "RFC 9325 §4.1: MUST NOT negotiate NULL encryption",
    "cipherlist_aNULL": "RFC 9325 §4.2 recommends authenticated suites only; ANSSI forbids anonymous suites",
    "cipherlist_EXPORT": "RFC 9325 §4.1: MUST NOT negotiate suites under 112 bits of security",
    "cipherlist_LOW": "RFC 9325 §4.1: MUST NOT negotiate RC4 or suites under 112 bits of security",
    "cipherlist_3DES_IDEA": "RFC 9325 §4.1: SHOULD NOT negotiate suites under 128 bits of security",
    "cipherlist_OBSOLETED": "RFC 9325 §4.2 recommends AEAD suites with forward secrecy only; so does ANSSI",
    "cipherlist_STRONG_NOFS": "RFC 9325 §4.1: SHOULD NOT use static RSA key transport, MUST prefer forward secrecy",
    "CRIME_TLS": "RFC 9325 §3.3: SHOULD disable TLS-level compression (CRIME)",
    "cert_chain_of_trust": "RFC 5280 §6: the server's chain must validate to the trusted CA",
    "cert_trust": "RFC 9325 §6.1 (RFC 9525 §6): the certificate must name the host connected to",
    "cert_expirationStatus": "RFC 5280 §4.1.2.5: an expired certificate is not valid",
    "cert_signatureAlgorithm": "ANSSI: no certificate signature with MD5 or SHA-1",
    "cert_keySize": "RFC 9325 §4.5: RSA certificates of at least 2048 bits",
}
# what a complete scan of CHECKS always reports; a JSON without one of these is not a finished scan
REQUIRED_IDS = (*PROTOCOLS, *(f"cipherlist_{c}" for c in ("NULL", "aNULL", "EXPORT", "LOW", "3DES_IDEA", "OBSOLETED")),
                "CRIME_TLS", "cert_chain_of_trust", "cert_trust")


class ScannerUnavailable(RuntimeError):
    """testssl.sh is not installed: a plan's verdict is "not run" with this reason, never a pass."""

    def __init__(self, message: str = f"testssl.sh not found on PATH (tried {', '.join(NAMES)}); {INSTALL_HINT}"):
        super().__init__(message)
        self.hint = INSTALL_HINT


class ScanFailed(RuntimeError):
    """testssl.sh did not finish a scan (crash, fatal error, unreadable output): there is no report to judge."""

    def __init__(self, message: str, *, command: tuple[str, ...] = (), returncode: int | None = None,
                 stderr_tail: str = "") -> None:
        detail = f"\n--- testssl.sh output (tail) ---\n{stderr_tail}" if stderr_tail else ""
        super().__init__(message + detail)
        self.command = command
        self.returncode = returncode
        self.stderr_tail = stderr_tail


class ScanTimeout(ScanFailed):
    """The scan outlived its time limit and was stopped."""


@dataclass(frozen=True)
class ScanFinding:
    """One finding as testssl.sh wrote it: ``id`` and ``severity`` are its own (OK, INFO, LOW, MEDIUM, HIGH,
    CRITICAL, WARN when a check could not be made); ``section`` is the JSON section it came from."""

    id: str
    severity: str
    finding: str
    section: str = ""
    cve: str = ""
    cwe: str = ""

    @property
    def base_id(self) -> str:
        """The id without the ``<hostCert#N>`` testssl.sh appends when a server has several certificates."""
        base = self.id.split(" ", 1)[0]
        if base.startswith("cipherlist_"):
            category = base.removeprefix("cipherlist_")
            return f"cipherlist_{ALIASES.get(category, category)}"
        return base


def _offered(text: str) -> bool | None:
    """testssl.sh's words for a protocol or cipher category: offered, not offered, or could not tell."""
    lowered = text.strip().lower()
    if lowered.startswith(("not offered", "likely not offered")):
        return False
    if lowered.startswith(("offered", "vulnerable", "supported but")):
        return True
    return None


@dataclass(frozen=True)
class ScanReport:
    """What testssl.sh found on one endpoint. ``findings`` is everything it wrote (evidence); the properties
    read them, :meth:`problems` is what fails C17, :meth:`unchecked` what could not be decided."""

    target: str
    scanner: str
    openssl: str
    command: tuple[str, ...]
    seconds: float
    service: str
    findings: tuple[ScanFinding, ...]
    notes: tuple[str, ...] = field(default=())  # what this scan could not do (e.g. present a client certificate)

    def _by_id(self, base_id: str) -> list[ScanFinding]:
        return [f for f in self.findings if f.section != "client" and f.base_id == base_id]

    def finding(self, base_id: str) -> ScanFinding | None:
        """The first finding with this id (``<hostCert#N>`` suffix ignored), or None."""
        found = self._by_id(base_id)
        return found[0] if found else None

    @property
    def protocols(self) -> dict[str, bool | None]:
        """``{"SSLv2": False, ..., "TLS 1.3": True}``; None when testssl.sh could not tell."""
        result: dict[str, bool | None] = {}
        for pid, name in PROTOCOLS.items():
            f = self.finding(pid)
            result[name] = _offered(f.finding) if f is not None and f.severity != "WARN" else None
        return result

    @property
    def cipher_categories(self) -> dict[str, bool | None]:
        """testssl.sh's cipher categories (keys of :data:`CIPHER_CATEGORIES` it reported) -> offered."""
        result: dict[str, bool | None] = {}
        for f in self.findings:
            if f.base_id.startswith("cipherlist_"):
                offered = _offered(f.finding) if f.severity != "WARN" else None
                result[f.base_id.removeprefix("cipherlist_")] = offered
        return result

    @property
    def weak_cipher_categories(self) -> list[str]:
        """The categories offered that fail C17 (see :data:`FAILING_IDS`)."""
        return [c for c, offered in self.cipher_categories.items() if offered and f"cipherlist_{c}" in FAILING_IDS]

    @property
    def compression(self) -> bool | None:
        """TLS compression offered (CRIME); None when testssl.sh could not tell."""
        f = self.finding("CRIME_TLS")
        if f is None or f.severity == "WARN":
            return None
        text = f.finding.strip().lower()
        if text.startswith("vulnerable"):
            return True
        if text.startswith(("not vulnerable", "tls 1.3 only")):
            return False
        return None

    @property
    def certificate(self) -> dict[str, str]:
        """The server certificate's findings (``cert_*`` ids, PEM left out): chain, name, validity, key..."""
        return {f.id: f.finding for f in self.findings if f.id.startswith(("cert_", "certs_")) and f.id != "cert"
                and not f.id.startswith("cert ")}

    def problems(self) -> list[str]:
        """What fails C17, in plain words with the rule broken; empty when nothing does."""
        out: list[str] = []
        protocols = self.protocols
        for pid in ("SSLv2", "SSLv3", "TLS1", "TLS1_1"):
            if protocols[PROTOCOLS[pid]]:
                out.append(f"{PROTOCOLS[pid]} offered ({FAILING_IDS[pid]})")
        if protocols["TLS 1.2"] is False and protocols["TLS 1.3"] is False:
            out.append(f"neither TLS 1.2 nor TLS 1.3 offered ({FAILING_IDS['TLS1_2']})")
        for category in self.weak_cipher_categories:
            out.append(f"cipher suite category '{category}' offered: {CIPHER_CATEGORIES.get(category, category)} "
                       f"({FAILING_IDS['cipherlist_' + category]})")
        if self.compression:
            out.append(f"TLS compression (CRIME) offered ({FAILING_IDS['CRIME_TLS']})")
        for f in self.findings:
            if f.section == "client" or f.severity == "WARN":
                continue
            base = f.base_id
            if base == "cert_chain_of_trust" and not f.finding.strip().lower().startswith("passed"):
                out.append(f"certificate chain not trusted: {f.finding} [{f.id}] ({FAILING_IDS[base]})")
            elif base == "cert_trust" and f.severity in SEVERE:
                out.append(f"certificate does not name the host: {f.finding} [{f.id}] ({FAILING_IDS[base]})")
            elif base == "cert_expirationStatus" and f.finding.strip().lower().startswith("expired"):
                out.append(f"certificate expired [{f.id}] ({FAILING_IDS[base]})")
            elif base == "cert_signatureAlgorithm" and f.severity in SEVERE:
                out.append(f"certificate signed with {f.finding} [{f.id}] ({FAILING_IDS[base]})")
            elif base == "cert_keySize" and f.severity in ("HIGH", "CRITICAL"):
                out.append(f"certificate key too small: {f.finding} [{f.id}] ({FAILING_IDS[base]})")
        return out

    def unchecked(self) -> list[str]:
        """C17 checks testssl.sh could not make here: a plan's verdict is inconclusive while this is not empty."""
        protocols = self.protocols
        out = [f"{name}: testssl.sh could not tell whether it is offered"
               + (f" ({f.finding})" if (f := self.finding(pid)) else "")
               for pid, name in PROTOCOLS.items() if protocols[name] is None]
        for category, offered in self.cipher_categories.items():
            if offered is None and f"cipherlist_{category}" in FAILING_IDS:
                f = self.finding(f"cipherlist_{category}")
                out.append(f"cipher suite category '{category}' not checked ({f.finding if f else ''})")
        if self.compression is None:
            crime = self.finding("CRIME_TLS")
            out.append(f"TLS compression not checked ({crime.finding if crime else 'no result'})")
        for f in self.findings:
            if f.section != "client" and f.severity == "WARN" and f.base_id in FAILING_IDS \
                    and f.base_id.startswith("cert"):
                out.append(f"{f.id} not checked ({f.finding})")
        return out

    def concerns(self) -> list[str]:
        """Findings testssl.sh rates MEDIUM or worse that do not fail C17 here (evidence for the report)."""
        return [f"testssl.sh rates {f.severity}: {f.id}: {f.finding}" for f in self.findings
                if f.section != "client" and f.severity in SEVERE and f.base_id not in FAILING_IDS]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: the facts, the verdict material and every finding."""
        data = asdict(self)
        data.update(protocols=self.protocols, cipher_categories=self.cipher_categories,
                    compression=self.compression, problems=self.problems(), unchecked=self.unchecked(),
                    concerns=self.concerns())
        return data


def find_scanner() -> str:
    """The testssl.sh executable on PATH, or :class:`ScannerUnavailable` with the install hint."""
    for name in NAMES:
        path = shutil.which(name)
        if path:
            return path
    raise ScannerUnavailable()


@lru_cache(maxsize=8)
def supports_mtls(binary: str) -> bool:
    """Whether this testssl.sh presents a client certificate (``--mtls``, from 3.2 on; Debian 12 has 3.0)."""
    try:
        done = subprocess.run([binary, "--help"], capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
                              env=_env(Path(tempfile.gettempdir())), check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return "--mtls" in done.stdout


def _env(work: Path) -> dict[str, str]:
    env = {name: os.environ[name] for name in PASSED_ENV if name in os.environ}
    env.update(LANG="C.UTF-8", LC_ALL="C.UTF-8", TERM="dumb", COLUMNS="120", HOME=str(work), TMPDIR=str(work))
    return env


def _is_ipv6(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).version == 6
    except ValueError:
        return False


def _target(url: str) -> tuple[str, int]:
    """``https://host[:port][/path]`` or ``host[:port]`` -> (host, port)."""
    parts = urlsplit(url if "://" in url else f"https://{url}")
    if parts.scheme != "https":
        raise ValueError(f"not an https:// URL: {url!r} (plain HTTP has no TLS to scan: that is C17's finding)")
    if not parts.hostname:
        raise ValueError(f"no host in {url!r}")
    host = parts.hostname
    if not _is_ipv6(host) and not re.fullmatch(r"[A-Za-z0-9.-]+", host):
        raise ValueError(f"not a host name or IP address: {host!r}")
    return host, parts.port or 443


def _client_pem(client_cert: tuple[Path, Path], work: Path) -> Path:
    """Certificate (and chain) then key in one file, as ``--mtls`` takes them; readable by this user only."""
    cert, key = (Path(p) for p in client_cert)
    key_text = key.read_text()
    if "ENCRYPTED" in key_text:
        raise ValueError(f"{key}: testssl.sh takes an unencrypted client key")
    pem = work / "client.pem"
    fd = os.open(pem, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(cert.read_text().rstrip("\n") + "\n" + key_text)
    return pem


def command(binary: str, host: str, port: int, json_path: Path, *, ca: Path | None = None,
            client_pem: Path | None = None, checks: tuple[str, ...] = CHECKS) -> list[str]:
    """The testssl.sh argument list (no shell): quiet, no colour, never waiting for an answer (``--warnings
    batch``), one address only, no DNS beyond A/AAAA, 10 s per connection, pretty JSON to ``json_path``.
    Not ``--sneaky``: a product's logs may well show that testssl.sh called."""
    args = [binary, "--quiet", "--color", "0", "--warnings", "batch", "--ip", "one", "--nodns", "min",
            "--connect-timeout", str(CONNECT_TIMEOUT), "--openssl-timeout", str(CONNECT_TIMEOUT),
            "--jsonfile-pretty", str(json_path), *checks]
    if ca is not None:
        args += ["--add-ca", str(ca)]
    if client_pem is not None:
        args += ["--mtls", str(client_pem)]
    if _is_ipv6(host):
        args += ["-6", f"[{host}]:{port}"]
    else:
        args.append(f"{host}:{port}")
    return args


def scan(url: str, *, ca: Path | None = None, client_cert: tuple[Path, Path] | None = None,
         timeout: float = DEFAULT_TIMEOUT) -> ScanReport:
    """Scan the TLS endpoint of ``url`` with testssl.sh and map its JSON to a :class:`ScanReport`.

    ``ca`` is the CA the chain must lead to (PEM; the product's IGC-Santé test CA), added to each of
    testssl.sh's bundled public stores: ``cert_chain_of_trust`` "passed" means a chain to ``ca`` or to a
    public root, for a TLS server (``-purpose sslserver``).

    ``client_cert`` (certificate PEM, unencrypted key PEM) is presented when the server asks for one, if this
    testssl.sh can (``--mtls``, 3.2 on); otherwise the scan goes on without it and ``notes`` says so:
    protocols, cipher categories, compression and the server certificate come from the server's hello, before
    client authentication.

    Raises :class:`ScannerUnavailable`, :class:`ScanTimeout`
    or :class:`ScanFailed`; never returns a partial report."""
    binary = find_scanner()
    host, port = _target(url)
    if ca is not None:
        ca = Path(ca).resolve()
        if not ca.is_file():
            raise FileNotFoundError(f"CA file not found: {ca}")
        if "," in str(ca):
            raise ValueError(f"testssl.sh reads a comma in --add-ca as a list separator: {ca}")
    notes: list[str] = []
    with tempfile.TemporaryDirectory(prefix="tlsscan-") as tmp:
        work = Path(tmp)
        json_path = work / "scan.json"
        client_pem = None
        if client_cert is not None:
            if supports_mtls(binary):
                client_pem = _client_pem(client_cert, work)
            else:
                notes.append("this testssl.sh has no --mtls, so the client certificate was not presented: "
                             "protocols, cipher categories, compression and the server certificate come from the "
                             "server's hello, sent before client authentication; what needs a completed handshake "
                             "(HTTP service detection, session resumption) may be missing")
        args = command(binary, host, port, json_path, ca=ca, client_pem=client_pem)
        started = time.monotonic()
        returncode = _run(args, work, timeout)
        seconds = round(time.monotonic() - started, 1)
        tail = _tail(work)
        doc = _read_json(json_path, args, returncode, tail)
    return report_from_json(doc, target=f"{host}:{port}", command=tuple(args), seconds=seconds, notes=notes,
                            returncode=returncode, stderr_tail=tail)


def _run(args: list[str], work: Path, timeout: float) -> int:
    """Run testssl.sh in its own process group, output to files in ``work``; on timeout stop the whole group
    (testssl.sh forks openssl and bash helpers)."""
    with open(work / "stdout", "wb") as out, open(work / "stderr", "wb") as err:
        proc = subprocess.Popen(args, cwd=work, env=_env(work), stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                start_new_session=True)
        try:
            return proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            _stop(proc)
            raise ScanTimeout(f"testssl.sh did not finish within {timeout:g} s; stopped", command=tuple(args),
                              stderr_tail=_tail(work)) from None
        except BaseException:
            _stop(proc)
            raise


def _stop(proc: subprocess.Popen) -> None:
    for sig, grace in ((signal.SIGTERM, 5), (signal.SIGKILL, 5)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        try:
            proc.wait(timeout=grace)
            break
        except subprocess.TimeoutExpired:
            continue
    if proc.returncode is None:
        proc.wait()


_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def _tail(work: Path) -> str:
    """The end of testssl.sh's stderr, else of its stdout (where it prints most of its errors)."""
    parts = []
    for name in ("stderr", "stdout"):
        path = work / name
        try:
            with open(path, "rb") as f:
                f.seek(max(0, path.stat().st_size - TAIL_CHARS))
                text = _ANSI.sub("", f.read().decode("utf-8", "replace")).strip()
        except OSError:
            continue
        if text:
            parts.append(text)
    return "\n".join(parts)[-TAIL_CHARS:]


def _read_json(path: Path, args: list[str], returncode: int, tail: str) -> dict[str, Any]:
    if not path.is_file():
        raise ScanFailed(f"testssl.sh exited with {returncode} and wrote no JSON", command=tuple(args),
                         returncode=returncode, stderr_tail=tail)
    size = path.stat().st_size
    if size > MAX_JSON_BYTES:
        raise ScanFailed(f"testssl.sh's JSON is {size} bytes (limit {MAX_JSON_BYTES}): refused", command=tuple(args),
                         returncode=returncode, stderr_tail=tail)
    try:
        doc = json.loads(path.read_text(encoding="utf-8", errors="replace"))
    except ValueError as exc:
        raise ScanFailed(f"testssl.sh exited with {returncode}; its JSON does not parse ({exc}): unfinished scan",
                         command=tuple(args), returncode=returncode, stderr_tail=tail) from None
    if not isinstance(doc, dict):
        raise ScanFailed("testssl.sh's JSON is not the --jsonfile-pretty document", command=tuple(args),
                         returncode=returncode, stderr_tail=tail)
    return doc


def _finding(item: dict[str, Any], section: str) -> ScanFinding:
    return ScanFinding(id=str(item.get("id", "")), severity=str(item.get("severity", "")).upper(),
                       finding=str(item.get("finding", "")), section=section, cve=str(item.get("cve", "")),
                       cwe=str(item.get("cwe", "")))


def _findings(doc: dict[str, Any]) -> tuple[list[ScanFinding], str]:
    """Every finding of a ``--jsonfile-pretty`` document (problems of the scanner's own host in section
    ``client``), and the service testssl.sh detected."""
    found: list[ScanFinding] = []
    for key, value in doc.items():
        if key.startswith("clientProblem") and isinstance(value, list):
            found += [_finding(item, "client") for item in value if isinstance(item, dict)]
    service = ""
    results = doc.get("scanResult")
    for entry in results if isinstance(results, list) else ():
        if not isinstance(entry, dict):
            continue
        if "id" in entry:  # a scan stopped early puts its findings straight in scanResult
            found.append(_finding(entry, "scanResult"))
            continue
        service = str(entry.get("service", service))
        for section, items in entry.items():
            if isinstance(items, list):
                found += [_finding(item, section) for item in items if isinstance(item, dict) and "id" in item]
    return found, service


def report_from_json(doc: dict[str, Any], *, target: str, command: tuple[str, ...] = (), seconds: float = 0.0,
                     notes: list[str] | tuple[str, ...] = (), returncode: int = 0, stderr_tail: str = "") -> ScanReport:
    """A :class:`ScanReport` from testssl.sh's ``--jsonfile-pretty`` document, or :class:`ScanFailed` when the
    scan did not finish (error exit, fatal finding, "Scan interrupted", a C17 result missing)."""
    findings, service = _findings(doc)
    interrupted = str(doc.get("scanTime", "")).lower().startswith("scan interrupted")
    fatal = [f for f in findings if f.severity == "FATAL"]
    if returncode >= ERR_EXIT or returncode < 0 or fatal or interrupted:
        # a scan stopped early puts its last words straight in scanResult
        said = [f"{f.id}: {f.finding}" for f in findings if f in fatal or f.section == "scanResult"]
        why = "; ".join(said) or f"exit status {returncode}, scan time {doc.get('scanTime', '?')!r}"
        raise ScanFailed(f"testssl.sh did not finish the scan of {target}: {why}", command=command,
                         returncode=returncode, stderr_tail=stderr_tail)
    present = {f.base_id for f in findings}
    missing = [i for i in REQUIRED_IDS if i not in present]
    if missing:
        raise ScanFailed(f"testssl.sh's scan of {target} lacks {', '.join(missing)}: incomplete", command=command,
                         returncode=returncode, stderr_tail=stderr_tail)
    version = str(doc.get("version", "")).split(" from", 1)[0].strip()
    return ScanReport(target=target, scanner=f"testssl.sh {version}".strip(), openssl=str(doc.get("openssl", "")),
                      command=command, seconds=seconds, service=service, findings=tuple(findings), notes=tuple(notes))
