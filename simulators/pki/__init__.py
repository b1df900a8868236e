"""OCSP responder and CRL/CA downloads of the test PKI (``harness.pki``), over plain HTTP (C17).

- ``create_app(pki)``: the WSGI app: ``POST /ocsp``, ``GET /ocsp/<base64>`` (RFC 6960 Appendix A),
  ``GET /crl.der``, ``/crl.pem``, ``/ca.pem``, ``/ca.der``, ``/intermediate.pem``, ``/intermediate.der``.
- ``start_responder(pki, port=0, host="127.0.0.1") -> Service``: serve it; ``Service.endpoints`` (ocsp, crl,
  crl_pem, ca, intermediate), ``Service.stop()``.
"""

from simulators.pki.app import create_app
from simulators.pki.serve import Service, start_responder

__all__ = ["Service", "create_app", "start_responder"]
