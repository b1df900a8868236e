"""The SOAP side of the two DMP endpoints: decode, check WS-Addressing, dispatch, encode.

One endpoint path (``/registry``, ``/repository``) serves several transactions, told apart by
wsa:Action (IHE ITI TF-2x §V.3.2.1.1); each transaction module exposes ``ACTION`` and
``handle(ctx, message) -> Reply``. Faults follow the SOAP 1.2 HTTP binding (Part 2 §7.5.1):
Sender -> 400, Receiver -> 500.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from types import ModuleType

from lxml import etree

from harness.findings import Finding
from harness.soap import (
    SoapFault,
    SoapMessage,
    build_envelope,
    build_fault,
    encode_mtom,
    response_action,
)
from harness.soap.envelope import SOAP12_CONTENT_TYPE
from simulators.dmp.config import DmpConfig
from simulators.dmp.registry import Registry
from simulators.dmp.vihf_check import request_patient

log = logging.getLogger(__name__)


@dataclass
class Reply:
    body: etree._Element
    attachments: dict[str, bytes] = field(default_factory=dict)
    mtom: bool | None = None  # None: same packaging as the request


@dataclass
class Context:
    registry: Registry
    config: DmpConfig
    vihf_check: Callable[[SoapMessage, str | None], list[Finding]] | None = None


WARN_AGENT = "dmp-simulator"
_MAX_WARNINGS = 20


def warning_headers(findings: list[Finding]) -> list[tuple[str, str]]:
    """``Warning: 299 dmp-simulator "..."`` per finding (RFC 7234 §5.5, 299: persistent warning, text
    for a human or a log): the findings travel with the response, so the captured exchange (and the
    campaign report that lists it) shows them next to the message they are about."""
    out = []
    for f in findings[:_MAX_WARNINGS]:
        text = f"VIHF {f}"[:400].replace("\\", "\\\\").replace('"', '\\"')
        text = " ".join(text.encode("latin-1", "replace").decode("latin-1").split())
        out.append(("Warning", f'299 {WARN_AGENT} "{text}"'))
    return out


class SoapResponse:
    """Status, headers and body of one answer: what a WSGI ``start_response`` takes, without a framework."""

    def __init__(self, body: bytes, status: int, content_type: str) -> None:
        self.body, self.status = body, status
        self.headers = [("Content-Type", content_type), ("Content-Length", str(len(body)))]

    def wsgi(self, start_response: Callable) -> list[bytes]:
        start_response(f"{self.status} {HTTPStatus(self.status).phrase}", self.headers)
        return [self.body]


class SoapEndpoint:
    """The WSGI application serving the transactions of ``modules`` on one path.

    Plain WSGI, not a Flask view: a request context, a routing pass and a Response object per
    message cost about as much as the whole ITI-18 answer, and these two paths carry all the load."""

    def __init__(self, ctx: Context, modules: list[ModuleType]) -> None:
        self.ctx = ctx
        self.by_action = {m.ACTION: m for m in modules}
        self.by_request = {m.REQUEST: m for m in modules}  # body element -> module (a fault routes on it)

    def __call__(self, environ: dict, start_response: Callable) -> list[bytes]:
        """A body announced over ``max_body_bytes`` never gets here (DmpApp refuses it unread);
        one sent chunked is held to the limit by decode_message."""
        length = environ.get("CONTENT_LENGTH") or ""
        size = int(length) if length.isdigit() else None
        stream = environ["wsgi.input"]
        data = stream.read() if size is None else stream.read(size)
        return self.answer(environ.get("CONTENT_TYPE", ""), data, environ.get("PATH_INFO", "")).wsgi(start_response)

    def answer(self, content_type: str, data: bytes, path: str) -> SoapResponse:
        ctx = self.ctx
        handlers = ctx.registry.handlers
        relates_to, findings = None, []
        try:
            msg = handlers.decode(content_type, data, max_bytes=ctx.config.max_body_bytes)
            relates_to = msg.envelope.message_id
            module = self._module(msg, path)
            action = module.ACTION
            if ctx.vihf_check is not None:
                findings = ctx.vihf_check(msg, action)
                if findings:
                    ctx.registry.record_findings(relates_to or "", request_patient(msg), action, findings)
            reply = module.handle(ctx, msg)
        except SoapFault as fault:
            return _with_warnings(fault_response(fault, relates_to), findings)
        except Exception as exc:
            log.exception("DMP simulator failed on %s", path)
            return _with_warnings(fault_response(SoapFault("Receiver", f"internal error: {exc.__class__.__name__}: "
                                                           f"{exc}"), relates_to), findings)
        mtom = msg.mtom and handlers.mirror_mtom
        return _with_warnings(reply_response(reply, action, relates_to if handlers.relates_to else None, mtom),
                              findings)

    def _module(self, msg: SoapMessage, path: str) -> ModuleType:
        """The transaction of ``msg``: the one its wsa:Action names (IHE ITI TF-2x §V.3.2.1.1), both
        wsa:Action and wsa:MessageID being required; or, with ``dispatch_on_action`` off (a fault),
        the one whose request element the body holds."""
        env = msg.envelope
        if not self.ctx.registry.handlers.dispatch_on_action:
            module = self.by_request.get(env.body.tag if env.body is not None else "")
            if module is None:
                raise SoapFault("Sender", f"no transaction at {path} takes this body")
            return module
        if not env.action:
            raise SoapFault("Sender", "wsa:Action header is required (IHE ITI TF-2x §V.3.2.1.1)",
                            "wsa:MessageAddressingHeaderRequired")
        if not env.message_id:
            raise SoapFault("Sender", "wsa:MessageID header is required in a request-response exchange "
                            "(WS-Addressing 1.0 SOAP Binding §3)", "wsa:MessageAddressingHeaderRequired")
        module = self.by_action.get(env.action)
        if module is None:
            raise SoapFault("Sender", f"action {env.action} is not served at {path}; expected one of "
                            f"{', '.join(sorted(self.by_action))}", "wsa:ActionNotSupported")
        if env.body is None:
            raise SoapFault("Sender", "soap:Body is empty")
        return module


def _with_warnings(response: SoapResponse, findings: list[Finding]) -> SoapResponse:
    response.headers += warning_headers(findings)
    return response


def fault_response(fault: SoapFault, relates_to: str | None) -> SoapResponse:
    status = 400 if fault.code == "Sender" else 500
    return SoapResponse(build_fault(fault, relates_to=relates_to), status, f"{SOAP12_CONTENT_TYPE}; charset=UTF-8")


def reply_response(reply: Reply, request_action: str, relates_to: str | None, request_mtom: bool) -> SoapResponse:
    action = response_action(request_action)
    envelope = build_envelope(reply.body, action=action, relates_to=relates_to)
    mtom = request_mtom if reply.mtom is None else reply.mtom
    if mtom or reply.attachments:
        ctype, body = encode_mtom(envelope, reply.attachments, action=action)
        return SoapResponse(body, 200, ctype)
    return SoapResponse(envelope, 200, f'{SOAP12_CONTENT_TYPE}; charset=UTF-8; action="{action}"')
