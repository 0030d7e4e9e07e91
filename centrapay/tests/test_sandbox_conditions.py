"""Sandbox: payment conditions (doc §6.8 E11/E12, §10.2, §13).

Checklist: CP-EXT-7 (the flag), CP-EXT-8 (any condition, name and message
verbatim, also one added later), CP-EXT-9 (accept → paid, decline →
``cancelled`` ``DECLINED_BY_MERCHANT``).
"""

import pytest

from centrapay.sandbox import barcodes
from centrapay.sandbox.control import SandboxControlError


def _answer(api, pr_id, condition_id, answer, **kwargs):
    path = f"/api/payment-requests/{pr_id}/conditions/{condition_id}/{answer}"
    return api.post(path, **kwargs)


def _photo_id_request(api, **fields):
    fields.setdefault("conditionsEnabled", True)
    return api.create(2500, barcode=barcodes.PHOTO_ID_BARCODE, **fields)


def test_photo_id_scenario_accepted_then_paid(api, control):
    pr = _photo_id_request(api)
    read = api.pr(pr["id"])  # conditions are worked out on a read
    assert read["merchantConditions"] == [
        {
            "id": "1",
            "name": "photo-id-check",
            "message": "Please check ID",
            "status": "awaiting-merchant",
        }
    ]
    # The patron approved in the app: the payment waits for the cashier.
    assert control.approve(pr["id"])["status"] == "new"
    resp = _answer(api, pr["id"], "1", "accept")
    assert resp.status_code == 200, resp.text
    activity = resp.json()
    assert activity["type"] == "accept-condition"
    assert activity["conditionId"] == "1"
    assert activity["value"] == {"amount": "2500", "currency": "NZD"}
    read = api.pr(pr["id"])
    assert read["status"] == "paid"
    assert read["merchantConditions"][0]["status"] == "accepted"
    api.assert_error(_answer(api, pr["id"], "1", "accept"), 403, "REQUEST_PAID")


def test_accept_before_the_patron_approves(api, control):
    pr = _photo_id_request(api)
    api.pr(pr["id"])
    assert _answer(api, pr["id"], "1", "accept").status_code == 200
    assert api.pr(pr["id"])["status"] == "new"
    assert control.approve(pr["id"])["status"] == "paid"


def test_decline_cancels(api, control):
    pr = _photo_id_request(api)
    control.approve(pr["id"])
    resp = _answer(api, pr["id"], "1", "decline")
    assert resp.json()["type"] == "decline-condition"
    read = api.pr(pr["id"])
    assert read["status"] == "cancelled"
    assert read["cancellationReason"] == "DECLINED_BY_MERCHANT"
    assert read["merchantConditions"][0]["status"] == "declined"
    types = [a["type"] for a in api.activities(pr["id"])]
    assert types == ["cancellation", "decline-condition", "request"]


def test_condition_without_conditions_enabled_cancels(api, control):
    pr = _photo_id_request(api, conditionsEnabled=False)
    read = api.pr(pr["id"])
    assert read["status"] == "cancelled"
    assert read["cancellationReason"] == "PAYMENT_DECLINED"
    other = api.create(1000)
    assert control.add_condition(other["id"], "x", "y")["status"] == "cancelled"


def test_patron_not_present_suppresses_photo_id(api, control):
    pr = _photo_id_request(api, patronNotPresent=True)
    assert api.pr(pr["id"])["merchantConditions"] == []
    assert control.approve(pr["id"])["status"] == "paid"


def test_unknown_condition_passes_verbatim_and_later_ones_appear(api, control):
    pr = api.create(1000, conditionsEnabled=True)
    assert api.pr(pr["id"])["merchantConditions"] == []
    message = "Confirm the promo voucher « SPRING-24 » was bought"
    control.add_condition(pr["id"], "promo-item-check", message)
    control.add_condition(
        pr["id"], "patron-confirm", "Waiting for the app", "awaiting-patron"
    )
    conditions = api.pr(pr["id"])["merchantConditions"]
    assert [(c["id"], c["name"], c["message"], c["status"]) for c in conditions] == [
        ("1", "promo-item-check", message, "awaiting-merchant"),
        ("2", "patron-confirm", "Waiting for the app", "awaiting-patron"),
    ]
    # The merchant may not answer the patron's condition, nor a patron the
    # merchant's.
    api.assert_error(
        _answer(api, pr["id"], "2", "accept"), 403, "MERCHANT_NOT_AUTHORIZED"
    )
    patron = {"Authorization": "Bearer patron-jwt"}
    api.assert_error(
        _answer(api, pr["id"], "1", "accept", key=False, headers=patron),
        403,
        "PATRON_NOT_AUTHORIZED",
    )
    assert _answer(api, pr["id"], "2", "accept", key=False, headers=patron).ok
    assert _answer(api, pr["id"], "1", "accept").ok
    api.assert_error(
        _answer(api, pr["id"], "1", "decline"), 403, "CONDITION_ALREADY_SET"
    )
    api.assert_error(_answer(api, pr["id"], "9", "accept"), 403, "Forbidden")
    control.pay(pr["id"])
    assert api.pr(pr["id"])["status"] == "paid"


def test_voided_condition_cannot_be_answered_and_unblocks(api, control):
    pr = api.create(1000, conditionsEnabled=True)
    control.add_condition(pr["id"], "photo-id-check", "Please check ID")
    # A patron payment waits while a condition awaits.
    with pytest.raises(SandboxControlError) as info:
        control.pay(pr["id"])
    assert info.value.body["message"] == "PAYMENT_DECLINED"
    read = control.void_condition(pr["id"], "1")
    assert read["merchantConditions"][0]["status"] == "void"
    api.assert_error(
        _answer(api, pr["id"], "1", "accept"), 403, "CONDITION_ALREADY_SET"
    )
    control.pay(pr["id"])
    assert api.pr(pr["id"])["status"] == "paid"


def test_patron_declines_its_condition(api, control):
    pr = api.create(1000, conditionsEnabled=True)
    control.add_condition(pr["id"], "patron-confirm", "Confirm", "awaiting-patron")
    patron = {"Authorization": "patron-jwt"}
    assert _answer(api, pr["id"], "1", "decline", key=False, headers=patron).ok
    read = api.pr(pr["id"])
    assert (read["status"], read["cancellationReason"]) == (
        "cancelled",
        "DECLINED_BY_PATRON",
    )


def test_farmlands_quick_pay_waits_for_a_condition(api, control):
    pr = api.create(3000, barcode="424242424", conditionsEnabled=True)
    control.add_condition(pr["id"], "photo-id-check", "Please check ID")
    assert api.pr(pr["id"])["status"] == "new"  # first read: held by the check
    assert _answer(api, pr["id"], "1", "accept").ok
    assert api.pr(pr["id"])["status"] == "paid"
