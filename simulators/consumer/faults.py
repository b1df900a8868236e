"""Named faults of the reference Consumer: each changes one field of :class:`Behaviour` (a part swapped
for one that misbehaves in one way, or a step left out) as a real buggy product would, and breaks
exactly the requirement ids it names (the fault proof runs the consumer_drimbox plan with each).

The table at the end pairs each :class:`Fault` with its change; ``behaviour_for(name)`` applies it.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pydicom

from harness.faults import Fault
from harness.soap import decode_message
from harness.soap.envelope import SOAP12_CONTENT_TYPE
from harness.xds.clients import SoapResult, XdsClient
from harness.xds.model import DocumentEntry
from simulators.consumer.behaviour import Behaviour, CallParser
from simulators.consumer.context import (
    EXTENDED_TRAITS,
    INS_TRAITS,
    MANDATORY,
    ContextualCall,
    ParamError,
    parse_contextual_call,
)
from simulators.consumer.history import APPROVED, DEPRECATED, Exam, HistoryOptions
from simulators.consumer.kpi import ERROR, ModelStat
from simulators.consumer.manifest import SeriesRef
from simulators.consumer.retrieve import OUTCOMES, RetrieveOptions
from simulators.consumer.xdm import XdmOptions


# ---------------------------------------------------------------- contextual call and pages
def _refusing(*names: str) -> CallParser:
    """The contextual call's parser of a product that refuses the parameters ``names`` as unknown."""
    def parse(form: Mapping[str, str]) -> ContextualCall | list[ParamError]:
        unknown = [ParamError(name, "unknown parameter") for name in names if name in form]
        return unknown or parse_contextual_call(form)
    return parse


class _SuccessOnlyModelStat(ModelStat):
    """A KPI file written only when the exam list opens: a refused call leaves no record."""

    def record(self, status: str, reason: str = "") -> dict:
        return {} if status == ERROR else super().record(status, reason)


# ---------------------------------------------------------------- DMP
class _PlainSoapXdsClient(XdsClient):
    """A SOAP stack without MTOM: a request packaged as MTOM/XOP (ITI-43) goes as plain SOAP 1.2."""

    def post(self, url: str, content_type: str, body: bytes) -> SoapResult:
        msg = decode_message(content_type, body)
        if msg.mtom and not msg.attachments:
            content_type, body = f'{SOAP12_CONTENT_TYPE}; charset=UTF-8; action="{msg.action}"', msg.xml
        return super().post(url, content_type, body)


def _creation_date(entry: DocumentEntry) -> str:
    """The date the KOS was registered at the DMP, not the exam's (serviceStartTime)."""
    return (entry.creationTime or "")[:8]


def _community_as_repository(exam: Exam) -> tuple[str, str]:
    """ITI-43 naming the DMP's homeCommunityId where the entry's repositoryUniqueId belongs."""
    return exam.home_community_id.removeprefix("urn:oid:"), exam.unique_id


def _any_host(url: str, allowed_hosts: tuple[str, ...]) -> bool:
    """No allowlist check: every Retrieve URL is used."""
    return True


def _configured_root(ref: SeriesRef) -> str:
    """The series URL built from the Source's host and a DICOMweb root set in the product's configuration
    (``/dicom-web``): the path of the KOS Retrieve URL is not used."""
    parts = urlsplit(ref.retrieve_url)
    return f"{parts.scheme}://{parts.netloc}/dicom-web/studies/{ref.study_uid}/series/{ref.series_uid}"


# ---------------------------------------------------------------- import
def _ascii_patient_name(path: Path) -> Path:
    """The file with Patient's Name upper-cased and stripped of accents (a gateway limited to ASCII)."""
    ds = pydicom.dcmread(path)
    name = unicodedata.normalize("NFKD", str(ds.PatientName))
    ds.PatientName = "".join(c for c in name if not unicodedata.combining(c)).upper()
    out = path.with_suffix(".ascii.dcm")
    ds.save_as(out, enforce_file_format=True)
    return out


