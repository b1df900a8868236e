"""DMP simulator: XDS.b document registry + repository over SOAP 1.2 / MTOM (ANS DRIM-M_DATA Validateur XDS/XDS.xml).

Public: ``FAULTS``, ``start_reference(fault, workdir) -> Reference``, ``create_app(config)``,
``DmpConfig``.
"""

from simulators.dmp.app import create_app
from simulators.dmp.config import DmpConfig
from simulators.dmp.faults import FAULTS
from simulators.dmp.reference import Reference, start_reference

__all__ = ["FAULTS", "DmpConfig", "Reference", "create_app", "start_reference"]
