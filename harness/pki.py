"""A test PKI shaped like IGC-Santé: a root, an organisations intermediate, leaves, a CRL and OCSP status.

DRIM-M actors authenticate with IGC-Santé certificates (ANS "PC IGC-Santé"): a DRIMbox presents its
structure's ORG AUTH CLI certificate to Pro Santé Connect and the DMP, serves WADO-RS with a server
certificate, and the DRIMbox whitelist is signed with an ORG SIGN certificate issued by
"TEST AC IGC-SANTE ELEMENTAIRE ORGANISATIONS". This module makes the same shape on disk from a throwaway
root, so simulators and plans use real chains with revocation (RFC 5280 §5 CRLs, RFC 6960 OCSP) instead of
self-signed certificates, and ``check_chain`` does what a relying party does with them.

A PKI folder holds ``ca.pem`` (the trust anchor), ``intermediate.pem``, ``root.key`` and
``intermediate.key``, ``index.json`` (every certificate issued), ``crl.pem``/``crl.der`` (signed by the
intermediate) and, per issued name, ``NAME.pem`` (leaf + intermediate, the chain a TLS peer sends) and
``NAME.key``. Writes go through a temporary file and ``os.replace`` under a lock file, so several
processes can share one folder (the default one is shared by every ``drimcheck serve``).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import os
import re
import ssl
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID, NameOID
from cryptography.x509.verification import ExtensionPolicy, PolicyBuilder, Store, VerificationError

try:
    import fcntl
except ImportError:  # not POSIX: writes stay atomic (os.replace), only concurrent issuing is unguarded
    fcntl = None  # type: ignore[assignment]

ROOT_CN = "DRIMCHECK TEST AC RACINE IGC-SANTE ELEMENTAIRE"
# the whitelist's issuer (ANS DRIM-M_DATA informatif/listeblanche/Readme.md)
INTERMEDIATE_CN = "TEST AC IGC-SANTE ELEMENTAIRE ORGANISATIONS"
CA_OU = "IGC-SANTE TEST"
USAGES = ("server", "client", "sign")
ISSUERS = ("intermediate", "root")
KEY_SIZE = 2048
CRL_VALIDITY = dt.timedelta(days=30)
CRL_REFRESH = dt.timedelta(days=1)  # re-sign the CRL when its nextUpdate is closer than this
INDEX, LOCK = "index.json", ".lock"
RESERVED = frozenset({"ca", "root", "intermediate", "crl", "index"})  # their files belong to the PKI itself
_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,63}")
_LABEL = r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOST = re.compile(rf"{_LABEL}(\.{_LABEL})*\.?")
PEM, DER = serialization.Encoding.PEM, serialization.Encoding.DER


class PkiError(ValueError):
    """A PKI folder or a request the PKI refuses; the message names the folder, file or value at fault."""


@dataclass(frozen=True)
class Issued:
    """A certificate just issued: its files, serial and subject (RFC 4514 string)."""

    name: str
    cert: Path
    key: Path
    serial: int
    subject: str


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def _utc(value: dt.datetime) -> dt.datetime:
    """A naive datetime is UTC (as cryptography reads it); an aware one is converted."""
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def _when(value: dt.datetime) -> str:
    return f"{_utc(value):%Y-%m-%d %H:%M} UTC"


def check_name(name: str) -> str:
    """``name`` if it is a safe file stem ([A-Za-z0-9._-], no leading dot, not a PKI file); else PkiError."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise PkiError(f"certificate name {name!r} refused: use 1-64 of A-Z a-z 0-9 . _ - , not starting with a dot")
    if name.lower() in RESERVED:
        raise PkiError(f"certificate name {name!r} is reserved for the PKI's own files ({', '.join(sorted(RESERVED))})")
    return name


def is_host_name(text: str) -> bool:
    """Whether ``text`` is a DNS host name (RFC 1123 labels), not an IP address."""
    return bool(_HOST.fullmatch(text)) and not _is_ip(text) and len(text) <= 253


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _reason(reason: str) -> x509.ReasonFlags:
    """RFC 5280 §5.3.1 reason from its ASN.1 name (keyCompromise) or its Python name (key_compromise)."""
    for flag in x509.ReasonFlags:
        if reason in (flag.value, flag.name) and flag is not x509.ReasonFlags.remove_from_crl:
            return flag
    allowed = ", ".join(f.value for f in x509.ReasonFlags if f is not x509.ReasonFlags.remove_from_crl)
    raise PkiError(f"revocation reason {reason!r} unknown: choose one of {allowed}")


REASONS = tuple(f.value for f in x509.ReasonFlags if f is not x509.ReasonFlags.remove_from_crl)


