"""ITI-18 Registry Stored Query, registry side (IHE ITI TF-2a §3.18.4.1.3)."""

from __future__ import annotations

from harness.soap import ITI18_ACTION, SoapMessage
from harness.xds.query import QueryError, RegistryError, build_query_response, parse_query
from simulators.dmp.queries import run_query
from simulators.dmp.registry import rows_to_elements
from simulators.dmp.soapio import Context, Reply

ACTION = ITI18_ACTION
REQUEST = "{urn:oasis:names:tc:ebxml-regrep:xsd:query:3.0}AdhocQueryRequest"


def handle(ctx: Context, msg: SoapMessage) -> Reply:
    assert msg.envelope.body is not None
    handlers = ctx.registry.handlers
    try:
        req = parse_query(msg.envelope.body)
        rows = run_query(ctx.registry.storage, req, handlers.query_rules, handlers.queries)
    except QueryError as exc:
        error = RegistryError(exc.code, exc.message, exc.location)
        return Reply(build_query_response([], handlers.reported([error])))
    return_type = req.return_type if handlers.honour_return_type else "LeafClass"
    return Reply(build_query_response(rows_to_elements(rows), return_type=return_type))
