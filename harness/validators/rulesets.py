"""Which rule sets a verdict rests on: the ones that ran (with their version where known) and the ones
skipped, with the reason. A verdict that does not say what was checked cannot be compared with another
(a CDA "OK" without the CI-SIS schematron is not the same "OK" as with it).

Public: :class:`RuleSet`, :class:`Checked`, :func:`ran`, :func:`skipped`, :data:`NAMES`,
:func:`schematron_rule_set`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import pydicom

from harness.findings import Finding

# rule-set key -> (name, version): short names, the versions of the texts the rules were written from.
# What each one checks and from which spec: the module named beside it.
NAMES: dict[str, tuple[str, str | None]] = {
    "dicom-part10": ("DICOM Part 10 reader", f"pydicom {pydicom.__version__}"),  # kos.py (PS3.10 §7.1)
    "dicom-xml": ("DICOM XML reader", None),  # dicomxml.py (PS3.19 §A.1, dcmtk dcm2xml)
    "kos-iod": ("DICOM KOS IOD + TID 2010 rules", None),  # kos.py KOS-IOD/SR/EVD (PS3.3 A.35.4, PS3.16)
    "kos-xdsi": ("IHE XDS-I.b retrieve location rule", None),  # kos.py KOS-EVD-003 (RAD TF-3 §4.68)
    "kos-cisis": ("CI-SIS / DRIMbox KOS rules", None),  # kos.py KOS-URL/PAT/REQ/DRIM (ANS DRIM-M_DATA KOS_OK.xml)
    "dciodvfy": ("dciodvfy", None),  # dciodvfy.py (dicom3tools)
    "cda-header": ("CI-SIS IMG-CR-IMG header rules", "2024.01"),  # cda.py, after Entete_IMG-CR-IMG.sch
    "cda-xsd": ("CI-SIS CDA_extended.xsd", None),  # schematron.py validate_xsd
    "cda-schematron": ("CI-SIS IMG-CR-IMG schematron", None),  # schematron.py (saxonche)
    "hl7-ig": ("IG-hl7v2 CISIS_CDA_HL7_V2 rules", "2.1"),  # hl7v2.py (ORU^R01, MDM^T02/T04/T10)
    "hl7-omi": ("OMI^O23 order rules", "HL7 v2.5"),  # hl7v2.py HL7-IPC-001 (§4.5.1 Table 0119, IHE RAD IPC)
    "hl7-cda": ("CI-SIS IMG-CR-IMG header rules on the OBX-5 CDA", "2024.01"),  # cda.py via hl7v2.py
    "xds-mime": ("MTOM/XOP package", None),  # harness.soap.mtom (SOAP MTOM §3, XOP 1.0, RFC 2387)
    "xds-soap": ("SOAP 1.2 + WS-Addressing 1.0", None),  # harness.xds.validate (ITI TF-2x Appendix V)
    "xds-xsd": ("ebRS 3.0 / IHE XDS.b XSD", None),  # schemas/xsd/all.xsd
    "xds-ihe": ("IHE XDS.b metadata rules", None),  # harness.xds.validate (ITI TF-3 §4.2, TF-2b §3.41)
    "xds-content": ("document hash and size", None),  # harness.xds.validate (ITI TF-2b §3.41.4.1.3)
    "xds-dmp": ("CI-SIS / DMP rules", None),  # harness.xds.dmp_rules (ANS DRIM-M_DATA Validateur XDS, dmp-xds.yaml)
    "xds-query": ("ITI-18 query request rules", None),  # harness.xds.query_rules (ITI TF-2a §3.18.4.1.2)
    "xds-response": ("ebRS response rules", None),  # harness.xds.response_rules (ebRS 3.0 §2.1.3)
    "xds-retrieve": ("ITI-43 request rules", None),  # harness.xds.validate (ITI TF-2b §3.43.4.1.2)
    "cross": ("cross-document rules (XVAL-*)", None),  # cross.py, the ANS cross-validator's checks
}


@dataclass(frozen=True)
class RuleSet:
    """One rule set of a verdict: ``ran`` or skipped (``reason`` says why); ``note`` qualifies a run."""

    name: str
    version: str | None = None
    ran: bool = True
    reason: str | None = None

    @property
    def label(self) -> str:
        return f"{self.name} {self.version}" if self.version else self.name

    def to_dict(self) -> dict:
        out: dict = {"name": self.name, "version": self.version, "status": "ran" if self.ran else "skipped"}
        if self.reason:
            out["reason"] = self.reason
        return out

    def __str__(self) -> str:
        return self.label + (f" ({self.reason})" if self.reason else "")


def ran(key: str, note: str | None = None, *, name: str | None = None, version: str | None = None) -> RuleSet:
    """The rule set ``key`` of :data:`NAMES` ran (``name``/``version`` override the table's)."""
    base, base_version = NAMES[key]
    return RuleSet(name or base, version or base_version, True, note)


def skipped(key: str, reason: str, *, name: str | None = None, version: str | None = None) -> RuleSet:
    """The rule set ``key`` did not run, because ``reason``."""
    base, base_version = NAMES[key]
    return RuleSet(name or base, version or base_version, False, reason)


_SCH_NAME = re.compile(r"^CI-SIS_(?P<model>.+?)_(?P<version>\d{4}\.\d{2})$")


def schematron_rule_set(sch: Path, ok: bool = True, reason: str | None = None) -> RuleSet:
    """``CI-SIS_IMG-CR-IMG_2024.01.sch`` -> "CI-SIS IMG-CR-IMG schematron 2024.01" (the CI-SIS file names
    carry the model and its version, TestContenuCDA ``schematrons/``)."""
    m = _SCH_NAME.match(Path(sch).stem)
    name = f"CI-SIS {m.group('model')} schematron" if m else f"schematron {Path(sch).name}"
    return RuleSet(name, m.group("version") if m else None, ok, reason)


@dataclass
class Checked:
    """What checking one file gave: its kind (refined by reading it: ``dicom-object`` for an image), the
    findings, and the rule sets behind them."""

    kind: str
    findings: list[Finding] = field(default_factory=list)
    rule_sets: list[RuleSet] = field(default_factory=list)
