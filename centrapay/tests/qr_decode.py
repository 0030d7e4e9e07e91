"""Read back a rendered QR code (CP-CORE-5, CP-FLOW-3).

The QR code the POS and the customer display show is an SVG data URI
(``centrapay/qr.py``). This renders that SVG to pixels with a real SVG renderer
(CairoSVG: the modules' path data, the white plate and the embedded Centrapay
mark that covers part of the code) and decodes the picture with ZXing, as a
phone's camera would. The test tooling installs both.
"""

from __future__ import annotations

import base64
import io

_PREFIX = "data:image/svg+xml;base64,"


def render_svg_data_uri(uri: str, size: int = 400):
    """The data URI's SVG rendered to a greyscale PIL image of ``size`` pixels."""
    import cairosvg
    from PIL import Image

    if not isinstance(uri, str) or not uri.startswith(_PREFIX):
        raise ValueError("not a base64 SVG data URI")
    svg = base64.b64decode(uri[len(_PREFIX) :], validate=True)
    png = cairosvg.svg2png(
        bytestring=svg,
        output_width=size,
        output_height=size,
        background_color="white",
        unsafe=False,
    )
    return Image.open(io.BytesIO(png)).convert("L")


def decode_qr_data_uri(uri: str, size: int = 400) -> list[str]:
    """The texts of every QR code found in the rendered data URI."""
    import zxingcpp

    image = render_svg_data_uri(uri, size)
    return [
        result.text
        for result in zxingcpp.read_barcodes(image)
        if result.format == zxingcpp.BarcodeFormat.QRCode
    ]
