"""The system a load run targets, and the data it must hold before the first user starts.

``reference:source|dmp|consumer``: the reference network (``simulators.network``, HTTPS from the test PKI,
control point C17) is started for the run, and the set-up publishes what the scenario reads:
- ``wado-storm``: the fixture study is generated (``fixtures.studies``, seeded), stored in the Source's PACS,
  and its report sent over MLLP, so the Source publishes its KOS to the DMP (RAD-68); the users retrieve its
  series with tokens of the PSC simulator bound to the Consumer's certificate (RFC 8705 §3) and the KOS's
  SOP Instance UID. ``--study ans`` is the ANS performance study (``DRIM-M_DATA informatif/Performances``:
  1300 CT images, JPEG-LS lossless, about 200 MB), ``small`` a 2 x 3 image study for a quick check.
- ``dmp-mix``: KOS submissions for a few test patients are published first (RAD-68), so ITI-18 finds them and
  ITI-43 retrieves them. ``rad68-burst`` needs nothing beforehand; ``contextual-calls`` a test patient.

A SUT profile: the product is reached through its endpoints and TLS settings, and must already hold what the
scenario reads, as named on the command line:
- ``wado-storm`` (``actor: source_drimbox``, ``endpoints.wado_rs``): ``--study-uid`` and ``--kos-uid`` of a
  study it has published; tokens either given (``--token``, repeatable: obtained from PSC beforehand) or
  issued by a PSC simulator the Source trusts (``--psc-issuer``, default ``endpoints.psc_issuer``; its test
  shortcut ``/drimcheck/issue-token``, authenticated by the profile's ``tls.cert``).
- ``rad68-burst`` / ``dmp-mix`` (``actor: dmp``): ``endpoints.registry`` and ``repository``, the VIHF signer
  the DMP trusts (``credentials.vihf_key``/``vihf_cert``); ``dmp-mix`` publishes its own documents first.
- ``contextual-calls`` (``actor: consumer_drimbox``): ``endpoints.contextual_call``.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SCENARIO_ACTORS = {"wado-storm": "source_drimbox", "rad68-burst": "dmp", "dmp-mix": "dmp",
                   "contextual-calls": "consumer_drimbox"}
ACTOR_WORDS = {"source_drimbox": "a Source DRIMbox", "dmp": "a DMP", "consumer_drimbox": "a Consumer DRIMbox"}
CONSUMER_CLIENT = "drimbox-consumer"  # the Consumer's PSC client (simulators/psc/users.yaml)
PROFESSIONALS = ("10001000001", "10001000002")  # test professionals of the PSC simulator
TEST_NIR_OID = "1.2.250.1.213.1.4.10"
APPROVED = "urn:oasis:names:tc:ebxml-regrep:StatusType:Approved"
ISSUE_TOKEN_PATH = "/drimcheck/issue-token"
# name -> (series, images per series, transfer syntax, rows = columns)
STUDIES: dict[str, tuple[int, int, str, int]] = {
    "ans": (4, 325, "jpeg-ls", 512),  # 1300 CT images, JPEG-LS lossless (ANS informatif/Performances)
    "small": (2, 3, "jpeg-ls", 64),
}


class TargetError(ValueError):
    """The target cannot be loaded as asked; the message names what is missing and how to give it."""


@dataclass
class Prepared:
    """The scenario's target fields, TLS and VIHF material (PEM text), and what the set-up did."""

    target: dict[str, Any]
    tls: dict[str, Any] = field(default_factory=dict)  # tls_ca, tls_insecure, tls_client_cert, tls_client_key
    vihf: dict[str, str] = field(default_factory=dict)  # vihf_key, vihf_cert
    setup: dict[str, Any] = field(default_factory=dict)


@dataclass
class TargetOptions:
    """What the command line says about the target's data and credentials."""

    study: str = "ans"
    study_uid: str | None = None
    kos_uid: str | None = None
    series: list[str] = field(default_factory=list)
    tokens: list[str] = field(default_factory=list)
    psc_issuer: str | None = None
    token_ttl: int = 3600
    token_count: int = 8
    documents: int = 20
    workdir: Path | None = None


def _read(path: str | Path | None) -> str | None:
    return Path(path).read_text(encoding="utf-8") if path else None


def check_actor(scenario: str, actor: str, sut: str) -> None:
    wanted = SCENARIO_ACTORS[scenario]
    if actor != wanted:
        alias = {"source_drimbox": "source", "consumer_drimbox": "consumer", "dmp": "dmp"}[wanted]
        raise TargetError(f"{scenario} loads {ACTOR_WORDS[wanted]}, and {sut} is "
                          f"{ACTOR_WORDS.get(actor, actor or 'no known actor')}: give reference:{alias} or a "
                          f"profile with actor: {wanted}")


