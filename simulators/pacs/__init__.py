"""Embedded PACS: pynetdicom SCP + SQLite index + files, and the same store over DICOMweb.

The default PACS of every plan. ``start_pacs()`` returns a running :class:`EmbeddedPacs`
whose ``endpoints`` name the DIMSE address and, when enabled, the DICOMweb base URL.
"""

from simulators.pacs.server import EmbeddedPacs, start_pacs

__all__ = ["EmbeddedPacs", "start_pacs"]
