"""Signed evidence bundles: a CMS detached signature over ``MANIFEST.sha256``, and the bundle's check.

``evidence.zip`` holds every file of a campaign, ``MANIFEST.sha256`` (one ``<sha256>  <path>`` line per
file) and ``MANIFEST.sha256.p7s``: a CMS SignedData (RFC 5652 §5) over the manifest's bytes, detached
(no eContent, §5.2), SHA-256, carrying the signer's certificate and its intermediates (§5.1
``certificates``). So a file changed after the campaign breaks its manifest line, and a manifest
changed to match breaks the signature. ``openssl cms -verify -binary -inform DER -in MANIFEST.sha256.p7s
-content MANIFEST.sha256 -CAfile ca.pem -purpose any`` checks the same signature without this code.

The signature is made by cryptography's ``PKCS7SignatureBuilder``; its SignerInfo is read back with
pyasn1-modules' RFC 5652 definitions and checked here (§5.4 message digest, §5.6 signature), the
signer's path to a CA by ``cryptography.x509.verification``.

Limits of :func:`verify_bundle`: at most ``MAX_ENTRIES`` zip entries, a manifest of at most
``MAX_MANIFEST_BYTES`` and a signature of at most ``MAX_SIGNATURE_BYTES``; an entry or manifest line
naming an absolute path, a ``..`` segment, a backslash or a control character is refused, never read.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import re
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509 import verification

if TYPE_CHECKING:  # imported where used: the CMS and ASN.1 modules cost every drimcheck process ~0.1 s to load
    from pyasn1.type import univ
    from pyasn1_modules import rfc5652

MANIFEST_NAME = "MANIFEST.sha256"
SIGNATURE_NAME = "MANIFEST.sha256.p7s"  # .p7s: detached CMS signature (RFC 8551 §3.2.1)
MAX_ENTRIES = 100_000
MAX_MANIFEST_BYTES = 16 * 1024 * 1024  # ~100,000 lines of 160 characters
MAX_SIGNATURE_BYTES = 1024 * 1024  # a SignedData with a chain of a few certificates is a few KiB

# RFC 5754 §2 (digests), RFC 8017 App. A / RFC 4055 §5 (RSA), RFC 5758 §3.2 (ECDSA)
DIGESTS: dict[str, type[hashes.HashAlgorithm]] = {
    "2.16.840.1.101.3.4.2.1": hashes.SHA256, "2.16.840.1.101.3.4.2.2": hashes.SHA384,
    "2.16.840.1.101.3.4.2.3": hashes.SHA512,
}
RSA_PKCS1 = {"1.2.840.113549.1.1.1": None, "1.2.840.113549.1.1.11": hashes.SHA256,
             "1.2.840.113549.1.1.12": hashes.SHA384, "1.2.840.113549.1.1.13": hashes.SHA512}
ECDSA = {"1.2.840.10045.4.3.2": hashes.SHA256, "1.2.840.10045.4.3.3": hashes.SHA384,
         "1.2.840.10045.4.3.4": hashes.SHA512}
_LINE = re.compile(r"([0-9a-f]{64})  (.+)")


class SigningError(ValueError):
    """The key and certificate cannot make a signature (unreadable, not matching, unsupported)."""


class SignatureProblem(ValueError):
    """The CMS signature does not verify over the manifest; the message says which check broke."""


@dataclass(frozen=True)
class SignatureInfo:
    """What a verified SignerInfo tells: the signer, the certificates carried, the claimed signing time."""

    signer: x509.Certificate
    carried: list[x509.Certificate]
    signing_time: _dt.datetime | None


@dataclass(frozen=True)
class BundleCheck:
    """Outcome of :func:`verify_bundle`: ``ok`` when ``problems`` is empty.

    ``altered``/``missing``/``extra`` name files (hash differs, listed but absent, present but unlisted);
    ``problems`` holds one line per problem, ``notes`` what was checked (signer, chain) when it held.
    ``chain_checked`` is False when no CA was given: then ``ok`` says nothing about who signed.
    """

    ok: bool
    problems: list[str]
    signer: str
    altered: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)
    chain_checked: bool = False
    notes: list[str] = field(default_factory=list)
    files: int = 0


@dataclass(frozen=True)
class EvidenceKey:
    """A key that signs evidence, its certificate chain (PEM, signer first) and where both were read."""

    key_pem: bytes = field(repr=False)
    cert_pem: bytes = field(repr=False)
    source: str

    @classmethod
    def read(cls, key_path: Path, cert_path: Path, source: str) -> EvidenceKey:
        """Read and check the pair (see :func:`load_signer`); SigningError names the file that failed."""
        try:
            key_pem, cert_pem = Path(key_path).read_bytes(), Path(cert_path).read_bytes()
        except OSError as exc:
            raise SigningError(f"{source}: cannot read {exc.filename} ({exc.strerror})") from None
        try:
            load_signer(key_pem, cert_pem)
        except SigningError as exc:
            raise SigningError(f"{source}: {exc} ({key_path}, {cert_path})") from None
        return cls(key_pem, cert_pem, source)

    @property
    def subject(self) -> str:
        return _name(x509.load_pem_x509_certificates(self.cert_pem)[0])

    @property
    def issuer(self) -> str:
        return x509.load_pem_x509_certificates(self.cert_pem)[0].issuer.rfc4514_string()


# -- signing ---------------------------------------------------------------------------------
def load_signer(key_pem: bytes, cert_pem: bytes) -> tuple[rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey,
                                                           list[x509.Certificate]]:
    """The private key and certificates (signer first, then its chain) of PEM ``key_pem``/``cert_pem``.

    Raises SigningError when either is unreadable, the key is neither RSA nor EC (what CMS signing here
    supports), or the key is not the first certificate's.
    """
    try:
        key = serialization.load_pem_private_key(key_pem, password=None)
        certs = x509.load_pem_x509_certificates(cert_pem)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise SigningError(f"unreadable key or certificate: {exc}") from None
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise SigningError(f"{type(key).__name__.removeprefix('_')}: only RSA and EC keys sign evidence")
    if key.public_key() != certs[0].public_key():
        raise SigningError(f"the key is not the one of the certificate {certs[0].subject.rfc4514_string()}")
    return key, certs


def sign_manifest(manifest: bytes, key_pem: bytes, cert_pem: bytes) -> bytes:
    """DER CMS SignedData (RFC 5652 §5), detached, SHA-256, over ``manifest`` exactly as given.

    ``cert_pem`` is the signer's certificate followed by its intermediates; all are carried in the
    SignedData. Signed attributes are content-type, signing-time and message-digest (§11.1-11.3).
    """
    from cryptography.hazmat.primitives.serialization import pkcs7

    key, certs = load_signer(key_pem, cert_pem)
    builder = pkcs7.PKCS7SignatureBuilder().set_data(manifest).add_signer(certs[0], key, hashes.SHA256())
    for cert in certs[1:]:
        builder = builder.add_certificate(cert)
    options = [pkcs7.PKCS7Options.DetachedSignature, pkcs7.PKCS7Options.Binary, pkcs7.PKCS7Options.NoCapabilities]
    return builder.sign(serialization.Encoding.DER, options)


# -- verifying the signature -----------------------------------------------------------------
def verify_signature(manifest: bytes, signature: bytes) -> SignatureInfo:
    """Check the detached CMS ``signature`` over ``manifest`` (RFC 5652 §5.4, §5.6); raise SignatureProblem.

    One SignerInfo, its certificate among those carried, signed attributes re-encoded as a DER SET OF
    (§5.4: what OpenSSL and cryptography produce). The signer's chain is not checked here.
    """
    from cryptography.hazmat.primitives.serialization import pkcs7
    from pyasn1.codec.der import decoder as der_decoder
    from pyasn1.error import PyAsn1Error
    from pyasn1_modules import rfc5652

    try:
        info, rest = der_decoder.decode(signature, asn1Spec=rfc5652.ContentInfo())
        if rest or info["contentType"] != rfc5652.id_signedData:
            raise SignatureProblem("not a CMS SignedData")
        signed, rest = der_decoder.decode(bytes(info["content"]), asn1Spec=rfc5652.SignedData())
        carried = pkcs7.load_der_pkcs7_certificates(signature)
    except (PyAsn1Error, ValueError) as exc:
        raise SignatureProblem(f"not a readable CMS SignedData ({exc})") from None
    if signed["encapContentInfo"]["eContentType"] != rfc5652.id_data:
        raise SignatureProblem("signed content type is not id-data")
    if signed["encapContentInfo"]["eContent"].isValue:
        raise SignatureProblem("the signature embeds its content: a detached signature is expected")
    if len(signed["signerInfos"]) != 1:
        raise SignatureProblem(f"{len(signed['signerInfos'])} SignerInfos: exactly one is expected")
    signer_info = signed["signerInfos"][0]
    cert = _signer_certificate(signer_info["sid"], carried)
    digest_cls = DIGESTS.get(str(signer_info["digestAlgorithm"]["algorithm"]))
    if digest_cls is None:
        raise SignatureProblem(f"digest algorithm {signer_info['digestAlgorithm']['algorithm']} not supported")
    signed_bytes, signing_time = _signed_bytes(signer_info, manifest, digest_cls)
    _check_signature(cert, signer_info, signed_bytes, digest_cls)
    return SignatureInfo(signer=cert, carried=carried, signing_time=signing_time)


def _signer_certificate(sid: rfc5652.SignerIdentifier, carried: list[x509.Certificate]) -> x509.Certificate:
    """The carried certificate that ``sid`` names (RFC 5652 §5.3: issuer and serial, or key identifier)."""
    from pyasn1.codec.der import encoder as der_encoder

    for cert in carried:
        if sid.getName() == "issuerAndSerialNumber":
            ias = sid["issuerAndSerialNumber"]
            if (int(ias["serialNumber"]) == cert.serial_number
                    and der_encoder.encode(ias["issuer"]) == cert.issuer.public_bytes()):
                return cert
        else:
            try:
                ski = cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
            except x509.ExtensionNotFound:
                continue
            if bytes(sid["subjectKeyIdentifier"]) == ski:
                return cert
    raise SignatureProblem("the signer's certificate is not carried in the signature")


def _signed_bytes(signer_info: rfc5652.SignerInfo, manifest: bytes,
                  digest_cls: type[hashes.HashAlgorithm]) -> tuple[bytes, _dt.datetime | None]:
    """What the signature covers (RFC 5652 §5.4) and the signing-time attribute (§11.3), if any."""
    from pyasn1.codec.der import decoder as der_decoder
    from pyasn1.codec.der import encoder as der_encoder
    from pyasn1_modules import rfc5652

    attrs = signer_info["signedAttrs"]
    if not attrs.isValue:
        return manifest, None
    values: dict[str, list[univ.Any]] = {}
    for attr in attrs:
        values.setdefault(str(attr["attrType"]), []).extend(attr["attrValues"])
    content_type = values.get(str(rfc5652.id_contentType), [])
    digest = values.get(str(rfc5652.id_messageDigest), [])
    if len(content_type) != 1 or len(digest) != 1:
        raise SignatureProblem("signed attributes lack a single content-type and message-digest (RFC 5652 §11)")
    if der_decoder.decode(bytes(content_type[0]), asn1Spec=rfc5652.ContentType())[0] != rfc5652.id_data:
        raise SignatureProblem("content-type attribute is not id-data")
    expected = bytes(der_decoder.decode(bytes(digest[0]), asn1Spec=rfc5652.MessageDigest())[0])
    h = hashes.Hash(digest_cls())
    h.update(manifest)
    if h.finalize() != expected:
        raise SignatureProblem(f"message digest differs: {MANIFEST_NAME} was changed after it was signed")
    when = None
    if values.get(str(rfc5652.id_signingTime)):
        time = der_decoder.decode(bytes(values[str(rfc5652.id_signingTime)][0]), asn1Spec=rfc5652.SigningTime())[0]
        when = time[time.getName()].asDateTime.astimezone(_dt.UTC)
    encoded = der_encoder.encode(attrs)
    return b"\x31" + encoded[1:], when  # [0] IMPLICIT becomes the SET OF tag (RFC 5652 §5.4)


def _check_signature(cert: x509.Certificate, signer_info: rfc5652.SignerInfo, data: bytes,
                     digest_cls: type[hashes.HashAlgorithm]) -> None:
    """Verify the SignerInfo's signature value over ``data`` with ``cert``'s key (RFC 5652 §5.6)."""
    oid = str(signer_info["signatureAlgorithm"]["algorithm"])
    key = cert.public_key()
    signature = bytes(signer_info["signature"])
    hash_cls = RSA_PKCS1.get(oid) or ECDSA.get(oid) or digest_cls
    if hash_cls is not digest_cls:
        raise SignatureProblem(f"signature algorithm {oid} does not use the digest algorithm of the SignerInfo")
    try:
        if oid in RSA_PKCS1 and isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, data, padding.PKCS1v15(), digest_cls())
        elif oid in ECDSA and isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, data, ec.ECDSA(digest_cls()))
        else:
            raise SignatureProblem(f"signature algorithm {oid} with a {type(key).__name__} key is not supported")
    except InvalidSignature:
        raise SignatureProblem("the signature value does not verify with the signer's key") from None


# -- the signer's chain ----------------------------------------------------------------------
def check_chain(info: SignatureInfo, ca_pem: bytes) -> list[str]:
    """Path from the signer to a certificate of ``ca_pem`` (RFC 5280 §6), at the signing time when given.

    The CA side follows the Web PKI defaults (basic constraints, key usage keyCertSign); the signer
    needs no extended key usage (as ``openssl cms -verify -purpose any``) but, when it has a key usage,
    digitalSignature or nonRepudiation. Returns the chain's subjects, signer first.
    """
    try:
        anchors = x509.load_pem_x509_certificates(ca_pem)
    except ValueError as exc:
        raise SignatureProblem(f"the CA file holds no PEM certificate ({exc})") from None
    when = info.signing_time or _dt.datetime.now(_dt.UTC)
    builder = (verification.PolicyBuilder().store(verification.Store(anchors)).time(when)
               .extension_policies(ca_policy=verification.ExtensionPolicy.webpki_defaults_ca(),
                                   ee_policy=verification.ExtensionPolicy.permit_all()))
    others = [c for c in info.carried if c != info.signer]
    try:
        chain = builder.build_client_verifier().verify(info.signer, others).chain
    except verification.VerificationError as exc:
        raise SignatureProblem(f"{_name(info.signer)} does not chain to the given CA ({exc})") from None
    try:
        usage = info.signer.extensions.get_extension_for_class(x509.KeyUsage).value
        if not (usage.digital_signature or usage.content_commitment):
            raise SignatureProblem(f"{_name(info.signer)}: key usage allows neither digitalSignature nor "
                                   "nonRepudiation (RFC 5280 §4.2.1.3)")
    except x509.ExtensionNotFound:
        pass
    return [_name(c) for c in chain]


def _name(cert: x509.Certificate) -> str:
    return cert.subject.rfc4514_string()


# -- the bundle ------------------------------------------------------------------------------
def unsafe_name(name: str) -> str:
    """Why a zip entry or manifest path is refused ('' when it is a plain relative path)."""
    if name.startswith(("/", "\\")) or re.match(r"[A-Za-z]:", name):
        return "absolute path"
    if "\\" in name or any(ord(ch) < 32 or ord(ch) == 127 for ch in name):
        return "backslash or control character"
    if ".." in name.split("/"):
        return "'..' segment"
    return ""


def parse_manifest(data: bytes) -> tuple[dict[str, str], list[str]]:
    """``{path: sha256}`` of a manifest (``<hex>  <path>`` lines, as sha256sum writes), and its problems."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return {}, [f"{MANIFEST_NAME} is not UTF-8"]
    listed: dict[str, str] = {}
    problems = []
    for number, line in enumerate(text.splitlines(), 1):
        match = _LINE.fullmatch(line)
        if not match:
            problems.append(f"{MANIFEST_NAME} line {number}: not '<sha256>  <path>': {line[:80]!r}")
        elif why := unsafe_name(match[2]):
            problems.append(f"{MANIFEST_NAME} line {number}: refused path {match[2]!r} ({why})")
        elif match[2] in listed:
            problems.append(f"{MANIFEST_NAME} line {number}: {match[2]} is listed twice")
        else:
            listed[match[2]] = match[1]
    return listed, problems


