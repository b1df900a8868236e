"""Start the DMP simulator on a loopback port (reference implementation and ``drimcheck serve dmp``)."""

from __future__ import annotations

import ssl
from pathlib import Path

from harness.servers import RunningServer, serve_wsgi
from harness.vihf import TestPki, throwaway_pki
from simulators.dmp.app import DmpApp, create_app
from simulators.dmp.config import DmpConfig
from simulators.dmp.faults import handlers_for


class Reference:
    """A running simulator: ``endpoints`` (registry, repository, inspector) and ``stop()``."""

    def __init__(self, app: DmpApp, server: RunningServer, config: DmpConfig, vihf_pki: TestPki | None = None
                 ) -> None:
        self.app, self.server, self.config = app, server, config
        self.vihf_pki = vihf_pki  # the throwaway signer the reference trusts (plans sign VIHF with it)
        base = server.url
        self.endpoints = {"registry": base + config.registry_path, "repository": base + config.repository_path,
                          "inspector": base + "/inspect", "base": base,
                          "repository_unique_id": config.repository_unique_id}

    def stop(self) -> None:
        self.server.stop()
        self.app.close()

    def __enter__(self) -> Reference:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start(config: DmpConfig, port: int = 0, host: str = "127.0.0.1", vihf_pki: TestPki | None = None,
          ssl_context: ssl.SSLContext | None = None) -> Reference:
    app = create_app(config, handlers_for(config.fault))
    try:
        server = serve_wsgi(app, "dmp-simulator", port=port, host=host, ssl_context=ssl_context)
    except BaseException:
        app.close()
        raise
    return Reference(app, server, config, vihf_pki)


def start_reference(fault: str | None, workdir: Path) -> Reference:
    """The reference DMP for plans: SQLite in ``workdir``, profile dmp, VIHF enforced against a
    throwaway CA made now (``Reference.vihf_pki``), one named fault or none."""
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    pki = throwaway_pki("DRIMcheck dmp plan")
    return start(DmpConfig(workdir=workdir, fault=fault, vihf="enforce", trust_store=[pki.ca_pem]), vihf_pki=pki)
