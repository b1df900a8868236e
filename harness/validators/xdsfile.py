"""An XDS message stored in a file: read as it was sent (capture.py), validated by harness.xds.validate.

What a file is, and what it is checked as:
- a SOAP 1.2 envelope, or an MTOM package (with or without its HTTP header block): the message rules
  (IHE ITI TF-2x Appendix V), then the payload's;
- the MTOM root part stored alone (the ANS samples ``Validateur XDS/XDS.xml`` & co.): as the envelope; its
  ``xop:Include`` parts are not in the file, so hash, size and the signature manifest cannot be checked,
  which is a warning, not the error an HTTP body without its parts gets (XDS-MTOM-001);
- a pretty-printed MTOM package (``informatif/XDS/publication.xml``): restored, with a warning saying so;
  the checks on the bytes of a part re-indented in storage (hash, size, signature value) become warnings;
- a bare ebRS payload (SubmitObjectsRequest, PnR request, AdhocQuery request/response, RegistryResponse, as
  the NIST message-validator and dcm4chee samples): the payload rules, no envelope rules.

Public: :func:`check_xds` -> :class:`~harness.validators.rulesets.Checked`.
"""

from __future__ import annotations

from dataclasses import replace

from lxml import etree

from harness.findings import Finding, Severity, warning
from harness.soap.envelope import SOAP12_NS
from harness.soap.mtom import XOP_NS
from harness.validators.capture import Capture, read_capture
from harness.validators.rulesets import Checked, RuleSet, ran, skipped
from harness.xds.model import XDSB_NS
from harness.xds.schema import SOAP11_NS, payload_of
from harness.xmlsafe import UnsafeXmlError, parse_xml

MAX_XDS_BYTES = 64 * 1024 * 1024
_ENVELOPES = {f"{{{SOAP12_NS}}}Envelope", f"{{{SOAP11_NS}}}Envelope"}
_MISSING_PARTS = "not an XOP package: document contents are missing"
# findings on the bytes of one document: meaningless on a part re-indented when the file was written
_BYTE_RULES = {"XDS-HASH-002", "XDS-SIZE-002", "XDS-DMP-SIG-005"}
_PAYLOADS = {  # payload root (local name) -> rule set of the payload (harness.xds.validate._validate_root)
    "ProvideAndRegisterDocumentSetRequest": "xds-ihe", "SubmitObjectsRequest": "xds-ihe",
    "AdhocQueryRequest": "xds-query", "AdhocQueryResponse": "xds-response", "RegistryResponse": "xds-response",
    "RetrieveDocumentSetResponse": "xds-response", "RetrieveDocumentSetRequest": "xds-retrieve",
}


def check_xds(data: bytes, profile: str = "dmp") -> Checked:
    """Validate a stored XDS message (see the module docstring)."""
    from harness.xds.validate import validate_and_parse

    cap = read_capture(data)
    if cap.form == "soap":
        bare = _bare_payload(data)
        if bare is not None:
            return _check_payload(bare, profile)
    msg, sub, findings = validate_and_parse(cap.content_type, cap.body, profile)
    findings = _as_stored(findings, cap, msg)
    if msg is None:
        why = "the message could not be decoded"
        return Checked("xds", findings, [_mime_set(cap, None), skipped("xds-soap", why), *_payload_sets(None, why)])
    sets = [_mime_set(cap, msg), ran("xds-soap"), *_payload_sets(msg.envelope.body, None, profile, sub)]
    return Checked("xds", findings, sets)


def _bare_payload(data: bytes) -> etree._Element | None:
    """The root element when the file is a bare ebRS payload (no envelope); None for an envelope."""
    try:
        root = parse_xml(data, max_bytes=MAX_XDS_BYTES)
    except UnsafeXmlError:
        return None  # the SOAP decoder reports it (XDS-SOAP-001)
    return None if root.tag in _ENVELOPES else root


