"""ITI-41 / RAD-68 Provide and Register Document Set-b, repository side (IHE ITI TF-2b §3.41.4.1.3).

Reads the ProvideAndRegisterDocumentSetRequest, resolves each xdsb:Document (XOP part or inline
base64), validates the metadata with the XDS validator (profile of the configuration), then
registers everything atomically. Answers an rs:RegistryResponse.
"""

from __future__ import annotations

from harness.soap import ITI41_ACTION, SoapFault, SoapMessage
from harness.xds.query import RegistryError, build_registry_response
from simulators.dmp import ebxml as E
from simulators.dmp.registry import Rejected
from simulators.dmp.soapio import Context, Reply
from simulators.dmp.validation import metadata_errors

ACTION = ITI41_ACTION
REQUEST = f"{E.XDSB}ProvideAndRegisterDocumentSetRequest"
_SOR = "{urn:oasis:names:tc:ebxml-regrep:xsd:lcm:3.0}SubmitObjectsRequest"


def handle(ctx: Context, msg: SoapMessage) -> Reply:
    body = msg.envelope.body
    if body is None or body.tag != REQUEST:
        raise SoapFault("Sender", f"ITI-41 body must be xdsb:ProvideAndRegisterDocumentSetRequest, not "
                        f"{None if body is None else body.tag}")
    sor = body.find(_SOR)
    if sor is None:
        return Reply(build_registry_response([RegistryError("XDSRegistryMetadataError",
                                                            "lcm:SubmitObjectsRequest is missing")]))
    documents: dict[str, bytes] = {}
    for doc in body.findall(f"{E.XDSB}Document"):
        try:
            documents[doc.get("id") or ""] = ctx.registry.handlers.document_bytes(msg, doc)
        except KeyError as exc:
            raise SoapFault("Sender", f"xop:Include refers to a missing MIME part {exc}") from None
    errors = metadata_errors(body, ctx.config.profile, msg.attachments, skip=ctx.registry.handlers.skipped_rules)
    try:
        ctx.registry.provide_and_register(sor, documents, exchange_id=msg.envelope.message_id,
                                          metadata_errors=errors)
    except Rejected as rej:
        return Reply(build_registry_response(ctx.registry.handlers.reported(rej.errors)))
    return Reply(build_registry_response())
