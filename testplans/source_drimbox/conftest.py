"""The source_drimbox plan: the harness plays the RIS, the DMP, Pro Santé Connect, the PACS content and a Consumer.

Peers (all on loopback): the DMP simulator (``simulators.dmp``, VIHF enforced with a CA made for the
run), the Pro Santé Connect simulator (``simulators.psc``), the embedded PACS holding the fixture
studies (``simulators.pacs``), the RIS (``simulators.ris``: an MLLP client) and a WADO-RS Consumer.

``reference:source[?fault=F]``: the reference Source is started wired to those peers; with the environment
variable ``DRIMCHECK_SOURCE_PACS=orthanc`` it runs in front of Orthanc instead of the embedded PACS, and with
``DRIMCHECK_SOURCE_RETRIEVE=cget`` it reads the PACS by C-GET instead of its WADO-RS.

A vendor Source (a SUT profile with ``actor: source_drimbox``) must provide:
- ``endpoints.wado_rs``: its WADO-RS base URL (what it writes in the KOS Retrieve URL);
- ``endpoints.mllp``: ``host:port`` of its HL7 v2 listener;
- ``endpoints.dicom``: ``{ae_title, host, port}`` of the PACS it reads (the plan C-STOREs the fixture studies there);
- ``endpoints.iocm``: ``{ae_title, host, port}`` where an IOCM rejection note reaches the Source (its own Storage
  SCP, or the Image Manager that forwards rejection notes to it); without it the IOCM requirements are not run;
- ``options.ports.dmp`` / ``options.ports.psc``: the fixed loopback ports on which the harness starts the DMP and
  PSC simulators, so the Source can be configured beforehand with
  DMP registry ``http://127.0.0.1:<dmp>/registry``, repository ``http://127.0.0.1:<dmp>/repository``,
  and PSC issuer ``http://127.0.0.1:<psc>/auth/realms/esante-wallet`` (introspection at
  ``<issuer>/protocol/openid-connect/token/introspect``, client ``credentials.psc_client_id`` /
  ``psc_client_secret``, default ``drimbox-source`` / ``source-secret``);
- ``credentials.vihf_ca``: the PEM CA certificate of its VIHF and Signature01 signer: the DMP simulator enforces
  VIHF against it and the plan verifies both signatures with it. Without it the DMP only warns and the
  VIHF requirement is inconclusive;
- its DMP identity (ANS industriels FAQ, dispositif DRIMbox): ``options.identity_mode`` (EG, EJ or EJ-EG),
  ``options.finess_ej``, ``options.finess_eg`` (the default structure) and ``credentials.structures`` (FINESS ->
  PEM certificate of each structure's ORG AUTH CLI, two at least); without them SRC-DMP-* are not run.
The harness prints these endpoints at start.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from fixtures.mutations.goodset import Exam
from fixtures.studies import write_study
from harness import capture
from harness.dicom import load_study_into_pacs
from harness.servers import serve_again
from harness.tls import plan_peers_tls
from harness.vihf import TestPki, throwaway_pki
from simulators.dmp.app import create_app
from simulators.dmp.config import DmpConfig
from simulators.dmp.faults import handlers_for
from simulators.dmp.reference import Reference as DmpReference
from simulators.dmp.reference import start as start_dmp
from simulators.psc import start_psc
from simulators.ris import messages as M
from simulators.ris import send

PACS_ENV = "DRIMCHECK_SOURCE_PACS"  # "orthanc": the reference Source runs in front of Orthanc
RETRIEVE_ENV = "DRIMCHECK_SOURCE_RETRIEVE"  # "cget": the reference Source reads the PACS by C-GET
CONSUMER_CLIENT = "drimbox-consumer"
SOURCE_CLIENT = "drimbox-source"  # the client the Source introspects tokens as (simulators/psc/users.yaml)
PROFESSIONAL = "10001000002"  # a test professional of simulators/psc/users.yaml

# key -> (series, instances per series, stored transfer syntax, rows/columns); small, so the plan stays fast
STUDIES: dict[str, tuple[int, int, str, int]] = {
    "main": (2, 3, "explicit", 64), "jls": (1, 2, "jpeg-ls", 64), "large": (2, 25, "explicit", 32),
    "replace": (1, 2, "explicit", 32), "delete": (1, 2, "explicit", 32), "cancel": (1, 2, "explicit", 32),
    "mdm": (1, 2, "explicit", 32), "retry": (1, 2, "explicit", 32), "accmismatch": (1, 2, "explicit", 32),
    "patmismatch": (1, 2, "explicit", 32), "badcda": (1, 2, "explicit", 32), "refinal": (1, 2, "explicit", 32),
    "envelope": (1, 1, "explicit", 32),
    "masked": (1, 1, "explicit", 32), "invisible": (1, 1, "explicit", 32),
    "iocm": (2, 2, "explicit", 32), "omichange": (1, 1, "explicit", 32),
    "identity1": (1, 1, "explicit", 32), "identity2": (1, 1, "explicit", 32), "identityprt": (1, 1, "explicit", 32),
}
# the reference's DMP identity (test_identity): mode EG, two structures, the first the default (FINESS of ANS samples)
REFERENCE_STRUCTURES, REFERENCE_EJ = ("750803447", "920008059"), "120456789"
# key -> the report's HL7 masking flags (IG-hl7v2 MetaDMP/MSS); the others keep the fixture's (all N)
FLAGS: dict[str, dict[str, str]] = {
    "masked": {"MASQUE_PS": "Y"}, "invisible": {"INVISIBLE_PATIENT": "Y", "INVISIBLE_REP_LEGAUX": "Y"},
}


@dataclass
class Dmp:
    """The DMP simulator; ``restart()`` brings it back on the same port with the same storage and CA."""

    ref: DmpReference
    workdir: Path
    pki: TestPki | None
    trust: list[bytes]
    port: int
    ssl_context: Any = None  # HTTPS (the peers' TLS from the campaign's PKI) or None

    @property
    def endpoints(self) -> dict[str, str]:
        return self.ref.endpoints

    def stop(self) -> None:
        self.ref.stop()

    def restart(self) -> None:
        """Back on the same port; sockets of the previous server may still be in TIME_WAIT for a moment:
        retry a few seconds if the port cannot be bound yet."""
        config = _dmp_config(self.workdir, self.trust)
        app = create_app(config, handlers_for(None))
        try:
            server = serve_again(app, "dmp-simulator", self.port, ssl_context=self.ssl_context)
        except BaseException:
            app.close()
            raise
        self.ref = DmpReference(app, server, config, self.pki)


def _dmp_config(workdir: Path, trust: list[bytes]) -> DmpConfig:
    return DmpConfig(workdir=workdir, vihf="enforce" if trust else "warn", trust_store=trust)


@dataclass
class Env:
    """Everything a test needs: peers, the Source's endpoints, the exams and what was published."""

    dmp: Dmp
    psc: Any
    wado: str
    mllp: str
    exams: dict[str, Exam]
    files: dict[str, list[Path]]
    published: dict[str, Any] = field(default_factory=dict)
    trust: list[bytes] = field(default_factory=list)  # CA(s) of the Source's VIHF / Signature01 signer
    refused: dict[str, list[tuple[str, float]]] = field(default_factory=dict)  # rule -> [(study, sent at)]
    acknowledged: dict[str, list[float]] = field(default_factory=dict)  # study -> when reports of it were sent AA
    current_requirements: tuple[str, ...] = ()  # of the running test (set by an autouse fixture)
    security: Any = None  # support.SecurityEnv: transport-security tests (None: the profile names no tls.pki)
    iocm: tuple[str, int, str] | None = None  # (host, port, AE title) where rejection notes go; None: not given
    identity: dict[str, Any] | None = None  # the reference's DMP identity (a vendor's is read from its profile)

    def token(self, **kwargs: Any) -> str:
        return self.psc.issue_token(PROFESSIONAL, CONSUMER_CLIENT, **kwargs)

    def token_for(self, professional: str, **kwargs: Any) -> str:
        """A token of another professional (RPPS) known to the PSC simulator."""
        return self.psc.issue_token(professional, CONSUMER_CLIENT, **kwargs)

    def send(self, message: bytes):
        """Send one HL7 message over MLLP; a report the Source refuses (AE/AR) is remembered, with the
        requirements of the test that sent it, so the plan can check at its end that it was never published."""
        sent = time.time()
        raw, ack = send(self.mllp, message)
        study = _study_of(message) or next((ex.study_uid for ex in self.exams.values()
                                            if ex.accession.encode() in message), None)
        if study and ack is not None and ack.code in ("AE", "AR"):
            for rid in self.current_requirements:
                self.refused.setdefault(rid, []).append((study, sent))
        elif study and ack is not None and ack.code == "AA":
            self.acknowledged.setdefault(study, []).append(sent)
        return raw, ack