def verify_bundle(zip_path: Path, ca_pem: bytes | None) -> BundleCheck:
    """Check an evidence.zip: every listed file has its hash, none is missing or unlisted, the signature
    verifies over ``MANIFEST.sha256`` (RFC 5652) and, when ``ca_pem`` is given, the signer chains to it."""
    try:
        with zipfile.ZipFile(zip_path) as zf:
            return _check_zip(zf, ca_pem)
    except (OSError, zipfile.BadZipFile) as exc:
        return BundleCheck(ok=False, problems=[f"{zip_path}: not a readable zip ({exc})"], signer="")


def _check_zip(zf: zipfile.ZipFile, ca_pem: bytes | None) -> BundleCheck:
    infos = zf.infolist()
    if len(infos) > MAX_ENTRIES:
        return BundleCheck(ok=False, signer="", problems=[f"{len(infos)} entries: more than {MAX_ENTRIES} refused"])
    problems: list[str] = []
    entries: dict[str, zipfile.ZipInfo] = {}
    for item in infos:
        if why := unsafe_name(item.filename):
            problems.append(f"refused entry {item.filename!r} ({why})")
        elif item.filename in entries:
            problems.append(f"entry {item.filename} appears twice in the zip")
        elif not item.is_dir():
            entries[item.filename] = item
    manifest = _read_limited(zf, entries.get(MANIFEST_NAME), MAX_MANIFEST_BYTES, problems)
    if manifest is None:
        return BundleCheck(ok=False, problems=problems, signer="")
    listed, manifest_problems = parse_manifest(manifest)
    problems += manifest_problems
    signer, notes, chain_checked = _check_signer(zf, entries.get(SIGNATURE_NAME), manifest, ca_pem, problems)
    altered, missing = [], []
    for name, expected in listed.items():
        if name not in entries:
            missing.append(name)
            problems.append(f"missing: {name} (listed in {MANIFEST_NAME}, not in the zip)")
        elif (found := _sha256(zf, entries[name])) != expected:
            altered.append(name)
            problems.append(f"altered: {name} (sha256 expected {expected}, found {found})")
    extra = sorted(set(entries) - set(listed) - {MANIFEST_NAME, SIGNATURE_NAME})
    problems += [f"extra: {name} (in the zip, not listed in {MANIFEST_NAME})" for name in extra]
    return BundleCheck(ok=not problems, problems=problems, signer=signer, altered=altered, missing=missing,
                       extra=extra, chain_checked=chain_checked, notes=notes, files=len(listed))


