"""The rendered QR code reads back as the request's url (CP-CORE-5, CP-FLOW-3)."""

import base64
from decimal import Decimal

import pytest

from centrapay.client import CentrapayClient
from centrapay.qr import qr_data_uri
from centrapay.sandbox.server import Sandbox
from centrapay.tests.qr_decode import decode_qr_data_uri, render_svg_data_uri


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8900/pay/5Hv8rRXJyTkvCEc8Uf3dZZ",
        "https://app.centrapay.com/pay/requests/WRhAxxWpTKb5U7pXyxQjjY",
        # Upper and lower case, a query and a fragment survive as they are.
        "https://pay.example.test:8443/Pay/AbC?x=1&Y=%20two#frag",
        "https://app.centrapay.com/pay/" + "x" * 200,
    ],
)
def test_the_rendered_code_reads_back_as_the_url(url):
    assert decode_qr_data_uri(qr_data_uri(url)) == [url]


@pytest.mark.parametrize("size", [200, 300, 800])
def test_it_reads_at_screen_sizes(size):
    url = "http://127.0.0.1:8900/pay/5Hv8rRXJyTkvCEc8Uf3dZZ"
    assert decode_qr_data_uri(qr_data_uri(url), size=size) == [url]


def test_the_centrapay_mark_is_drawn_in_the_centre():
    image = render_svg_data_uri(qr_data_uri("https://app.centrapay.com/pay/x"))
    width, height = image.size
    # The white plate under the mark: the centre pixel is not a black module,
    # and the mark itself (not white) is drawn on it.
    centre = [
        image.getpixel((x, y))
        for x in range(width * 45 // 100, width * 55 // 100)
        for y in range(height * 45 // 100, height * 55 // 100)
    ]
    assert any(value < 250 for value in centre), "the mark is drawn"
    assert min(centre) > 20, "no black QR module shows through the plate"


def test_the_code_follows_the_url_of_another_host():
    """The sandbox answers with a pay URL on another host; the QR follows it."""
    with Sandbox(public_url="https://pay.elsewhere.example:9443") as sandbox:
        client = CentrapayClient(sandbox.base_url, sandbox.api_key)
        pr = client.create_payment_request(
            config_id=sandbox.merchant_config_id,
            amount=Decimal("12.50"),
            currency="NZD",
            external_ref="qr-other-host",
        )
    assert pr["url"].startswith("https://pay.elsewhere.example:9443/pay/")
    assert decode_qr_data_uri(qr_data_uri(pr["url"])) == [pr["url"]]


def test_a_code_of_another_url_does_not_read_as_this_one():
    other = qr_data_uri("https://app.centrapay.com/pay/other")
    assert decode_qr_data_uri(other) != ["https://app.centrapay.com/pay/this"]


def test_only_svg_data_uris_are_rendered():
    with pytest.raises(ValueError):
        render_svg_data_uri("data:image/png;base64," + base64.b64encode(b"x").decode())