def _exams() -> dict[str, Exam]:
    from dataclasses import replace

    exams = {k: M.exam(f"src-plan-{k}", series=s, instances=n) for k, (s, n, _ts, _r) in STUDIES.items()}
    for key, flags in FLAGS.items():
        ex = exams[key]
        exams[key] = replace(ex, flags=tuple((f, flags.get(f, v)) for f, v in ex.flags)
                             + tuple((f, v) for f, v in flags.items() if f not in dict(ex.flags)))
    return exams


def _study_files(exams: dict[str, Exam], root: Path) -> dict[str, list[Path]]:
    from dataclasses import replace

    files = {}
    for key, (_s, _n, ts, size) in STUDIES.items():
        ex = exams[key]
        if key == "accmismatch":  # images carry another accession number than the report
            ex = replace(ex, accession="999999999")
        if key == "patmismatch":  # images carry another patient (valid test INS) than the report
            ex = replace(ex, ins="274075176079430")
        spec = M.study_spec(ex, transfer_syntax=ts, rows=size, columns=size)
        files[key] = [r.path for r in write_study(spec, root / key)]
    return files


@pytest.fixture(scope="session")
def env(sut: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    root = tmp_path_factory.mktemp("source-plan")
    exams = _exams()
    files = _study_files(exams, root / "studies")
    from testplans.source_drimbox.support import PUBLISH_TIMEOUT, Timing

    Timing.publish = float((sut.options or {}).get("publish_timeout", PUBLISH_TIMEOUT))
    vendor_ca = (sut.credentials or {}).get("vihf_ca")
    pki = throwaway_pki("DRIMcheck Source plan") if sut.reference and not vendor_ca else None
    trust = [Path(vendor_ca).read_bytes()] if vendor_ca else [pki.ca_pem] if pki else []
    dmp_dir = root / "dmp"
    dmp_dir.mkdir()
    peers_tls = plan_peers_tls(sut, root / "pki")  # C17: the Source's calls to the DMP and PSC are HTTPS too
    dmp_context = peers_tls.context("dmp") if peers_tls else None
    dmp_ref = start_dmp(_dmp_config(dmp_dir, trust), port=sut.port("dmp"), vihf_pki=pki, ssl_context=dmp_context)
    dmp = Dmp(dmp_ref, dmp_dir, pki, trust, dmp_ref.server.port, ssl_context=dmp_context)
    psc = start_psc(_psc_config(sut, peers_tls), port=sut.port("psc"))
    stack: list[Any] = [psc]
    security, iocm, identity = None, None, None
    try:
        if sut.reference:
            from harness.tls import network_tls
            from simulators.source import start_reference
            from simulators.source.reference import wado_tls
            from testplans.source_drimbox.consumer import use_tls
            from testplans.source_drimbox.support import security_env

            pacs = _start_pacs(root, fault=sut.fault)
            stack.append(pacs)
            _load(files, (pacs.host, pacs.port, pacs.aet))
            tls = peers_tls or network_tls(root / "pki")  # the reference's WADO-RS: HTTPS and mutual TLS (C17)
            context, allowed = wado_tls(tls, sut.fault)
            good = tuple(Path(p) for p in tls.client("consumer-client"))
            use_tls(verify=str(tls.ca), cert=tls.client("consumer-client"))
            certs = {f: pki.issue(f"DRIMcheck structure {f}", f"1{f}") for f in REFERENCE_STRUCTURES}
            identity = {"mode": "EG", "finess_eg": REFERENCE_STRUCTURES[0], "finess_ej": REFERENCE_EJ,
                        "structures": {f: c.cert_pem for f, c in certs.items()}}
            source = start_reference(
                sut.fault, root / "source", ssl_context=context, allowed_clients=allowed,
                pacs_host=pacs.host, pacs_port=pacs.port, pacs_aet=pacs.aet,
                pacs_dicomweb=pacs.dicomweb_url, dmp_registry=dmp.endpoints["registry"],
                dmp_repository=dmp.endpoints["repository"], psc_introspect=psc.endpoints["introspect"],
                vihf_key=pki.key_pem, vihf_cert=pki.cert_pem, psc_client_cert=tls.client("source-client"),
                pacs_retrieve=os.environ.get(RETRIEVE_ENV, "dicomweb"), identity_mode=identity["mode"],
                finess_eg=identity["finess_eg"], finess_ej=identity["finess_ej"],
                structures={f: (c.key_pem, c.cert_pem) for f, c in certs.items()})
            stack.append(source)
            wado, mllp = source.endpoints["wado_rs"], source.endpoints["mllp"]
            security = security_env(wado, tls.pki.folder, tls.ca, good)
            iocm = (source.iocm.host, source.iocm.port, source.iocm.ae_title)
        else:
            from testplans.source_drimbox.consumer import use_tls

            use_tls(**sut.http_kwargs())
            ep = sut.endpoints
            missing = [k for k in ("wado_rs", "mllp", "dicom") if k not in ep]
            if missing:
                pytest.fail(f"SUT profile {sut.name}: endpoints.{missing[0]} is required by the source_drimbox plan")
            _load(files, (ep["dicom"]["host"], int(ep["dicom"]["port"]), ep["dicom"]["ae_title"]))
            wado, mllp = ep["wado_rs"].rstrip("/"), ep["mllp"]
            if isinstance(ep.get("iocm"), dict):
                iocm = (ep["iocm"]["host"], int(ep["iocm"]["port"]), ep["iocm"]["ae_title"])
            tls_profile = sut.tls or {}
            if tls_profile.get("pki") and tls_profile.get("cert") and tls_profile.get("key"):
                from testplans.source_drimbox.support import security_env

                security = security_env(wado, Path(tls_profile["pki"]), Path(tls_profile.get("ca") or
                                        Path(tls_profile["pki"]) / "ca.pem"),
                                        (Path(tls_profile["cert"]), Path(tls_profile["key"])))
        print(f"\nsource_drimbox plan peers: DMP registry {dmp.endpoints['registry']}, repository "
              f"{dmp.endpoints['repository']}; PSC issuer {psc.endpoints['issuer']}; Source WADO-RS {wado}, "
              f"MLLP {mllp}", file=sys.stderr)
        yield Env(dmp, psc, wado, mllp, exams, files, trust=trust, security=security, iocm=iocm, identity=identity)
    finally:
        for item in reversed(stack):
            item.stop()
        dmp.stop()


def _psc_config(sut: Any, tls: Any = None) -> Any:
    """The PSC simulator's configuration, with the Source's own client when the profile gives it; HTTPS
    from the peers' PKI with ``tls``, asking (not demanding) a client certificate, as PSC's mTLS
    (RFC 8705) is checked from what each call presented, not refused at the handshake."""
    from dataclasses import replace

    from simulators.psc.config import Client, PscConfig

    config = PscConfig().load()
    if tls is not None:
        files = tls.files("psc")
        config = replace(config, tls_cert=files["cert"], tls_key=files["key"], client_ca=str(tls.ca),
                         client_cert="optional")
    creds = sut.credentials or {}
    if creds.get("psc_client_id"):
        client = Client(creds["psc_client_id"], creds.get("psc_client_secret", ""), require_pkce=False)
        config = replace(config, clients=[c for c in config.clients if c.client_id != client.client_id] + [client])
    if tls is not None:
        # the Source's client may authenticate by its certificate (RFC 8705 §2.1) as well as by a secret: the
        # plan accepts both, so every WADO-RS check still runs, and SRC-SEC-PSC-MTLS judges from the traffic
        subject = creds.get("psc_client_subject") or tls.pki.certificate("source-client").subject.rfc4514_string()
        wanted = creds.get("psc_client_id") or SOURCE_CLIENT
        config = replace(config, clients=[replace(c, tls_client_subject=subject) if c.client_id == wanted else c
                                          for c in config.clients])
    return config


def _start_pacs(root: Path, destinations: dict[str, tuple[str, int]] | None = None, fault: str | None = None) -> Any:
    """The PACS behind the reference Source: the embedded one, or Orthanc when ``DRIMCHECK_SOURCE_PACS=orthanc``;
    ``destinations`` the C-MOVE destinations it knows (AE title -> host, port); ``fault`` the reference's fault,
    applied when it is one of the PACS's (DB.SO.102: ``simulators.source.faults.PACS_FAULTS``)."""
    from simulators.source.faults import PACS_FAULTS

    pacs_fault = fault if fault in PACS_FAULTS else None
    if os.environ.get(PACS_ENV) == "orthanc":
        from harness.orthanc import require_orthanc, start_orthanc

        if pacs_fault:
            raise pytest.UsageError(f"fault {pacs_fault} is one of the embedded PACS: it cannot be switched on in "
                                    f"Orthanc ({PACS_ENV}=orthanc)")
        require_orthanc()
        return start_orthanc(root / "orthanc", modalities=destinations)
    from simulators.pacs import start_pacs

    return start_pacs(root / "pacs", known_aes=destinations, fault=pacs_fault)


def _load(files: dict[str, list[Path]], target: tuple[str, int, str]) -> None:
    """C-STORE each study on its own association (one transfer syntax per study, one context each), leaving out
    the instances the PACS already holds: the fixture studies are the same bytes every campaign (seeded,
    their UIDs derived from the exam's key), and a PACS a vendor keeps between campaigns has them from the
    last one (C-FIND at IMAGE level, PS3.4 C.4.1). A PACS that cannot answer the query gets every file."""
    from pydicom import dcmread

    from harness.dicom.client import DimseError, Peer, find_study_instances

    peer = Peer(target[0], target[1], target[2], "DRIMCHECK")
    for paths in files.values():
        study = str(dcmread(paths[0], stop_before_pixels=True).StudyInstanceUID)
        try:
            held = {str(ds.get("SOPInstanceUID", "")) for ds in find_study_instances(peer, study)}
        except (DimseError, OSError, RuntimeError):
            held = set()
        missing = [p for p in paths if str(dcmread(p, stop_before_pixels=True).SOPInstanceUID) not in held]
        if missing:
            load_study_into_pacs(missing, target[0], target[1], target[2])


@dataclass
class Publication:
    """What the RIS sent, what the Source answered, and the RAD-68 request the DMP then received."""

    message: bytes
    ack: Any
    pnr: Any  # support.Captured | None

    @property
    def control_id(self) -> str:
        return self.message.split(b"\r", 1)[0].decode("utf-8").split("|")[9]


def publish(env: Env, key: str, message: bytes | None = None) -> Publication:
    """Send the report of exam ``key`` once (session-wide) and wait for its publication at the DMP."""
    from testplans.source_drimbox.support import is_pnr, wait_dmp

    if key not in env.published:
        ex = env.exams[key]
        message = message or M.oru(ex)
        _raw, ack = env.send(message)
        got = wait_dmp(ex.study_uid, predicate=is_pnr) if ack is not None and ack.code == "AA" else []
        env.published[key] = Publication(message, ack, got[0] if got else None)
    return env.published[key]


def published_request(env: Env, key: str) -> Any:
    """The captured RAD-68 request of exam ``key``. When the Source did not acknowledge the report AA, or
    nothing reached the DMP, the calling test is inconclusive: that outcome is the finding of SRC-ACK-AA /
    SRC-XDS-ACCEPTED, and what depends on it cannot be judged (STYLE §17)."""
    from harness.checks import inconclusive
    from testplans.source_drimbox.support import Timing

    pub = publish(env, key)
    if pub.ack is None or pub.ack.code != "AA":
        inconclusive(f"exam {key}: the Source answered its report "
                     f"{'with no acknowledgement' if pub.ack is None else 'MSA-1 ' + pub.ack.code}, so nothing "
                     f"was published (see SRC-ACK-AA)")
    if pub.pnr is None:
        inconclusive(f"exam {key}: no RAD-68 request reached the DMP within {Timing.publish:.0f} s of the "
                     f"ACK AA (see SRC-XDS-ACCEPTED)")
    capture.cite(pub.pnr.exchange)  # the verdict rests on this publication: the report shows it with the test
    return pub.pnr


def published_kos(env: Env, key: str) -> Any:
    """The captured RAD-68 request of exam ``key``, which must carry a KOS (else inconclusive: see SRC-XDS-KOS)."""
    from harness.checks import inconclusive

    pnr = published_request(env, key)
    if pnr.kos_entry() is None or pnr.kos_bytes() is None:
        inconclusive(f"exam {key}: the RAD-68 request carries no application/dicom document (see SRC-XDS-KOS)")
    return pnr


def accepted_kos(env: Env, key: str) -> Any:
    """Like :func:`published_kos`, for a test that needs the DMP to hold the publication: a refused one
    makes it inconclusive (the refusal itself fails SRC-XDS-ACCEPTED)."""
    from harness.checks import inconclusive

    pnr = published_kos(env, key)
    answer = pnr.answer()
    if not answer.accepted:
        inconclusive(f"exam {key}: the DMP refused its publication ({answer.describe()}; see SRC-XDS-ACCEPTED)")
    return pnr


def _study_of(message: bytes) -> str | None:
    """The Study Instance UID a report is about: ZDS-1 or IPC-3 when present, else the CR-IMG's serviceEvent id
    (OBX-5, base64), read leniently (a malformed message has no study)."""
    import base64
    import re

    for seg in message.split(b"\r"):
        fields = seg.split(b"|")
        if fields[0] in (b"ZDS", b"IPC") and len(fields) > (3 if fields[0] == b"IPC" else 1):
            value = fields[3 if fields[0] == b"IPC" else 1].split(b"^")[0].decode("latin-1").strip()
            if value:
                return value
    for seg in message.split(b"\r"):
        fields = seg.split(b"|")
        if fields[0] == b"OBX" and len(fields) > 5 and fields[2] == b"ED":
            data = fields[5].split(b"^")[-1]
            try:
                cda = base64.b64decode(data, validate=False)
            except ValueError:
                return None
            found = re.search(rb"<serviceEvent\b.*?<id\s[^>]*root=\"([0-9.]+)\"", cda, re.S)
            return found[1].decode() if found else None
    return None


@pytest.fixture(autouse=True)
def _requirements_of_the_running_test(request: pytest.FixtureRequest, env: Env) -> Iterator[None]:
    """Tell ``env.send`` which requirements the running test verifies (see ``Env.send``)."""
    from harness.pytest_plugin import requirement_ids

    env.current_requirements = tuple(requirement_ids(request.node))
    yield
    env.current_requirements = ()
