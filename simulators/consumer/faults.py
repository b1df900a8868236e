"""Named faults of the reference Consumer: each breaks exactly the requirement ids it names
(the fault proof runs the consumer_drimbox plan with each and compares)."""

from __future__ import annotations

from harness.faults import Fault

FAULTS: dict[str, Fault] = {f.name: f for f in (
    Fault("no-bearer-token", "WADO-RS requests carry no Authorization header", ("CON-WADO-AUTH",)),
    Fault("no-kos-uid-header", "WADO-RS requests carry no KOS-SOPInstanceUID header", ("CON-WADO-KOSUID",)),
    Fault("ignores-accept-q", "Accept lists the transfer syntaxes without q-values", ("CON-WADO-ACCEPT",)),
    Fault("skips-reference-check", "retrieved instances are not compared with the KOS references: an "
          "incomplete or padded series is imported", ("CON-REF-CHECK",)),
    Fault("shows-deprecated", "the history asks for Approved and Deprecated entries and shows both",
          ("CON-HIST-DEPRECATED",)),
    Fault("wrong-query-params", "FindDocuments is sent without the IMG-KOS typeCode filter", ("CON-Q-FINDDOCS",)),
    Fault("no-vihf", "ITI-18 and ITI-43 requests carry no VIHF (no wsse:Security)", ("CON-VIHF", "CON-VIHF-SIGNED")),
)}
