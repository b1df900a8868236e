"""Helpers of the load tests: the charts a report embeds, checked as PNG images."""

from __future__ import annotations

import base64
import io
import re

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def embedded_pngs(html: str) -> list[bytes]:
    """Every ``data:image/png;base64,...`` image of a report page, decoded."""
    return [base64.b64decode(m) for m in re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', html)]


def assert_valid_png(data: bytes) -> None:
    """A whole PNG that decodes (signature, chunks and CRCs checked by Pillow), of a readable size."""
    from PIL import Image

    assert data.startswith(PNG_SIGNATURE)
    with Image.open(io.BytesIO(data)) as image:
        image.verify()
    with Image.open(io.BytesIO(data)) as image:
        assert image.format == "PNG" and image.width >= 600 and image.height >= 200