@contextlib.contextmanager
def prepare(sut: str, scenario: str, options: TargetOptions) -> Iterator[Prepared]:
    """The target of ``scenario`` on ``sut`` (``reference:ACTOR`` or a profile path), set up and running for
    as long as the context lasts."""
    from harness.sut import load_profile

    profile = load_profile(sut)
    check_actor(scenario, profile.actor, sut)
    if profile.reference:
        if profile.fault:
            raise TargetError("a load run targets the reference without faults: drop ?fault=")
        with _reference(scenario, options) as prepared:
            yield prepared
    else:
        yield _profile_target(profile, scenario, options)


# -- the reference network -----------------------------------------------------------------------
@contextlib.contextmanager
def _reference(scenario: str, options: TargetOptions) -> Iterator[Prepared]:
    import tempfile

    from harness.tls import network_tls
    from simulators.network import start_network

    with contextlib.ExitStack() as stack:
        workdir = options.workdir or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="drimcheck-load-")))
        tls = network_tls()
        net = stack.enter_context(start_network(Path(workdir) / "network", tls=tls))
        yield reference_target(net, tls, scenario, options, Path(workdir))


def reference_target(net: Any, tls: Any, scenario: str, options: TargetOptions, workdir: Path) -> Prepared:
    """The target of ``scenario`` on a running reference network ``net`` (``simulators.network.Network``)
    served with ``tls`` (``harness.tls.NetworkTls``; None: plain HTTP), its data set up now."""
    parts = dict(net.parts)
    client = tls.client("consumer-client") if tls is not None else None
    base_tls = {} if client is None else {"tls_ca": _read(tls.ca), "tls_client_cert": _read(client[0]),
                                          "tls_client_key": _read(client[1])}
    if scenario == "wado-storm":
        published = publish_study(net, workdir / "study", options.study)
        tokens = options.tokens or issue_tokens(parts["psc"], client[0] if client else None, options)
        target = {"wado_rs": parts["source"].endpoints["wado_rs"], "study_uid": published["study_uid"],
                  "kos_uid": published["kos_uid"], "series": published["series"], "tokens": tokens}
        setup = {"study": f"{options.study}: {published['instances']} images in {len(published['series'])} series, "
                          f"{published['bytes'] / 1e6:.2f} MB, published by the reference Source (RAD-68)",
                 "study UID": published["study_uid"], "KOS UID": published["kos_uid"],
                 "tokens": "given on the command line" if options.tokens else
                 f"{len(tokens)} issued by the PSC simulator"
                 + (", bound to the Consumer's certificate (RFC 8705 §3)" if client else "")}
        return Prepared(target, base_tls, {}, setup)
    source = parts["source"].config  # the network's VIHF signer, the one its DMP trusts
    signer = {"vihf_key": source.vihf_key.decode(), "vihf_cert": source.vihf_cert.decode()}
    dmp = parts["dmp"].endpoints
    if scenario in ("rad68-burst", "dmp-mix"):
        target = {"registry": dmp["registry"], "repository": dmp["repository"],
                  "retrieve_base": parts["source"].endpoints["wado_rs"]}
        setup: dict[str, Any] = {"DMP": f"{dmp['registry']}, {dmp['repository']}"}
        if scenario == "dmp-mix":
            session = _session(tls.ca if tls is not None else None, None, False)
            target["documents"] = publish_documents(dmp["registry"], dmp["repository"], session, signer,
                                                    options.documents)
            setup["documents"] = f"{len(target['documents'])} KOS published beforehand (RAD-68)"
        return Prepared(target, base_tls, signer, setup)
    consumer = parts["consumer"].endpoints
    return Prepared({"contextual_call": consumer["contextual_call"], "form": contextual_form()}, base_tls, {},
                    {"Consumer": consumer["contextual_call"]})


def publish_study(net: Any, folder: Path, name: str) -> dict[str, Any]:
    """Generate study ``name``, store it in the Source's PACS, send its report over MLLP (ORU^R01) and wait for
    the DMP to list the KOS; its UIDs, series, size and the KOS's SOP Instance UID (read back by ITI-43)."""
    from fixtures.studies import write_study
    from harness.dicom import load_study_into_pacs
    from simulators.ris import messages as M
    from simulators.ris import send

    if name not in STUDIES:
        raise TargetError(f"unknown study {name!r}: choose one of {', '.join(STUDIES)}")
    series, per_series, syntax, size = STUDIES[name]
    parts = dict(net.parts)
    pacs = parts["src-pacs"]
    ex = M.exam(f"load-{name}", series=series, instances=per_series)
    refs = write_study(M.study_spec(ex, transfer_syntax=syntax, rows=size, columns=size), folder)
    load_study_into_pacs([r.path for r in refs], pacs.host, pacs.port, pacs.aet)
    _raw, ack = send(parts["source"].endpoints["mllp"], M.oru(ex))
    if ack is None or ack.code != "AA":
        raise TargetError(f"the reference Source refused the study's report: {ack.code if ack else 'no ACK'}")
    kos = _published_kos(parts, f"{ex.ins}^^^&{TEST_NIR_OID}&ISO^NH")
    return {"study_uid": ex.study_uid, "kos_uid": kos, "instances": len(refs),
            "series": sorted({r.series_instance_uid for r in refs}), "bytes": sum(r.size for r in refs)}


