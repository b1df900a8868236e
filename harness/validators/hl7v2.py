"""HL7 v2 validator for the RIS messages a Source DRIMbox receives (IG-hl7v2 CISIS_CDA_HL7_V2).

Public: :func:`parse_hl7` (sans-IO: bytes/str -> :class:`Message`, MLLP framing tolerated),
:func:`validate_hl7` (findings), :func:`check_hl7` (findings and the rule sets that ran),
:func:`hl7_facts` (identity, flags, accession, study, embedded CDA).

Messages: ORU^R01 (OBX-11 F/C/D), MDM^T02/T04/T10, OMI^O23 (an order: ORC-1 from HL7 v2.5 Table 0119; an
exam change, ORC-1 CA and the like, names its exam in IPC; a new order, ORC-1 NW, is not an exam change).
Locations are HL7 field paths: ``MSH-21``, ``OBX[2]-5`` (segment occurrence, 1-based).
The base64 CR-IMG of the document OBX is decoded and validated by :func:`harness.validators.cda.validate_cda`;
its findings keep their CDA-* rule and get the location ``OBX[1]-5>/ClinicalDocument/...``.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterator
from dataclasses import dataclass, field

from harness.findings import Finding, error, info, warning
from harness.validators.common import INS_OIDS, is_uid
from harness.validators.rulesets import Checked, ran, skipped

MESSAGE_TYPES = {  # IG-hl7v2 (transmission document CDA R2) + IHE RAD OMI for exam changes
    ("ORU", "R01"): "report (OBX-11 F new / C replace / D delete)",
    ("MDM", "T02"): "original document notification and content",
    ("MDM", "T04"): "document status change notification and content",
    ("MDM", "T10"): "document replacement notification and content",
    ("OMI", "O23"): "imaging order (ORC-1 NW new order; CA, XO... exam change with IPC)",
}
# ORC-1 order control of an OMI^O23 (HL7 v2.5 §4.5.1.1, Table 0119; IHE RAD TF-2 §4.4 RAD-4 sends NW,
# §4.13 RAD-13 changes and cancellations)
ORDER_CONTROL = {
    "NW": "new order",  # informatif/HL7v2 OMI^O23 Sample/OMI^O23-ImagingOrder.hl7
    "SC": "status changed",
    "CA": "cancel order request",  # exam deletion: Jeux de données/HL7v2/Examen W/CR_W_Suppression-OMI.hl7
    "OC": "order canceled",
    "DC": "discontinue order request",
    "OD": "order discontinued",
    "XO": "change order request",
    "XX": "order changed, unsolicited",
}
EXAM_CHANGES = frozenset({"CA", "OC", "DC", "OD", "XO", "XX"})  # the orders that change an existing exam
PROFILE = ("2.1", "CISIS_CDA_HL7_V2")  # MSH-21, IG-hl7v2
OLDER_PROFILES = {("2.0", "CISIS_CDA_HL7_V2")}  # seen in DRIM-M_DATA Cross-validateur/OK_Cas_Passant (2021)
RESULT_STATUS = {"F": "new document", "C": "replacement", "D": "deletion"}  # OBX-11
DMP_FLAGS = ("MASQUE_PS", "INVISIBLE_PATIENT", "INVISIBLE_REP_LEGAUX", "CONNEXION_SECRETE",
             "MODIF_CONF_CODE", "DESTDMP")  # IG-hl7v2 OBX MetaDMPMSS
MLLP_START, MLLP_END = b"\x0b", b"\x1c\x0d"
MAX_HL7_BYTES = 64 * 1024 * 1024
_SEGMENT_NAME = re.compile(r"[A-Z][A-Z0-9]{2}\Z")


class Hl7Error(ValueError):
    """Not an HL7 v2 message at all (no MSH header)."""


@dataclass
class Segment:
    name: str
    fields: list[str]  # fields[n] is field n (MSH: fields[1] is the field separator)
    index: int  # occurrence of this segment name, 1-based

    def get(self, n: int) -> str:
        return self.fields[n] if n < len(self.fields) else ""

    @property
    def ref(self) -> str:
        return f"{self.name}[{self.index}]"


@dataclass
class Message:
    segments: list[Segment]
    component: str = "^"
    repetition: str = "~"
    escape: str = "\\"
    subcomponent: str = "&"
    problems: list[Finding] = field(default_factory=list)  # encoding issues found while parsing

    def all(self, name: str) -> list[Segment]:
        return [s for s in self.segments if s.name == name]

    def first(self, name: str) -> Segment | None:
        return next((s for s in self.segments if s.name == name), None)

    def comps(self, value: str) -> list[str]:
        return value.split(self.component)

    def reps(self, value: str) -> list[str]:
        return value.split(self.repetition) if value else []

    @property
    def type(self) -> tuple[str, str]:
        msh = self.first("MSH")
        parts = self.comps(msh.get(9)) if msh else []
        return (parts[0] if parts else "", parts[1] if len(parts) > 1 else "")


def parse_hl7(data: bytes | str) -> Message:
    """Split an HL7 v2 message into segments; raise Hl7Error when it does not start with MSH."""
    problems: list[Finding] = []
    text = _decode(data, problems) if isinstance(data, bytes) else data
    lines = [ln for ln in re.split(r"\r\n|\r|\n", text.strip("\x0b\x1c\r\n ")) if ln.strip()]
    if isinstance(data, str) or b"\r" not in data:
        if "\r" not in text and len(lines) > 1:
            problems.append(warning("HL7-ENC-001", "(message)", "segments end with LF, not CR",
                                    "CR segment terminator", "LF"))
    if not lines or not lines[0].startswith("MSH") or len(lines[0]) < 8:
        raise Hl7Error("not an HL7 v2 message: it does not start with an MSH segment")
    sep, enc = lines[0][3], lines[0][4:8]
    if sep != "|" or enc != "^~\\&":
        problems.append(error("HL7-ENC-001", "MSH-1", "separators must be |^~\\& (HL7 v2.5 §2.5)",
                              "|^~\\&", sep + enc))
    counts: dict[str, int] = {}
    segments = []
    for line in lines:
        parts = line.split(sep)
        name = parts[0]
        if not _SEGMENT_NAME.match(name):
            problems.append(error("HL7-ENC-001", f"segment {len(segments) + 1}", "invalid segment name",
                                  "3 capitals/digits", name[:20]))
        fields = [name, sep, *parts[1:]] if name == "MSH" else parts
        counts[name] = counts.get(name, 0) + 1
        segments.append(Segment(name, fields, counts[name]))
    msg = Message(segments, enc[0], enc[1], enc[2], enc[3], problems) if len(enc) == 4 else \
        Message(segments, problems=problems)
    return msg


def _decode(data: bytes, problems: list[Finding]) -> str:
    if len(data) > MAX_HL7_BYTES:
        raise Hl7Error(f"message of {len(data)} bytes exceeds {MAX_HL7_BYTES}")
    if data.startswith(MLLP_START):
        data = data[1:]
    if data.endswith(MLLP_END):
        data = data[:-2]
    head = data[:2048].split(b"\r")[0].split(b"\n")[0]
    declared_latin = b"8859" in head and b"UTF-8" not in head.upper()
    if declared_latin:
        return data.decode("latin-1")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        problems.append(error("HL7-ENC-001", "(message)", f"invalid UTF-8 at byte {exc.start}",
                              "UTF-8 (MSH-18 UNICODE UTF-8)", data[exc.start:exc.start + 4].hex()))
        return data.decode("utf-8", "replace")


def validate_hl7(data: bytes | str, *, cda: bool = True) -> list[Finding]:
    """Validate one message; ``cda=False`` skips the validation of the embedded CR-IMG."""
    try:
        msg = parse_hl7(data)
    except Hl7Error as exc:
        return [error("HL7-ENC-001", "(message)", str(exc), "MSH|^~\\&|...", "no MSH")]
    findings = list(msg.problems)
    if any(f.rule == "HL7-ENC-001" and f.location == "MSH-1" for f in findings):
        return findings  # wrong separators: every field below would be misread
    mtype = msg.type
    if mtype not in MESSAGE_TYPES:
        findings.append(error("HL7-MSH-001", "MSH-9", "unsupported message type",
                              " | ".join("^".join(t) for t in MESSAGE_TYPES), "^".join(mtype)))
        return findings
    findings += _check_pid(msg)
    if mtype[0] == "OMI":
        findings += _check_omi(msg)
    else:
        findings += _check_profile(msg)
        findings += _check_obx_status(msg)
        findings += _check_document(msg, cda)
        findings += _check_flags(msg)
        findings += _check_prt(msg)
    return findings


def _check_profile(msg: Message) -> Iterator[Finding]:
    msh = msg.first("MSH")
    ids = [tuple(msg.comps(r)[:2]) for r in msg.reps(msh.get(21))]
    if PROFILE in ids:
        return
    if OLDER_PROFILES & set(ids):
        yield warning("HL7-MSH-002", "MSH-21", "older version of the CISIS_CDA_HL7_V2 profile", "^".join(PROFILE),
                      msh.get(21))
    else:
        yield error("HL7-MSH-002", "MSH-21", "message profile identifier", "^".join(PROFILE), msh.get(21))


def _check_pid(msg: Message) -> Iterator[Finding]:
    pid = msg.first("PID")
    reps = [msg.comps(r) for r in msg.reps(pid.get(3))] if pid else []
    for rep in reps:
        authority = rep[3].split(msg.subcomponent) if len(rep) > 3 else []
        if len(authority) > 1 and authority[1] in INS_OIDS and len(rep) > 4 and rep[4] == "INS" and rep[0]:
            return
    yield error("HL7-PID-001", "PID[1]-3", "no INS identifier (CX-4.2 INS OID, CX-5 INS)",
                "INS^^^ASIP-SANTE-INS-NIR&1.2.250.1.213.1.4.10&ISO^INS", pid.get(3) if pid else "(no PID)")


def _check_obx_status(msg: Message) -> Iterator[Finding]:
    for obx in msg.all("OBX"):
        if obx.get(11) not in RESULT_STATUS:
            yield error("HL7-OBX-001", f"{obx.ref}-11", "result status", "F | C | D", obx.get(11))


def document_obx(msg: Message) -> Segment | None:
    """The OBX carrying the CDA: value type ED (IG-hl7v2)."""
    return next((o for o in msg.all("OBX") if o.get(2) == "ED"), None)


def decode_document(msg: Message, obx: Segment) -> bytes:
    """OBX-5 = ^TEXT^XML^Base64^<data> -> CDA bytes; ValueError says what is wrong."""
    parts = msg.comps(obx.get(5))
    if len(parts) < 5 or [p.upper() for p in parts[1:4]] != ["TEXT", "XML", "BASE64"]:
        raise ValueError(f"OBX-5 is not ^TEXT^XML^Base64^<data>: {obx.get(5)[:40]!r}")
    try:
        return base64.b64decode(parts[4], validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError(f"OBX-5 data is not valid base64 ({exc})") from None


def _check_document(msg: Message, validate_cda_too: bool) -> Iterator[Finding]:
    obx = document_obx(msg)
    if obx is None:
        yield error("HL7-OBX-002", "OBX-2", "no OBX of type ED carrying the CDA", "OBX|n|ED|18748-4^...", None)
        return
    try:
        cda_bytes = decode_document(msg, obx)
    except ValueError as exc:
        yield error("HL7-OBX-002", f"{obx.ref}-5", str(exc), "^TEXT^XML^Base64^<CDA>", obx.get(5)[:40])
        return
    if validate_cda_too:
        from harness.validators.cda import validate_cda
        for f in validate_cda(cda_bytes):
            yield type(f)(f.rule, f.severity, f"{obx.ref}-5>{f.location}", f.message, f.expected, f.found, f.origin)
    if obx.get(11) == "C" or msg.type == ("MDM", "T10"):
        yield from _check_replacement(obx, cda_bytes)


def _check_replacement(obx: Segment, cda_bytes: bytes) -> Iterator[Finding]:
    """A replacement must say what it replaces: CDA relatedDocument RPLC (TestContenuCDA Entete_IMG-CR-IMG.sch)."""
    from harness.validators.cda import NS, parse_cda
    from harness.xmlsafe import UnsafeXmlError

    try:
        root = parse_cda(cda_bytes)
    except UnsafeXmlError:
        return  # CDA-XML-001 already says so
    if root.find("cda:relatedDocument[@typeCode='RPLC']/cda:parentDocument/cda:id", NS) is None:
        yield error("HL7-RPLC-001", f"{obx.ref}-5>/ClinicalDocument/relatedDocument",
                    "replacement without relatedDocument RPLC in the CR-IMG", "relatedDocument typeCode=RPLC",
                    f"OBX-11={obx.get(11)}")


def _flag_values(msg: Message) -> dict[str, tuple[str, str]]:
    values = {}
    for obx in msg.all("OBX"):
        code = msg.comps(obx.get(3))[0]
        values.setdefault(code, (msg.comps(obx.get(5))[0], obx.ref))
    return values


def _check_flags(msg: Message) -> Iterator[Finding]:
    values = _flag_values(msg)
    for flag in DMP_FLAGS:
        value, ref = values.get(flag, (None, "OBX"))
        if value not in ("Y", "N"):
            yield error("HL7-FLAG-001", f"{ref}-5" if value is not None else f"OBX-3={flag}",
                        f"DMP flag {flag} must be an OBX valued Y or N", "Y | N", value)


def _check_prt(msg: Message) -> Iterator[Finding]:
    if not any(msg.comps(p.get(4))[0] == "SB" for p in msg.all("PRT")):
        yield warning("HL7-PRT-001", "PRT-4", "no PRT with participation SB (Send by)", "SB^Send by",
                      [p.get(4) for p in msg.all("PRT")])


def _check_omi(msg: Message) -> Iterator[Finding]:
    """HL7-IPC-001: an exam change (cancel/change order) names its exam in IPC (IPC-1 accession, IPC-3 Study
    Instance UID; IHE RAD TF-2 IPC segment, IG-hl7v2). A new order (ORC-1 NW) creates no exam yet: the rule
    does not apply to it (the ANS OMI^O23 sample is one)."""
    orc = msg.first("ORC")
    code = orc.get(1) if orc else None
    if code not in ORDER_CONTROL:
        yield error("HL7-IPC-001", "ORC[1]-1", "order control code of an OMI^O23 (HL7 v2.5 Table 0119)",
                    " | ".join(ORDER_CONTROL), code)
        return
    if code not in EXAM_CHANGES:
        yield info("HL7-IPC-001", "ORC[1]-1", f"ORC-1 {code} ({ORDER_CONTROL[code]}) is not an exam change: the "
                   "exam-change rule does not apply", " | ".join(sorted(EXAM_CHANGES)), code)
        return
    ipc = msg.first("IPC")
    if ipc is None or not ipc.get(1) or not is_uid(ipc.get(3)):
        yield error("HL7-IPC-001", "IPC[1]", f"an exam change (ORC-1 {code}) names its exam: IPC-1 accession and "
                    "IPC-3 Study Instance UID are required", "IPC|<acc>|<rp>|<study UID>",
                    "|".join(ipc.fields[1:4]) if ipc else "(no IPC)")


def hl7_facts(msg: Message) -> dict:
    """Identity, flags, accession and study of the message (cross-document input)."""
    pid = msg.first("PID")
    facts: dict = {"flags": {k: v for k, (v, _r) in _flag_values(msg).items() if k in DMP_FLAGS},
                   "study_uids": set(), "accessions": set(), "used_names": []}
    if pid is not None:
        for rep in msg.reps(pid.get(3)):
            c = msg.comps(rep)
            if len(c) > 4 and c[4] == "INS":
                facts["ins"] = c[0]
        for rep in msg.reps(pid.get(5)):
            c = msg.comps(rep) + [""] * 7
            if c[6] == "L":
                facts["birth_name"], facts["given"] = c[0], c[1]
            elif c[6] == "D":
                facts["used_names"].append((c[0], c[1]))
        facts["birth_date"], facts["sex"] = pid.get(7)[:8], pid.get(8)
        for rep in msg.reps(pid.get(11)):
            c = msg.comps(rep) + [""] * 9
            if c[6] == "BDL":
                facts["birthplace"] = c[8]
    ipc = msg.first("IPC")
    if ipc is not None:
        facts["accessions"].add(ipc.get(1))
        facts["study_uids"].add(ipc.get(3))
    return facts


def check_hl7(data: bytes | str) -> Checked:
    """:func:`validate_hl7` with the rule sets it rests on (which depend on the message type)."""
    findings = validate_hl7(data)
    try:
        mtype = parse_hl7(data).type
    except Hl7Error as exc:
        why = str(exc)
        return Checked("hl7", findings, [skipped("hl7-ig", why), skipped("hl7-omi", why), skipped("hl7-cda", why)])
    if any(f.rule == "HL7-ENC-001" and f.location == "MSH-1" for f in findings):
        why = "wrong separators: the fields cannot be read"
        return Checked("hl7", findings, [skipped("hl7-ig", why), skipped("hl7-omi", why), skipped("hl7-cda", why)])
    if mtype not in MESSAGE_TYPES:
        why = f"unsupported message type {'^'.join(mtype)}"
        return Checked("hl7", findings, [skipped("hl7-ig", why), skipped("hl7-omi", why), skipped("hl7-cda", why)])
    if mtype == ("OMI", "O23"):
        why = "an OMI^O23 order carries no CDA"
        return Checked("hl7", findings, [ran("hl7-omi"), skipped("hl7-ig", why), skipped("hl7-cda", why)])
    no_cda = next((f.message for f in findings if f.rule == "HL7-OBX-002"), None)
    return Checked("hl7", findings, [ran("hl7-ig"), skipped("hl7-omi", f"{'^'.join(mtype)} is not an order"),
                                     skipped("hl7-cda", no_cda) if no_cda else ran("hl7-cda")])
