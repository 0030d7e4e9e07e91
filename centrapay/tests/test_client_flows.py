"""CentrapayClient against the sandbox: flows and every documented error code.

Real HTTP to the sandbox on 127.0.0.1 (``sandbox``/``control`` fixtures from
conftest). Codes the sandbox does not model are injected as 4xx faults with
the Centrapay error envelope, so the client's mapping is still exercised.
"""

import uuid
from decimal import Decimal

import pytest
import requests

from centrapay.client import CentrapayClient
from centrapay.errors import (
    CentrapayAPIError,
    CentrapayAuthError,
    CentrapayBadRequest,
    CentrapayForbidden,
    CentrapayNotFound,
    CentrapayValidationError,
)
from centrapay.money import from_minor_units
from centrapay.sandbox import shortcode
from centrapay.tests.activity_pages import every_activity

LINES = [
    {"name": "Hard Hat", "sku": "GH1234", "qty": 1, "price": 4000, "tax": "15"},
    {
        "name": "Tool Belt",
        "sku": "GH1235",
        "qty": "2",
        "price": "6000",
        "discount": 600,
    },
]


@pytest.fixture
def sleeps():
    return []


@pytest.fixture
def client(sandbox, sleeps):
    session = requests.Session()
    session.trust_env = False  # loopback only, never through a proxy
    with CentrapayClient(
        sandbox.base_url, sandbox.api_key, session=session, sleep=sleeps.append
    ) as c:
        yield c
    session.close()


def ref():
    return f"order-{uuid.uuid4().hex[:12]}"


def create(client, sandbox, amount="100.00", **kwargs):
    kwargs.setdefault("external_ref", ref())
    return client.create_payment_request(
        config_id=sandbox.merchant_config_id,
        amount=Decimal(amount),
        currency=kwargs.pop("currency", "NZD"),
        merchant_account_id=sandbox.merchant_account_id,
        **kwargs,
    )


def paid(client, sandbox, control, amount="100.00", **kwargs):
    pr = create(client, sandbox, amount, **kwargs)
    control.pay(pr["id"])
    return pr


def api_calls(control):
    return [c for c in control.calls() if "jwks" not in c["path"]]


def inject(control, path, status, code, method="POST"):
    control.add_fault(
        kind="status", method=method, path=path, status=status, message=code
    )


# --------------------------------------------------------------------- flows


def test_happy_path_create_pay_get(client, sandbox, control):
    external_ref = ref()
    pr = create(
        client,
        sandbox,
        external_ref=external_ref,
        terminal_id="till-1",
        device_id="SN-0001",
        operator_id="cashier-7",
        expiry_seconds=85,
        line_items=LINES,
        conditions_enabled=True,
        patron_not_present=False,
    )
    assert pr["status"] == "new"
    assert pr["value"] == {"amount": "10000", "currency": "NZD"}
    assert from_minor_units(pr["value"]["amount"], "NZD") == Decimal("100.00")
    assert pr["url"].endswith("/pay/" + pr["id"])
    assert pr["shortCode"].startswith("CP-")
    assert pr["expirySeconds"] == 85
    assert (pr["externalRef"], pr["terminalId"], pr["deviceId"]) == (
        external_ref,
        "till-1",
        "SN-0001",
    )
    assert [item["price"] for item in pr["lineItems"]] == ["4000", "6000"]

    assert client.get_payment_request(pr["id"])["status"] == "new"
    control.pay(pr["id"])
    got = client.get_payment_request(pr["id"])
    assert got["status"] == "paid"
    assert got["remainingAmount"] == "0"
    (total,) = got["paidBy"]["assetTotals"]
    assert total["description"] == "Centrapay NZD Test"
    assert total["total"] == {"amount": "10000", "currency": "NZD"}

    assert client.get_payment_request_by_short_code(pr["shortCode"])["id"] == pr["id"]
    assert (
        client.get_payment_request_by_short_code(pr["shortCode"].lower())["id"]
        == (pr["id"])
    )
    page = client.list_payment_requests_by_external_ref(
        external_ref, sandbox.merchant_account_id
    )
    assert [item["id"] for item in page.items] == [pr["id"]]
    assert page.next_page_key is None
    types = [a["type"] for a in client.list_payment_request_activities(pr["id"])]
    assert types == ["payment", "request"]  # newest first


