"""Helpers of the source_drimbox plan: what the DMP simulator received, lenient multipart reading, DICOM parts.

The plan observes the Source from outside only: the HL7 ACKs it returns, the requests the DMP
simulator captured (STYLE §10: wait for the SUT's request, then assert on captured traffic), and
the WADO-RS answers it gives the harness's Consumer.
"""

from __future__ import annotations

import io
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from lxml import etree
from pydicom import dcmread
from pydicom.dataset import Dataset

from harness import capture
from harness.soap import decode_message, parse_fault
from harness.xds import parse_pnr
from harness.xds.model import DocumentEntry, Submission
from harness.xds.query import parse_registry_response

DMP_ACTOR = "dmp-simulator"
PUBLISH_TIMEOUT = 20.0  # default of options.publish_timeout


class Timing:
    """Seconds a publication is waited for after the ACK AA, and the DMP watched for one that must not come
    after a refusal (``options.publish_timeout`` of the profile; set once per plan run by the env fixture)."""

    publish = PUBLISH_TIMEOUT
SUCCESS = "urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Success"
UPDATE_STATUS = "urn:ihe:iti:2010:AssociationType:UpdateAvailabilityStatus"  # ITI TF-3 §4.2.2.2.9
_RIM = "{urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0}"
KOS_MIME = "application/dicom"
STATUS_DELETED = "urn:asip:ci-sis:2010:StatusType:Deleted"


@dataclass
class Captured:
    """One request the DMP simulator received, decoded."""

    exchange: capture.Exchange
    content_type: str
    body: bytes
    action: str | None
    submission: Submission | None = None
    xml: etree._Element | None = None

    @property
    def status(self) -> str | None:
        return self.exchange.status

    def answer(self) -> DmpAnswer:
        """What the DMP answered to this request (STYLE §17: the outcome before the expectation)."""
        return dmp_answer(self.exchange)

    def kos_entry(self) -> DocumentEntry | None:
        if self.submission is None:
            return None
        return next((d for d in self.submission.documents if d.mimeType == KOS_MIME), None)

    def kos_bytes(self) -> bytes | None:
        entry = self.kos_entry()
        return None if entry is None or self.submission is None else self.submission.document_bytes.get(entry.id)

    def kos(self) -> Dataset | None:
        data = self.kos_bytes()
        return None if data is None else dcmread(io.BytesIO(data))


@dataclass(frozen=True)
class DmpAnswer:
    """The DMP's response to one request: HTTP status, SOAP fault, RegistryResponse status and errors."""

    http_status: str | None
    status: str = ""
    errors: tuple[str, ...] = ()  # "code: context" of each RegistryError
    fault: str | None = None

    @property
    def accepted(self) -> bool:
        return self.fault is None and self.status == SUCCESS

    def describe(self) -> str:
        """The answer as a person writes it: status and every error, or the SOAP fault."""
        if self.fault:
            return f"SOAP fault (HTTP {self.http_status}): {self.fault}"
        if not self.status:
            return f"HTTP {self.http_status} with no RegistryResponse"
        text = self.status.rsplit(":", 1)[-1]
        return text + (": " + "; ".join(self.errors) if self.errors else "")


def dmp_answer(exchange: capture.Exchange) -> DmpAnswer:
    """Decode the DMP simulator's captured response (SOAP 1.2, plain or MTOM) into a :class:`DmpAnswer`."""
    ctype = next((v for k, v in exchange.response_headers if k.lower() == "content-type"), "")
    try:
        env = decode_message(ctype, exchange.response_body.read()).envelope
    except Exception as exc:  # an undecodable answer is itself the outcome
        return DmpAnswer(exchange.status, fault=f"undecodable response ({exc})")
    fault = parse_fault(env)
    if fault is not None:
        return DmpAnswer(exchange.status, fault=f"{fault.code} {fault.subcode or ''} {fault.reason}".strip())
    if env.body is None:
        return DmpAnswer(exchange.status)
    status, errors = parse_registry_response(env.body)
    return DmpAnswer(exchange.status, status, tuple(f"{e.code}: {e.context}".strip(": ") for e in errors))


def _header(exchange: capture.Exchange, name: str) -> str:
    return next((v for k, v in exchange.request_headers if k.lower() == name.lower()), "")


def decode(exchange: capture.Exchange) -> Captured:
    body = exchange.request_body.read()
    ctype = _header(exchange, "Content-Type")
    got = Captured(exchange, ctype, body, None)
    try:
        msg = decode_message(ctype, body)
    except Exception:
        return got
    got.action = msg.envelope.action
    got.xml = msg.envelope.body
    if got.xml is not None and etree.QName(got.xml).localname == "ProvideAndRegisterDocumentSetRequest":
        try:
            got.submission = parse_pnr(got.xml, msg.attachments)
        except Exception:
            pass
    return got


def dmp_requests(contains: str, since: float = 0.0) -> list[Captured]:
    """Requests the DMP simulator received whose body holds ``contains`` (a study UID, an entry UUID)."""
    needle = contains.encode()
    return [decode(e) for e in capture.recorder().exchanges(actor=DMP_ACTOR)
            if e.started >= since and needle in e.request_body.read()]


