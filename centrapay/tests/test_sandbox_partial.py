"""Sandbox: partial payments (doc §10.3) and external tenders (doc §6.5).

Checklist: CP-EXT-13 (the rest recorded as ``external.test``), CP-EXT-14
(``remainingAmount`` changes while polled), CP-EXT-15/16 (``partialAllowed``,
``basketAmount``), CP-EXT-17 (a remainder, and the refund when abandoned).
"""

import pytest

from centrapay.sandbox import barcodes
from centrapay.sandbox.control import SandboxControlError


def _external(api, pr_id, amount=None, asset="external.test", key="ext-1"):
    body = {"assetType": asset, "idempotencyKey": key}
    if amount is not None:
        body["amount"] = str(amount)
    return api.post(f"/api/payment-requests/{pr_id}/pay", body)


def test_partial_payment_leaves_a_remainder(api, control):
    pr = api.create(5000, partialAllowed=True, basketAmount="8000")
    assert (pr["partialAllowed"], pr["basketAmount"]) == (True, "8000")
    assert pr["remainingAmount"] == "5000"
    control.pay(pr["id"], amount=3000, mode="partial-payment")
    read = api.pr(pr["id"])
    assert read["status"] == "paid" and read["remainingAmount"] == "2000"
    assert read["paidBy"]["assetTotals"][0]["total"]["amount"] == "3000"


def test_partial_needs_partial_allowed(api, control):
    pr = api.create(5000)
    with pytest.raises(SandboxControlError) as info:
        control.pay(pr["id"], amount=3000, mode="partial-payment")
    assert info.value.body["message"] == "PAYMENT_DECLINED"


def test_rest_paid_with_an_external_tender(api, control):
    pr = api.create(5000, partialAllowed=True, basketAmount="5000")
    control.pay(pr["id"], amount=3000, mode="partial-payment")
    resp = _external(api, pr["id"])
    assert resp.status_code == 200, resp.text
    activity = resp.json()
    assert activity["external"] is True
    assert activity["value"]["amount"] == "2000"
    read = api.pr(pr["id"])
    assert read["status"] == "paid" and read["remainingAmount"] == "0"
    assert {t["type"] for t in read["paidBy"]["assetTotals"]} == {
        "centrapay.nzd.test",
        "external.test",
    }
    # Nothing remains: a further tender is refused.
    api.assert_error(_external(api, pr["id"], key="ext-2"), 403, "REQUEST_PAID")
    trail = {t["id"]: t for t in control.money_trail()}[pr["id"]]
    assert (trail["paid"], trail["external"]) == (3000, 2000)


def test_external_errors(api, control):
    pr = api.create(5000, partialAllowed=True, basketAmount="5000")
    api.assert_error(
        _external(api, pr["id"], asset="external.main"), 403, "INVALID_ASSET_TYPE"
    )
    control.pay(pr["id"], amount=1000, mode="partial-payment")
    api.assert_error(
        _external(api, pr["id"], amount=4001),
        400,
        "amount must not exceed remainingAmount",
    )
    full = api.paid(1000)
    api.assert_error(_external(api, full["id"]), 403, "REQUEST_PAID")


def test_external_first_then_patron_pays_the_rest(api, control):
    pr = api.create(5000)
    assert _external(api, pr["id"], amount=2000).ok
    read = api.pr(pr["id"])
    assert read["status"] == "new" and read["remainingAmount"] == "3000"
    control.pay(pr["id"])
    assert api.pr(pr["id"])["status"] == "paid"


def test_abandoned_partial_is_refunded_centrapay_part_only(api, control):
    pr = api.create(5000, partialAllowed=True, basketAmount="5000")
    control.pay(pr["id"], amount=3000, mode="partial-payment")
    assert _external(api, pr["id"], amount=500).ok
    # doc §10.3: the rest cannot be collected, so the request is refunded;
    # void gives back what Centrapay took, never the external tender.
    refund = api.void(pr["id"]).json()
    assert refund["type"] == "refund" and refund["value"]["amount"] == "3000"
    api.assert_error(api.void(pr["id"]), 403, "ALREADY_REFUNDED")
    resp = api.refund(pr["id"], 1, "more")
    api.assert_error(resp, 403, "ALREADY_REFUNDED")


def test_partial_approval_of_a_barcode_request(api, control):
    pr = api.create(
        5000, barcode=barcodes.PATRON_BARCODE, partialAllowed=True, basketAmount="9000"
    )
    read = control.approve(pr["id"], amount=1200, mode="partial-payment")
    assert read["status"] == "paid" and read["remainingAmount"] == "3800"


def test_remaining_amount_changes_while_new(api, control):
    pr = api.create(5000)
    control.pay(pr["id"], amount=1000, mode="multi-asset-payment")
    assert api.pr(pr["id"])["remainingAmount"] == "4000"
    control.pay(pr["id"], amount=1500, mode="multi-asset-payment")
    assert api.pr(pr["id"])["remainingAmount"] == "2500"