def test_pagination_by_external_ref_and_merchant_activities(client, sandbox, control):
    control.configure(pageSize=2)
    shared_ref = ref()
    ids = {
        create(client, sandbox, "1.00", external_ref=shared_ref)["id"] for _ in range(5)
    }

    first = client.list_payment_requests_by_external_ref(
        shared_ref, sandbox.merchant_account_id
    )
    assert len(first.items) == 2
    assert "#" in first.next_page_key and "|" in first.next_page_key  # needs encoding
    second = client.list_payment_requests_by_external_ref(
        shared_ref, sandbox.merchant_account_id, page_key=first.next_page_key
    )
    assert len(second.items) == 2
    assert not {i["id"] for i in first.items} & {i["id"] for i in second.items}
    everything = client.iter_payment_requests_by_external_ref(
        shared_ref, sandbox.merchant_account_id
    )
    assert {item["id"] for item in everything} == ids
    limited = client.list_payment_requests_by_external_ref(
        shared_ref, sandbox.merchant_account_id, limit=4
    )
    assert len(limited.items) == 4

    activities = list(every_activity(client, sandbox.merchant_id))
    assert len(activities) == 5  # one "request" activity each
    assert {a["paymentRequestId"] for a in activities} == ids
    page = client.list_payment_activities(sandbox.merchant_id, limit=3)
    assert len(page.items) == 3 and page.next_page_key


def test_expiry(client, sandbox, control):
    pr = create(client, sandbox, expiry_seconds=60)
    control.advance_clock(59)
    assert client.get_payment_request(pr["id"])["status"] == "new"
    control.advance_clock(2)
    assert client.get_payment_request(pr["id"])["status"] == "expired"
    types = [a["type"] for a in client.list_payment_request_activities(pr["id"])]
    assert types[0] == "expiry"
    with pytest.raises(CentrapayForbidden) as info:
        client.void_payment_request(pr["id"])
    assert info.value.code == "REQUEST_EXPIRED"

    other = create(client, sandbox)
    control.expire(other["id"])
    assert client.get_payment_request(other["id"])["status"] == "expired"


def test_void_unpaid_cancels(client, sandbox, control):
    pr = create(client, sandbox)
    activity = client.void_payment_request(pr["id"])
    assert activity["type"] == "cancellation"
    assert activity["cancellationReason"] == "CANCELLED_BY_MERCHANT"
    got = client.get_payment_request(pr["id"])
    assert (got["status"], got["cancellationReason"]) == (
        "cancelled",
        "CANCELLED_BY_MERCHANT",
    )
    # doc §6.7: the sandbox answers a repeated void with the same cancellation.
    assert client.void_payment_request(pr["id"]) == activity


def test_void_paid_refunds(client, sandbox, control):
    pr = paid(client, sandbox, control, "25.50")
    activity = client.void_payment_request(pr["id"])
    assert activity["type"] == "refund"
    assert activity["value"] == {"amount": "2550", "currency": "NZD"}
    # doc §4.1: a voided paid request stays "paid"; the refund is an activity.
    assert client.get_payment_request(pr["id"])["status"] == "paid"
    types = [a["type"] for a in client.list_payment_request_activities(pr["id"])]
    assert types == ["refund", "payment", "request"]
    with pytest.raises(CentrapayForbidden) as info:
        client.void_payment_request(pr["id"])
    assert info.value.code == "ALREADY_REFUNDED"


def test_void_window_exceeded_then_refund(client, sandbox, control):
    pr = paid(client, sandbox, control)
    control.advance_clock(24 * 3600 + 1)
    with pytest.raises(CentrapayForbidden) as info:
        client.void_payment_request(pr["id"])
    assert info.value.code == "VOID_WINDOW_EXCEEDED"
    refund = client.refund_payment_request(
        pr["id"], amount=Decimal("100.00"), currency="NZD", external_ref="late-1"
    )
    assert refund["type"] == "refund"


