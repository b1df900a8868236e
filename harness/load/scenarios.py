"""Locust scenarios: one ``User`` class per actor behaviour, tasks named after the transaction they send.

Imported only inside a load process (``python -m harness.load.worker``): importing Locust monkey-patches the
standard library for gevent. Every user is a closed loop (no think time): it sends its next request as soon
as the last one ended, so the rate a run reaches is what the SUT sustains for that many users.

Each request is timed here and reported through Locust's ``request`` event (Locust docs, "Testing other
systems/protocols"), with its kind of failure in ``context["error"]``: ``HTTP 401``, ``protocol: ...`` when
the answer breaks the transaction's rules though its status is fine, or the client exception's name.

- ``wado-storm``: Consumers retrieving series of the published study (IHE RAD TF-2 §4.107, DICOM PS3.18
  §10.4.1), with a PSC bearer token and the KOS SOP Instance UID header (ANS DRIM-M_DATA ``Validateur
  WADO-RS``), reading each multipart body to its closing delimiter (RFC 2046 §5.1.1) and counting its bytes.
- ``rad68-burst``: a Source publishing KOS manifests (RAD-68 = ITI-41 Provide and Register, SOAP 1.2 + MTOM,
  IHE ITI TF-2b §3.41), each with a new KOS and a VIHF signed for its patient (CI-SIS, ANS XDS.xml).
- ``dmp-mix``: a Consumer's ITI-18 FindDocuments (3 in 4) and ITI-43 Retrieve Document Set (1 in 4).
- ``contextual-calls``: the professional's software opening the Consumer by form POST (ANS FAQ, PoC
  ``TestServer-AppelContextuel``), following the 302/303 to its end.
"""

from __future__ import annotations

import itertools
import random
import secrets
import time
from collections.abc import Callable
from typing import Any

import requests
from locust import User, constant, task

from harness.load.spec import LoadSpec

SPEC: LoadSpec | None = None  # set in each load process before any user starts (worker.py)


def _unrecorded(nbytes: int) -> None:
    """Body bytes read outside a load process: nobody charts them."""


on_bytes: Callable[[int], None] = _unrecorded  # body bytes as they are read (worker.py records them)
ANY_DICOM = 'multipart/related; type="application/dicom"; transfer-syntax=*'
CHUNK = 256 * 1024
TIMEOUT = 120.0
_serial = itertools.count()


class Failure(Exception):
    """The answer broke the transaction: ``kind`` groups it in the report, ``detail`` is one example."""

    def __init__(self, kind: str, detail: str = "") -> None:
        super().__init__(f"{kind}: {detail}" if detail else kind)
        self.kind, self.detail = kind, detail


def spec() -> LoadSpec:
    if SPEC is None:
        raise RuntimeError("no load specification received: the scenario cannot start")
    return SPEC


def http_failure(resp: requests.Response) -> Failure:
    return Failure(f"HTTP {resp.status_code}", resp.content[:200].decode("utf-8", "replace"))


class LoadUser(User):
    """A user with its own HTTP connection pool and TLS (the profile's CA and client certificate)."""

    abstract = True
    wait_time = constant(0)

    def on_start(self) -> None:
        self.http = requests.Session()
        self.http.trust_env = False  # the spec's CA, not a machine-wide bundle or proxy from the environment
        self.http.verify = spec().tls_verify()
        cert = spec().tls_cert()
        if cert:
            self.http.cert = cert
        self.serial = next(_serial)

    def on_stop(self) -> None:
        self.http.close()

    def timed(self, kind: str, name: str, exchange: Callable[[], tuple[int, float]]) -> None:
        """Run ``exchange`` (returns bytes read and the perf_counter when the answer was complete, before any
        check that follows) and report it; a failure is reported, never raised into Locust."""
        started = time.perf_counter()
        ended, nbytes, error, detail = None, 0, None, ""
        try:
            nbytes, ended = exchange()
        except Failure as exc:
            error, detail = exc.kind, exc.detail
        except requests.RequestException as exc:
            error, detail = type(exc).__name__, str(exc)
        except Exception as exc:
            error, detail = f"client: {type(exc).__name__}", str(exc)
        elapsed = ((ended or time.perf_counter()) - started) * 1000
        self.environment.events.request.fire(
            request_type=kind, name=name, response_time=elapsed, response_length=nbytes,
            exception=Failure(error, detail) if error else None, context={"error": error, "detail": detail},
            response=None)


# -- wado-storm ------------------------------------------------------------------------------
def boundary_of(content_type: str) -> str | None:
    """The boundary parameter of a multipart Content-Type (RFC 2046 §5.1.1), quoted or not."""
    for param in content_type.split(";")[1:]:
        key, _, value = param.strip().partition("=")
        if key.strip().lower() == "boundary":
            return value.strip().strip('"') or None
    return None