def _published_kos(parts: dict[str, Any], patient: str, timeout: float = 60.0) -> str:
    """Wait for the DMP to list the patient's KOS (ITI-18), then read it (ITI-43): its SOP Instance UID."""
    from simulators.network import published_kos_uid

    source = parts["source"]
    key, cert = source.config.vihf_key, source.config.vihf_cert
    try:
        kos = published_kos_uid(parts["dmp"].endpoints, patient, (key, cert) if key and cert else None, timeout,
                                actor="drimcheck-load")
    except TimeoutError as exc:
        raise TargetError(f"the reference Source {exc}") from None
    if not kos:
        raise TargetError("the DMP lists the study's KOS but ITI-43 returned no document")
    return kos


def issue_tokens(psc: Any, cert_file: str | None, options: TargetOptions) -> list[str]:
    """Tokens of the test professionals from the PSC simulator, bound to ``cert_file`` when given."""
    thumb = None
    if cert_file:
        from cryptography import x509

        from simulators.psc.mtls import x5t_s256

        thumb = x5t_s256(x509.load_pem_x509_certificate(Path(cert_file).read_bytes()))
    return [psc.issue_token(PROFESSIONALS[i % len(PROFESSIONALS)], CONSUMER_CLIENT, ttl=options.token_ttl,
                            x5t_s256=thumb) for i in range(options.token_count)]


def contextual_form() -> dict[str, str]:
    """The professional's software form for a test patient (ANS PoC TestServer-AppelContextuel, FACTS §6)."""
    from simulators.ris import messages as M

    ex = M.exam("load-context")
    d = ex.birth_date
    return {"Patient.identifier.value": ex.ins, "Patient.identifier.system": f"urn:oid:{TEST_NIR_OID}",
            "Patient.name.family": ex.birth_name, "Patient.name.given": ex.given,
            "Patient.gender": {"F": "female", "M": "male"}.get(ex.sex, "other"),
            "Patient.birthDate": f"{d[0:4]}-{d[4:6]}-{d[6:8]}", "Address.district": ex.birthplace,
            "InformationEtConsentement": "true", "PatientID": f"LOC{ex.ins[-6:]}",
            "PatientIDIssuer": "CABINET&1.2.250.1.999.1.1.9&ISO"}


def _session(ca: Any, cert: tuple[str, str] | None, insecure: bool) -> Any:
    import requests

    session = requests.Session()
    session.trust_env = False
    session.verify = False if insecure else (str(ca) if ca else True)
    if cert:
        session.cert = cert
    return session


