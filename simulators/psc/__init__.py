"""Pro Santé Connect simulator: the OpenID Connect provider of health professionals (FACTS §5).

``start_psc(config) -> Service`` serves it on a loopback port; ``Service.issue_token(sub, client_id)``
gives plans a token without a browser; ``create_app(config)`` is the WSGI app.
"""

from simulators.psc.app import create_app
from simulators.psc.config import Client, PscConfig, PscConfigError, User
from simulators.psc.provider import PscProvider
from simulators.psc.service import Service, start_psc

__all__ = ["Client", "PscConfig", "PscConfigError", "PscProvider", "Service", "User", "create_app", "start_psc"]
