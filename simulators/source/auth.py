"""Who may retrieve what over RAD-107: the bearer token introspected at Pro Santé Connect (ANS PoC,
RFC 7662), then the masking flags the manifest was published with (IG-hl7v2 MetaDMPMSS, ANS DRIM-M_DATA Validateur XDS).

No cache: a token revoked at PSC is refused on the next request (PoC behaviour: introspect each call).

Client authentication at PSC: with a client certificate configured, mutual TLS (RFC 8705 §2.1
``tls_client_auth``: ``client_id`` in the form, no secret, no Authorization header), as DRIMboxes call PSC
with their IGC-Santé ORG AUTH CLI certificate; without one, HTTP Basic with the client secret (plain-HTTP
debugging). A token bound to a client certificate (introspection ``cnf.x5t#S256``, RFC 8705 §3.1) is
served only over a connection authenticated by that very certificate (§3.2).

Masking (the DMP's confidentialityCode, scheme ``1.2.250.1.213.1.1.4.13``, set from the report's HL7
flags, IG-hl7v2 table MetaDMP/MSS): ``MASQUE_PS`` "masqué aux professionnels de santé" hides the
document from every professional but its author, who published it (DMP rule, SEL-MP-037 EX_2.1-1050 /
EX_3.1-1080 states; the author's exception is how the DMP applies it [?]); ``INVISIBLE_PATIENT`` and
``INVISIBLE_REPRESENTANTS_LEGAUX`` hide it from the patient and the legal representatives only, who
never hold a PSC token (PSC authenticates professionals): they do not restrict a professional.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import threading
import time
from dataclasses import dataclass, field

import requests
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from harness.tls import session
from simulators.source.store import KosAccess

MASKED_FROM_PROFESSIONALS = "MASQUE_PS"  # confidentialityCode (ANS DRIM-M_DATA Validateur XDS), IG-hl7v2 MetaDMP/MSS
IDNPS_PREFIX = "8"  # national id of a professional = "8" + RPPS (PSC SubjectNameID, XDS authorPerson IDNPS)


@dataclass(frozen=True)
class TokenCheck:
    ok: bool
    reason: str = ""
    subject: str = ""
    ids: frozenset[str] = field(default_factory=frozenset)  # national ids of the professional (IDNPS)


def national_ids(claims: dict) -> frozenset[str]:
    """The professional's national ids in an introspection answer: ``preferred_username`` / ``username``
    (PSC SubjectNameID = "8" + RPPS) and the last ``:`` component of a PSC ``sub`` (``f:<uuid>:<id>``)."""
    found = {str(claims.get(k) or "") for k in ("preferred_username", "username", "SubjectNameID")}
    sub = str(claims.get("sub") or "")
    if sub.count(":") >= 2:
        found.add(sub.rsplit(":", 1)[1])
    return frozenset(i for i in found if i)


def thumbprint(cert: x509.Certificate) -> str:
    """RFC 8705 §3.1 ``x5t#S256``: base64url (unpadded) SHA-256 of the certificate's DER."""
    digest = hashlib.sha256(cert.public_bytes(Encoding.DER)).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def binding_refusal(claims: dict, peer: x509.Certificate | None) -> str | None:
    """Why a token bound to a certificate (``cnf.x5t#S256``) may not be used on this connection (None: it may,
    or the token is not bound). RFC 8705 §3: the resource server compares the thumbprint with the client
    certificate of the mutual-TLS connection the token came over."""
    cnf = claims.get("cnf")
    if not isinstance(cnf, dict) or "x5t#S256" not in cnf:
        return None
    bound = str(cnf.get("x5t#S256") or "")
    if peer is None:
        return ("the token is bound to a client certificate (RFC 8705 section 3, cnf x5t#S256) but the "
                "request came without one")
    presented = thumbprint(peer)
    if not bound or not hmac.compare_digest(bound, presented):
        return (f"the token is bound to another client certificate (RFC 8705 section 3.2: cnf x5t#S256 {bound} "
                f"is not the thumbprint {presented} of {peer.subject.rfc4514_string()})")
    return None


