"""ITI-57 Update Document Set, registry side (IHE ITI TF-2b §3.57.4.1.3, XDS Metadata Update).

The DMP uses it to change an entry's availability status, in particular to delete a document
(NewStatus ``urn:asip:ci-sis:2010:StatusType:Deleted``, ANS PoC).
"""

from __future__ import annotations

from harness.soap import ITI57_ACTION, SoapFault, SoapMessage
from harness.xds.query import build_registry_response
from simulators.dmp.registry import Rejected
from simulators.dmp.soapio import Context, Reply

ACTION = ITI57_ACTION
REQUEST = "{urn:oasis:names:tc:ebxml-regrep:xsd:lcm:3.0}SubmitObjectsRequest"


def handle(ctx: Context, msg: SoapMessage) -> Reply:
    body = msg.envelope.body
    if body is None or body.tag != REQUEST:
        raise SoapFault("Sender", "ITI-57 body must be lcm:SubmitObjectsRequest")
    try:
        ctx.registry.update(body, exchange_id=msg.envelope.message_id)
    except Rejected as rej:
        return Reply(build_registry_response(ctx.registry.handlers.reported(rej.errors)))
    return Reply(build_registry_response())