# --------------------------------------------------------------------------- files
def _write(path: Path, data: bytes, *, private: bool = False) -> None:
    """Write through a temporary file and os.replace: a reader never sees half a file."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.chmod(tmp, 0o600 if private else 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@contextmanager
def _locked(folder: Path) -> Iterator[None]:
    """Hold ``folder/.lock`` (flock, exclusive) so processes sharing a PKI do not issue over each other."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(folder / LOCK, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the flock


def _key_pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


# --------------------------------------------------------------------------- certificate building
def _name(cn: str, *, ou: str | None, o: str) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.COUNTRY_NAME, "FR"), x509.NameAttribute(NameOID.ORGANIZATION_NAME, o)]
    if ou:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, ou))
    return x509.Name([*attrs, x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _key_usage(*, sign: bool = False, commit: bool = False, encipher: bool = False, ca: bool = False) -> x509.KeyUsage:
    return x509.KeyUsage(digital_signature=sign, content_commitment=commit, key_encipherment=encipher,
                         data_encipherment=False, key_agreement=False, key_cert_sign=ca, crl_sign=ca,
                         encipher_only=False, decipher_only=False)


# RFC 5280 §4.2.1.3 / §4.2.1.12, as IGC-Santé profiles them: TLS server, ORG AUTH CLI, ORG SIGN
_USAGE_EXTENSIONS: dict[str, tuple[x509.KeyUsage, list[x509.ObjectIdentifier]]] = {
    "server": (_key_usage(sign=True, encipher=True), [ExtendedKeyUsageOID.SERVER_AUTH]),
    "client": (_key_usage(sign=True), [ExtendedKeyUsageOID.CLIENT_AUTH]),
    "sign": (_key_usage(sign=True, commit=True), []),
}


def _ski(cert: x509.Certificate) -> x509.SubjectKeyIdentifier:
    return cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value


def _ca_certificate(subject: x509.Name, key: rsa.RSAPrivateKey, issuer: tuple[x509.Certificate, Any] | None,
                    days: int, path_length: int) -> x509.Certificate:
    """A CA certificate (RFC 5280 §4.2.1.9 basicConstraints, §4.2.1.3 keyCertSign + cRLSign); self-signed
    when ``issuer`` is None. digitalSignature lets the intermediate sign OCSP responses itself (RFC 6960 §4.2.2.2)."""
    start = _now() - dt.timedelta(hours=1)
    signer_cert, signer_key = issuer if issuer else (None, key)
    aki = (x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(_ski(signer_cert)) if signer_cert
           else x509.AuthorityKeyIdentifier.from_issuer_public_key(key.public_key()))
    return (x509.CertificateBuilder().subject_name(subject)
            .issuer_name(signer_cert.subject if signer_cert else subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start).not_valid_after(start + dt.timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
            .add_extension(_key_usage(sign=True, ca=True), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .add_extension(aki, critical=False)
            .sign(signer_key, hashes.SHA256()))


def _validity(days: int, not_before: dt.datetime | None, not_after: dt.datetime | None) -> tuple[dt.datetime, ...]:
    """(notBefore, notAfter): by default from an hour ago (clock skew) for ``days``; a ``not_after`` in the
    past alone moves notBefore back so the certificate is simply expired."""
    if days <= 0:
        raise PkiError(f"days must be positive, not {days}")
    start = _utc(not_before) if not_before else _now() - dt.timedelta(hours=1)
    end = _utc(not_after) if not_after else start + dt.timedelta(days=days)
    if end <= start and not_before is None:
        start = end - dt.timedelta(days=days)
    if end <= start:
        raise PkiError(f"not_after {_when(end)} is not after not_before {_when(start)}")
    return start, end


def _san(dns: Sequence[str], ips: Sequence[str]) -> list[x509.GeneralName]:
    names: list[x509.GeneralName] = []
    for host in dns:
        if not is_host_name(host):
            raise PkiError(f"DNS name {host!r} is not a host name")
        names.append(x509.DNSName(host))
    for ip in ips:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(ip)))
        except ValueError:
            raise PkiError(f"{ip!r} is not an IP address") from None
    return names


def _leaf_names(usage: str, cn: str, dns: Sequence[str], ips: Sequence[str], loopback: bool) -> tuple[list, list]:
    """SAN content: a server gets its CN (when it is a host name or an IP) and, unless told not to, loopback."""
    dns, ips = list(dict.fromkeys(dns)), list(dict.fromkeys(ips))
    if usage == "server":
        if not dns and is_host_name(cn):
            dns = [cn]
        if _is_ip(cn) and cn not in ips:
            ips.append(cn)
        if loopback:
            dns += [] if "localhost" in dns else ["localhost"]
            ips += [] if "127.0.0.1" in ips else ["127.0.0.1"]
    return dns, ips


def _check_init(base_url: str, days: int) -> None:
    if not re.fullmatch(r"https?://[^\s/]+(/\S*)?", base_url):
        raise PkiError(f"base URL {base_url!r} is not an http:// or https:// URL")
    if days <= 0:
        raise PkiError(f"days must be positive, not {days}")


# --------------------------------------------------------------------------- the PKI
class Pki:
    """A PKI folder. Make one with ``Pki.init``, read one with ``Pki.open``, or ``Pki.ensure`` either way."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self._loaded: dict[str, tuple[x509.Certificate, Any]] = {}

    def __repr__(self) -> str:
        return f"Pki({str(self.folder)!r})"

    # -- creation and opening
    @classmethod
    def init(cls, folder: Path, *, organisation: str = "DRIMCHECK TEST", base_url: str = "http://127.0.0.1:8088",
             days: int = 3650) -> Pki:
        """Create the root and intermediate CAs, the index and an empty CRL in a new or empty ``folder``."""
        folder = Path(folder)
        _check_init(base_url, days)
        with _locked(folder):
            return cls._create(folder, organisation=organisation, base_url=base_url, days=days)

    @classmethod
    def open(cls, folder: Path) -> Pki:
        """The PKI in ``folder``; PkiError naming the folder when it is not one."""
        folder = Path(folder)
        if not (folder / INDEX).is_file():
            what = "does not exist" if not folder.exists() else f"is not a PKI (no {INDEX})"
            raise PkiError(f"{folder} {what}: make one with `drimcheck pki init --out {folder}`")
        pki = cls(folder)
        pki._read_index()
        for file in ("ca.pem", "intermediate.pem", "root.key", "intermediate.key"):
            if not (folder / file).is_file():
                raise PkiError(f"{folder} is an incomplete PKI: {file} is missing")
        return pki

    @classmethod
    def ensure(cls, folder: Path, **init_kwargs: Any) -> Pki:
        """Open the PKI in ``folder``, or create it there; two processes racing create it once."""
        folder = Path(folder)
        if (folder / INDEX).is_file():
            return cls.open(folder)
        _check_init(init_kwargs.get("base_url", "http://127.0.0.1:8088"), init_kwargs.get("days", 3650))
        with _locked(folder):
            if (folder / INDEX).is_file():
                return cls.open(folder)
            return cls._create(folder, **init_kwargs)

    @classmethod
    def _create(cls, folder: Path, *, organisation: str = "DRIMCHECK TEST", base_url: str = "http://127.0.0.1:8088",
                days: int = 3650) -> Pki:
        if (folder / INDEX).is_file():
            raise PkiError(f"{folder} is already a PKI: open it, or choose another folder")
        if [p for p in folder.iterdir() if p.name != LOCK and not p.name.endswith(".tmp")]:
            raise PkiError(f"{folder} is not empty and is not a PKI: choose a new or empty folder")
        root_key, inter_key = (rsa.generate_private_key(65537, KEY_SIZE) for _ in range(2))
        root = _ca_certificate(_name(ROOT_CN, ou=CA_OU, o=organisation), root_key, None, days, 1)
        inter = _ca_certificate(_name(INTERMEDIATE_CN, ou=CA_OU, o=organisation), inter_key, (root, root_key),
                                days, 0)
        _write(folder / "root.key", _key_pem(root_key), private=True)
        _write(folder / "intermediate.key", _key_pem(inter_key), private=True)
        _write(folder / "ca.pem", root.public_bytes(PEM))
        _write(folder / "intermediate.pem", inter.public_bytes(PEM))
        pki = cls(folder)
        index = {"format": 1, "organisation": organisation, "base_url": base_url.rstrip("/"), "crl_number": 0,
                 "certificates": []}
        pki._write_crl(index)
        pki._write_index(index)  # last: a folder with an index is a complete PKI
        return pki

    # -- paths and reading
    @property
    def ca_path(self) -> Path:
        return self.folder / "ca.pem"

    @property
    def intermediate_path(self) -> Path:
        return self.folder / "intermediate.pem"

    def cert_path(self, name: str) -> Path:
        """``NAME.pem`` (leaf + intermediate); ``ca``/``root`` and ``intermediate`` name the CA files."""
        if name in ("ca", "root"):
            return self.ca_path
        return self.intermediate_path if name == "intermediate" else self.folder / f"{check_name(name)}.pem"

    def key_path(self, name: str) -> Path:
        if name in ("root", "intermediate"):
            return self.folder / f"{name}.key"
        return self.folder / f"{check_name(name)}.key"

    def certificate(self, name: str) -> x509.Certificate:
        """The certificate issued as ``name`` (the first one of its PEM file)."""
        return x509.load_pem_x509_certificate(self._existing(self.cert_path(name)).read_bytes())

    def _existing(self, path: Path) -> Path:
        if not path.is_file():
            raise PkiError(f"{path} does not exist: issue it first (`drimcheck pki issue --out {self.folder} "
                           f"--name {path.stem} ...`)")
        return path

    @property
    def organisation(self) -> str:
        return self._read_index()["organisation"]

    @property
    def base_url(self) -> str:
        return self._read_index()["base_url"]

    def entries(self) -> list[dict[str, Any]]:
        """The index: every certificate issued, oldest first (a re-issued name keeps its older entries)."""
        return list(self._read_index()["certificates"])

    def current(self) -> dict[str, dict[str, Any]]:
        """The latest index entry of each name."""
        return {e["name"]: e for e in self.entries()}

    def _read_index(self) -> dict[str, Any]:
        path = self.folder / INDEX
        try:
            index = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(index.get("certificates"), list):
                raise ValueError("no certificates list")
        except (OSError, ValueError) as exc:
            raise PkiError(f"{path} cannot be read as a PKI index: {exc}") from None
        return index

    def _write_index(self, index: dict[str, Any]) -> None:
        _write(self.folder / INDEX, (json.dumps(index, indent=1) + "\n").encode())

    def authority(self, which: str = "intermediate") -> tuple[x509.Certificate, Any]:
        """(certificate, private key) of the CA ``root`` or ``intermediate`` (the OCSP and CRL signer), read once."""
        if which not in ISSUERS:
            raise PkiError(f"no CA named {which!r}: choose one of {', '.join(ISSUERS)}")
        if which not in self._loaded:
            cert = x509.load_pem_x509_certificate(self.cert_path(which).read_bytes())
            key = serialization.load_pem_private_key(self.key_path(which).read_bytes(), password=None)
            self._loaded[which] = (cert, key)
        return self._loaded[which]

    # -- issuing and revoking
    def issue(self, name: str, *, cn: str, ou: str | None = None, o: str | None = None, usage: str = "server",
              dns: Sequence[str] = (), ips: Sequence[str] = (), days: int = 825,
              not_before: dt.datetime | None = None, not_after: dt.datetime | None = None,
              issuer: str = "intermediate", loopback: bool = True) -> Issued:
        """Issue (or re-issue, with a new serial and key) the certificate ``name``: writes NAME.pem and
        NAME.key. ``loopback=False`` leaves localhost and 127.0.0.1 out of a server's SAN."""
        _check_request(name, usage, issuer)
        key = rsa.generate_private_key(65537, KEY_SIZE)
        with _locked(self.folder):
            return self._issue(name, key, cn=cn, ou=ou, o=o, usage=usage, dns=dns, ips=ips, days=days,
                               not_before=not_before, not_after=not_after, issuer=issuer, loopback=loopback)

    def _issue(self, name: str, key: rsa.RSAPrivateKey, *, cn: str, ou: str | None, o: str | None, usage: str,
               dns: Sequence[str], ips: Sequence[str], days: int, not_before: dt.datetime | None,
               not_after: dt.datetime | None, issuer: str, loopback: bool) -> Issued:
        """Issue under the lock (the caller holds it)."""
        _check_request(name, usage, issuer)
        if not cn:
            raise PkiError("the common name (cn) is empty")
        index = self._read_index()
        start, end = _validity(days, not_before, not_after)
        dns, ips = _leaf_names(usage, cn, dns, ips, loopback)
        ca_cert, ca_key = self.authority(issuer)
        subject = _name(cn, ou=ou, o=o or index["organisation"])
        cert = self._leaf(subject, key, usage, _san(dns, ips), (ca_cert, ca_key), start, end, index["base_url"],
                          issuer)
        chain = cert.public_bytes(PEM) + (ca_cert.public_bytes(PEM) if issuer == "intermediate" else b"")
        _write(self.key_path(name), _key_pem(key), private=True)
        _write(self.cert_path(name), chain)
        index["certificates"].append({
            "name": name, "serial": cert.serial_number, "subject": subject.rfc4514_string(), "cn": cn, "ou": ou,
            "o": o, "usage": usage, "issuer": issuer, "dns": dns, "ips": ips, "not_before": start.isoformat(),
            "not_after": end.isoformat(), "revoked_at": None, "reason": None})
        self._write_index(index)
        return Issued(name, self.cert_path(name), self.key_path(name), cert.serial_number, subject.rfc4514_string())

    @staticmethod
    def _leaf(subject: x509.Name, key: rsa.RSAPrivateKey, usage: str, san: list[x509.GeneralName],
              ca: tuple[x509.Certificate, Any], start: dt.datetime, end: dt.datetime, base_url: str,
              issuer: str) -> x509.Certificate:
        """An end-entity certificate per RFC 5280 §4.2.1: basicConstraints CA=false, key usage and EKU of its
        usage, AKI/SKI, AIA (OCSP, caIssuers; §4.2.2.1) and CRL distribution point (§4.2.1.13)."""
        ca_cert, ca_key = ca
        key_usage, eku = _USAGE_EXTENSIONS[usage]
        builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(ca_cert.subject)
                   .public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(start).not_valid_after(end)
                   .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                   .add_extension(key_usage, critical=True)
                   .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
                   .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(_ski(ca_cert)),
                                  critical=False))
        if eku:
            builder = builder.add_extension(x509.ExtendedKeyUsage(eku), critical=False)
        if san:
            builder = builder.add_extension(x509.SubjectAlternativeName(san), critical=False)
        if base_url:
            ca_file = "intermediate.der" if issuer == "intermediate" else "ca.der"
            builder = builder.add_extension(x509.AuthorityInformationAccess([
                x509.AccessDescription(AuthorityInformationAccessOID.OCSP, x509.UniformResourceIdentifier(
                    f"{base_url}/ocsp")),
                x509.AccessDescription(AuthorityInformationAccessOID.CA_ISSUERS, x509.UniformResourceIdentifier(
                    f"{base_url}/{ca_file}"))]), critical=False)
            if issuer == "intermediate":
                builder = builder.add_extension(x509.CRLDistributionPoints([x509.DistributionPoint(
                    [x509.UniformResourceIdentifier(f"{base_url}/crl.der")], None, None, None)]), critical=False)
        return builder.sign(ca_key, hashes.SHA256())

    def revoke(self, name: str, reason: str = "keyCompromise") -> None:
        """Revoke the current certificate of ``name`` (RFC 5280 §5.3.1 reason) and re-sign the CRL.
        Revoking an already revoked certificate keeps its first date and reason."""
        flag = _reason(reason)
        with _locked(self.folder):
            index = self._read_index()
            entries = [e for e in index["certificates"] if e["name"] == check_name(name)]
            if not entries:
                raise PkiError(f"no certificate named {name!r} in {self.folder}")
            if entries[-1]["revoked_at"] is None:
                entries[-1].update(revoked_at=_now().isoformat(), reason=flag.value)
            self._write_crl(index)
            self._write_index(index)

    def status(self, serial: int) -> tuple[str, dt.datetime | None]:
        """OCSP status of ``serial`` (RFC 6960 §2.2): ("good", None), ("revoked", when) or ("unknown", None)."""
        for entry in self.entries():
            if entry["serial"] == serial:
                if entry["revoked_at"]:
                    return "revoked", dt.datetime.fromisoformat(entry["revoked_at"])
                return "good", None
        return "unknown", None

    def reason(self, serial: int) -> x509.ReasonFlags | None:
        """Revocation reason of ``serial``, None when it is not revoked."""
        for entry in self.entries():
            if entry["serial"] == serial and entry["reason"]:
                return _reason(entry["reason"])
        return None

    # -- CRL (RFC 5280 §5)
    def _write_crl(self, index: dict[str, Any]) -> None:
        """Sign a CRL listing the revoked certificates the intermediate issued (a root-issued leaf would need
        the root's own CRL, which this test PKI does not publish). Bumps the CRL number (§5.2.3)."""
        cert, key = self.authority("intermediate")
        now = _now()
        index["crl_number"] = index.get("crl_number", 0) + 1
        builder = (x509.CertificateRevocationListBuilder().issuer_name(cert.subject)
                   .last_update(now - dt.timedelta(minutes=5)).next_update(now + CRL_VALIDITY)
                   .add_extension(x509.CRLNumber(index["crl_number"]), critical=False)
                   .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(_ski(cert)),
                                  critical=False))
        for entry in index["certificates"]:
            if entry["revoked_at"] and entry.get("issuer", "intermediate") == "intermediate":
                builder = builder.add_revoked_certificate(_revoked_entry(entry))
        crl = builder.sign(key, hashes.SHA256())
        _write(self.folder / "crl.der", crl.public_bytes(DER))
        _write(self.folder / "crl.pem", crl.public_bytes(PEM))

    def crl(self) -> x509.CertificateRevocationList:
        """The current CRL, re-signed first when its nextUpdate is less than a day away (a long-lived
        shared PKI keeps serving a fresh CRL)."""
        crl = x509.load_der_x509_crl((self.folder / "crl.der").read_bytes())
        if crl.next_update_utc is None or crl.next_update_utc - _now() < CRL_REFRESH:
            with _locked(self.folder):
                index = self._read_index()
                self._write_crl(index)
                self._write_index(index)
            crl = x509.load_der_x509_crl((self.folder / "crl.der").read_bytes())
        return crl

    # -- TLS
    def server_context(self, name: str, *, client_auth: str = "none") -> ssl.SSLContext:
        """A TLS server context presenting NAME.pem's chain: TLS 1.2 or later, no compression; with
        ``client_auth`` optional or required, client certificates are verified against ca.pem."""
        modes = {"none": ssl.CERT_NONE, "optional": ssl.CERT_OPTIONAL, "required": ssl.CERT_REQUIRED}
        if client_auth not in modes:
            raise PkiError(f"client_auth must be one of {', '.join(modes)}, not {client_auth!r}")
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.options |= ssl.OP_NO_COMPRESSION
        context.load_cert_chain(self._existing(self.cert_path(name)), self._existing(self.key_path(name)))
        if client_auth != "none":
            context.verify_mode = modes[client_auth]
            context.load_verify_locations(cafile=str(self.ca_path))
        return context

    def client_context(self, name: str | None = None) -> ssl.SSLContext:
        """A TLS client context trusting ca.pem only (host name checked), presenting NAME's chain if given."""
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(self.ca_path))
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.options |= ssl.OP_NO_COMPRESSION
        context.check_hostname = True
        if name is not None:
            context.load_cert_chain(self._existing(self.cert_path(name)), self._existing(self.key_path(name)))
        return context