def _check_signer(zf: zipfile.ZipFile, item: zipfile.ZipInfo | None, manifest: bytes, ca_pem: bytes | None,
                  problems: list[str]) -> tuple[str, list[str], bool]:
    """Signer subject, notes and whether the chain was checked; problems are appended to ``problems``."""
    if item is None:
        problems.append(f"not signed: no {SIGNATURE_NAME} in the zip")
        return "", [], False
    signature = _read_limited(zf, item, MAX_SIGNATURE_BYTES, problems)
    if signature is None:
        return "", [], False
    try:
        info = verify_signature(manifest, signature)
    except SignatureProblem as exc:
        problems.append(f"signature: {exc}")
        return "", [], False
    signer = _name(info.signer)
    when = f", signing time {info.signing_time:%Y-%m-%d %H:%M:%S} UTC" if info.signing_time else ""
    notes = [f"signature: verifies over {MANIFEST_NAME}; signer {signer}, issued by "
             f"{info.signer.issuer.rfc4514_string()}{when}"]
    if ca_pem is None:
        notes.append("chain: NOT checked (no CA given): the signature proves integrity, not who signed")
        return signer, notes, False
    try:
        chain = check_chain(info, ca_pem)
    except SignatureProblem as exc:
        problems.append(f"chain: {exc}")
        return signer, notes, False
    notes.append("chain: " + " <- ".join(chain))
    return signer, notes, True


def _read_limited(zf: zipfile.ZipFile, item: zipfile.ZipInfo | None, limit: int, problems: list[str]) -> bytes | None:
    name = MANIFEST_NAME if item is None else item.filename
    if item is None:
        problems.append(f"no {name} in the zip: nothing to check the files against")
        return None
    try:
        with zf.open(item) as fh:
            data = fh.read(limit + 1)
    except (zipfile.BadZipFile, zlib.error, OSError, NotImplementedError) as exc:
        problems.append(f"{name}: unreadable ({exc})")
        return None
    if len(data) > limit:
        problems.append(f"{name}: larger than {limit} bytes, refused")
        return None
    return data


def _sha256(zf: zipfile.ZipFile, item: zipfile.ZipInfo) -> str:
    """Hex SHA-256 of an entry, read in chunks; a description when the zip cannot give its bytes back."""
    digest = hashlib.sha256()
    try:
        with zf.open(item) as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
    except (zipfile.BadZipFile, zlib.error, OSError, NotImplementedError) as exc:
        return f"unreadable entry ({exc})"
    return digest.hexdigest()
