"""ITI-43 Retrieve Document Set, repository side (IHE ITI TF-2b §3.43.4.1.3, §3.43.4.2).

Several documents per request; each missing one is a RegistryError and the others are still
returned (PartialSuccess). The response is always MTOM/XOP (ITI TF-2b §3.43.5.1).
"""

from __future__ import annotations

import base64

from lxml import etree

from harness.soap import ITI43_ACTION, SoapFault, SoapMessage, make_cid, xop_include
from harness.xds.query import RegistryError, build_registry_response
from simulators.dmp import ebxml as E
from simulators.dmp.soapio import Context, Reply

ACTION = ITI43_ACTION
REQUEST = f"{E.XDSB}RetrieveDocumentSetRequest"


def handle(ctx: Context, msg: SoapMessage) -> Reply:
    body = msg.envelope.body
    if body is None or body.tag != REQUEST:
        raise SoapFault("Sender", "ITI-43 body must be xdsb:RetrieveDocumentSetRequest")
    requests = body.findall(f"{E.XDSB}DocumentRequest")
    if not requests:
        raise SoapFault("Sender", "RetrieveDocumentSetRequest holds no DocumentRequest")
    handlers = ctx.registry.handlers
    resp = etree.Element(f"{E.XDSB}RetrieveDocumentSetResponse", nsmap={"xdsb": E.NS["xdsb"]})
    errors: list[RegistryError] = []
    attachments: dict[str, bytes] = {}
    for dreq in requests:
        repo = (dreq.findtext(f"{E.XDSB}RepositoryUniqueId") or "").strip()
        uid = (dreq.findtext(f"{E.XDSB}DocumentUniqueId") or "").strip()
        result = ctx.registry.retrieve(repo, uid)
        if isinstance(result, RegistryError):
            errors.append(result)
            continue
        mime, data = result
        dresp = etree.SubElement(resp, f"{E.XDSB}DocumentResponse")
        home = dreq.findtext(f"{E.XDSB}HomeCommunityId")
        if home:
            etree.SubElement(dresp, f"{E.XDSB}HomeCommunityId").text = home
        etree.SubElement(dresp, f"{E.XDSB}RepositoryUniqueId").text = repo
        etree.SubElement(dresp, f"{E.XDSB}DocumentUniqueId").text = uid
        etree.SubElement(dresp, f"{E.XDSB}mimeType").text = mime or "application/octet-stream"
        document = etree.SubElement(dresp, f"{E.XDSB}Document")
        if handlers.retrieve_mtom:
            cid = make_cid()
            attachments[cid] = data
            document.append(xop_include(cid))
        else:
            document.text = base64.b64encode(data).decode("ascii")
    found = len(resp)
    if errors and not handlers.partial_retrieve:
        resp.clear()  # all or nothing
        attachments, found = {}, 0
    resp.insert(0, build_registry_response(handlers.reported(errors), partial=found > 0))
    return Reply(resp, attachments, mtom=handlers.retrieve_mtom)