def wait_dmp(contains: str, *, count: int = 1, timeout: float | None = None, since: float = 0.0,
             predicate=lambda c: True) -> list[Captured]:
    """Wait (bounded) until the DMP received ``count`` matching requests; returns what it got. Woken by each
    exchange the recorder captures (no polling), each request is searched and decoded once per wait."""
    deadline = time.monotonic() + (Timing.publish if timeout is None else timeout)
    needle, seen = contains.encode(), {}  # exchange id -> its decoded request when it holds the needle, else None
    arrived = threading.Event()

    def listener(_exchange: capture.Exchange) -> None:
        arrived.set()

    recorder = capture.recorder()
    recorder.subscribe(listener)
    try:
        while True:
            arrived.clear()
            for e in recorder.exchanges(actor=DMP_ACTOR):
                if e.id not in seen:
                    seen[e.id] = decode(e) if e.started >= since and needle in e.request_body.read() else None
            found = [c for c in seen.values() if c is not None and predicate(c)]
            if len(found) >= count or time.monotonic() >= deadline:
                return found
            arrived.wait(max(0.0, deadline - time.monotonic()))
    finally:
        recorder.unsubscribe(listener)


def is_pnr(c: Captured) -> bool:
    return c.submission is not None


def is_iti57(c: Captured) -> bool:
    """An ITI-57 availability-status update (ITI TF-3 §4.2.2.2.9): a SubmitObjectsRequest whose
    Association of type UpdateAvailabilityStatus carries a NewStatus slot, read from the parsed XML."""
    if c.xml is None or etree.QName(c.xml).localname != "SubmitObjectsRequest":
        return False
    return bool(update_statuses(c))


def update_statuses(c: Captured) -> list[tuple[str, str]]:
    """(target entry, NewStatus) of each UpdateAvailabilityStatus association of an ITI-57 request."""
    if c.xml is None:
        return []
    out = []
    for assoc in c.xml.iter(f"{_RIM}Association"):
        if assoc.get("associationType") != UPDATE_STATUS:
            continue
        for slot in assoc.iter(f"{_RIM}Slot"):
            if slot.get("name") == "NewStatus":
                values = ["".join(v.itertext()).strip() for v in slot.iter(f"{_RIM}Value")]
                out.extend((assoc.get("targetObject", ""), v) for v in values)
    return out


def vihf_name_id(c: Captured) -> str | None:
    """The professional a request's VIHF is in the name of (saml:Assertion/saml:Subject/saml:NameID; ANS CI-SIS
    Volet Authentification indirecte), None when the request carries none."""
    try:
        security = decode_message(c.content_type, c.body).envelope.security
    except Exception:
        return None
    if security is None:
        return None
    found = security.find(".//{urn:oasis:names:tc:SAML:2.0:assertion}Subject/"
                          "{urn:oasis:names:tc:SAML:2.0:assertion}NameID")
    return (found.text or "").strip() if found is not None else None


def is_source_request(c: Captured) -> bool:
    """A RAD-68 or ITI-57 request: what a Source sends to the DMP."""
    return is_pnr(c) or is_iti57(c)


def split_parts(body: bytes, content_type: str) -> list[tuple[dict[str, str], bytes]]:
    """Lenient multipart reading: parts between boundary lines, close delimiter optional.

    Only the multipart requirement checks the framing strictly; other tests read the content.
    """
    boundary = ""
    for param in content_type.split(";"):
        key, _, value = param.strip().partition("=")
        if key.lower() == "boundary":
            boundary = value.strip('"')
    if not boundary:
        return []
    delim = b"--" + boundary.encode()
    chunks = body.split(b"\r\n" + delim)
    first = chunks[0]
    if first.startswith(delim):
        chunks[0] = first[len(delim):]
    else:
        chunks = chunks[1:]
    parts = []
    closed = False
    for chunk in chunks:
        if chunk.startswith(b"--"):
            closed = True
            break
        chunk = chunk[2:] if chunk.startswith(b"\r\n") else chunk
        if chunk.startswith(b"\r\n"):
            head, data = b"", chunk[2:]
        else:
            head, _, data = chunk.partition(b"\r\n\r\n")
        headers = {}
        for line in head.decode("latin-1").split("\r\n"):
            if ":" in line:
                k, _, v = line.partition(":")
                headers[k.strip().lower()] = v.strip()
        parts.append((headers, data))
    if parts and not closed and parts[-1][1].endswith(b"\r\n"):  # no close delimiter: drop the last CRLF
        parts[-1] = (parts[-1][0], parts[-1][1][:-2])
    return parts


def dicom_parts(body: bytes, content_type: str) -> list[Dataset]:
    """Each part read as DICOM Part 10 (header only); a part that is not DICOM is skipped."""
    out = []
    for _, data in split_parts(body, content_type):
        try:
            out.append(dcmread(io.BytesIO(data), stop_before_pixels=False))
        except Exception:
            continue
    return out


@dataclass(frozen=True)
class SecurityEnv:
    """What the transport-security tests need: the Source's WADO-RS, the CA it is verified with, the test PKI
    it trusts (``tls.pki``) and, from it, the profile's whitelisted client certificate and those a Source must
    refuse (``harness.tls.security_certificates``), each (certificate, key)."""

    wado: str
    ca: Path
    pki: Path
    good: tuple[Path, Path]
    expired: tuple[Path, Path]
    revoked: tuple[Path, Path]
    outsider: tuple[Path, Path]


def security_env(wado: str, pki_folder: Path, ca: Path, good: tuple[Path, Path]) -> SecurityEnv:
    from harness.pki import Pki
    from harness.tls import security_certificates

    bad = security_certificates(Pki.open(pki_folder))
    return SecurityEnv(wado, ca, pki_folder, good, bad["consumer-client-expired"], bad["consumer-client-revoked"],
                       bad["outsider-client"])
