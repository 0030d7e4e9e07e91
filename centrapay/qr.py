"""The Centrapay-branded QR code of a pay URL, as an SVG data URI (pure)."""

from __future__ import annotations

import base64
import io
from functools import lru_cache
from pathlib import Path

import qrcode
import qrcode.image.svg

_LOGO = Path(__file__).resolve().parent.parent / "static/src/img/centrapay_mark.svg"


@lru_cache(maxsize=1)
def _logo_b64() -> str:
    return base64.b64encode(_LOGO.read_bytes()).decode()


def qr_data_uri(url: str) -> str:
    """A QR code of exactly ``url`` with Centrapay's mark in the centre."""
    qr = qrcode.QRCode(
        error_correction=qrcode.constants.ERROR_CORRECT_H,
        border=2,
        image_factory=qrcode.image.svg.SvgPathImage,
    )
    qr.add_data(url)
    image = qr.make_image()
    stream = io.BytesIO()
    image.save(stream)
    svg = stream.getvalue().decode()
    size = qr.modules_count + 2 * qr.border
    # The mark covers under 5% of the code; level H corrects up to 30%.
    box = size * 0.22
    start = (size - box) / 2
    overlay = (
        f'<rect x="{start}" y="{start}" width="{box}" height="{box}" '
        f'fill="#ffffff" rx="{box / 8}"/>'
        f'<image x="{start + box * 0.1}" y="{start + box * 0.1}" '
        f'width="{box * 0.8}" height="{box * 0.8}" '
        f'href="data:image/svg+xml;base64,{_logo_b64()}"/>'
    )
    svg = svg.replace("</svg>", overlay + "</svg>")
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode()
