"""ITI-43 Retrieve Document Set, repository side (IHE ITI TF-2b §3.43.4.1.3, §3.43.4.2).

Several documents per request; each missing one is a RegistryError and the others are still
returned (PartialSuccess). The response is always MTOM/XOP (ITI TF-2b §3.43.5.1).
"""

from __future__ import annotations

from lxml import etree

from harness.soap import ITI43_ACTION, SoapFault, SoapMessage, make_cid, xop_include
from harness.xds.query import RegistryError, build_registry_response
from simulators.dmp import ebxml as E
from simulators.dmp.soapio import Context, Reply

ACTION = ITI43_ACTION
_REQ = f"{E.XDSB}RetrieveDocumentSetRequest"


def handle(ctx: Context, msg: SoapMessage) -> Reply:
    body = msg.envelope.body
    if body is None or body.tag != _REQ:
        raise SoapFault("Sender", "ITI-43 body must be xdsb:RetrieveDocumentSetRequest")
    requests = body.findall(f"{E.XDSB}DocumentRequest")
    if not requests:
        raise SoapFault("Sender", "RetrieveDocumentSetRequest holds no DocumentRequest")
    resp = etree.Element(f"{E.XDSB}RetrieveDocumentSetResponse", nsmap={"xdsb": E.NS["xdsb"]})
    errors: list[RegistryError] = []
    attachments: dict[str, bytes] = {}
    found = 0
    for dreq in requests:
        repo = (dreq.findtext(f"{E.XDSB}RepositoryUniqueId") or "").strip()
        uid = (dreq.findtext(f"{E.XDSB}DocumentUniqueId") or "").strip()
        result = ctx.registry.retrieve(repo, uid)
        if isinstance(result, RegistryError):
            errors.append(result)
            continue
        found += 1
        mime, data = result
        cid = make_cid()
        attachments[cid] = data
        dresp = etree.SubElement(resp, f"{E.XDSB}DocumentResponse")
        home = dreq.findtext(f"{E.XDSB}HomeCommunityId")
        if home:
            etree.SubElement(dresp, f"{E.XDSB}HomeCommunityId").text = home
        etree.SubElement(dresp, f"{E.XDSB}RepositoryUniqueId").text = repo
        etree.SubElement(dresp, f"{E.XDSB}DocumentUniqueId").text = uid
        etree.SubElement(dresp, f"{E.XDSB}mimeType").text = mime or "application/octet-stream"
        etree.SubElement(dresp, f"{E.XDSB}Document").append(xop_include(cid))
    resp.insert(0, build_registry_response(errors, partial=found > 0))
    return Reply(resp, attachments, mtom=True)
