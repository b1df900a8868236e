"""The national network on one machine, wired: what ``drimcheck serve all`` starts.

Pro Santé Connect, the DMP (VIHF enforced against a throwaway CA made at start), the Source's PACS,
the reference Source DRIMbox (C-FIND + WADO-RS on that PACS, publishing to the DMP, checking tokens
at PSC), the Consumer's PACS and the reference Consumer DRIMbox (ITI-18/43 at the DMP, login at PSC,
import into its PACS, allowed to retrieve from the Source). Each actor takes a free loopback port.
In TLS mode the DRIMboxes authenticate to PSC by mutual TLS (RFC 8705 §2.1), without a secret.
With ``demo=True`` one fixture exam is stored in the Source's PACS and its report sent by the RIS
over MLLP, so the DMP holds a manifest to find as soon as the network is up; ``demo["viewer URL"]`` opens
it in the Source's web viewer (its own listener, the Consumer's ``vi`` for the Source).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.servers import LOOPBACK
from harness.vihf import throwaway_pki

APPROVED = "urn:oasis:names:tc:ebxml-regrep:StatusType:Approved"
TEST_NIR_OID = "1.2.250.1.213.1.4.10"  # INS-NIR of test patients (ANS DRIM-M_DATA KOS_OK.xml)


@dataclass
class Network:
    """The running actors, in start order; ``stop()`` stops them in reverse order."""

    parts: list[tuple[str, Any]] = field(default_factory=list)
    demo: dict[str, str] = field(default_factory=dict)

    @property
    def endpoints(self) -> dict[str, str]:
        return {f"{name}.{key}": url for name, part in self.parts for key, url in part.endpoints.items()}

    def stop(self) -> None:
        while self.parts:
            _name, part = self.parts.pop()
            part.stop()

    def __enter__(self) -> Network:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_network(workdir: Path, *, host: str = LOOPBACK, demo: bool = False, tls: Any = None) -> Network:
    """Start every actor wired to the others; on any failure, stop what was started and re-raise.

    With ``tls`` (a :class:`harness.tls.NetworkTls`) every HTTP endpoint is HTTPS from its PKI (control
    point C17), the Consumer presents its ORG AUTH CLI certificate to the Source, and VIHF and
    Signature01 are signed with the structures' ORG SIGN certificates, which the DMP checks up to the PKI.
    The DRIMboxes call Pro Santé Connect with their ORG AUTH CLI certificates and no secret: PSC registers
    drimbox-source and drimbox-consumer for tls_client_auth only (RFC 8705 §2.1.2) and binds the
    Consumer's tokens to its certificate, which the Source checks at the WADO-RS (§3)."""
    from simulators.consumer import start_reference as start_consumer
    from simulators.dmp.config import DmpConfig
    from simulators.dmp.reference import start as start_dmp
    from simulators.pacs import start_pacs
    from simulators.psc import start_psc
    from simulators.source import start_reference as start_source

    workdir = Path(workdir)
    net = Network()
    try:
        if tls is None:
            throwaway = throwaway_pki("DRIMcheck network")
            pki = _Signer(throwaway.key_pem, throwaway.cert_pem, [throwaway.ca_pem])
        else:
            pki = _signers(tls)
        ctx = (lambda name: None) if tls is None else tls.context
        psc_config = None
        if tls is not None:
            from simulators.psc.config import PscConfig
            from simulators.psc.serve import network_client_subjects

            files = tls.files("psc")
            psc_config = PscConfig(tls_cert=files["cert"], tls_key=files["key"], client_ca=str(tls.ca),
                                   client_subjects=network_client_subjects(tls)).load()
        psc = start_psc(psc_config, host=host)
        net.parts.append(("psc", psc))
        dmp = start_dmp(DmpConfig(workdir=workdir / "dmp", vihf="enforce", trust_store=pki.trust),
                        host=host, ssl_context=ctx("dmp"))
        net.parts.append(("dmp", dmp))
        src_pacs = start_pacs(workdir / "source-pacs", aet="SRCPACS", host=host, ssl_context=ctx("pacs"))
        net.parts.append(("src-pacs", src_pacs))
        from simulators.source.reference import wado_tls

        source_tls, allowed = wado_tls(tls)  # mutual TLS: the network's Consumer only
        source = start_source(None, workdir / "source", ssl_context=source_tls, allowed_clients=allowed,
                              pacs_host=src_pacs.host, pacs_port=src_pacs.port,
                              pacs_aet=src_pacs.aet, pacs_dicomweb=src_pacs.dicomweb_url,
                              dmp_registry=dmp.endpoints["registry"], dmp_repository=dmp.endpoints["repository"],
                              psc_introspect=psc.endpoints["introspect"],
                              psc_client_cert=tls.client("source-client") if tls is not None else None,
                              vihf_key=pki.key_pem, vihf_cert=pki.cert_pem)
        net.parts.append(("source", source))
        source.serve_viewer(host=host, ssl_context=ctx("source"))  # browsers: server certificate only
        dst_pacs = start_pacs(workdir / "consumer-pacs", aet="DSTPACS", host=host, dicomweb=False)
        net.parts.append(("dst-pacs", dst_pacs))
        consumer = start_consumer(None, workdir / "consumer", host=host, ssl_context=ctx("consumer"), peers={
            "registry": dmp.endpoints["registry"], "repository": dmp.endpoints["repository"],
            "psc_issuer": psc.endpoints["issuer"], "pacs": dst_pacs.endpoints["dimse"],
            "allowed_hosts": (source.endpoints["base"].split("//", 1)[1],),
            "vihf_key": pki.key_pem, "vihf_cert": pki.cert_pem,
            "wado_client_cert": tls.client("consumer-client") if tls is not None else None,
            "psc_client_cert": tls.client("consumer-client") if tls is not None else None})
        # the Source's viewer host, as the whitelist's vi would name it beside its db
        consumer.config.viewers = {source.http.host: source.endpoints["viewer"].split("//", 1)[1].split("/", 1)[0]}
        net.parts.append(("consumer", consumer))
        if demo:
            net.demo = publish_demo_exam(workdir / "demo", src_pacs, source.endpoints["mllp"], dmp.endpoints,
                                         vihf=(pki.key_pem, pki.cert_pem))
            net.demo["viewer URL"] = demo_viewer_url(source.endpoints["viewer"], net.demo)
    except BaseException:
        net.stop()
        raise
    return net


