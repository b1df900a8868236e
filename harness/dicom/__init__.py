"""DICOM (DIMSE) client helpers for plans, fixtures and benches; every exchange is captured."""

from harness.dicom.client import (
    DimseError,
    Peer,
    RetrieveResult,
    StoreResult,
    echo,
    find,
    find_study_instances,
    get,
    move,
    query,
    store,
)
from harness.dicom.load import load_study_into_pacs

__all__ = ["DimseError", "Peer", "RetrieveResult", "StoreResult", "echo", "find", "find_study_instances", "get",
           "load_study_into_pacs", "move", "query", "store"]
