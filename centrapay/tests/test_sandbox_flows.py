"""Sandbox: state machine, pay, expiry, void and refund rules."""

import pytest

from centrapay.sandbox import SandboxControlError

TEST_ASSET = "centrapay.nzd.test"


def _pay(api, pr_id, headers=None, key=False, **body):
    body.setdefault("assetType", TEST_ASSET)
    body.setdefault("idempotencyKey", "key-1")
    if headers is None and not key:
        headers = {"Authorization": "patron-jwt"}
    return api.post(
        f"/api/payment-requests/{pr_id}/pay", body, key=key, headers=headers
    )


# -- pay ---------------------------------------------------------------------------


def test_pay_marks_request_paid(api, sandbox):
    pr = api.create(2500)
    resp = _pay(api, pr["id"], headers={"Authorization": "Bearer some.jwt.token"})
    assert resp.status_code == 200, resp.text
    activity = resp.json()
    assert activity["type"] == "payment"
    assert activity["value"] == {"amount": "2500", "currency": "NZD"}
    assert activity["idempotencyKey"] == "key-1"
    assert activity["assetType"] == TEST_ASSET
    assert activity["paymentRequestId"] == pr["id"]
    assert activity["activityNumber"] == "2"
    assert activity["shortCode"] == pr["shortCode"] + "-02"
    assert activity["merchantAccountId"] == sandbox.merchant_account_id
    assert activity["createdBy"].startswith("crn::user:")
    paid = api.pr(pr["id"])
    assert paid["status"] == "paid"
    assert paid["remainingAmount"] == "0"
    (total,) = paid["paidBy"]["assetTotals"]
    assert total["type"] == TEST_ASSET
    assert total["description"] == "Centrapay NZD Test"
    assert total["total"] == {"amount": "2500", "currency": "NZD"}
    assert total["settlementDate"].endswith("T00:00:00.000Z")


def test_pay_accepts_api_key_or_bare_jwt_but_needs_one(api):
    assert _pay(api, api.create()["id"], key=True).status_code == 200
    assert (
        _pay(api, api.create()["id"], headers={"Authorization": "bare.jwt"}).status_code
        == 200
    )
    resp = _pay(api, api.create()["id"], headers={})
    api.assert_error(resp, 401, "Missing authentication")
    resp = _pay(api, api.create()["id"], headers={"Authorization": "Bearer "})
    api.assert_error(resp, 401, "Missing authentication")


def test_pay_is_idempotent_by_key(api):
    pr = api.create()
    first = _pay(api, pr["id"], idempotencyKey="same").json()
    again = _pay(api, pr["id"], idempotencyKey="same")
    assert again.status_code == 200
    assert again.json() == first
    assert [a["type"] for a in api.activities(pr["id"])] == ["payment", "request"]
    api.assert_error(_pay(api, pr["id"], idempotencyKey="other"), 403, "REQUEST_PAID")


def test_pay_refusals(api, control):
    pr = api.create(1000)
    api.assert_error(
        _pay(api, pr["id"], assetType="centrapay.nzd.main"), 403, "INVALID_ASSET_TYPE"
    )
    api.assert_error(_pay(api, pr["id"], amount="400"), 403, "INSUFFICIENT_ASSET_VALUE")
    api.assert_error(
        _pay(api, pr["id"], amount="400", mode="partial-payment"),
        403,
        "PAYMENT_DECLINED",
    )
    api.assert_error(
        _pay(api, pr["id"], amount="1001"),
        400,
        "amount must not exceed remainingAmount",
    )
    api.assert_error(_pay(api, pr["id"], assetType=None), 400, "assetType is required")
    api.assert_error(
        _pay(api, pr["id"], mode="bogus"),
        400,
        "mode must be one of partial-payment, multi-asset-payment",
    )
    cancelled = api.create()
    api.void(cancelled["id"])
    api.assert_error(_pay(api, cancelled["id"]), 403, "REQUEST_CANCELLED")
    expired = api.create()
    control.expire(expired["id"])
    api.assert_error(_pay(api, expired["id"]), 403, "REQUEST_EXPIRED")


