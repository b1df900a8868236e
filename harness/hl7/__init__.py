"""HL7 v2 over MLLP, sans-IO: framing (:mod:`harness.hl7.mllp`) and acknowledgements (:mod:`harness.hl7.ack`)."""

from harness.hl7.ack import Ack, AckError, build_ack, parse_ack
from harness.hl7.mllp import END, START, MllpDecoder, MllpError, frame

__all__ = ["END", "START", "Ack", "AckError", "MllpDecoder", "MllpError", "build_ack", "frame", "parse_ack"]
