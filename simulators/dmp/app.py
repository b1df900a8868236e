"""App factory of the DMP simulator (XDS.b registry + repository, ANS DRIM-M_DATA Validateur XDS/XDS.xml).

``create_app(config, handlers=None)`` -> a WSGI app wrapped in CaptureMiddleware: every
request and response is evidence (actor ``dmp-simulator``). Endpoints (configurable paths):
``/registry`` (ITI-18, ITI-57) and ``/repository`` (ITI-41 / RAD-68, ITI-43) are plain WSGI
(soapio.SoapEndpoint); the read-only ``/inspect/...`` pages are a Flask blueprint.
"""

from __future__ import annotations

from typing import Any

from flask import Flask

from harness.capture import CaptureMiddleware, record
from harness.soap import SoapFault, build_fault
from harness.soap.envelope import SOAP12_CONTENT_TYPE
from simulators.dmp import iti18, iti41, iti43, iti57
from simulators.dmp.config import DmpConfig
from simulators.dmp.inspector import inspector_blueprint
from simulators.dmp.registry import Handlers, Registry
from simulators.dmp.soapio import Context, SoapEndpoint
from simulators.dmp.storage import Storage, open_storage
from simulators.dmp.vihf_check import vihf_checker


class DmpApp:
    """The WSGI callable plus what tests need to reach (registry, storage, Flask app)."""

    def __init__(self, flask_app: Flask, registry: Registry, soap: dict[str, SoapEndpoint]) -> None:
        self.flask = flask_app
        self.registry = registry
        self.storage: Storage = registry.storage
        self.soap = soap  # path -> endpoint; POSTs there skip Flask, the rest (inspector) goes through it
        self.wsgi = CaptureMiddleware(self._dispatch, actor="dmp-simulator", protocol="soap")

    def __call__(self, environ: dict, start_response: Any) -> Any:
        length = environ.get("CONTENT_LENGTH") or ""
        if length.isdigit() and int(length) > self.registry.config.max_body_bytes:
            return self._too_large(environ, start_response, int(length))
        return self.wsgi(environ, start_response)

    def _dispatch(self, environ: dict, start_response: Any) -> Any:
        endpoint = self.soap.get(environ.get("PATH_INFO", ""))
        if endpoint is None:
            return self.flask.wsgi_app(environ, start_response)
        if environ.get("REQUEST_METHOD") != "POST":
            body = b"SOAP endpoint: POST a SOAP 1.2 message\n"
            start_response("405 Method Not Allowed", [("Allow", "POST"), ("Content-Type", "text/plain"),
                                                      ("Content-Length", str(len(body)))])
            return [body]
        return endpoint(environ, start_response)

    def _too_large(self, environ: dict, start_response: Any, length: int) -> Any:
        """Drain an oversized body without keeping it (a 500 MB PnR must not fill the evidence folder),
        record the exchange without its body, and answer a SOAP Sender fault."""
        stream, remaining = environ["wsgi.input"], length
        while remaining > 0:
            chunk = stream.read(min(1 << 20, remaining))
            if not chunk:
                break
            remaining -= len(chunk)
        limit = self.registry.config.max_body_bytes
        fault = SoapFault("Sender", f"message of {length} bytes exceeds the limit of {limit} bytes")
        body = build_fault(fault)
        headers = [("Content-Type", f"{SOAP12_CONTENT_TYPE}; charset=UTF-8"), ("Content-Length", str(len(body)))]
        record("soap", "dmp-simulator", "inbound", f"{environ.get('REQUEST_METHOD')} {environ.get('PATH_INFO')}",
               request_headers=[("Content-Length", str(length))], response_headers=headers, response_body=body,
               status=400, error=f"body of {length} bytes drained, not stored")
        start_response("400 Bad Request", headers)
        return [body]

    def close(self) -> None:
        self.storage.close()


def create_app(config: DmpConfig | None = None, handlers: Handlers | None = None,
               storage: Storage | None = None) -> DmpApp:
    config = config or DmpConfig()
    storage = storage or open_storage(config.db, config.workdir)
    registry = Registry(storage, config, handlers)
    ctx = Context(registry, config, vihf_checker(config, registry.handlers.vihf_signature,
                                                registry.handlers.vihf_required))
    soap = {config.registry_path: SoapEndpoint(ctx, [iti18, iti57]),
            config.repository_path: SoapEndpoint(ctx, [iti41, iti43])}
    app = Flask("simulators.dmp")
    app.register_blueprint(inspector_blueprint(registry))
    return DmpApp(app, registry, soap)