def test_refunds_partial_multiple_and_idempotent(client, sandbox, control):
    pr = paid(client, sandbox, control, "100.00", line_items=LINES)

    def refund(amount, external_ref, **kwargs):
        return client.refund_payment_request(
            pr["id"],
            amount=Decimal(amount),
            currency="NZD",
            external_ref=external_ref,
            **kwargs,
        )

    first = refund("40.00", "refund-1", line_items=LINES[:1], invoice_ref="CN-1")
    assert first["type"] == "refund"
    assert first["value"] == {"amount": "4000", "currency": "NZD"}
    assert first["externalRef"] == "refund-1"
    assert first["invoiceRef"] == "CN-1"
    assert first["lineItems"][0]["price"] == "4000"
    # Same externalRef and amount: the same refund, not a second one.
    assert refund("40.00", "refund-1") == first
    second = refund("35.00", "refund-2")
    assert second["shortCode"] != first["shortCode"]  # refunds get their own code

    with pytest.raises(CentrapayForbidden) as info:
        refund("10.00", "refund-1")
    assert info.value.code == "REPEAT_REFERENCE"
    with pytest.raises(CentrapayForbidden) as info:
        refund("25.01", "refund-3")
    assert info.value.code == "INVALID_AMOUNT"
    assert info.value.reason  # free text for humans, e.g. the refundable amount
    refund("25.00", "refund-3")
    with pytest.raises(CentrapayForbidden) as info:
        refund("0.01", "refund-4")
    assert info.value.code == "ALREADY_REFUNDED"

    refunds = [
        a
        for a in client.list_payment_request_activities(pr["id"])
        if a["type"] == "refund"
    ]
    assert sorted(a["value"]["amount"] for a in refunds) == ["2500", "3500", "4000"]
    assert client.get_payment_request(pr["id"])["status"] == "paid"


def test_pay_through_the_client_is_idempotent(client, sandbox, control):
    pr = create(client, sandbox, "12.00")
    activity = client.pay_payment_request(
        pr["id"], asset_type="centrapay.nzd.test", idempotency_key="pay-1"
    )
    assert activity["type"] == "payment"
    again = client.pay_payment_request(
        pr["id"], asset_type="centrapay.nzd.test", idempotency_key="pay-1"
    )
    assert again["id"] == activity["id"]
    assert client.get_payment_request(pr["id"])["status"] == "paid"


# ---------------------------------------------------------------- error codes


def test_wrong_api_key_is_auth_error(sandbox):
    client = CentrapayClient(sandbox.base_url, "not-the-key", sleep=lambda s: None)
    with pytest.raises(CentrapayAuthError) as info:
        client.get_payment_request("anything")
    assert (info.value.http_status, info.value.code) == (401, "Missing authentication")
    assert info.value.attempts == 1


@pytest.mark.parametrize(
    ("fields", "cls", "code"),
    [
        ({"barcode": "1234567"}, CentrapayBadRequest, "CHECKSUM_FAILED"),
        ({"barcode": "4242424242424242"}, CentrapayForbidden, "PATRON_CODE_INVALID"),
        (
            {"redirect_paid_url": "https://shop.example/ok"},
            CentrapayForbidden,
            "REDIRECT_URL_INVALID",
        ),
        ({"currency": "AUD"}, CentrapayForbidden, "NO_AVAILABLE_PAYMENT_OPTIONS"),
        ({"pre_auth": True}, CentrapayForbidden, "NO_AVAILABLE_PAYMENT_OPTIONS"),
        ({"collection_id": "c_1"}, CentrapayForbidden, "TOKEN_COLLECTION_NOT_FOUND"),
    ],
)
def test_create_business_errors(client, sandbox, control, sleeps, fields, cls, code):
    with pytest.raises(cls) as info:
        create(client, sandbox, **fields)
    assert info.value.code == code
    assert info.value.http_status == {CentrapayBadRequest: 400}.get(cls, 403)
    assert not info.value.is_generic if cls is CentrapayForbidden else True
    # A definite answer: neither retried nor looked up.
    assert [c["method"] for c in api_calls(control)] == ["POST"]
    assert sleeps == []


