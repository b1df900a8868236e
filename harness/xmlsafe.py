"""Hardened XML parsing for untrusted input: no DTD, no entities, no network, bounded size.

Every parser of SOAP, ebRIM, CDA or whitelist XML goes through :func:`parse_xml`, so an XXE,
a billion-laughs document or a 500 MB body becomes a clear :class:`UnsafeXmlError`, never a
hang or a memory blow-up.
"""

from __future__ import annotations

import re
import threading

from lxml import etree

DEFAULT_MAX_BYTES = 64 * 1024 * 1024

# libxml2's XSD compiler shares process-wide state (its table of built-in types): two compilations
# running at once in one process can fail, and leave every later one failing with "the given type
# is not a built-in type" (seen on a DMP worker whose first two requests arrived together)
_xsd_compiling = threading.Lock()


def compile_xsd(doc: etree._ElementTree | etree._Element) -> etree.XMLSchema:
    """``etree.XMLSchema(doc)``, one compilation at a time in this process (validations still run
    in parallel, each on its own compiled schema)."""
    with _xsd_compiling:
        return etree.XMLSchema(doc)


class UnsafeXmlError(ValueError):
    """Refused or unparsable XML; ``reason`` is a short machine-friendly code."""

    def __init__(self, reason: str, message: str) -> None:
        self.reason = reason
        super().__init__(message)


# a DOCTYPE or entity declaration in the first 64 kB, any case: refused before libxml2 sees it (a regex
# search, not an upper-cased copy of those 64 kB: every SOAP message goes through here)
_DECLARATION = re.compile(rb"<!(?:DOCTYPE|ENTITY)", re.IGNORECASE)


def _parser() -> etree.XMLParser:
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, dtd_validation=False,
                           huge_tree=False, remove_comments=False, remove_pis=False, recover=False)


def parse_xml(data: bytes, max_bytes: int = DEFAULT_MAX_BYTES) -> etree._Element:
    """Parse ``data`` or raise UnsafeXmlError (``too-large``, ``doctype``, ``malformed``)."""
    if len(data) > max_bytes:
        raise UnsafeXmlError("too-large", f"XML of {len(data)} bytes exceeds the limit of {max_bytes} bytes")
    if _DECLARATION.search(data, 0, 1 << 16):
        raise UnsafeXmlError("doctype", "XML with a DOCTYPE or entity declaration is refused")
    try:
        root = etree.fromstring(data, _parser())
    except etree.XMLSyntaxError as exc:
        raise UnsafeXmlError("malformed", f"XML not well-formed: {exc}") from None
    if root is None:
        raise UnsafeXmlError("malformed", "empty XML document")
    tree = root.getroottree()
    if tree.docinfo.doctype or tree.docinfo.internalDTD is not None:
        raise UnsafeXmlError("doctype", "XML with a DOCTYPE or entity declaration is refused")
    return root