def _check_request(name: str, usage: str, issuer: str) -> None:
    check_name(name)
    if usage not in USAGES:
        raise PkiError(f"usage {usage!r} unknown: choose one of {', '.join(USAGES)}")
    if issuer not in ISSUERS:
        raise PkiError(f"issuer {issuer!r} unknown: choose one of {', '.join(ISSUERS)}")


def _revoked_entry(entry: dict[str, Any]) -> x509.RevokedCertificate:
    builder = (x509.RevokedCertificateBuilder().serial_number(entry["serial"])
               .revocation_date(dt.datetime.fromisoformat(entry["revoked_at"])))
    flag = _reason(entry["reason"] or "unspecified")
    if flag is not x509.ReasonFlags.unspecified:  # §5.3.1: absent rather than unspecified
        builder = builder.add_extension(x509.CRLReason(flag), critical=False)
    return builder.build()


# --------------------------------------------------------------------------- relying party
def _dn(cert: x509.Certificate) -> str:
    return cert.subject.rfc4514_string()


def _load_certs(data: bytes) -> list[x509.Certificate]:
    """Certificates of a PEM bundle (any number) or of one DER certificate; [] for no data."""
    if not data or not data.strip():
        return []
    if b"-----BEGIN" in data:
        return x509.load_pem_x509_certificates(data)
    return [x509.load_der_x509_certificate(data)]


