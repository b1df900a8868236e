"""Named faults of the reference Source DRIMbox; each breaks exactly the requirement ids it names
(the fault proof runs the ``source_drimbox`` plan with each and compares).

Each fault swaps one choice of one component, in that module's ``FAULTY`` table: ``report.FAULTY``
(HL7 trigger, KOS and XDS content), ``rad107.FAULTY`` (WADO-RS), ``publish.FAULTY`` (outbox, transport, VIHF)
or ``reference.FAULTY`` (the WADO-RS's TLS)."""

from __future__ import annotations

from harness.faults import Fault

# a publication the DMP refuses: its answer (SRC-XDS-ACCEPTED) and its metadata rules (SRC-XDS-VALID) fail too
REFUSED = ("SRC-XDS-ACCEPTED", "SRC-XDS-VALID")
FAULTS: dict[str, Fault] = {f.name: f for f in (
    Fault("missing-retrieve-url", "the KOS lists its series without a Retrieve URL (0008,1190)",
          ("SRC-KOS-URL",)),
    Fault("wrong-format-code", "the KOS DocumentEntry carries the deprecated formatCode "
          "urn:ihe:rad:1.2.840.10008.5.1.4.1.1.88.59, which the DMP refuses", ("SRC-XDS-FORMAT", *REFUSED)),
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
    # report trigger (HL7 v2 over MLLP)
    Fault("ack-own-control-id", "MSA-2 of the ACK carries the ACK's own control id instead of echoing MSH-10 "
          "of the message acknowledged", ("SRC-ACK-AA",)),
    Fault("acks-unreadable-message", "a message that is not HL7 (no MSH segment) is acknowledged AA as received, "
          "then dropped, instead of refused AR", ("SRC-ACK-MALFORMED",)),
    Fault("accepts-invalid-cda", "the CR-IMG is parsed but not validated (CI-SIS XSD, schematrons): a report with "
          "a CDA that is not a CR-IMG is published", ("SRC-ACK-CDA",)),
    Fault("no-accession-check", "the images' patient id is compared with the report's INS, their accession number "
          "is not: a report whose accession differs from the images' is published", ("SRC-ACK-CONSISTENCY",)),
    Fault("acks-study-not-in-pacs", "a report about a study the PACS does not hold is acknowledged AA (nothing "
          "is published, the RIS is never told)", ("SRC-ACK-STUDY",)),
    Fault("mdm-unsupported", "only ORU^R01 and OMI^O23 are handled: an MDM^T02 report is refused AR as an "
          "unsupported message type", ("SRC-MDM",)),
    # lifecycle at the DMP
    Fault("delete-not-sent-to-dmp", "a deleted report (OBX-11 D) deletes the KOS locally (WADO-RS answers 410) "
          "but no ITI-57 is sent: the DMP keeps the entry Approved", ("SRC-DELETE",)),
    Fault("ignores-cancel", "an exam cancellation (OMI^O23 ORC-1 CA) is acknowledged AA and only logged: the KOS "
          "stays published", ("SRC-CANCEL",)),
    Fault("ignores-iocm", "an IOCM rejection note is accepted (C-STORE success) and only logged: the KOS keeps "
          "the rejected instance and WADO-RS still serves it", ("SRC-IOCM-KOS", "SRC-IOCM-WADO")),
    Fault("vihf-from-report-on-image-change", "an update or deletion caused by an image or exam change is sent "
          "with a VIHF built from the study's report as first received (its author), not from the previous "
          "submission", ("SRC-VIHF-IMAGE-CHANGE",)),
    Fault("vihf-from-previous-on-report-change", "a corrected report's publication is sent with the VIHF of the "
          "previous submission instead of one in the new report's author's name", ("SRC-VIHF-REPORT",)),
    Fault("gives-up-on-dmp-outage", "a publication that meets the DMP unreachable is marked failed at once, never "
          "retried", ("SRC-PUB-RETRY",)),
    # KOS manifest and RAD-68 metadata
    Fault("kos-missing-instance", "the KOS leaves out the last instance the PACS's C-FIND answered (an off-by-one "
          "in reading the pending responses) when the study has more than one", ("SRC-KOS-REFS",)),
    Fault("kos-without-content-date", "the KOS has no Content Date / Content Time (type 1 of the SR Document "
          "General module)", ("SRC-KOS-IOD",)),
    Fault("kos-without-order-issuer", "the KOS Referenced Request carries the placer order number without its "
          "issuer (Order Placer Identifier Sequence)", ("SRC-KOS-REQ",)),
    Fault("language-code-fr", "the KOS DocumentEntry's languageCode is fr (ISO 639-1 alone) instead of fr-FR",
          ("SRC-XDS-META",)),
    Fault("pnr-without-mtom", "RAD-68 is sent as a plain SOAP 1.2 message, the KOS base64 inside it, not as "
          "MTOM/XOP", ("SRC-XDS-TRANSPORT",)),
    # ... and those the DMP refuses, which also break the outcome requirements SRC-XDS-ACCEPTED / -VALID
    Fault("no-modality-event-code", "the KOS DocumentEntry's eventCodeList carries the anatomic region only, not "
          "the modality", ("SRC-XDS-EVENT", *REFUSED)),
    Fault("refid-without-study", "referenceIdList carries the accession number and the order, not the Study "
          "Instance UID", ("SRC-XDS-REFID", *REFUSED)),
    Fault("patient-id-without-type-code", "every patientId of the submission lacks the identifier type code "
          "(<INS>^^^&<OID>&ISO instead of ...^NH)", ("SRC-XDS-PATIENT", *REFUSED)),
    Fault("kos-changed-after-signing", "the KOS is stamped again after Signature01 digested it: the signature's "
          "manifest no longer gives its SHA-1", ("SRC-XDS-SIGNATURE", *REFUSED)),
    Fault("vihf-bare-ins", "the VIHF's resource-id is the bare INS instead of the request's patient "
          "(<INS>^^^&<OID>&ISO^NH)", ("SRC-XDS-VIHF", "SRC-XDS-ACCEPTED")),
    # WADO-RS (RAD-107)
    Fault("serves-deleted-study", "WADO-RS keeps serving the images of a study whose KOS was deleted (200 instead "
          "of 410)", ("SRC-WADO-GONE",)),
    Fault("frames-as-instances", "the frames level returns the whole DICOM instance instead of the frame's pixel "
          "data (so does the pixel data BulkDataURI of the metadata, which names frames/1)",
          ("SRC-WADO-FRAMES", "SRC-WADO-METADATA")),
    Fault("ignores-series-level", "a series-level retrieve returns every instance of the study", ("SRC-WADO-LEVELS",)),
    Fault("resolves-dot-segments", "dot segments of the request path are resolved (RFC 3986 §5.2.4) and the "
          "resulting resource served, instead of answering 400", ("SRC-WADO-PATH",)),
    Fault("unbounded-accept", "the Accept header is parsed element by element with no bound on its size: a "
          "header of hundreds of media ranges is served", ("SRC-WADO-ACCEPT-BAD",)),
    Fault("truncates-large-retrieve", "a retrieve answers at most 32 instances (a query page size applied to the "
          "retrieve): the rest of a larger study is silently left out", ("SRC-WADO-STREAM",)),
    # transport security of the WADO-RS (reference.FAULTY); the TLS checks of a plain-HTTP WADO-RS, and the
    # certificate checks of one that asks no certificate, are inconclusive (their precondition is the finding)
    Fault("plain-http", "the WADO-RS is served over plain HTTP", ("SRC-SEC-HTTPS", "SRC-SEC-PLAIN")),
    Fault("legacy-tls", "the WADO-RS also accepts TLS 1.0 / 1.1 (with the ECDHE CBC suites they need)",
          ("SRC-SEC-TLS12",)),
    Fault("weak-ciphers", "TLS 1.2 also negotiates suites without forward secrecy (static RSA), 3DES, RC4",
          ("SRC-SEC-CIPHERS",)),
    Fault("no-client-certificate", "the WADO-RS asks no client certificate (bearer token only)",
          ("SRC-SEC-MTLS",)),
    Fault("no-revocation-check", "client certificates are not checked against the CA's revocation list",
          ("SRC-SEC-MTLS-REVOKED",)),
    Fault("any-client-certificate", "any client certificate of the PKI is served, whitelisted or not",
          ("SRC-SEC-MTLS-WHITELIST",)),
    Fault("psc-client-secret", "tokens are introspected at PSC with the client secret (HTTP Basic), without the "
          "Source's certificate", ("SRC-SEC-PSC-MTLS",)),
    Fault("ignores-token-binding", "a token bound to a client certificate (introspection cnf x5t#S256) is served "
          "over any client certificate", ("SRC-SEC-TOKEN-BINDING",)),
    # DMP identity of a publication (publish.FAULTY): the structure's certificate, the FINESS the mode writes
    Fault("signs-with-default-structure", "every VIHF (and Signature01) is signed with the default structure's "
          "certificate, whatever structure the report names", ("SRC-DMP-STRUCTURE-CERT",)),
    Fault("identity-mode-ej", "the legal entity's FINESS (EJ) is written in the authorInstitution and the VIHF's "
          "Identifiant_Structure whatever the identity mode", ("SRC-DMP-IDENTITY-MODE",)),
    # performance (rad107.FAULTY): they fail requirements of the performance plan, nothing in source_drimbox's
    Fault("slow-first-byte", "every retrieve (instances, frames) is answered after waiting 2 s",
          ("PERF-SRC-WADO-LATENCY", "PERF-SRC-VIEW-LATENCY"), plan="performance"),
    Fault("throttled", "the body of every retrieve is sent at 2 MB/s at most",
          ("PERF-SRC-WADO-THROUGHPUT", "PERF-SRC-VIEW-THROUGHPUT"), plan="performance"),
    # the PACS behind the Source (DB.SO.102; simulators.pacs.dimse.FAULTY): switched on where the reference's PACS
    # starts (the plans' beds, ``drimcheck serve pacs --pacs-fault``), nothing in the Source's own process
    Fault("pacs-late-move", "the PACS behind the Source waits 3 s after accepting a C-MOVE before its first C-STORE "
          "sub-operation", ("PERF-SRC-PACS-LATENCY",), plan="performance"),
    Fault("pacs-throttled-move", "the PACS behind the Source sends a C-MOVE's instances at 0.5 MB/s at most",
          ("PERF-SRC-PACS-THROUGHPUT",), plan="performance"),
)}

# faults of the PACS behind the Source rather than of the Source's process (``drimcheck serve source`` refuses them)
PACS_FAULTS = frozenset({"pacs-late-move", "pacs-throttled-move"})
