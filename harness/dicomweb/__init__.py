"""Sans-IO DICOMweb codecs: multipart/related (RFC 2387), Accept negotiation (PS3.18 §8.7),
WADO-RS paths (PS3.18 §10.4). Servers and clients are thin adapters over these."""

from harness.dicomweb.accept import (
    DEFAULT_TRANSFER_SYNTAX,
    AcceptError,
    MediaRange,
    Offer,
    dicom_offers,
    negotiate,
    parse_accept,
)
from harness.dicomweb.multipart import (
    MultipartError,
    MultipartParser,
    boundary_from_content_type,
    content_type_header,
    iter_multipart,
    iter_parts,
    new_boundary,
    parse_multipart,
)
from harness.dicomweb.paths import WadoPath, parse_wado_path

__all__ = [
    "DEFAULT_TRANSFER_SYNTAX",
    "AcceptError",
    "MediaRange",
    "MultipartError",
    "MultipartParser",
    "Offer",
    "WadoPath",
    "boundary_from_content_type",
    "content_type_header",
    "dicom_offers",
    "iter_multipart",
    "iter_parts",
    "negotiate",
    "new_boundary",
    "parse_accept",
    "parse_multipart",
    "parse_wado_path",
]