def _load_crls(data: bytes) -> list[x509.CertificateRevocationList]:
    """CRLs of PEM data (several blocks allowed) or of one DER CRL."""
    if b"-----BEGIN" in data:
        blocks = re.findall(rb"-----BEGIN X509 CRL-----.+?-----END X509 CRL-----", data, re.DOTALL)
        if not blocks:
            raise ValueError("no X509 CRL block in the PEM data")
        return [x509.load_pem_x509_crl(block) for block in blocks]
    return [x509.load_der_x509_crl(data)]


def _issuer_among(cert: x509.Certificate, candidates: Sequence[x509.Certificate]
                  ) -> tuple[x509.Certificate | None, list[x509.Certificate]]:
    """The candidate that signed ``cert`` (name and signature, RFC 5280 §6.1.3), and those with the right
    name whose key does not verify the signature."""
    impostors = []
    for candidate in candidates:
        if candidate.subject != cert.issuer:
            continue
        try:
            cert.verify_directly_issued_by(candidate)
        except (InvalidSignature, ValueError, TypeError):
            impostors.append(candidate)
            continue
        return candidate, []
    return None, impostors


def _build_path(leaf: x509.Certificate, pool: list[x509.Certificate], anchors: list[x509.Certificate]
                ) -> tuple[list[x509.Certificate], list[str]]:
    """The path from ``leaf`` to a trust anchor, and why there is none."""
    path = [leaf]
    while len(path) <= 8:
        current = path[-1]
        if current in anchors:
            return path, []
        issuer, impostors = _issuer_among(current, anchors)
        if issuer is None:
            issuer, more = _issuer_among(current, [c for c in pool if c not in path])
            impostors += more
        if issuer is not None:
            path.append(issuer)
            if issuer in anchors:
                return path, []
            continue
        if impostors:
            return path, [f"the signature of certificate {_dn(current)} does not verify with the key of "
                          f"{_dn(impostors[0])}: same name, another CA"]
        if current.issuer == current.subject:
            return path, [f"certificate {_dn(current)} is self-signed and is not a trusted CA"]
        return path, [f"certificate {_dn(current)} was issued by {current.issuer.rfc4514_string()}, which is "
                      "neither a trusted CA nor among the intermediate certificates given"]
    return path, [f"no trusted CA within 8 certificates above {_dn(leaf)}"]


