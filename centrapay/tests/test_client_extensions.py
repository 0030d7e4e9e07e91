"""CentrapayClient against the sandbox: barcode flow, partial payments and
conditions, read through the status mapping as the Odoo side reads them.

Checklist: CP-FLOW-4/5 (codes checked before any call, and by E17),
CP-FLOW-6 (barcode payments end to end), CP-ASSET-3 (``provider=farmlands``),
CP-EXT-7..9 (conditions), CP-EXT-13..17 (partial payments and the rest).
"""

import logging
import uuid
from decimal import Decimal

import pytest
import requests

from centrapay.barcode import normalize_scanned_code
from centrapay.client import CentrapayClient
from centrapay.errors import (
    CentrapayBadRequest,
    CentrapayForbidden,
    CentrapayUnknownOutcome,
    CentrapayValidationError,
)
from centrapay.sandbox import barcodes
from centrapay.status import map_payment_request


@pytest.fixture
def client(sandbox):
    session = requests.Session()
    session.trust_env = False  # loopback only, never through a proxy
    with CentrapayClient(
        sandbox.base_url, sandbox.api_key, session=session, sleep=lambda s: None
    ) as c:
        yield c
    session.close()


def create(client, sandbox, amount="42.00", **fields):
    return client.create_payment_request(
        config_id=sandbox.merchant_config_id,
        amount=Decimal(amount),
        currency="NZD",
        external_ref=f"order-{uuid.uuid4().hex[:12]}",
        terminal_id="till-1",
        device_id="dev-1",
        **fields,
    )


def read(client, pr):
    return map_payment_request(client.get_payment_request(pr["id"]))


# ------------------------------------------------------------ barcode flow


@pytest.mark.parametrize(
    ("typed", "code"),
    [
        ("424242424", "424242424"),
        (" 9990 0012 3456 7890 ", "9990001234567890"),
        ("4242-4242-4", "424242424"),
    ],
)
def test_normalize_scanned_code(typed, code):
    assert normalize_scanned_code(typed) == code


@pytest.mark.parametrize(
    ("typed", "code"),
    [
        ("", "barcode_required"),
        (None, "barcode_required"),
        ("12345678901234567", "barcode_format"),
        ("CP-C7F-ZS5", "barcode_format"),
        ("٤٢٤٢", "barcode_format"),  # non-ASCII digits
        ("9990001234567895", "barcode_checksum"),
    ],
)
def test_normalize_scanned_code_refuses(typed, code):
    with pytest.raises(CentrapayValidationError) as info:
        normalize_scanned_code(typed)
    assert info.value.code == code


def test_decode_tells_farmlands_from_centrapay(client, sandbox):
    farm = client.decode_scanned_code("424242424", sandbox.merchant_config_id)
    assert (farm["provider"], farm["displayName"]) == ("farmlands", "Farmlands Card")
    app = client.decode_scanned_code(
        barcodes.PATRON_BARCODE, sandbox.merchant_config_id
    )
    assert app["provider"] == "centrapay"
    with pytest.raises(CentrapayBadRequest) as info:
        client.decode_scanned_code("9990001234567895", sandbox.merchant_config_id)
    assert info.value.code == "CHECKSUM_FAILED"
    with pytest.raises(CentrapayForbidden) as info:
        client.decode_scanned_code(
            barcodes.patron_barcode(7), sandbox.merchant_config_id
        )
    assert info.value.code == "UNKNOWN_CODE"


def test_decode_without_provider_is_an_unknown_outcome(client, sandbox, control):
    control.add_fault(
        kind="odd_body", path="/api/decode", patch={"provider": None}, times=None
    )
    with pytest.raises(CentrapayUnknownOutcome):
        client.decode_scanned_code("424242424", sandbox.merchant_config_id)


def test_farmlands_card_pays_on_the_first_read(client, sandbox):
    pr = create(client, sandbox, barcode="424242424", conditions_enabled=True)
    assert pr["barcode"] == "424242424" and pr["status"] == "new"
    mapped = read(client, pr)
    assert mapped["status"] == "paid"
    values = mapped["values"]
    assert values["remaining_amount"] == 0
    assert (values["centrapay_amount"], values["external_amount"]) == (4200, 0)
    assert values["asset_types"] == "farmlands.nzd.test"


@pytest.mark.parametrize(
    ("card", "reason"),
    [
        ("434343434", "PAYMENT_DECLINED"),
        ("454545454", "PATRON_CODE_EXPIRED"),
        ("464646464", "INACTIVE_ASSET"),
    ],
)
def test_farmlands_refusals(client, sandbox, card, reason):
    pr = create(client, sandbox, barcode=card)
    mapped = read(client, pr)
    assert (mapped["status"], mapped["values"]["cancellation_reason"]) == (
        "cancelled",
        reason,
    )


def test_app_barcode_approved_in_the_app(client, sandbox, control):
    pr = create(client, sandbox, barcode=barcodes.PATRON_BARCODE)
    assert read(client, pr)["status"] == "new"
    control.approve(pr["id"])
    assert read(client, pr)["status"] == "paid"


def test_unknown_patron_code_is_refused_at_create(client, sandbox):
    with pytest.raises(CentrapayForbidden) as info:
        create(client, sandbox, barcode=barcodes.patron_barcode(99))
    assert info.value.code == "PATRON_CODE_INVALID"


