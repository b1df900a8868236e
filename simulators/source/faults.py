"""Named faults of the reference Source DRIMbox; each breaks exactly the requirement ids it names
(the fault proof runs the ``source_drimbox`` plan with each and compares)."""

from __future__ import annotations

from harness.faults import Fault

FAULTS: dict[str, Fault] = {f.name: f for f in (
    Fault("missing-retrieve-url", "the KOS lists its series without a Retrieve URL (0008,1190)",
          ("SRC-KOS-URL",)),
    Fault("wrong-format-code", "the KOS DocumentEntry carries the deprecated formatCode "
          "urn:ihe:rad:1.2.840.10008.5.1.4.1.1.88.59", ("SRC-XDS-FORMAT",)),
    Fault("kos-patient-mismatch", "the KOS carries the RIS's local patient id instead of the report's INS",
          ("SRC-KOS-PAT",)),
    Fault("no-token-check", "WADO-RS answers without checking the bearer token at Pro Santé Connect",
          ("SRC-WADO-TOKEN",)),
    Fault("ignores-kos-uid", "WADO-RS ignores the KOS-SOPInstanceUID header (neither required nor matched)",
          ("SRC-WADO-KOSUID",)),
    Fault("ignores-masking", "WADO-RS serves a manifest published MASQUE_PS to any professional, not only its author",
          ("SRC-WADO-MASK",)),
    Fault("drops-accept-negotiation", "WADO-RS always answers in the stored transfer syntax, whatever Accept says",
          ("SRC-WADO-NEG",)),
    Fault("broken-multipart", "WADO-RS parts have no Content-Type and the close delimiter is missing",
          ("SRC-WADO-MULTIPART",)),
    Fault("no-replace-on-correction", "a corrected report (OBX-11 C) is published as a new KOS without RPLC",
          ("SRC-RPLC",)),
    Fault("no-replace-on-final", "a second final report (OBX-11 F) of a study already published is published as "
          "a second independent KOS, without RPLC", ("SRC-RPLC-FINAL",)),
    Fault("skips-hl7-validation", "the HL7 envelope is not validated against IG-hl7v2 (only the CR-IMG is): a report "
          "without MSH-21 is published, one without OBX-11 is rejected AR", ("SRC-ACK-ENVELOPE",)),
)}
