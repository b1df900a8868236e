"""Flask app factory of the DMP simulator (XDS.b registry + repository, FACTS §3).

``create_app(config, handlers=None)`` -> a WSGI app wrapped in CaptureMiddleware: every
request and response is evidence (actor ``dmp-simulator``). Endpoints (configurable paths):
``/registry`` (ITI-18, ITI-57), ``/repository`` (ITI-41 / RAD-68, ITI-43), ``/inspect/...``.
"""

from __future__ import annotations

from typing import Any

from flask import Flask

from harness.capture import CaptureMiddleware
from simulators.dmp import iti18, iti41, iti43, iti57
from simulators.dmp.config import DmpConfig
from simulators.dmp.inspector import inspector_blueprint
from simulators.dmp.registry import Handlers, Registry
from simulators.dmp.soapio import Context, endpoint
from simulators.dmp.storage import Storage, open_storage
from simulators.dmp.vihf_check import vihf_checker


class DmpApp:
    """The WSGI callable plus what tests need to reach (registry, storage, Flask app)."""

    def __init__(self, flask_app: Flask, registry: Registry) -> None:
        self.flask = flask_app
        self.registry = registry
        self.storage: Storage = registry.storage
        self.wsgi = CaptureMiddleware(flask_app.wsgi_app, actor="dmp-simulator", protocol="soap")

    def __call__(self, environ: dict, start_response: Any) -> Any:
        if not environ.get("CONTENT_LENGTH") and "chunked" not in environ.get("HTTP_TRANSFER_ENCODING", "").lower():
            environ["CONTENT_LENGTH"] = "0"  # no body: never read the socket to EOF (GET, empty POST)
        return self.wsgi(environ, start_response)

    def close(self) -> None:
        self.storage.close()


def create_app(config: DmpConfig | None = None, handlers: Handlers | None = None,
               storage: Storage | None = None) -> DmpApp:
    config = config or DmpConfig()
    storage = storage or open_storage(config.db, config.workdir)
    registry = Registry(storage, config, handlers)
    ctx = Context(registry, config, vihf_checker(config, registry.handlers.vihf_signature))
    app = Flask("simulators.dmp")
    app.add_url_rule(config.registry_path, "registry", endpoint(ctx, [iti18, iti57]), methods=["POST"])
    app.add_url_rule(config.repository_path, "repository", endpoint(ctx, [iti41, iti43]), methods=["POST"])
    app.register_blueprint(inspector_blueprint(registry))
    return DmpApp(app, registry)
