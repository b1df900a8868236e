"""HL7 v2.5 general acknowledgement (ACK) build and parse, sans-IO.

MSA-1 codes (HL7 v2.5 §2.15.8 / Table 0008): ``AA`` accepted, ``AE`` application error (the message
was understood but its content is refused; IG-hl7v2: "le message contient des erreurs de syntaxe"),
``AR`` application reject (the message cannot be processed at all: unparseable, unsupported type).
One ERR segment per error (HL7 v2.5 §2.15.5, IG-hl7v2 ACK): ERR-2 location (ERL), ERR-3 Table 0357
code, ERR-4 severity (Table 0516: E error, W warning), ERR-5 the rule that found it, ERR-8 the text.
An ``AA`` may carry warnings as ERR segments of severity W.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

ACK_CODES = {"AA": "accepted", "AE": "application error", "AR": "application reject"}  # HL7 Table 0008
ERROR_CODES = {  # HL7 v2.5 Table 0357 (message error condition codes)
    "0": "Message accepted",
    "100": "Segment sequence error",
    "101": "Required field missing",
    "102": "Data type error",
    "103": "Table value not found",
    "200": "Unsupported message type",
    "201": "Unsupported event code",
    "203": "Unsupported version id",
    "204": "Unknown key identifier",
    "205": "Duplicate key identifier",
    "206": "Application record locked",
    "207": "Application internal error",
}


SEVERITIES = {"E": "error", "W": "warning", "I": "information"}  # HL7 v2.5 Table 0516 (ERR-4)


@dataclass(frozen=True)
class AckError:
    """One ERR segment (HL7 v2.5 §2.15.5)."""

    code: str  # ERR-3, Table 0357
    severity: str = "E"  # ERR-4, Table 0516
    location: str = ""  # ERR-2 as ERL: segment^sequence^field (e.g. MSH^1^21)
    rule: str = ""  # ERR-5 application error code: the validator rule (e.g. HL7-MSH-002)
    text: str = ""  # ERR-8 user message


@dataclass(frozen=True)
class Ack:
    code: str  # MSA-1
    control_id: str  # MSA-2: MSH-10 of the acknowledged message
    text: str = ""  # MSA-3 / ERR-8
    error_code: str = ""  # ERR-3 (Table 0357) of the first ERR
    errors: tuple[AckError, ...] = field(default=())  # every ERR segment

    @property
    def accepted(self) -> bool:
        return self.code in ("AA", "CA")


def _escape(text: str) -> str:
    """HL7 escape sequences for the delimiters (HL7 v2.5 §2.7.1)."""
    out = text.replace("\\", "\\E\\").replace("|", "\\F\\").replace("^", "\\S\\")
    out = out.replace("&", "\\T\\").replace("~", "\\R\\")
    return " ".join(out.split())[:400]


def _msh_fields(message: bytes) -> list[str]:
    # blank lines before MSH (a file saved with leading line feeds) are not a segment: the parser skips them
    first = message.replace(b"\n", b"\r").lstrip(b"\x0b\r").split(b"\r", 1)[0].decode("latin-1")
    if not first.startswith("MSH") or len(first) < 4:
        return []
    return ["MSH", first[3], *first[4:].split(first[3])]


def _err_segment(err: AckError) -> str:
    code3 = f"{err.code}^{ERROR_CODES.get(err.code, '')}^HL70357"
    code5 = f"{_escape(err.rule)}^^L" if err.rule else ""  # L: locally defined codes (HL7 Table 0396)
    return f"ERR||{err.location}|{code3}|{err.severity}|{code5}|||{_escape(err.text)}"


def build_ack(message: bytes, code: str, text: str = "", error_code: str = "", *,
              errors: Sequence[AckError] = (), sender: tuple[str, str] = ("DRIMBOX", "SOURCE"),
              now: datetime | None = None) -> bytes:
    """ACK for ``message`` (raw HL7); works on a broken message too (empty MSA-2 then).

    ``errors`` become one ERR segment each; without them a refusal gets one ERR from ``error_code``
    and ``text``.
    """
    if code not in ACK_CODES:
        raise ValueError(f"MSA-1 must be one of {sorted(ACK_CODES)}")
    msh = _msh_fields(message)

    def f(n: int) -> str:
        return msh[n] if n < len(msh) else ""

    stamp = (now or datetime.now()).strftime("%Y%m%d%H%M%S")
    control = f(10)
    trigger = f(9).split("^")[1] if "^" in f(9) else ""
    segs = [f"MSH|^~\\&|{sender[0]}|{sender[1]}|{f(3)}|{f(4)}|{stamp}||ACK^{trigger}^ACK|ACK{stamp}{control[:8]}"
            f"|P|{f(12) or '2.5'}"]
    segs.append(f"MSA|{code}|{control}" + (f"|{_escape(text)}" if text else ""))
    if not errors and code != "AA":
        errors = [AckError(error_code or "207", text=text)]
    segs.extend(_err_segment(e) for e in errors)
    return ("\r".join(segs) + "\r").encode("utf-8")


def parse_ack(data: bytes) -> Ack:
    """MSA-1/2/3 and ERR-3 of an acknowledgement; ValueError when there is no MSA segment."""
    text = data.decode("utf-8", "replace").replace("\n", "\r")
    segments = [s for s in text.split("\r") if s]
    if not segments or not segments[0].startswith("MSH"):
        raise ValueError("not an HL7 message: no MSH segment")
    sep = segments[0][3]
    msa = next((s.split(sep) for s in segments if s.startswith("MSA" + sep)), None)
    if msa is None:
        raise ValueError("no MSA segment in the acknowledgement")
    errors = tuple(_parse_err(s.split(sep)) for s in segments if s.startswith("ERR" + sep))
    return Ack(msa[1] if len(msa) > 1 else "", msa[2] if len(msa) > 2 else "", msa[3] if len(msa) > 3 else "",
               errors[0].code if errors else "", errors)


def _parse_err(fields: list[str]) -> AckError:
    def f(n: int) -> str:
        return fields[n] if n < len(fields) else ""

    return AckError(f(3).split("^")[0], f(4), f(2), f(5).split("^")[0], f(8))
