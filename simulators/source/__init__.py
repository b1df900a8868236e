"""Reference Source DRIMbox: HL7 report trigger -> KOS -> DMP publication, and RAD-107 WADO-RS.

Public: ``FAULTS``, ``start_reference(fault, workdir, **peers) -> Reference``, ``SourceConfig``, ``start``.
"""

from simulators.source.config import SourceConfig
from simulators.source.faults import FAULTS
from simulators.source.reference import Reference, start, start_reference

__all__ = ["FAULTS", "Reference", "SourceConfig", "start", "start_reference"]
