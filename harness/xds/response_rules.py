"""Rules for the responses of a registry/repository (ITI-41/42/57 RegistryResponse, ITI-18
AdhocQueryResponse, ITI-43 RetrieveDocumentSetResponse): used by validate.py, and by test plans that
check what a DMP answers.

Public: :func:`response_rules`, :data:`RESPONSE_TAGS`. Sources: ebRS 3.0 §2.1.3 (RegistryResponse),
IHE ITI TF-3 §4.2.4 (success and error reporting), ITI TF-2a §3.18.4.1.3 (query response contents).
"""

from __future__ import annotations

from lxml import etree

from harness.findings import Finding, error
from harness.xds.model import QUERY_NS, RESPONSE_STATUS, RIM_NS, RS_NS, XDSB_NS

_RS, _R = f"{{{RS_NS}}}", f"{{{RIM_NS}}}"
_ERROR = "urn:oasis:names:tc:ebxml-regrep:ErrorSeverityType:Error"
RESPONSE_TAGS = frozenset({_RS + "RegistryResponse", f"{{{QUERY_NS}}}AdhocQueryResponse",
                           f"{{{XDSB_NS}}}RetrieveDocumentSetResponse"})


def response_rules(root: etree._Element) -> list[Finding]:
    """Findings for a response payload (the XSD already ran)."""
    status_holder = root.find(_RS + "RegistryResponse") if root.tag == f"{{{XDSB_NS}}}RetrieveDocumentSetResponse" \
        else root
    out = _status_rules(status_holder) if status_holder is not None else []
    if root.tag == f"{{{QUERY_NS}}}AdhocQueryResponse":
        out += _leaf_class_rules(root)
    return out


def _status_rules(resp: etree._Element) -> list[Finding]:
    """Status and error list agree (ITI TF-3 §4.2.4): Failure has errors, Success has none of severity Error."""
    where = etree.QName(resp).localname
    status = resp.get("status")
    if status not in RESPONSE_STATUS.values():
        return [error("XDS-RESP-001", f"{where}/@status", "status is not Success, Failure or PartialSuccess",
                      RESPONSE_STATUS["Success"], status)]
    severities = [e.get("severity", _ERROR) for e in resp.iterfind(f"{_RS}RegistryErrorList/{_RS}RegistryError")]
    if status == RESPONSE_STATUS["Failure"] and _ERROR not in severities:
        return [error("XDS-RESP-001", f"{where}/RegistryErrorList", "Failure without any RegistryError of "
                      "severity Error", "at least one error", len(severities))]
    if status == RESPONSE_STATUS["Success"] and _ERROR in severities:
        return [error("XDS-RESP-001", f"{where}/RegistryErrorList", "Success with a RegistryError of severity "
                      "Error (PartialSuccess or Failure expected)", "no error", severities.count(_ERROR))]
    return []


def _leaf_class_rules(resp: etree._Element) -> list[Finding]:
    """LeafClass objects carry their status, and ExtrinsicObjects their objectType (ITI TF-2a §3.18.4.1.3)."""
    out = []
    rol = resp.find(_R + "RegistryObjectList")
    for obj in rol if rol is not None else []:
        if obj.tag not in (_R + "ExtrinsicObject", _R + "RegistryPackage"):
            continue
        where = f"{etree.QName(obj).localname}[@id='{obj.get('id')}']"
        if not obj.get("status"):
            out.append(error("XDS-RESP-002", f"{where}/@status", "returned object without availabilityStatus"))
        if obj.tag == _R + "ExtrinsicObject" and not obj.get("objectType"):
            out.append(error("XDS-RESP-002", f"{where}/@objectType", "returned DocumentEntry without objectType"))
    return out