def _validity_problems(path: list[x509.Certificate], at: dt.datetime) -> list[str]:
    problems = []
    for cert in path:
        if at < cert.not_valid_before_utc:
            problems.append(f"certificate {_dn(cert)} is not valid before {_when(cert.not_valid_before_utc)}")
        elif at > cert.not_valid_after_utc:
            problems.append(f"certificate {_dn(cert)} expired on {_when(cert.not_valid_after_utc)}")
    return problems


def _revocation_problems(path: list[x509.Certificate], crl_data: bytes, at: dt.datetime) -> list[str]:
    """Each certificate below the anchor against a CRL of its issuer (RFC 5280 §6.3: issuer name, CRL
    signature by the issuer's key, nextUpdate, serial). The leaf needs one; an intermediate is checked
    when a CRL of its issuer is given."""
    try:
        crls = _load_crls(crl_data)
    except ValueError as exc:
        return [f"the CRL cannot be read: {exc}"]
    problems: list[str] = []
    for cert, issuer in pairwise(path):
        mine = [c for c in crls if c.issuer == issuer.subject]
        if not mine and cert is path[0]:
            given = "; ".join(c.issuer.rfc4514_string() for c in crls)
            problems.append(f"no CRL of {_dn(issuer)} among those given (issued by {given}): the revocation of "
                            f"{_dn(cert)} cannot be checked")
        for crl in mine:
            problems += _crl_problems(cert, issuer, crl, at)
    return problems


