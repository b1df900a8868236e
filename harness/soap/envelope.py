"""SOAP 1.2 envelopes with WS-Addressing headers, sans-IO (bytes in, objects out).

Public: :func:`build_envelope`, :func:`parse_envelope`, :class:`Envelope`, :class:`SoapFault`,
:func:`build_fault`, :func:`parse_fault`, and the namespace constants. IHE ITI TF-2x Appendix V
(Web Services for IHE Transactions) requires SOAP 1.2 and WS-Addressing 1.0 (``wsa:Action``,
``wsa:MessageID``, ``wsa:RelatesTo`` in responses, ``wsa:To``).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from lxml import etree

from harness.xmlsafe import DEFAULT_MAX_BYTES, UnsafeXmlError, parse_xml

SOAP12_NS = "http://www.w3.org/2003/05/soap-envelope"
WSA_NS = "http://www.w3.org/2005/08/addressing"
WSSE_NS = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
FAULT_ACTION = "http://www.w3.org/2005/08/addressing/soap/fault"
SOAP12_CONTENT_TYPE = "application/soap+xml"

_S = f"{{{SOAP12_NS}}}"
_A = f"{{{WSA_NS}}}"


class SoapFault(Exception):
    """A SOAP 1.2 fault (W3C SOAP 1.2 Part 1 §5.4): ``code`` is ``Sender`` or ``Receiver``."""

    def __init__(self, code: str, reason: str, subcode: str | None = None) -> None:
        if code not in ("Sender", "Receiver"):
            raise ValueError(f"SOAP fault code must be Sender or Receiver, not {code!r}")
        self.code, self.reason, self.subcode = code, reason, subcode
        super().__init__(f"{code}: {reason}" + (f" ({subcode})" if subcode else ""))


@dataclass
class Envelope:
    """A parsed SOAP 1.2 envelope; ``body`` is the first element child of soap:Body (or None)."""

    header: etree._Element | None
    body: etree._Element | None
    action: str | None
    message_id: str | None
    relates_to: str | None
    to: str | None
    security: etree._Element | None
    root: etree._Element | None = None

    @property
    def is_fault(self) -> bool:
        return self.body is not None and self.body.tag == _S + "Fault"


def new_message_id() -> str:
    return f"urn:uuid:{uuid.uuid4()}"


def _header_child(header: etree._Element, name: str, text: str, must_understand: bool = False) -> None:
    elem = etree.SubElement(header, _A + name)
    elem.text = text
    if must_understand:
        elem.set(_S + "mustUnderstand", "true")


def build_envelope(body: etree._Element | list, *, action: str, message_id: str | None = None,
                   relates_to: str | None = None, to: str | None = None,
                   header_extra: Iterable[etree._Element] = ()) -> bytes:
    """Serialize a SOAP 1.2 envelope; ``action`` is mandatory (IHE ITI TF-2x Appendix V, WS-Addressing)."""
    nsmap = {"soap": SOAP12_NS, "wsa": WSA_NS}
    env = etree.Element(_S + "Envelope", nsmap=nsmap)
    header = etree.SubElement(env, _S + "Header")
    _header_child(header, "Action", action, must_understand=True)
    _header_child(header, "MessageID", message_id or new_message_id())
    if relates_to:
        _header_child(header, "RelatesTo", relates_to)
    if to:
        _header_child(header, "To", to)
    for extra in header_extra:
        header.append(_copy(extra))
    soap_body = etree.SubElement(env, _S + "Body")
    for child in body if isinstance(body, list) else [body]:
        soap_body.append(_copy(child))
    return etree.tostring(env, xml_declaration=True, encoding="UTF-8")


def _copy(elem: etree._Element) -> etree._Element:
    """Copy an element that already has a parent, so the caller's tree is left intact."""
    return elem if elem.getparent() is None else etree.fromstring(etree.tostring(elem))


def _text(header: etree._Element | None, tag: str) -> str | None:
    if header is None:
        return None
    elem = header.find(tag)
    return None if elem is None or elem.text is None else elem.text.strip()


def envelope_from_root(root: etree._Element) -> Envelope:
    """Check the structure of an already-parsed envelope (SOAP 1.2 Part 1 §5)."""
    if root.tag != _S + "Envelope":
        if etree.QName(root).localname == "Envelope":
            raise SoapFault("Sender", f"not a SOAP 1.2 envelope (namespace {etree.QName(root).namespace})",
                            "VersionMismatch")
        raise SoapFault("Sender", f"root element is {root.tag}, not soap:Envelope")
    children = [c for c in root if isinstance(c.tag, str)]
    header = None
    if children and children[0].tag == _S + "Header":
        header = children.pop(0)
    if not children or children[0].tag != _S + "Body" or len(children) != 1:
        raise SoapFault("Sender", "soap:Envelope must hold an optional soap:Header, then one soap:Body")
    body_elems = [c for c in children[0] if isinstance(c.tag, str)]
    security = header.find(f"{{{WSSE_NS}}}Security") if header is not None else None
    return Envelope(header=header, body=body_elems[0] if body_elems else None,
                    action=_text(header, _A + "Action"), message_id=_text(header, _A + "MessageID"),
                    relates_to=_text(header, _A + "RelatesTo"), to=_text(header, _A + "To"),
                    security=security, root=root)


def parse_envelope(data: bytes, max_bytes: int = DEFAULT_MAX_BYTES) -> Envelope:
    """Parse a SOAP 1.2 envelope; raise :class:`SoapFault` (``Sender``) for anything malformed."""
    try:
        root = parse_xml(data, max_bytes=max_bytes)
    except UnsafeXmlError as exc:
        raise SoapFault("Sender", str(exc), exc.reason) from None
    return envelope_from_root(root)


def build_fault(fault: SoapFault, *, relates_to: str | None = None) -> bytes:
    """A SOAP 1.2 fault message (SOAP 1.2 Part 1 §5.4) with the WS-Addressing fault action."""
    f = etree.Element(_S + "Fault", nsmap={"soap": SOAP12_NS})
    code = etree.SubElement(f, _S + "Code")
    etree.SubElement(code, _S + "Value").text = f"soap:{fault.code}"
    if fault.subcode:
        sub = etree.SubElement(code, _S + "Subcode")
        etree.SubElement(sub, _S + "Value").text = _qname_text(fault.subcode)
    reason = etree.SubElement(f, _S + "Reason")
    text = etree.SubElement(reason, _S + "Text")
    text.set("{http://www.w3.org/XML/1998/namespace}lang", "en")
    text.text = fault.reason
    return build_envelope(f, action=FAULT_ACTION, relates_to=relates_to)


def _qname_text(subcode: str) -> str:
    """Subcode values are QNames; a bare word is placed in the soap namespace prefix-less form."""
    return subcode if ":" in subcode else f"soap:{subcode}"


def parse_fault(env: Envelope) -> SoapFault | None:
    """Return the fault carried by ``env`` (or None), for clients reading a fault response."""
    if not env.is_fault:
        return None
    value = env.body.findtext(f"{_S}Code/{_S}Value") or ""
    code = value.split(":")[-1]
    sub = env.body.findtext(f"{_S}Code/{_S}Subcode/{_S}Value")
    reason = env.body.findtext(f"{_S}Reason/{_S}Text") or ""
    return SoapFault(code if code in ("Sender", "Receiver") else "Receiver", reason.strip(), sub)