def _check_payload(root: etree._Element, profile: str) -> Checked:
    from harness.xds.validate import validate_submission

    findings = validate_submission(root, profile)
    note = "the file holds the bare ebRS payload, without SOAP envelope"
    sets = [skipped("xds-mime", note), skipped("xds-soap", note), *_payload_sets(payload_of(root), None, profile)]
    return Checked("xds", findings, sets)


def _mime_set(cap: Capture, msg: object) -> RuleSet:
    if msg is None or not getattr(msg, "mtom", False):
        reason = "the file holds the MTOM root part without its MIME parts" if cap.form == "soap" and msg is not None \
            and _has_includes(msg) else "plain SOAP message, no MIME package"
        return skipped("xds-mime", reason if msg is not None else "the message could not be decoded")
    if cap.form == "mime-restored":
        return ran("xds-mime", "restored from a pretty-printed copy, see XDS-MTOM-001")
    return ran("xds-mime")


def _has_includes(msg: object) -> bool:
    root = msg.envelope.root
    return root is not None and next(root.iter(f"{{{XOP_NS}}}Include"), None) is not None


def _payload_sets(payload: etree._Element | None, why: str | None, profile: str = "dmp",
                  sub: object = None) -> list[RuleSet]:
    if payload is None or why:
        why = why or "soap:Body is empty"
        return [skipped("xds-xsd", why), skipped("xds-ihe", why), skipped("xds-dmp", why)]
    key = _PAYLOADS.get(etree.QName(payload).localname)
    sets = [ran("xds-xsd")]
    if key is None:
        return [*sets, skipped("xds-ihe", f"payload {etree.QName(payload).localname}: schema only")]
    sets.append(ran(key))
    if key != "xds-ihe":
        return sets
    has_bytes = sub is not None and bool(getattr(sub, "document_bytes", None))
    sets.append(ran("xds-content") if has_bytes else skipped("xds-content", "the documents are not in the file"))
    sets.append(ran("xds-dmp") if profile == "dmp" else skipped("xds-dmp", "profile xds: IHE rules only"))
    return sets


def _as_stored(findings: list[Finding], cap: Capture, msg: object) -> list[Finding]:
    """What a finding means for a stored file rather than for the bytes of an HTTP exchange."""
    out = []
    if cap.form == "mime-restored":
        out.append(warning("XDS-MTOM-001", "(file)", "MIME package pretty-printed when stored, not byte-exact MTOM: "
                           + "; ".join(cap.notes) + ". Read after restoring it; a receiver refuses these bytes as "
                           "they stand", "an MTOM package (SOAP MTOM §3, RFC 2046 §5.1.1)", "restored"))
    altered = _altered_documents(cap, msg)
    for f in findings:
        if f.rule == "XDS-MTOM-001" and f.severity is Severity.ERROR and _MISSING_PARTS in f.message \
                and cap.form == "soap":  # a bare file; with its HTTP headers it is a message as sent: an error
            f = warning("XDS-MTOM-001", f.location, "the file holds the MTOM root part without its MIME parts "
                        "(xop:Include): the documents' hash, size and signature manifest are not checked",
                        "the whole MTOM package", "root part only")
        elif f.rule in _BYTE_RULES and f.severity is Severity.ERROR and any(f"'{d}'" in f.location for d in altered):
            f = replace(f, severity=Severity.WARNING, message=f.message + " (this part was re-indented when the "
                        "file was written: its bytes are not the ones sent)")
        out.append(f)
    return out


def _altered_documents(cap: Capture, msg: object) -> set[str]:
    """Ids of the xdsb:Documents whose MIME part was re-indented in storage (capture.Capture.altered)."""
    if not cap.altered or msg is None or msg.envelope.root is None:
        return set()
    out = set()
    for doc in msg.envelope.root.iter(f"{{{XDSB_NS}}}Document"):
        inc = doc.find(f"{{{XOP_NS}}}Include")
        if inc is not None and (inc.get("href") or "")[4:] in cap.altered:
            out.add(doc.get("id") or "")
    return out
