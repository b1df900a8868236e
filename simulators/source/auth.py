"""Who may retrieve what over RAD-107: the bearer token introspected at Pro Santé Connect (ANS PoC,
RFC 7662), then the masking flags the manifest was published with (IG-hl7v2 MetaDMPMSS, ANS DRIM-M_DATA Validateur XDS).

No cache: a token revoked at PSC is refused on the next request (PoC behaviour: introspect each call).

Masking (the DMP's confidentialityCode, scheme ``1.2.250.1.213.1.1.4.13``, set from the report's HL7
flags, IG-hl7v2 table MetaDMP/MSS): ``MASQUE_PS`` "masqué aux professionnels de santé" hides the
document from every professional but its author, who published it (DMP rule, SEL-MP-037 EX_2.1-1050 /
EX_3.1-1080 states; the author's exception is how the DMP applies it [?]); ``INVISIBLE_PATIENT`` and
``INVISIBLE_REPRESENTANTS_LEGAUX`` hide it from the patient and the legal representatives only, who
never hold a PSC token (PSC authenticates professionals): they do not restrict a professional.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import requests

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


class Introspector:
    def __init__(self, url: str, client_id: str, client_secret: str, timeout: float = 10.0) -> None:
        self.url, self.client_id, self.client_secret, self.timeout = url, client_id, client_secret, timeout
        self._local = threading.local()

    def _session(self) -> requests.Session:
        if not hasattr(self._local, "session"):  # one per server thread: a Session is not thread-safe
            self._local.session = session()  # verifies with the system CAs + the network's test PKI
        return self._local.session

    def check(self, authorization: str | None) -> TokenCheck:
        """``Authorization`` header -> verdict; missing, malformed, inactive and expired tokens fail."""
        if not authorization:
            return TokenCheck(False, "no Authorization header")
        scheme, _, token = authorization.strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return TokenCheck(False, "Authorization is not a Bearer token")
        try:
            resp = self._session().post(self.url, data={"token": token.strip(), "token_type_hint": "access_token"},
                                      auth=(self.client_id, self.client_secret), timeout=self.timeout)
            claims = resp.json() if resp.status_code == 200 else {}
        except (requests.RequestException, ValueError) as exc:
            return TokenCheck(False, f"introspection failed: {exc.__class__.__name__}")
        if not isinstance(claims, dict) or claims.get("active") is not True:
            return TokenCheck(False, "token is not active")
        exp = claims.get("exp")
        if isinstance(exp, int | float) and exp <= time.time():
            return TokenCheck(False, "token expired")
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
