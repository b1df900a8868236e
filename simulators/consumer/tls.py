"""The reference Consumer's HTTPS (control point C17: its pages and contextual call are encrypted like every
flow): TLS 1.2 and later, AEAD suites with forward secrecy (:func:`harness.tls.server_context`, RFC 9325
§4.1-4.2). The transport faults of :mod:`simulators.consumer.faults` (``plain-http``, ``legacy-tls``,
``weak-ciphers``, ``Behaviour.server_tls``) swap one of these choices, as a misconfigured product would."""

from __future__ import annotations

import ssl
import warnings
from typing import Any


def server_tls(tls: Any, fault: str | None = None) -> ssl.SSLContext | None:
    """The Consumer's server context from a network TLS (:class:`harness.tls.NetworkTls`), None for plain HTTP
    (no TLS configured, or a fault whose ``Behaviour.server_tls`` is ``plain``)."""
    from simulators.consumer.faults import behaviour_for

    how = behaviour_for(fault).server_tls
    if tls is None or how == "plain":
        return None
    context = tls.context("consumer")
    if how == "legacy":
        context.set_ciphers("ECDHE+AESGCM:ECDHE+CHACHA20:ECDHE+AES:@SECLEVEL=0")
        with warnings.catch_warnings():  # the fault enables the deprecated versions on purpose
            warnings.simplefilter("ignore", DeprecationWarning)
            context.minimum_version = ssl.TLSVersion.TLSv1
    elif how == "weak":
        context.set_ciphers("DEFAULT:@SECLEVEL=0")
    return context
