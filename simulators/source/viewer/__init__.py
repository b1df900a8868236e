"""The Source DRIMbox's zero-footprint web viewer (its ``vi`` host in the ANS whitelist): PSC login, RAD-107 behind."""

from __future__ import annotations

import ssl
from typing import Any

from harness.servers import RunningServer, serve_wsgi
from simulators.source.viewer.session import ViewerConfig, issuer_of


def start_viewer(config: ViewerConfig, wado: Any, store: Any, wado_path: str, *, host: str = "127.0.0.1",
                 port: int = 0, ssl_context: ssl.SSLContext | None = None) -> RunningServer:
    """Serve the viewer for the RAD-107 app ``wado`` on its own listener (HTTPS with ``ssl_context``, no client
    certificate asked: browsers have none); ``config.public_url`` is set to its URL when empty."""
    from simulators.source.viewer.app import create_app

    certificate = None
    if config.psc_client_cert:
        with open(config.psc_client_cert[0], encoding="ascii") as handle:
            certificate = handle.read()
    holder: dict[str, Any] = {}

    def app(environ: dict, start_response: Any) -> Any:
        return holder["app"](environ, start_response)

    server = serve_wsgi(app, "source-viewer", port=port, host=host, ssl_context=ssl_context)
    config.public_url = config.public_url or server.url
    holder["app"] = create_app(config, wado, store, wado_path, certificate)
    server.state = holder["app"].extensions["viewer"]  # type: ignore[attr-defined]  # sessions, for operators
    return server


__all__ = ["ViewerConfig", "issuer_of", "start_viewer"]
