"""A campaign's evidence as the console shows it: the exchanges of ``evidence/exchanges.jsonl`` listed with the
requirements of their tests, each decoded on its own page, and a search by patient id, UID or requirement.

Decoding reuses the project's codecs: SOAP 1.2 and MTOM/XOP through :func:`harness.soap.decode_message` (the
envelope pretty-printed, each XOP part listed with its size and SHA-1, the XDS hash of ITI TF-3 §4.2.3.2.7, and
dumped when it is DICOM), everything else through :func:`reports.render.render_body`, as report.html shows it
(DICOM PS3.10 as a pydicom dump, HL7 v2 one segment per line, XML pretty-printed). Bodies are read up to
:data:`READ_LIMIT`; a body that cannot be decoded is shown raw, never hidden.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reports.render import dicom_dump, pretty_xml, render_body

READ_LIMIT = 8 * 1024 * 1024
SEARCH_LIMIT = 2 * 1024 * 1024  # bytes of each body a search reads
SOAP_TYPES = ("application/soap+xml", "application/xop+xml")


def load_results(out: Path) -> dict[str, Any] | None:
    path = out / "results.json"
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None


def read_exchanges(out: Path) -> list[dict[str, Any]]:
    """Every exchange record of the campaign, in capture order (a torn last line, from a cancelled run, is skipped)."""
    path = out / "evidence" / "exchanges.jsonl"
    if not path.is_file():
        return []
    items = []
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            try:
                items.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return items


def requirements_by_test(results: dict[str, Any] | None) -> dict[str, list[str]]:
    return {t["nodeid"]: t.get("requirements", []) for t in (results or {}).get("tests", [])}


def listing(out: Path, results: dict[str, Any] | None) -> list[dict[str, Any]]:
    """One row per exchange: id, test, its requirements, protocol, actor, summary, status, sizes."""
    reqs = requirements_by_test(results)
    cited: dict[str, set[str]] = {}
    for t in (results or {}).get("tests", []):
        for xid in t.get("exchanges") or []:
            cited.setdefault(xid, set()).add(t["nodeid"])
    rows = []
    for ex in read_exchanges(out):
        tests = {ex.get("test")} | cited.get(ex["id"], set())
        tests.discard(None)
        rows.append({
            "id": ex["id"], "tests": sorted(tests), "requirements": sorted({r for t in tests for r in reqs.get(t, [])}),
            "protocol": ex.get("protocol"), "actor": ex.get("actor"), "direction": ex.get("direction"),
            "summary": ex.get("summary"), "status": ex.get("status"), "peer": ex.get("peer"),
            "started": ex.get("started"), "error": ex.get("error"),
            "request_size": ex["request"]["body"].get("size", 0),
            "response_size": ex["response"]["body"].get("size", 0),
        })
    return rows


def find_exchange(out: Path, exchange_id: str) -> dict[str, Any] | None:
    return next((ex for ex in read_exchanges(out) if ex.get("id") == exchange_id), None)


def body_bytes(body: dict[str, Any], evidence: Path, limit: int = READ_LIMIT) -> bytes:
    """The bytes of a captured body: inline text, inline base64, or a spilled file inside ``evidence``."""
    if "text" in body:
        return body["text"].encode("utf-8")[:limit]
    if "base64" in body:
        return base64.b64decode(body["base64"])[:limit]
    if "file" in body:
        path = (evidence / body["file"]).resolve()
        if evidence.resolve() in path.parents and path.is_file():
            with open(path, "rb") as fh:
                return fh.read(limit)
    return b""


def content_type(headers: list[list[str]]) -> str:
    return next((v for k, v in headers if k.lower() == "content-type"), "")


@dataclass
class Part:
    """One decoded view of a body: a title and its text."""

    title: str
    text: str


@dataclass
class Side:
    """A request or a response: headers, size, and its decoded parts."""

    headers: list[list[str]]
    size: int
    sha256: str
    parts: list[Part] = field(default_factory=list)
    truncated: bool = False


def decode_side(side: dict[str, Any], evidence: Path, protocol: str) -> Side:
    body = side.get("body", {})
    data = body_bytes(body, evidence)
    size = int(body.get("size", len(data)))
    out = Side(side.get("headers", []), size, body.get("sha256", ""), truncated=len(data) < size)
    if not data:
        return out
    ct = content_type(out.headers)
    soap = _decode_soap(ct, data)
    out.parts = soap if soap is not None else [Part(_kind(ct, data, protocol), render_body(data, ct, protocol))]
    return out


def _decode_soap(ct: str, data: bytes) -> list[Part] | None:
    """SOAP 1.2 / MTOM as the project's codec reads it; None when the body is not SOAP (or it refuses it: the
    generic rendering then shows what was sent, and the refusal is named)."""
    lowered = ct.lower()
    if not any(t in lowered for t in SOAP_TYPES):
        return None
    from harness.soap import SoapFault, decode_message

    try:
        message = decode_message(ct, data)
    except SoapFault as fault:
        return [Part(f"not decodable as SOAP 1.2 / MTOM: {fault.reason}", render_body(data, ct))]
    except Exception as exc:  # evidence is shown whatever it holds
        return [Part(f"not decodable as SOAP 1.2 / MTOM: {exc}", render_body(data, ct))]
    kind = "MTOM/XOP" if message.mtom else "SOAP 1.2"
    action = message.envelope.action or message.action
    parts = [Part(f"{kind} envelope" + (f" (action {action})" if action else ""), pretty_xml(message.xml))]
    for cid, blob in message.attachments.items():
        digest = hashlib.sha1(blob).hexdigest()
        title = f"XOP part <{cid}>: {len(blob)} bytes, SHA-1 {digest}"
        if blob[128:132] == b"DICM":
            parts.append(Part(title + ", DICOM", dicom_dump(blob)))
        else:
            parts.append(Part(title, render_body(blob)))
    return parts


def _kind(ct: str, data: bytes, protocol: str) -> str:
    if data[128:132] == b"DICM" or "application/dicom" in ct.lower() or protocol == "dimse":
        return "DICOM"
    if data.lstrip(b"\x0b").startswith(b"MSH|"):
        return "HL7 v2 (one segment per line)"
    if data.lstrip()[:1] == b"<":
        return "XML"
    if "multipart/" in ct.lower():
        return "multipart"
    return ct or "body"


def search(out: Path, results: dict[str, Any] | None, query: str) -> list[dict[str, Any]]:
    """Exchanges whose requirement, test, summary, headers or body holds ``query`` (a patient id, a UID, a
    requirement id); case-insensitive for text, exact bytes in binary bodies (DICOM UIDs are ASCII)."""
    q = query.strip()
    if not q:
        return []
    needle, lowered = q.encode("utf-8"), q.lower()
    evidence = out / "evidence"
    rows = {r["id"]: r for r in listing(out, results)}
    found = []
    for ex in read_exchanges(out):
        row = rows.get(ex["id"])
        if row is None:
            continue
        meta = " ".join([*row["requirements"], *row["tests"], row.get("summary") or ""]).lower()
        where = "requirement or test" if lowered in meta else None
        for side in ("request", "response"):
            if where:
                break
            headers = " ".join(f"{k}: {v}" for k, v in ex[side].get("headers", [])).lower()
            data = body_bytes(ex[side].get("body", {}), evidence, SEARCH_LIMIT)
            if lowered in headers or needle in data or needle.lower() in data.lower():
                where = f"{side} body" if needle.lower() in data.lower() else f"{side} headers"
        if where:
            found.append(row | {"matched": where})
    return found


def exchanges_since(out: Path, offset: int, max_bytes: int = READ_LIMIT) -> tuple[list[dict[str, Any]], int]:
    """The exchanges appended to ``evidence/exchanges.jsonl`` after byte ``offset`` (up to about ``max_bytes``
    of it), each as a short row, and the offset to read on from. A line not ended yet (being written) is left
    for the next call; one that does not parse is skipped, as :func:`read_exchanges` does."""
    path = out / "evidence" / "exchanges.jsonl"
    rows: list[dict[str, Any]] = []
    try:
        fh = open(path, "rb")
    except OSError:
        return rows, offset
    with fh:
        fh.seek(offset)
        read = 0
        while read < max_bytes:
            line = fh.readline()
            if not line.endswith(b"\n"):
                break
            read += len(line)
            offset += len(line)
            try:
                ex = json.loads(line)
            except (json.JSONDecodeError, UnicodeDecodeError):
                continue
            rows.append({k: ex.get(k) for k in ("id", "summary", "protocol", "actor", "direction", "status",
                                                "error", "started", "peer")})
    return rows, offset