def test_create_with_unknown_config_is_generic_forbidden(client, sandbox):
    with pytest.raises(CentrapayForbidden) as info:
        client.create_payment_request(
            config_id="mc_000000000000000000000000",
            amount=Decimal("1.00"),
            currency="NZD",
            external_ref=ref(),
        )
    assert info.value.code == "Forbidden"
    assert info.value.is_generic
    assert "not found" in info.value.reason


@pytest.mark.parametrize(
    ("status", "code", "cls"),
    [
        (400, "amount is required", CentrapayBadRequest),
        (400, "LINE_ITEMS_SUM_CHECK_FAILED", CentrapayBadRequest),
        (403, "CONNECTION_NOT_FOUND", CentrapayForbidden),
        (403, "CONNECTION_MERCHANT_MISMATCH", CentrapayForbidden),
        (403, "CONNECTION_CREATED_BY_MISMATCH", CentrapayForbidden),
        (404, "Not Found", CentrapayNotFound),
    ],
)
def test_create_errors_the_sandbox_does_not_model(
    client, sandbox, control, status, code, cls
):
    inject(control, "/api/payment-requests", status, code)
    with pytest.raises(cls) as info:
        create(client, sandbox)
    assert (info.value.http_status, info.value.code) == (status, code)


def test_line_item_sum_is_checked_before_sending(client, sandbox, control):
    # The API would answer 400 LINE_ITEMS_SUM_CHECK_FAILED; we never send it.
    with pytest.raises(CentrapayValidationError) as info:
        create(client, sandbox, "99.99", line_items=LINES)
    assert info.value.code == "line_items_sum"
    assert api_calls(control) == []


def test_partial_payment_line_items_may_sum_to_basket(client, sandbox, control):
    pr = create(
        client,
        sandbox,
        "60.00",
        partial_allowed=True,
        basket_amount=Decimal("100.00"),
        line_items=LINES,
    )
    assert (pr["basketAmount"], pr["partialAllowed"]) == ("10000", True)


def test_get_errors(client, sandbox, control):
    with pytest.raises(CentrapayForbidden) as info:
        client.get_payment_request("NoSuchPaymentRequest00")
    assert info.value.is_generic
    with pytest.raises(CentrapayBadRequest) as info:
        client.get_payment_request_by_short_code("CP-AAA-AAA")
    assert info.value.code == "CHECKSUM_FAILED"
    with pytest.raises(CentrapayForbidden) as info:
        client.get_payment_request_by_short_code(shortcode.generate())
    assert info.value.is_generic
    # doc §3.4: the OpenAPI says 404 for a missing resource; handled the same.
    inject(control, "/api/payment-requests/", 404, "NOT FOUND", method="GET")
    with pytest.raises(CentrapayNotFound):
        client.get_payment_request("X")
    with pytest.raises(CentrapayForbidden) as info:
        client.list_payment_requests_by_external_ref("r", "wrong-account")
    assert info.value.is_generic


@pytest.mark.parametrize(
    "code",
    [
        "REPEAT_REFERENCE",
        "INACTIVE_ASSET",
        "REFUND_NOT_SUPPORTED",
        "PRE_AUTH_ALREADY_CONFIRMED",
    ],
)
def test_void_errors_the_sandbox_does_not_model(client, sandbox, control, code):
    pr = paid(client, sandbox, control)
    inject(control, f"/api/payment-requests/{pr['id']}/void", 403, code)
    with pytest.raises(CentrapayForbidden) as info:
        client.void_payment_request(pr["id"])
    assert info.value.code == code
    assert info.value.attempts == 1