def demo_viewer_url(viewer: str, demo: dict[str, str]) -> str:
    """The Source's viewer opened on the demo study and its KOS (``/viewer?StudyInstanceUID=...&KOS=...``)."""
    from urllib.parse import urlencode

    query = {"StudyInstanceUID": demo["study UID"], **({"KOS": demo["KOS UID"]} if demo.get("KOS UID") else {})}
    return f"{viewer}?{urlencode(query)}"


@dataclass
class _Signer:
    """VIHF / Signature01 signer of the network: key, certificate (leaf + chain), CAs the DMP trusts."""

    key_pem: bytes
    cert_pem: bytes
    trust: list[bytes]


def _signers(tls: Any) -> _Signer:
    """The Source structure's ORG SIGN certificate of the network PKI; the DMP trusts the PKI's CAs."""
    pki = tls.pki
    return _Signer(pki.key_path("source-sign").read_bytes(), pki.cert_path("source-sign").read_bytes(),
                   [pki.ca_path.read_bytes(), pki.intermediate_path.read_bytes()])


def publish_demo_exam(workdir: Path, pacs: Any, mllp: str, dmp: dict[str, str], *,
                      vihf: tuple[bytes, bytes] | None = None, timeout: float = 30.0) -> dict[str, str]:
    """Store one fixture exam in ``pacs``, send its final report over MLLP and wait until the DMP lists
    it (querying with a VIHF signed by ``vihf`` = (key PEM, certificate PEM) when given)."""
    from fixtures.studies import write_study
    from harness.dicom import load_study_into_pacs
    from simulators.ris import messages as M
    from simulators.ris import send

    ex = M.exam("network-demo", series=2, instances=3)
    refs = write_study(M.study_spec(ex, rows=64, columns=64), workdir)
    load_study_into_pacs([r.path for r in refs], pacs.host, pacs.port, pacs.aet)
    _raw, ack = send(mllp, M.oru(ex))
    if ack is None or ack.code != "AA":
        raise RuntimeError(f"the Source refused the demo report: {ack.code if ack else 'no ACK'} "
                           f"{ack.text if ack else ''}".rstrip())
    try:
        kos_uid = published_kos_uid(dmp, f"{ex.ins}^^^&{TEST_NIR_OID}&ISO^NH", vihf, timeout, actor="network-demo")
    except TimeoutError as exc:
        raise RuntimeError(f"the Source acknowledged the demo report but {exc}") from None
    return {"patient INS": ex.ins, "study UID": ex.study_uid, "accession": ex.accession,
            "instances": str(len(refs)), "KOS UID": kos_uid}


def published_kos_uid(dmp: dict[str, str], patient: str, vihf: tuple[bytes, bytes] | None, timeout: float,
                      actor: str) -> str:
    """Wait until the DMP lists the patient's approved KOS (ITI-18 FindDocuments, with a VIHF signed by ``vihf``
    = (key PEM, certificate PEM) when given), then read it (ITI-43): its SOP Instance UID, what a Consumer sends
    as ``KOS-SOPInstanceUID`` ("" when ITI-43 returns no document). TimeoutError when nothing is listed in time."""
    from harness.xds.clients import XdsClient
    from simulators.source.publish import vihf_security

    security = vihf_security(*vihf) if vihf else (lambda patient: [])
    client = XdsClient(dmp["registry"], dmp["repository"], actor=actor,
                       vihf=lambda patient: next(iter(security(patient)), None))
    params = {"$XDSDocumentEntryPatientId": patient, "$XDSDocumentEntryStatus": [APPROVED]}
    deadline = time.monotonic() + timeout
    while True:
        found = client.query("FindDocuments", params)
        if found.query and found.query.objects:
            return _kos_uid(client, found.query.objects[0], params)
        if time.monotonic() > deadline:
            raise TimeoutError(f"published nothing to the DMP within {timeout:.0f} s")
        time.sleep(0.2)


def _kos_uid(client: Any, entry: Any, params: dict[str, Any]) -> str:
    """The SOP Instance UID of the published KOS (ITI-43): what a Consumer sends as ``KOS-SOPInstanceUID``."""
    import io

    import pydicom

    from harness.xds.query import entry_summary

    summary = entry_summary(entry)
    got = client.retrieve([(summary.get("repositoryUniqueId") or "", summary.get("uniqueId") or "")],
                          patient=params["$XDSDocumentEntryPatientId"])
    if not got.documents:
        return ""
    return str(pydicom.dcmread(io.BytesIO(got.documents[0].data), stop_before_pixels=True).SOPInstanceUID)
