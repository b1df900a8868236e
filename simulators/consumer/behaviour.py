"""What a named fault may change in the reference Consumer: one field per choice, each read in one place.

The defaults are the correct behaviour (ANS DRIM-M_DATA, ANS FAQ, ANS PoC); ``simulators.consumer.faults`` pairs each
named fault with the field it changes, as a product with that one bug would differ (STYLE.md §4).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from harness.xds.clients import XdsClient
from simulators.consumer.context import (
    EXTENDED_TRAITS,
    INS_TRAITS,
    ContextualCall,
    ParamError,
    parse_contextual_call,
)
from simulators.consumer.history import HistoryOptions
from simulators.consumer.kpi import ModelStat
from simulators.consumer.manifest import AllowlistCheck, DocumentRequest, document_request, host_allowed
from simulators.consumer.retrieve import RetrieveOptions
from simulators.consumer.session import SCOPE
from simulators.consumer.xdm import XdmOptions

CallParser = Callable[[Mapping[str, str]], "ContextualCall | list[ParamError]"]


@dataclass(frozen=True)
class Behaviour:
    """The Consumer's swappable parts; where each is read is named beside it."""

    # POST /context (app): the form's validation, the redirect to the exam list (ANS PoC: 302/303)
    parse_call: CallParser = parse_contextual_call
    context_redirect: int = 303
    # pages: output encoding of every value shown (create_app); INS traits shown by default, INS/va1.36
    # (ConsumerApp.shown_traits)
    autoescape: bool = True
    ins_traits: tuple[str, ...] = INS_TRAITS
    # the traits added when the professional's setting asks for them, INS/va1.36 (ConsumerApp.shown_traits)
    extended_traits: tuple[str, ...] = EXTENDED_TRAITS
    # ModelStat KPI file, one record per contextual call (ConsumerApp)
    modelstat: type[ModelStat] = ModelStat
    # Pro Santé Connect authorization request scope (ConsumerApp -> PscClient)
    psc_scope: str = SCOPE
    # DMP: SOAP client, VIHF, history query and display (ConsumerApp.xds, .history)
    xds_client: type[XdsClient] = XdsClient
    vihf: bool = True
    history: HistoryOptions = field(default_factory=HistoryOptions)
    # KOS: ITI-43 request, patient compared with the contextual call, Retrieve URL hosts allowed
    # (ConsumerApp.manifest)
    kos_request: DocumentRequest = document_request
    check_kos_patient: bool = True
    host_allowed: AllowlistCheck = host_allowed
    manifest_per_study: bool = False  # True (a named fault): the first manifest read for a study is reused
    # WADO-RS retrieval and import into the local PACS (ConsumerApp.run_import)
    retrieve: RetrieveOptions = field(default_factory=RetrieveOptions)
    rewrite_before_store: Callable[[Path], Path] | None = None
    # XDM media: the export's metadata and images, the import's validation (simulators.consumer.xdm)
    xdm: XdmOptions = field(default_factory=XdmOptions)
    # WADO-RS transport (ConsumerApp): the Source's certificate verified against the trusted CAs, the
    # Consumer's ORG AUTH CLI certificate presented (mutual TLS between DRIMboxes, control point C17)
    wado_verify: bool = True
    wado_client_cert: bool = True
    # Pro Santé Connect token endpoint (ConsumerApp -> PscClient): the client certificate when one is
    # configured (RFC 8705 §2.1), else the secret
    psc_mtls: bool = True
    # the Consumer's own HTTPS (simulators.consumer.tls.server_tls): "" the reference's TLS, else "plain"
    # (no TLS), "legacy" (TLS 1.0/1.1 too) or "weak" (TLS 1.2 suites without forward secrecy too)
    server_tls: str = ""
    # the whitelist fetched from a URL (simulators.consumer.whitelist.watcher): "" verified at each fetch
    # and the last good list kept, else "any-signer" (no chain to the CA), "no-crl" (revocation not
    # checked) or "drop-on-failure" (a refused list drops the one in force)
    whitelist: str = ""
    # the import's pace (ConsumerApp.run_import -> importer.import_series): None stores each series as soon as
    # it is retrieved; a rate (bytes per second) makes the Consumer wait, before storing each series, as long as
    # storing it at that rate would take (the performance plan's PERF-CON-IMPORT-THROUGHPUT)
    import_pace: float | None = None
    # seconds an import waits before its first WADO-RS request (ConsumerApp.run_import): 0 starts at once; a named
    # fault queues it behind a worker that starts it that much later (the performance plan's PERF-CON-VIEW-LATENCY)
    import_delay: float = 0.0