def test_refund_errors(client, sandbox, control):
    def refund(pr_id, external_ref="r", **kwargs):
        return client.refund_payment_request(
            pr_id,
            amount=Decimal("1.00"),
            currency="NZD",
            external_ref=external_ref,
            **kwargs,
        )

    with pytest.raises(CentrapayForbidden) as info:
        refund(create(client, sandbox)["id"])
    assert info.value.code == "NOT_PAID"
    pr = paid(client, sandbox, control)
    with pytest.raises(CentrapayForbidden) as info:
        refund(pr["id"], confirmation_idempotency_key="conf-1")
    assert info.value.code == "CONFIRMATION_NOT_FOUND"
    control.configure(refundWindowSeconds=10)
    control.advance_clock(11)
    with pytest.raises(CentrapayForbidden) as info:
        refund(pr["id"])
    assert info.value.code == "REFUND_WINDOW_EXCEEDED"


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (400, "LINE_ITEMS_SUM_CHECK_FAILED"),
        (403, "PARTIAL_REFUNDS_NOT_ALLOWED"),
        (403, "INACTIVE_ASSET"),
        (403, "REFUND_NOT_SUPPORTED"),
        (403, "PRE_AUTH_PENDING"),
        (403, "REFUND_DECLINED"),
    ],
)
def test_refund_errors_the_sandbox_does_not_model(
    client, sandbox, control, status, code
):
    pr = paid(client, sandbox, control)
    inject(control, f"/api/payment-requests/{pr['id']}/refund", status, code)
    with pytest.raises(CentrapayAPIError) as info:
        client.refund_payment_request(
            pr["id"], amount=Decimal("1.00"), currency="NZD", external_ref="r1"
        )
    assert (info.value.http_status, info.value.code) == (status, code)


def test_pay_errors(client, sandbox, control):
    def pay(pr_id, asset_type="centrapay.nzd.test", **kwargs):
        return client.pay_payment_request(
            pr_id, asset_type=asset_type, idempotency_key=uuid.uuid4().hex, **kwargs
        )

    def code_of(call):
        with pytest.raises(CentrapayForbidden) as info:
            call()
        return info.value.code

    pr = create(client, sandbox)
    assert code_of(lambda: pay(pr["id"], "farmlands.nzd.test")) == "INVALID_ASSET_TYPE"
    assert code_of(lambda: pay(pr["id"], amount=100)) == "INSUFFICIENT_ASSET_VALUE"
    assert code_of(lambda: pay(pr["id"], amount=100, mode="partial-payment")) == (
        "PAYMENT_DECLINED"
    )
    pay(pr["id"])
    assert code_of(lambda: pay(pr["id"])) == "REQUEST_PAID"
    cancelled = create(client, sandbox)
    client.void_payment_request(cancelled["id"])
    assert code_of(lambda: pay(cancelled["id"])) == "REQUEST_CANCELLED"
    expired = create(client, sandbox)
    control.expire(expired["id"])
    assert code_of(lambda: pay(expired["id"])) == "REQUEST_EXPIRED"


@pytest.mark.parametrize(
    "code",
    [
        "INACTIVE_ASSET",
        "INVALID_MERCHANT_CONFIG",
        "QUOTA_EXCEEDED",
        "ASSET_REDEMPTION_DENIED",
        "PAYMENT_UNCONFIRMED",
    ],
)
def test_pay_errors_the_sandbox_does_not_model(client, sandbox, control, code):
    pr = create(client, sandbox)
    inject(control, f"/api/payment-requests/{pr['id']}/pay", 403, code)
    with pytest.raises(CentrapayForbidden) as info:
        client.pay_payment_request(
            pr["id"], asset_type="centrapay.nzd.test", idempotency_key="k"
        )
    assert info.value.code == code
    assert code in str(info.value)


def test_decode_checks_the_merchant_config(client, sandbox, control):
    """E17: the sandbox knows no codes, but it knows the merchant's configs."""
    with pytest.raises(CentrapayForbidden) as known:
        client.decode_scanned_code("odoo-connection-test", sandbox.merchant_config_id)
    assert known.value.code == "UNKNOWN_CODE"
    with pytest.raises(CentrapayForbidden) as unknown:
        client.decode_scanned_code("odoo-connection-test", "mc_unknown")
    assert unknown.value.code == "MERCHANT_CONFIG_NOT_FOUND"
    # Another merchant's config is unknown to this key.
    other = control.add_account()["merchant_config_id"]
    with pytest.raises(CentrapayForbidden) as foreign:
        client.decode_scanned_code("odoo-connection-test", other)
    assert foreign.value.code == "MERCHANT_CONFIG_NOT_FOUND"