def publish_documents(registry: str, repository: str, session: Any, signer: dict[str, str | None],
                      count: int) -> list[dict[str, str]]:
    """Publish ``count`` KOS submissions (RAD-68) spread over a few test patients; what ITI-18/43 then read."""
    from harness.vihf import VihfIdentity, build_vihf
    from harness.xds import kos_submission
    from harness.xds.clients import XdsClient
    from harness.xds.query import entry_summary
    from testplans.dmp.kos import make_kos

    key, cert = signer.get("vihf_key"), signer.get("vihf_cert")

    def vihf(patient: str | None) -> Any:
        if not (key and cert):
            return None
        return build_vihf(VihfIdentity(), patient=patient or "", key_pem=key.encode(), cert_pem=cert.encode())

    client = XdsClient(registry, repository, actor="drimcheck-load", vihf=vihf, session=session)
    patients = [f"{1 + i % 2}{random.randrange(10**14):014d}^^^&{TEST_NIR_OID}&ISO^NH"
                for i in range(max(1, count // 5))]
    for i in range(count):
        patient = patients[i % len(patients)]
        kos, study = make_kos(references=3)
        result = client.provide_and_register(kos_submission(kos, patient_id=patient, study_uid=study,
                                                            accession=f"ACC{random.randrange(10**9)}"))
        if not result.success:
            raise TargetError(f"the DMP refused a set-up KOS submission (HTTP {result.http_status}, status "
                              f"{result.status or 'none'} {' '.join(result.error_codes)}): fix its VIHF signer "
                              "(credentials.vihf_key / vihf_cert) or its endpoints")
    documents = []
    for patient in patients:
        found = client.query("FindDocuments", {"$XDSDocumentEntryPatientId": patient,
                                               "$XDSDocumentEntryStatus": [APPROVED]})
        for obj in (found.query.objects if found.query else []):
            summary = entry_summary(obj)
            documents.append({"patient": patient, "unique_id": summary.get("uniqueId") or "",
                              "repository_unique_id": summary.get("repositoryUniqueId") or ""})
    if not documents:
        raise TargetError("the DMP acknowledged the set-up submissions but FindDocuments finds none of them")
    return documents


# -- a product described by a profile ----------------------------------------------------------------
def _profile_tls(profile: Any) -> dict[str, Any]:
    tls = profile.tls or {}
    return {"tls_ca": _read(tls.get("ca")), "tls_insecure": tls.get("verify") is False,
            "tls_client_cert": _read(tls.get("cert")), "tls_client_key": _read(tls.get("key"))}


def _need(value: Any, what: str, how: str) -> Any:
    if not value:
        raise TargetError(f"{what} is missing: {how}")
    return value


def _profile_target(profile: Any, scenario: str, options: TargetOptions) -> Prepared:
    ep, creds = profile.endpoints or {}, profile.credentials or {}
    tls = _profile_tls(profile)
    if scenario == "wado-storm":
        wado = _need(ep.get("wado_rs"), "endpoints.wado_rs", "the profile names the Source's WADO-RS base URL")
        study = _need(options.study_uid, "--study-uid", "name a study the Source has published (its KOS is at the DMP)")
        kos = _need(options.kos_uid, "--kos-uid", "give the SOP Instance UID of that study's KOS")
        tokens = options.tokens or _tokens_from_issuer(options.psc_issuer or ep.get("psc_issuer"), profile, options)
        target = {"wado_rs": wado.rstrip("/"), "study_uid": study, "kos_uid": kos, "series": list(options.series),
                  "tokens": tokens}
        setup = {"study UID": study, "KOS UID": kos,
                 "series": ", ".join(options.series) or "the whole study (no --series given)",
                 "tokens": "given on the command line" if options.tokens else f"{len(tokens)} from the PSC issuer"}
        return Prepared(target, tls, {}, setup)
    if scenario in ("rad68-burst", "dmp-mix"):
        registry = _need(ep.get("registry"), "endpoints.registry", "the profile names the DMP's registry URL")
        repository = _need(ep.get("repository"), "endpoints.repository", "the profile names the DMP's repository URL")
        signer = {"vihf_key": _read(creds.get("vihf_key")), "vihf_cert": _read(creds.get("vihf_cert"))}
        target: dict[str, Any] = {"registry": registry, "repository": repository}
        setup: dict[str, Any] = {"DMP": f"{registry}, {repository}"}
        if scenario == "dmp-mix":
            http = profile.http_kwargs()
            session = _session(http["verify"] if isinstance(http["verify"], str) else None, http.get("cert"),
                               http["verify"] is False)
            target["documents"] = publish_documents(registry, repository, session, signer, options.documents)
            setup["documents"] = f"{len(target['documents'])} KOS published beforehand (RAD-68)"
        return Prepared(target, tls, {k: v for k, v in signer.items() if v}, setup)
    url = _need(ep.get("contextual_call"), "endpoints.contextual_call", "the profile names the Consumer's "
                "contextual call URL")
    return Prepared({"contextual_call": url, "form": contextual_form()}, tls, {}, {"Consumer": url})


def _tokens_from_issuer(issuer: str | None, profile: Any, options: TargetOptions) -> list[str]:
    """Tokens from a PSC simulator's test shortcut (``/drimcheck/issue-token``), the client authenticated by
    the profile's certificate (RFC 8705 §2.1 tls_client_auth), which the tokens are then bound to (§3)."""
    import requests

    if not issuer:
        raise TargetError("no bearer token: give --token (repeatable) obtained from PSC, or --psc-issuer (or the "
                          "profile's endpoints.psc_issuer) of a PSC simulator the Source introspects at")
    http = profile.http_kwargs()
    form = {"client_id": CONSUMER_CLIENT, "ttl": str(options.token_ttl)}
    if not http.get("cert"):
        form["client_secret"] = "consumer-secret"  # the simulator's test client (simulators/psc/users.yaml)
    tokens = []
    for i in range(options.token_count):
        try:
            resp = requests.post(issuer.rstrip("/") + ISSUE_TOKEN_PATH, timeout=30,
                                 data={**form, "sub": PROFESSIONALS[i % len(PROFESSIONALS)]}, **http)
        except requests.RequestException as exc:
            raise TargetError(f"PSC issuer {issuer} unreachable: {exc}") from None
        if resp.status_code != 200 or "access_token" not in resp.text:
            raise TargetError(f"PSC issuer {issuer} issued no token (HTTP {resp.status_code}: {resp.text[:200]})")
        tokens.append(resp.json()["access_token"])
    return tokens