class WadoConsumer(LoadUser):
    """A Consumer DRIMbox retrieving series over WADO-RS (IHE RAD-107; ANS Simulateur client wadoRS)."""

    def on_start(self) -> None:
        super().on_start()
        t = spec().target
        self.token = t["tokens"][self.serial % len(t["tokens"])]
        self.paths = [f"/studies/{t['study_uid']}/series/{s}" for s in t.get("series") or []] \
            or [f"/studies/{t['study_uid']}"]

    @task
    def rad107_retrieve_series(self) -> None:
        t = spec().target
        path = random.choice(self.paths)
        headers = {"Accept": ANY_DICOM, "Authorization": f"Bearer {self.token}",
                   "KOS-SOPInstanceUID": t["kos_uid"]}
        name = "RAD-107 series" if "/series/" in path else "RAD-107 study"

        def exchange() -> tuple[int, float]:
            with self.http.get(t["wado_rs"] + path, headers=headers, stream=True, timeout=TIMEOUT) as resp:
                if resp.status_code != 200:
                    raise http_failure(resp)
                content_type = resp.headers.get("Content-Type", "")
                boundary = boundary_of(content_type)
                if not content_type.lower().startswith("multipart/related") or not boundary:
                    raise Failure("protocol: not multipart/related with a boundary", content_type)
                size, tail = 0, b""
                for chunk in resp.iter_content(CHUNK):
                    size += len(chunk)
                    on_bytes(len(chunk))
                    tail = (tail + chunk)[-(len(boundary) + 16):]
                ended = time.perf_counter()
                if f"--{boundary}--".encode() not in tail:
                    raise Failure("protocol: multipart body not closed", f"{size} bytes read, last {tail[-40:]!r}")
                return size, ended

        self.timed("GET", name, exchange)


# -- DMP transactions (SOAP 1.2) --------------------------------------------------------------
TEST_NIR_OID = "1.2.250.1.213.1.4.10"  # test INS-NIR (ANS DRIM-M_DATA KOS_OK.xml)
SUCCESS = "urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Success"
APPROVED = "urn:oasis:names:tc:ebxml-regrep:StatusType:Approved"
XDSB_NS = "urn:ihe:iti:xds-b:2007"


def test_patient() -> str:
    """A fresh test INS in CX form (NH), so a burst never piles every document on one patient."""
    return f"{1 + secrets.randbelow(2)}{secrets.randbelow(10**14):014d}^^^&{TEST_NIR_OID}&ISO^NH"


class SoapUser(LoadUser):
    """A DMP client: signs a VIHF per patient (kept five minutes of its ten-minute lifetime) when the spec
    carries the signer the DMP trusts."""

    abstract = True

    def on_start(self) -> None:
        super().on_start()
        self._vihf: dict[str, tuple[float, Any]] = {}

    def security(self, patient: str) -> list[Any]:
        key, cert = spec().vihf()
        if key is None or cert is None:
            return []
        made, header = self._vihf.get(patient, (0.0, None))
        if header is None or time.monotonic() - made > 300:
            from harness.vihf import VihfIdentity, build_vihf

            header = build_vihf(VihfIdentity(), patient=patient, key_pem=key, cert_pem=cert)
            self._vihf[patient] = (time.monotonic(), header)
        return [header]

    def soap(self, url: str, content_type: str, body: bytes) -> tuple[Any, int, float]:
        """POST a SOAP message; (decoded message, bytes, when the answer was read). HTTP errors and undecodable
        answers are failures."""
        from harness.soap import SoapFault, decode_message, parse_fault

        resp = self.http.post(url, data=body, headers={"Content-Type": content_type}, timeout=TIMEOUT)
        ended = time.perf_counter()
        try:
            message = decode_message(resp.headers.get("Content-Type", ""), resp.content)
        except SoapFault as exc:
            raise (http_failure(resp) if resp.status_code >= 400 else Failure("protocol: undecodable SOAP",
                                                                                str(exc))) from None
        fault = parse_fault(message.envelope)
        if fault is not None:
            raise Failure(f"SOAP fault {fault.code}", fault.reason)
        if resp.status_code >= 400:
            raise http_failure(resp)
        return message, len(resp.content), ended

    @staticmethod
    def registry_status(element: Any) -> None:
        from harness.xds.query import parse_registry_response

        status, errors = parse_registry_response(element)
        if status != SUCCESS:
            first = errors[0].code if errors else status.rsplit(":", 1)[-1] or "no status"
            raise Failure(f"XDS {first}", "; ".join(f"{e.code} {e.context}" for e in errors[:3]))