def _crl_problems(cert: x509.Certificate, issuer: x509.Certificate, crl: x509.CertificateRevocationList,
                  at: dt.datetime) -> list[str]:
    if not crl.is_signature_valid(issuer.public_key()):
        return [f"the CRL of {_dn(issuer)} does not verify with its key: it cannot be trusted"]
    problems = []
    if crl.next_update_utc is not None and at > crl.next_update_utc:
        problems.append(f"the CRL of {_dn(issuer)} is out of date: its next update was due on "
                        f"{_when(crl.next_update_utc)}")
    revoked = crl.get_revoked_certificate_by_serial_number(cert.serial_number)
    if revoked is not None:
        try:
            why = f" ({revoked.extensions.get_extension_for_class(x509.CRLReason).value.reason.value})"
        except x509.ExtensionNotFound:
            why = ""
        problems.append(f"certificate {_dn(cert)} (serial {cert.serial_number:x}) was revoked on "
                        f"{_when(revoked.revocation_date_utc)}{why}")
    return problems


def _verifier_problems(leaf: x509.Certificate, pool: list[x509.Certificate], anchors: list[x509.Certificate],
                       at: dt.datetime) -> list[str]:
    """cryptography's RFC 5280 path validation (CA constraints, key usage of the CAs, path length), any
    end-entity usage allowed: a TLS client, a TLS server and an XML signer all go through here."""
    policy = (PolicyBuilder().store(Store(anchors)).time(at)
              .extension_policies(ca_policy=ExtensionPolicy.webpki_defaults_ca(),
                                  ee_policy=ExtensionPolicy.permit_all()))
    try:
        policy.build_client_verifier().verify(leaf, pool)
    except VerificationError as exc:
        return [f"the chain of {_dn(leaf)} is refused: {exc}"]
    return []