def test_partial_payment_when_allowed(api):
    pr = api.create(1000, partialAllowed=True, basketAmount="3000")
    resp = _pay(api, pr["id"], amount="600", mode="partial-payment")
    assert resp.status_code == 200
    assert resp.json()["mode"] == "partial-payment"
    paid = api.pr(pr["id"])
    assert paid["status"] == "paid"
    assert paid["remainingAmount"] == "400"


def test_multi_asset_payment_stays_new_until_covered(api):
    pr = api.create(1000)
    _pay(api, pr["id"], amount="300", mode="multi-asset-payment", idempotencyKey="a")
    midway = api.pr(pr["id"])
    assert midway["status"] == "new"
    assert midway["remainingAmount"] == "700"
    assert midway["paidBy"]["assetTotals"][0]["total"]["amount"] == "300"
    _pay(api, pr["id"], amount="700", mode="multi-asset-payment", idempotencyKey="b")
    done = api.pr(pr["id"])
    assert done["status"] == "paid"
    assert done["paidBy"]["assetTotals"][0]["total"]["amount"] == "1000"


def test_patron_cancel(api, control):
    pr = api.create()
    control.cancel(pr["id"])
    cancelled = api.pr(pr["id"])
    assert cancelled["status"] == "cancelled"
    assert cancelled["cancellationReason"] == "CANCELLED_BY_PATRON"


# -- expiry ------------------------------------------------------------------------


def test_lazy_expiry_after_clock_moves(api, control):
    pr = api.create(expirySeconds=60)
    control.advance_clock(55)
    assert api.pr(pr["id"])["status"] == "new"
    control.advance_clock(5)
    expired = api.pr(pr["id"])
    assert expired["status"] == "expired"
    assert expired["updatedAt"] == expired["expiresAt"]
    acts = api.activities(pr["id"])
    assert [a["type"] for a in acts] == ["expiry", "request"]
    assert acts[0]["createdAt"] == pr["expiresAt"]
    assert [a["activityNumber"] for a in acts] == ["2", "1"]
    api.assert_error(api.void(pr["id"]), 403, "REQUEST_EXPIRED")
    # Reads keep it expired and do not add more expiry activities.
    assert len(api.activities(pr["id"])) == 2


def test_control_expire_only_new(api, control):
    pr = api.paid()
    with pytest.raises(SandboxControlError) as err:
        control.expire(pr["id"])
    assert err.value.status == 409


def test_paid_request_does_not_expire(api, control):
    pr = api.paid()
    control.advance_clock(3600)
    assert api.pr(pr["id"])["status"] == "paid"


# -- void --------------------------------------------------------------------------


def test_void_new_cancels_and_is_idempotent(api):
    pr = api.create()
    resp = api.void(pr["id"])
    assert resp.status_code == 200
    activity = resp.json()
    assert activity["type"] == "cancellation"
    assert activity["cancellationReason"] == "CANCELLED_BY_MERCHANT"
    cancelled = api.pr(pr["id"])
    assert cancelled["status"] == "cancelled"
    assert cancelled["cancellationReason"] == "CANCELLED_BY_MERCHANT"
    again = api.void(pr["id"])
    assert again.status_code == 200
    assert again.json() == activity
    assert len(api.activities(pr["id"])) == 2


def test_void_paid_refunds_in_full_and_stays_paid(api):
    pr = api.paid(1500)
    resp = api.void(pr["id"])
    assert resp.status_code == 200
    refund = resp.json()
    assert refund["type"] == "refund"
    assert refund["value"]["amount"] == "1500"
    assert refund["shortCode"] == pr["shortCode"] + "-03"
    assert api.pr(pr["id"])["status"] == "paid"
    api.assert_error(api.void(pr["id"]), 403, "ALREADY_REFUNDED")


def test_void_after_partial_refund_refunds_the_rest(api):
    pr = api.paid(1500)
    api.refund(pr["id"], 500, "r1")
    assert api.void(pr["id"]).json()["value"]["amount"] == "1000"
    api.assert_error(api.refund(pr["id"], 1, "r2"), 403, "ALREADY_REFUNDED")


def test_void_window(api, control):
    pr = api.paid()
    control.advance_clock(24 * 3600 + 1)
    api.assert_error(api.void(pr["id"]), 403, "VOID_WINDOW_EXCEEDED")
    assert api.refund(pr["id"], 1000, "after-window").status_code == 200