class SourcePublisher(SoapUser):
    """A Source DRIMbox publishing a new KOS per request to the DMP (RAD-68; ANS Validateur XDS/XDS.xml)."""

    def on_start(self) -> None:
        super().on_start()
        self.patient = test_patient()

    @task
    def rad68_provide_and_register(self) -> None:
        from harness.xds import build_pnr_message, kos_submission
        from testplans.dmp.kos import make_kos

        t = spec().target
        kos, study = make_kos(references=3, retrieve_base=t.get("retrieve_base") or "https://source.example/wado-rs")
        sub = kos_submission(kos, patient_id=self.patient, study_uid=study, accession=f"ACC{secrets.randbelow(10**9)}")
        content_type, body = build_pnr_message(sub, mtom=True, to=t["repository"],
                                               header_extra=self.security(self.patient))

        def exchange() -> tuple[int, float]:
            message, size, ended = self.soap(t["repository"], content_type, body)
            self.registry_status(message.envelope.body)
            return size, ended

        self.timed("SOAP", "RAD-68 provide and register", exchange)


class DmpReader(SoapUser):
    """A Consumer DRIMbox finding (ITI-18) and retrieving (ITI-43) the KOS the set-up published."""

    @task(3)
    def iti18_find_documents(self) -> None:
        from harness.soap import ITI18_ACTION, build_envelope
        from harness.xds.query import build_query, parse_query_response

        t = spec().target
        doc = random.choice(t["documents"])
        request = build_query("FindDocuments", {"$XDSDocumentEntryPatientId": doc["patient"],
                                                "$XDSDocumentEntryStatus": [APPROVED]})
        body = build_envelope(request, action=ITI18_ACTION, to=t["registry"],
                              header_extra=self.security(doc["patient"]))

        def exchange() -> tuple[int, float]:
            message, size, ended = self.soap(
                t["registry"], f'application/soap+xml; charset=UTF-8; action="{ITI18_ACTION}"', body)
            answer = parse_query_response(message.envelope.body)
            if answer.status != SUCCESS:
                raise Failure(f"XDS {answer.errors[0].code if answer.errors else 'status ' + answer.status}")
            if not answer.objects:
                raise Failure("protocol: FindDocuments found none of the published KOS", doc["patient"])
            return size, ended

        self.timed("SOAP", "ITI-18 FindDocuments", exchange)

    @task(1)
    def iti43_retrieve_document_set(self) -> None:
        from harness.soap import ITI43_ACTION, build_envelope, encode_mtom
        from harness.xds.clients import build_retrieve_request

        t = spec().target
        doc = random.choice(t["documents"])
        envelope = build_envelope(build_retrieve_request([(doc["repository_unique_id"], doc["unique_id"])]),
                                  action=ITI43_ACTION, to=t["repository"], header_extra=self.security(doc["patient"]))
        content_type, body = encode_mtom(envelope, {}, action=ITI43_ACTION)

        def exchange() -> tuple[int, float]:
            message, size, ended = self.soap(t["repository"], content_type, body)
            self.registry_status(message.envelope.body)
            if message.envelope.body.find(f"{{{XDSB_NS}}}DocumentResponse") is None:
                raise Failure("protocol: no DocumentResponse", doc["unique_id"])
            return size, ended

        self.timed("SOAP", "ITI-43 retrieve document set", exchange)


# -- contextual-calls -------------------------------------------------------------------------
class ProfessionalSoftware(LoadUser):
    """The professional's software posting the contextual call (ANS FAQ, spec §4.6.1), redirects followed."""

    @task
    def contextual_call(self) -> None:
        t = spec().target

        def exchange() -> tuple[int, float]:
            resp = self.http.post(t["contextual_call"], data=t["form"], allow_redirects=True, timeout=TIMEOUT)
            ended = time.perf_counter()
            if resp.status_code >= 400:
                raise http_failure(resp)
            first = resp.history[0].status_code if resp.history else resp.status_code
            if first not in (302, 303):
                raise Failure("protocol: no 302/303 redirect", f"first answer HTTP {first}")
            return len(resp.content), ended

        self.timed("POST", "contextual call", exchange)


SCENARIOS: dict[str, list[type[User]]] = {
    "wado-storm": [WadoConsumer],
    "rad68-burst": [SourcePublisher],
    "dmp-mix": [DmpReader],
    "contextual-calls": [ProfessionalSoftware],
}
ALL_USERS: list[type[User]] = [cls for classes in SCENARIOS.values() for cls in classes]
