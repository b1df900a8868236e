"""RIS simulator: an MLLP client that sends the RIS's HL7 v2 messages (ORU^R01, MDM, OMI^O23) and reads the ACK.

Public: ``send(address, message) -> (ack_bytes, Ack)``, ``messages`` (builders of the fixture messages).
"""

from simulators.ris.client import MllpClientError, send

__all__ = ["MllpClientError", "send"]
