"""Reference Consumer DRIMbox (Imaging Document Consumer, IHE RAD TF-1 XDS-I.b and WIA).

Public: ``FAULTS``, ``start_reference(fault, workdir, *, peers=None) -> Reference``,
``create_app(config)``, ``ConsumerConfig``.
"""

from simulators.consumer.app import create_app
from simulators.consumer.config import ConsumerConfig
from simulators.consumer.faults import FAULTS
from simulators.consumer.reference import Reference, start_reference

__all__ = ["FAULTS", "ConsumerConfig", "Reference", "create_app", "start_reference"]