def check_chain(cert_pem: bytes, ca_pem: bytes, *, at: dt.datetime | None = None, crl: bytes | None = None,
                intermediates: bytes = b"") -> list[str]:
    """What a relying party finds wrong with a certificate, [] when it is trusted: a path to a CA of
    ``ca_pem`` through ``intermediates`` and any chain after the leaf in ``cert_pem`` (PEM or DER), each
    signature, validity at ``at`` (default now), not revoked per ``crl`` (PEM or DER), then RFC 5280
    validation by cryptography's verifier. Each problem is a sentence naming the certificate."""
    at = _utc(at) if at else dt.datetime.now(dt.UTC)
    try:
        certs = _load_certs(cert_pem)
        anchors = _load_certs(ca_pem)
        pool = certs[1:] + _load_certs(intermediates)
    except ValueError as exc:
        return [f"a certificate cannot be read: {exc}"]
    if not certs:
        return ["no certificate to check"]
    if not anchors:
        return ["no trusted CA certificate given"]
    path, problems = _build_path(certs[0], pool, anchors)
    problems += _validity_problems(path, at)
    if not problems and crl is not None:
        problems += _revocation_problems(path, crl, at)
    if not problems and len(path) > 1:
        problems += _verifier_problems(certs[0], pool, anchors, at)
    return problems