# ---------------------------------------------------------------- partial


def test_partial_payment_then_the_rest_in_cash(client, sandbox, control):
    pr = create(
        client,
        sandbox,
        amount="50.00",
        partial_allowed=True,
        basket_amount=Decimal("80.00"),
    )
    assert (pr["partialAllowed"], pr["basketAmount"]) == (True, "8000")
    assert read(client, pr)["values"]["remaining_amount"] == 5000
    control.pay(pr["id"], amount=3000, mode="partial-payment")
    mapped = read(client, pr)
    assert mapped["status"] == "paid"
    assert mapped["values"]["remaining_amount"] == 2000
    assert mapped["values"]["centrapay_amount"] == 3000
    # CP-EXT-13: the rest, taken in cash, recorded on the request.
    activity = client.pay_payment_request(
        pr["id"], asset_type="external.test", idempotency_key=f"{pr['id']}/cash"
    )
    assert activity["external"] is True and activity["value"]["amount"] == "2000"
    mapped = read(client, pr)
    assert mapped["values"]["remaining_amount"] == 0
    assert (
        mapped["values"]["centrapay_amount"],
        mapped["values"]["external_amount"],
    ) == (
        3000,
        2000,
    )


def test_abandoned_partial_payment_is_refunded(client, sandbox, control):
    pr = create(
        client,
        sandbox,
        amount="50.00",
        partial_allowed=True,
        basket_amount=Decimal("50"),
    )
    control.pay(pr["id"], amount=1000, mode="partial-payment")
    refund = client.void_payment_request(pr["id"])
    assert refund["type"] == "refund" and refund["value"]["amount"] == "1000"


def test_partial_allowed_needs_a_basket_amount(client, sandbox):
    with pytest.raises(CentrapayValidationError) as info:
        create(client, sandbox, partial_allowed=True)
    assert info.value.field == "basket_amount"
    with pytest.raises(CentrapayValidationError):
        create(client, sandbox, partial_allowed=True, basket_amount=Decimal("1.00"))


# ------------------------------------------------------------- conditions


def test_photo_id_condition_accepted(client, sandbox, control, caplog):
    caplog.set_level(logging.DEBUG)
    pr = create(
        client, sandbox, barcode=barcodes.PHOTO_ID_BARCODE, conditions_enabled=True
    )
    control.approve(pr["id"])
    mapped = read(client, pr)
    assert mapped["status"] == "new"
    (condition,) = mapped["values"]["awaiting_merchant"]
    assert condition == {
        "id": "1",
        "name": "photo-id-check",
        "message": "Please check ID",
        "status": "awaiting-merchant",
    }
    activity = client.accept_payment_condition(pr["id"], condition["id"])
    assert activity["type"] == "accept-condition"
    mapped = read(client, pr)
    assert mapped["status"] == "paid" and mapped["values"]["awaiting_merchant"] == []
    assert mapped["values"]["conditions"][0]["status"] == "accepted"
    assert sandbox.api_key not in caplog.text


def test_condition_declined(client, sandbox, control):
    pr = create(client, sandbox, conditions_enabled=True)
    control.add_condition(pr["id"], "age-check", "Is the patron over 18?")
    mapped = read(client, pr)
    assert mapped["values"]["awaiting_merchant"][0]["message"] == (
        "Is the patron over 18?"
    )
    activity = client.decline_payment_condition(pr["id"], 1)  # an int id too
    assert activity["type"] == "decline-condition"
    mapped = read(client, pr)
    assert mapped["status"] == "cancelled"
    assert mapped["values"]["cancellation_reason"] == "DECLINED_BY_MERCHANT"


def test_condition_errors(client, sandbox, control):
    pr = create(client, sandbox, conditions_enabled=True)
    control.add_condition(
        pr["id"], "app-confirm", "Confirm in the app", "awaiting-patron"
    )
    mapped = read(client, pr)
    assert [c["name"] for c in mapped["values"]["awaiting_patron"]] == ["app-confirm"]
    with pytest.raises(CentrapayForbidden) as info:
        client.accept_payment_condition(pr["id"], "1")
    assert info.value.code == "MERCHANT_NOT_AUTHORIZED"
    control.void_condition(pr["id"], "1")
    with pytest.raises(CentrapayForbidden) as info:
        client.decline_payment_condition(pr["id"], "1")
    assert info.value.code == "CONDITION_ALREADY_SET"
    for bad in ("", None, ".."):
        with pytest.raises(CentrapayValidationError):
            client.accept_payment_condition(pr["id"], bad)


def test_condition_answer_is_not_retried(client, sandbox, control):
    pr = create(client, sandbox, conditions_enabled=True)
    control.add_condition(pr["id"], "photo-id-check", "Please check ID")
    control.add_fault(kind="commit_then_drop", pathRegex="/conditions/1/accept$")
    with pytest.raises(CentrapayUnknownOutcome):
        client.accept_payment_condition(pr["id"], "1")
    calls = [c for c in control.calls() if c["path"].endswith("/accept")]
    assert len(calls) == 1
    # The read after it tells what happened.
    assert read(client, pr)["values"]["conditions"][0]["status"] == "accepted"