class Introspector:
    """RFC 7662 client of PSC. ``cert`` = (certificate file, key file): authenticate by mutual TLS
    (RFC 8705 §2.1 tls_client_auth) instead of the secret, which is then never sent."""

    def __init__(self, url: str, client_id: str, client_secret: str, timeout: float = 10.0,
                 cert: tuple[str, str] | None = None, binding: bool = True) -> None:
        """``binding=False`` (a named fault) ignores a token's certificate binding (RFC 8705 §3)."""
        self.url, self.client_id, self.client_secret, self.timeout = url, client_id, client_secret, timeout
        self.binding = binding
        self.cert = (str(cert[0]), str(cert[1])) if cert else None
        self._local = threading.local()

    def _session(self) -> requests.Session:
        if not hasattr(self._local, "session"):  # one per server thread: a Session is not thread-safe
            self._local.session = session()  # verifies with the system CAs + the network's test PKI
        return self._local.session

    def _credentials(self, form: dict[str, str]) -> dict:
        """requests keyword arguments that authenticate this client: certificate, else HTTP Basic."""
        if self.cert is not None:
            form["client_id"] = self.client_id  # RFC 8705 §2.1: client_id identifies the client, no secret
            return {"cert": self.cert}
        return {"auth": (self.client_id, self.client_secret)}

    def check(self, authorization: str | None, peer: x509.Certificate | None = None) -> TokenCheck:
        """``Authorization`` header -> verdict; missing, malformed, inactive and expired tokens fail, and so
        does a certificate-bound token whose certificate is not ``peer``, the request's verified client
        certificate (RFC 8705 §3)."""
        if not authorization:
            return TokenCheck(False, "no Authorization header")
        scheme, _, token = authorization.strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return TokenCheck(False, "Authorization is not a Bearer token")
        form = {"token": token.strip(), "token_type_hint": "access_token"}
        try:
            resp = self._session().post(self.url, data=form, timeout=self.timeout, **self._credentials(form))
            claims = resp.json() if resp.status_code == 200 else {}
        except (requests.RequestException, ValueError) as exc:
            return TokenCheck(False, f"introspection failed: {exc.__class__.__name__}")
        if not isinstance(claims, dict) or claims.get("active") is not True:
            return TokenCheck(False, "token is not active")
        exp = claims.get("exp")
        if isinstance(exp, int | float) and exp <= time.time():
            return TokenCheck(False, "token expired")
        refusal = binding_refusal(claims, peer) if self.binding else None
        if refusal is not None:
            return TokenCheck(False, refusal)
        return TokenCheck(True, subject=str(claims.get("sub", "")), ids=national_ids(claims))


def masking_refusal(access: KosAccess, who: TokenCheck) -> str | None:
    """Why ``who`` may not see a manifest published with ``access`` (None: it may)."""
    if MASKED_FROM_PROFESSIONALS not in access.confidentiality:
        return None
    mine = {a for a in access.authors if a in who.ids or IDNPS_PREFIX + a in who.ids}
    if mine:
        return None
    return ("the manifest was published MASQUE_PS (masked from health professionals): only its author "
            f"may retrieve it, not {', '.join(sorted(who.ids)) or 'this token subject'}")


def access_from_pnr(sop_uid: str, entry_uuid: str, content_type: str, body: bytes) -> KosAccess | None:
    """confidentialityCodes and author ids of DocumentEntry ``entry_uuid`` in a RAD-68 message
    (ANS DRIM-M_DATA Validateur XDS/XDS.xml)."""
    from harness.soap import decode_message
    from harness.xds import parse_pnr

    msg = decode_message(content_type, body)
    if msg.envelope.body is None:
        return None
    sub = parse_pnr(msg.envelope.body, msg.attachments)
    entry = next((d for d in sub.documents if d.id == entry_uuid), None)
    if entry is None:
        return None
    codes = tuple(c.node for c in entry.confidentialityCodes)
    authors = tuple(a.person.split("^", 1)[0] for a in entry.authors if a.person and a.person.split("^", 1)[0])
    return KosAccess(sop_uid, codes, authors)