# --------------------------------------------------------------------------- the network's PKI
SOURCE_SIRET = "99999999800019"  # test SIRETs (Luhn-valid, SIREN 999999998)
CONSUMER_SIRET = "99999999800027"
ANS_SIRET = "18751275100020"
SERVERS = ("dmp", "source", "consumer", "psc", "pacs", "ocsp")


def structure_ou(siret: str) -> str:
    """IGC-Santé organisation OU: identifier type 3 (SIRET) then the SIRET, as the ANS whitelist signer's
    OU=318751275100020 (ANS DRIM-M_DATA informatif/listeblanche/Readme.md)."""
    return f"3{siret}"


@dataclass(frozen=True)
class _Spec:
    name: str
    usage: str
    cn: str
    ou: str | None = None
    o: str | None = None


def _network_specs(hosts: Sequence[str]) -> list[_Spec]:
    """The certificates of the simulated network: TLS servers, each DRIMbox's ORG AUTH CLI (CN = its host,
    OU = its structure) and ORG SIGN, the ANS whitelist signer, the evidence signer."""
    host = next((h for h in hosts if is_host_name(h)), hosts[0] if hosts else "localhost")
    src, con = structure_ou(SOURCE_SIRET), structure_ou(CONSUMER_SIRET)
    ous = {"source": src, "consumer": con}
    return [*(_Spec(name, "server", host, ous.get(name)) for name in SERVERS),
            _Spec("source-client", "client", host, src), _Spec("consumer-client", "client", host, con),
            _Spec("source-sign", "sign", "DRIMCHECK TEST DRIMBOX SOURCE", src),
            _Spec("consumer-sign", "sign", "DRIMCHECK TEST DRIMBOX CONSUMER", con),
            _Spec("whitelist-signer", "sign", "Liste Blanche DRIM-M", structure_ou(ANS_SIRET),
                  "AGENCE DU NUMERIQUE EN SANTE"),
            _Spec("evidence", "sign", "DRIMcheck evidence")]


def _fits(pki: Pki, entry: dict[str, Any] | None, spec: _Spec, dns: list[str], ips: list[str]) -> bool:
    """Whether the current certificate of ``spec.name`` can stay: same subject and usage, files present,
    not revoked, valid for more than a day, and (servers) covering every host asked for."""
    if entry is None or entry["revoked_at"] or not pki.key_path(spec.name).is_file():
        return False
    if not pki.cert_path(spec.name).is_file():
        return False
    if (entry["cn"], entry["ou"], entry["o"], entry["usage"]) != (spec.cn, spec.ou, spec.o, spec.usage):
        return False
    if dt.datetime.fromisoformat(entry["not_after"]) - _now() < dt.timedelta(days=1):
        return False
    return spec.usage != "server" or (set(dns) <= set(entry["dns"]) and set(ips) <= set(entry["ips"]))


def network_pki(folder: Path, hosts: Sequence[str] = ("127.0.0.1", "localhost")) -> Pki:
    """The PKI the simulators use by default: ``Pki.ensure(folder)`` and every certificate of
    ``_network_specs`` issued when missing, revoked, expiring, or (servers) not covering ``hosts``.
    Idempotent: when everything fits it reads the index and generates no key."""
    pki = Pki.ensure(folder)
    dns = [h for h in hosts if not _is_ip(h)]
    ips = [h for h in hosts if _is_ip(h)]
    specs = _network_specs(hosts)
    if all(_fits(pki, pki.current().get(s.name), s, dns, ips) for s in specs):
        return pki
    with _locked(pki.folder):
        for spec in specs:
            if not _fits(pki, pki.current().get(spec.name), spec, dns, ips):
                pki._issue(spec.name, rsa.generate_private_key(65537, KEY_SIZE), cn=spec.cn, ou=spec.ou,
                           o=spec.o, usage=spec.usage, dns=dns if spec.usage == "server" else (),
                           ips=ips if spec.usage == "server" else (), days=825, not_before=None, not_after=None,
                           issuer="intermediate", loopback=True)
    return pki


def default_folder() -> Path:
    """``$DRIMCHECK_PKI``, else ``$XDG_CACHE_HOME/drimcheck/pki`` (``~/.cache/drimcheck/pki``); created here."""
    folder = os.environ.get("DRIMCHECK_PKI")
    if folder:
        path = Path(folder).expanduser()
    else:
        path = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "drimcheck" / "pki"
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path