def test_void_new_with_multi_asset_payment_refunds_it(api):
    pr = api.create(1000)
    _pay(api, pr["id"], amount="300", mode="multi-asset-payment")
    assert api.void(pr["id"]).json()["type"] == "cancellation"
    types = [a["type"] for a in api.activities(pr["id"])]
    assert types == ["cancellation", "refund", "payment", "request"]


# -- refund ------------------------------------------------------------------------


def test_partial_and_multiple_refunds(api):
    pr = api.paid(1000)
    first = api.refund(pr["id"], 300, "r1", invoiceRef="CN-1")
    assert first.status_code == 200
    body = first.json()
    assert body["type"] == "refund"
    assert body["externalRef"] == "r1"
    assert body["invoiceRef"] == "CN-1"
    assert body["strategy"]["refunds"][0]["amount"] == "300"
    assert api.refund(pr["id"], 700, "r2").status_code == 200
    api.assert_error(api.refund(pr["id"], 1, "r3"), 403, "ALREADY_REFUNDED")
    assert api.pr(pr["id"])["status"] == "paid"


def test_refund_is_idempotent_by_external_ref(api):
    pr = api.paid(1000)
    first = api.refund(pr["id"], 400, "r1").json()
    replay = api.refund(pr["id"], 400, "r1")
    assert replay.status_code == 200
    assert replay.json() == first
    assert [a["type"] for a in api.activities(pr["id"])].count("refund") == 1
    api.assert_error(api.refund(pr["id"], 500, "r1"), 403, "REPEAT_REFERENCE")
    api.refund(pr["id"], 600, "r2")
    # Fully refunded now, yet a replay still answers 200 with the same activity.
    assert api.refund(pr["id"], 400, "r1").json() == first


def test_refund_errors(api, control):
    pr = api.paid(1000)
    api.assert_error(api.refund(pr["id"], 1001, "r1"), 403, "INVALID_AMOUNT")
    api.assert_error(api.refund(api.create()["id"], 100, "r1"), 403, "NOT_PAID")
    api.assert_error(
        api.refund(pr["id"], 0, "r1"), 400, "value.amount must be positive"
    )
    missing_ref = api.post(
        f"/api/payment-requests/{pr['id']}/refund",
        {"value": {"amount": "1", "currency": "NZD"}},
    )
    api.assert_error(missing_ref, 400, "externalRef is required")
    items = [{"name": "Hat", "qty": "1", "price": "4000", "discount": "400"}]
    api.assert_error(
        api.refund(pr["id"], 3600, "r1", lineItems=items),
        400,
        "LINE_ITEMS_SUM_CHECK_FAILED",
    )
    items[0]["price"] = "600"
    assert api.refund(pr["id"], 600, "r1", lineItems=items).json()["lineItems"] == items


def test_refund_window(api, control):
    control.configure(refundWindowSeconds=3600)
    pr = api.paid(1000)
    control.advance_clock(3601)
    api.assert_error(api.refund(pr["id"], 100, "late"), 403, "REFUND_WINDOW_EXCEEDED")
    assert control.settings()["refundWindowSeconds"] == 3600
    control.reset()
    assert control.settings()["refundWindowSeconds"] == 90 * 24 * 3600


# -- activities --------------------------------------------------------------------


def test_activities_are_sequential_and_newest_first(api, sandbox):
    pr = api.paid(1000, externalRef="order-7")
    api.refund(pr["id"], 100, "r1")
    acts = api.activities(pr["id"])
    assert [a["type"] for a in acts] == ["refund", "payment", "request"]
    assert [a["activityNumber"] for a in acts] == ["3", "2", "1"]
    for act in acts:
        assert act["paymentRequestId"] == pr["id"]
        assert act["merchantId"] == sandbox.merchant_id
        assert act["merchantConfigId"] == sandbox.merchant_config_id
        assert act["shortCode"].startswith(pr["shortCode"])
        assert act["paymentRequestCreatedBy"] == acts[-1]["createdBy"]


def test_reset_forgets_requests_but_keeps_credentials(api, sandbox, control):
    pr = api.create()
    key = sandbox.api_key
    control.reset()
    api.assert_error(api.get(f"/api/payment-requests/{pr['id']}"), 403, "Forbidden")
    assert sandbox.api_key == key
    assert api.create()["configId"] == sandbox.merchant_config_id