def _retrieve(**changes: Any) -> RetrieveOptions:
    return replace(RetrieveOptions(), **changes)


_TABLE: tuple[tuple[Fault, dict[str, Any]], ...] = (
    # --- contextual call, pages, KPI (ANS PoC, ANS FAQ)
    (Fault("context-answered-307", "the contextual call is answered 307, not 302/303: a browser posts the form "
           "again to the exam list", ("CON-CTX-POST",)), {"context_redirect": 307}),
    (Fault("issuer-optional", "PatientIDIssuer is treated as optional: a contextual call without it opens the "
           "exam list", ("CON-CTX-400",)),
     {"parse_call": partial(parse_contextual_call, mandatory=tuple(m for m in MANDATORY if m != "PatientIDIssuer"))}),
    (Fault("unescaped-pages", "pages are rendered without HTML output encoding: markup in a contextual-call "
           "parameter reaches the page as is", ("CON-CTX-ESCAPE",)), {"autoescape": False}),
    (Fault("refuses-situation", "the optional Situation parameter is refused (400) as unknown",
           ("CON-CTX-OPTIONAL",)), {"parse_call": _refusing("Situation")}),
    (Fault("hides-birthplace", "the INS traits shown by default leave out the birthplace", ("CON-INS-DISPLAY",)),
     {"ins_traits": tuple(t for t in INS_TRAITS if t != "birthplace")}),
    (Fault("no-extended-ins-display", "the professional's setting is recorded, but the exam list still shows only "
           "the default traits: no INS, OID, given-name list or used names", ("CON-INS-DISPLAY-EXTENDED",)),
     {"extended_traits": ()}),
    (Fault("ins-without-oid", "with the professional's setting on, the INS is shown without its OID",
           ("CON-INS-DISPLAY-EXTENDED",)),
     {"extended_traits": tuple(t for t in EXTENDED_TRAITS if t not in ("ins-oid", "ins-kind"))}),
    (Fault("manifest-per-study", "the first manifest read for a study is kept and reused: after the KOS was "
           "replaced (an image change), the exam is retrieved and checked against the old one",
           ("CON-IOCM-CURRENT",)), {"manifest_per_study": True}),
    (Fault("no-kpi-on-error", "a refused contextual call leaves no ModelStat record", ("CON-KPI",)),
     {"modelstat": _SuccessOnlyModelStat}),
    # --- Pro Santé Connect (ANS PoC, ANS FAQ)
    (Fault("psc-scope-openid-only", "the PSC authorization request asks for scope openid only, without scope_all",
           ("CON-AUTH-PKCE",)), {"psc_scope": "openid"}),
    # --- DMP: ITI-18, ITI-43, VIHF (ANS DRIM-M_DATA Validateur XDS/XDS.xml)
    (Fault("wrong-query-params", "FindDocuments is sent without the IMG-KOS typeCode filter", ("CON-Q-FINDDOCS",)),
     {"history": HistoryOptions(with_type=False)}),
    (Fault("shows-deprecated", "the history asks for Approved and Deprecated entries and shows both",
           ("CON-HIST-DEPRECATED",)),
     {"history": HistoryOptions(statuses=(APPROVED, DEPRECATED), hide_deprecated=False)}),
    (Fault("history-creation-date", "the history shows the date the KOS was registered (creationTime), not the "
           "exam's date (serviceStartTime)", ("CON-HIST-LIST",)), {"history": HistoryOptions(date_of=_creation_date)}),
    (Fault("no-vihf", "ITI-18 and ITI-43 requests carry no VIHF (no wsse:Security)", ("CON-VIHF", "CON-VIHF-SIGNED")),
     {"vihf": False}),
    (Fault("iti43-plain-soap", "ITI-43 requests are sent as plain SOAP 1.2, not MTOM/XOP", ("CON-SOAP-WSA",)),
     {"xds_client": _PlainSoapXdsClient}),
    (Fault("community-as-repository-id", "ITI-43 names the entry's homeCommunityId as RepositoryUniqueId, not "
           "its repositoryUniqueId: the DMP does not return the KOS", ("CON-RET-ITI43",)),
     {"kos_request": _community_as_repository}),
    (Fault("skips-kos-patient-check", "the KOS's patient is not compared with the contextual call's INS: the "
           "images of a KOS naming another patient are retrieved and imported", ("CON-KOS-PATIENT",)),
     {"check_kos_patient": False}),
    # --- WADO-RS (ANS DRIM-M_DATA Simulateur client wadoRS)
    (Fault("ignores-allowlist", "Retrieve URL hosts are not checked against the DRIMbox allowlist",
           ("CON-URL-ALLOWLIST",)), {"host_allowed": _any_host}),
    (Fault("configured-wado-root", "each series is asked for at the Source host's /dicom-web root built from "
           "the KOS UIDs, not at its Retrieve URL", ("CON-WADO-URL",)),
     {"retrieve": _retrieve(url_of=_configured_root)}),
    (Fault("no-bearer-token", "WADO-RS requests carry no Authorization header", ("CON-WADO-AUTH",)),
     {"retrieve": _retrieve(bearer=False)}),
    (Fault("no-kos-uid-header", "WADO-RS requests carry no KOS-SOPInstanceUID header", ("CON-WADO-KOSUID",)),
     {"retrieve": _retrieve(kos_uid_header=False)}),
    (Fault("ignores-accept-q", "Accept lists the transfer syntaxes without q-values", ("CON-WADO-ACCEPT",)),
     {"retrieve": _retrieve(accept_q=False)}),
    (Fault("skips-reference-check", "retrieved instances are not compared with the KOS references: an "
           "incomplete or padded series is imported", ("CON-REF-CHECK",)),
     {"retrieve": _retrieve(check_references=False)}),
    (Fault("retries-401-same-token", "after a 401 the series is asked again with the same access token, without "
           "a new one from PSC", ("CON-ERR-401",)), {"retrieve": _retrieve(refresh_on_401=False)}),
    (Fault("410-as-generic-error", "a 410 is reported as a generic retrieval error, not as images deleted at "
           "the Source", ("CON-ERR-410",)),
     {"retrieve": _retrieve(outcomes={code: o for code, o in OUTCOMES.items() if code != 410})}),
    (Fault("keeps-malformed-multipart", "a malformed multipart answer is read up to its defect and the instances "
           "before it kept as the series' answer", ("CON-ERR-MULTIPART",)),
     {"retrieve": _retrieve(keep_parts_on_error=True)}),
    # --- transport security (control point C17, mutual TLS between DRIMboxes); server_tls is applied to the
    # Consumer's HTTPS context by simulators.consumer.tls
    (Fault("no-client-certificate", "WADO-RS requests to the Source present no client certificate (bearer "
           "token only)", ("CON-SEC-CLIENT-CERT",)), {"wado_client_cert": False}),
    (Fault("trusts-any-source-certificate", "the Source's server certificate is not verified: the professional's "
           "token is sent to whoever answers at the Retrieve URL's host", ("CON-SEC-SOURCE-VERIFY",)),
     {"wado_verify": False}),
    (Fault("whitelist-any-signer", "a fetched whitelist is used when its signature verifies, whoever signed it: "
           "the chain to the IGC-Santé CA is not checked, nor so the CA's revocation list",
           ("CON-WL-SIGNED", "CON-WL-VALIDITY")), {"whitelist": "any-signer"}),
    (Fault("whitelist-no-crl", "a fetched whitelist's signer is not checked against its CA's revocation list",
           ("CON-WL-VALIDITY",)), {"whitelist": "no-crl"}),
    (Fault("whitelist-drop-on-failure", "when a fetched whitelist is refused, the list in force is dropped instead "
           "of kept", ("CON-WL-KEEP",)), {"whitelist": "drop-on-failure"}),
    (Fault("psc-client-secret", "the PSC token endpoint is called with the client secret (HTTP Basic), without "
           "the Consumer's certificate", ("CON-SEC-PSC-MTLS",)), {"psc_mtls": False}),
    (Fault("plain-http", "the Consumer's pages and contextual call are served over plain HTTP",
           ("CON-SEC-HTTPS", "CON-SEC-PLAIN")), {"server_tls": "plain"}),
    (Fault("legacy-tls", "the Consumer's HTTPS also accepts TLS 1.0 / 1.1", ("CON-SEC-TLS12",)),
     {"server_tls": "legacy"}),
    (Fault("weak-ciphers", "the Consumer's HTTPS also negotiates TLS 1.2 suites without forward secrecy, 3DES, "
           "RC4", ("CON-SEC-CIPHERS",)), {"server_tls": "weak"}),
    # --- import into the local PACS (IHE RAD TF-1 XDS-I.b)
    (Fault("ascii-patient-name", "imported instances are stored with Patient's Name upper-cased and without "
           "accents (retrieved studies and XDM packages alike: both go through the importer)",
           ("CON-IMP-COMPLETE", "CON-XDM-IMPORT")), {"rewrite_before_store": _ascii_patient_name}),
    # --- XDM media (ITI-32; ANS DRIM-M_DATA Référencement DRIMBox/Jeux de données/XDM)
    (Fault("xdm-no-metadata-hash", "the exported METADATA.XML gives the KOS DocumentEntry no hash and no size",
           ("CON-XDM-EXPORT",)), {"xdm": XdmOptions(hash_size=False)}),
    (Fault("xdm-missing-images", "the exported package holds the images of the KOS's first series only: the KOS "
           "lists instances the package lacks", ("CON-XDM-EXPORT",)), {"xdm": XdmOptions(first_series_only=True)}),
    (Fault("xdm-import-unvalidated", "an uploaded XDM package is imported without validation: what a package "
           "refused for its errors holds is stored", ("CON-XDM-IMPORT",)), {"xdm": XdmOptions(validate_import=False)}),
    # --- performance (the performance plan's: they fail nothing in consumer_drimbox, which judges no time and
    # whose series are tiny)
    (Fault("slow-import", "before storing each retrieved series into the local PACS, the Consumer waits as long as "
           "storing it at 0.5 MB/s would take: the import is held under 0.5 MB/s", ("PERF-CON-IMPORT-THROUGHPUT",),
           plan="performance"), {"import_pace": 500_000.0}),
    (Fault("late-first-retrieve", "an import is queued and a worker starts it 12 s later: the first WADO-RS request "
           "leaves 12 s after the professional asked for the exam's images (the retrieval and storing themselves at "
           "full speed)", ("PERF-CON-VIEW-LATENCY",), plan="performance"), {"import_delay": 12.0}),
    (Fault("slow-retrieve", "each WADO-RS answer is read at 0.5 MB/s at most: the retrieval of an import, and the one "
           "of an XDM export, which retrieves the images the same way", ("PERF-CON-VIEW-THROUGHPUT",
           "PERF-CON-IMPORT-THROUGHPUT", "PERF-CON-EXPORT-THROUGHPUT"), plan="performance"),
     {"retrieve": _retrieve(read_pace=500_000.0)}),
    (Fault("slow-export", "the XDM package (ZIP) is written at 0.5 MB/s at most: the export is held under 0.5 MB/s, "
           "the retrieval and the import untouched", ("PERF-CON-EXPORT-THROUGHPUT",), plan="performance"),
     {"xdm": XdmOptions(write_pace=500_000.0)}),
)

FAULTS: dict[str, Fault] = {fault.name: fault for fault, _ in _TABLE}
_CHANGES: dict[str, dict[str, Any]] = {fault.name: changes for fault, changes in _TABLE}


def behaviour_for(fault: str | None) -> Behaviour:
    """The behaviour of the reference Consumer with ``fault`` switched on (None: the correct one)."""
    if fault is None:
        return Behaviour()
    if fault not in FAULTS:
        raise KeyError(f"unknown Consumer fault {fault!r}; known: {', '.join(sorted(FAULTS))}")
    return replace(Behaviour(), **_CHANGES[fault])
