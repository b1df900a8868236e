"""Start the reference Consumer on a loopback port (plans, tests and ``drimcheck serve consumer``)."""

from __future__ import annotations

import contextlib
import ssl
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from harness.servers import RunningServer, serve_wsgi
from simulators.consumer.app import create_app
from simulators.consumer.config import ConsumerConfig
from simulators.consumer.faults import FAULTS
from simulators.consumer.wsgi import captured


class Reference:
    """A running Consumer: ``endpoints`` (contextual_call, base, kpi), ``app_state``, ``stop()``."""

    def __init__(self, server: RunningServer, app: Any, config: ConsumerConfig,
                 cleanups: list[Callable[[], None]] | None = None) -> None:
        self.server, self.config = server, config
        self.state = app.extensions["consumer"]
        self._cleanups = cleanups or []
        base = server.url
        self.endpoints = {"contextual_call": base + "/context", "base": base, "kpi": base + "/kpi",
                          "redirect_uri": base + "/auth/redirect"}

    def stop(self) -> None:
        self.server.stop()
        for cleanup in reversed(self._cleanups):
            with contextlib.suppress(Exception):
                cleanup()
        self._cleanups = []

    def __enter__(self) -> Reference:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start(config: ConsumerConfig, port: int = 0, host: str = "127.0.0.1",
          cleanups: list[Callable[[], None]] | None = None, ssl_context: ssl.SSLContext | None = None) -> Reference:
    if config.fault is not None and config.fault not in FAULTS:
        raise KeyError(f"unknown Consumer fault {config.fault!r}; known: {', '.join(sorted(FAULTS))}")
    app = create_app(config)
    server = serve_wsgi(captured(app.wsgi_app, "consumer-drimbox"), "consumer-drimbox",
                        port=port, host=host, ssl_context=ssl_context)
    config.public_url = config.public_url or server.url
    return Reference(server, app, config, cleanups)


def start_reference(fault: str | None, workdir: Path, *, peers: dict[str, Any] | None = None, port: int = 0,
                    host: str = "127.0.0.1", ssl_context: ssl.SSLContext | None = None) -> Reference:
    """The reference Consumer with one named fault or none.

    ``peers`` gives ``registry``, ``repository``, ``psc_issuer``, ``pacs`` (AET@host:port) and
    ``allowed_hosts``, optionally ``psc_client_cert`` = (certificate, key) files for the token endpoint by
    mutual TLS (RFC 8705 §2.1; default None: the client secret); without it the Consumer starts its own DMP
    simulator, PSC simulator and embedded PACS in ``workdir`` (a standalone demo).
    """
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    cleanups: list[Callable[[], None]] = []
    if peers is None:
        peers = _own_peers(workdir, cleanups)
    config = ConsumerConfig(workdir=workdir / "consumer", registry_url=peers["registry"],
                            repository_url=peers["repository"], psc_issuer=peers["psc_issuer"],
                            pacs=peers.get("pacs", ""), allowed_hosts=tuple(peers.get("allowed_hosts", ())),
                            fault=fault)
    for key in ("retries", "retry_delay", "timeout", "max_entries", "vihf_key", "vihf_cert", "accept",
                "wado_client_cert", "psc_client_cert"):
        if key in peers:
            config = replace(config, **{key: peers[key]})
    try:
        return start(config, port=port, host=host, cleanups=cleanups, ssl_context=ssl_context)
    except BaseException:
        for cleanup in reversed(cleanups):
            cleanup()
        raise


def _own_peers(workdir: Path, cleanups: list[Callable[[], None]]) -> dict[str, Any]:
    from simulators.dmp import start_reference as start_dmp
    from simulators.pacs import start_pacs
    from simulators.psc import start_psc

    dmp = start_dmp(None, workdir / "dmp")
    cleanups.append(dmp.stop)
    psc = start_psc()
    cleanups.append(psc.stop)
    pacs = start_pacs(workdir / "pacs", aet="CONSUMERPACS", dicomweb=False)
    cleanups.append(pacs.stop)
    return {"registry": dmp.endpoints["registry"], "repository": dmp.endpoints["repository"],
            "psc_issuer": psc.endpoints["issuer"], "pacs": pacs.endpoints["dimse"], "allowed_hosts": ()}
