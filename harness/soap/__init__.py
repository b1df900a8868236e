"""SOAP 1.2 + WS-Addressing + MTOM/XOP codec, sans-IO.

Public: ``build_envelope``, ``parse_envelope``, ``Envelope``, ``SoapFault``, ``build_fault``,
``parse_fault`` (envelope.py); ``encode_mtom``, ``decode_message``, ``SoapMessage``,
``MtomReader``, ``xop_include``, ``make_cid`` (mtom.py); the ITI action constants (actions.py).
"""

from harness.soap.actions import (
    ITI18_ACTION,
    ITI18_RESPONSE_ACTION,
    ITI41_ACTION,
    ITI41_RESPONSE_ACTION,
    ITI43_ACTION,
    ITI43_RESPONSE_ACTION,
    ITI57_ACTION,
    ITI57_RESPONSE_ACTION,
    response_action,
)
from harness.soap.envelope import (
    FAULT_ACTION,
    SOAP12_NS,
    WSA_NS,
    WSSE_NS,
    Envelope,
    SoapFault,
    build_envelope,
    build_fault,
    parse_envelope,
    parse_fault,
)
from harness.soap.mtom import (
    XOP_NS,
    MtomReader,
    SoapMessage,
    decode_message,
    encode_mtom,
    make_cid,
    xop_include,
)

__all__ = [
    "FAULT_ACTION", "ITI18_ACTION", "ITI18_RESPONSE_ACTION", "ITI41_ACTION", "ITI41_RESPONSE_ACTION",
    "ITI43_ACTION", "ITI43_RESPONSE_ACTION", "ITI57_ACTION", "ITI57_RESPONSE_ACTION", "SOAP12_NS",
    "WSA_NS", "WSSE_NS", "XOP_NS", "Envelope", "MtomReader", "SoapFault", "SoapMessage", "build_envelope",
    "build_fault", "decode_message", "encode_mtom", "make_cid", "parse_envelope", "parse_fault",
    "response_action", "xop_include",
]
