"""XDS.b metadata: model, ebRIM parse/serialize, PnR builder, and the metadata validator.

Public: ``model`` dataclasses (``Submission``, ``DocumentEntry``, ``SubmissionSet``, ``Folder``,
``Association``, ``Classification``, ``ExternalIdentifier``, ``Author``); ``parse_pnr``,
``parse_registry_object_list``, ``submission_to_ebrim`` (ebrim.py); ``build_pnr_request``,
``build_pnr_message``, ``kos_submission`` (builder.py); ``validate_submission``,
``validate_message``, ``validate_and_parse`` (validate.py, rules in testplans/catalog/xds.yaml).
The ITI-18 query model and the XDS clients (query.py, clients.py) belong to the DMP simulator work.
"""

from harness.xds.builder import build_pnr_message, build_pnr_request, fill_hash_size, kos_submission
from harness.xds.ebrim import MetadataError, parse_pnr, parse_registry_object_list, submission_to_ebrim
from harness.xds.model import (
    Association,
    Author,
    Classification,
    DocumentEntry,
    ExternalIdentifier,
    Folder,
    Submission,
    SubmissionSet,
)
from harness.xds.validate import PROFILES, validate_and_parse, validate_message, validate_submission

__all__ = [
    "PROFILES",
    "Association",
    "Author",
    "Classification",
    "DocumentEntry",
    "ExternalIdentifier",
    "Folder",
    "MetadataError",
    "Submission",
    "SubmissionSet",
    "build_pnr_message",
    "build_pnr_request",
    "fill_hash_size",
    "kos_submission",
    "parse_pnr",
    "parse_registry_object_list",
    "submission_to_ebrim",
    "validate_and_parse",
    "validate_message",
    "validate_submission",
]
