"""Sandbox: create, reads, validation, auth, routing, pagination, JWKS."""

import json
import re
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

import pytest

from centrapay.sandbox import shortcode

TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


def _ts(value):
    assert TIMESTAMP.fullmatch(value), value
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%f%z")


def test_create_returns_new_request(api, sandbox):
    resp = api.post(
        "/api/payment-requests",
        api.create_body(
            1234,
            externalRef="order-1",
            terminalId="T1",
            deviceId="D1",
            operatorId="op",
            invoiceRef="INV-1",
            conditionsEnabled=True,
            patronNotPresent=False,
        ),
    )
    assert resp.status_code == 200  # create answers 200, not 201
    pr = resp.json()
    assert pr["status"] == "new"
    assert pr["value"] == {"amount": "1234", "currency": "NZD"}
    assert pr["remainingAmount"] == "1234"
    assert pr["paymentOptions"] == [
        {"assetType": "centrapay.nzd.test", "amount": "1234"}
    ]
    assert pr["url"] == f"{sandbox.base_url}/pay/{pr['id']}"
    assert pr["configId"] == sandbox.merchant_config_id
    assert pr["merchantId"] == sandbox.merchant_id
    assert pr["liveness"] == "test"
    assert pr["expirySeconds"] == 120
    assert pr["merchantConditions"] == []
    assert shortcode.normalize(pr["shortCode"]) == pr["shortCode"]
    for name in ("externalRef", "terminalId", "deviceId", "operatorId", "invoiceRef"):
        assert isinstance(pr[name], str)
    assert pr["conditionsEnabled"] is True
    assert (_ts(pr["expiresAt"]) - _ts(pr["createdAt"])).total_seconds() == 120
    assert pr["updatedAt"] == pr["createdAt"]
    assert api.pr(pr["id"]) == pr


def test_create_accepts_string_or_int_expiry_and_int_amount(api):
    body = api.create_body(500, expirySeconds="85")
    body["value"]["amount"] = 500
    pr = api.post("/api/payment-requests", body).json()
    assert pr["expirySeconds"] == 85
    assert pr["value"]["amount"] == "500"
    assert api.create(expirySeconds=30)["expirySeconds"] == 30


def test_create_with_partial_allowed_and_line_items(api):
    items = [
        {"name": "Hat", "sku": "H1", "qty": "1", "price": "4000", "tax": "15"},
        {"name": "Combo discount", "qty": "1", "price": "-500"},
        {"name": "Belt", "qty": 1, "price": 6500},
    ]
    pr = api.create(3000, partialAllowed=True, basketAmount="10000", lineItems=items)
    assert pr["basketAmount"] == "10000"
    assert pr["partialAllowed"] is True
    assert pr["lineItems"][2]["price"] == "6500"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"configId": None}, "configId is required"),
        ({"value": None}, "value is required"),
        ({"value": {"currency": "NZD"}}, "amount is required"),
        (
            {"value": {"amount": "0", "currency": "NZD"}},
            "value.amount must be positive",
        ),
        (
            {"value": {"amount": "-5", "currency": "NZD"}},
            "value.amount must be positive",
        ),
        (
            {"value": {"amount": "12.50", "currency": "NZD"}},
            "value.amount must be an integer",
        ),
        (
            {"value": {"amount": "100000000", "currency": "NZD"}},
            "value.amount must be less than 100000000",
        ),
        ({"value": {"amount": "100"}}, "currency is required"),
        ({"expirySeconds": 0}, "expirySeconds must be positive"),
        ({"expirySeconds": "soon"}, "expirySeconds must be an integer"),
        (
            {"invoiceRef": "x" * 129},
            "invoiceRef must be less than or equal to 128 characters",
        ),
        (
            {"partialAllowed": True},
            "basketAmount is required when partialAllowed is true",
        ),
        ({"partialAllowed": "yes"}, "partialAllowed must be a boolean"),
        ({"externalRef": 42}, "externalRef must be a string"),
        (
            {"lineItems": [{"name": "A", "qty": "1", "price": "999"}]},
            "LINE_ITEMS_SUM_CHECK_FAILED",
        ),
        ({"lineItems": [{"name": "A", "qty": "1"}]}, "lineItems[0].price is required"),
        ({"barcode": "9990001234567895"}, "CHECKSUM_FAILED"),  # docs example: not Luhn
    ],
)
def test_create_validation_errors(api, change, message):
    body = api.create_body(1000)
    for key, value in change.items():
        if value is None:
            del body[key]
        else:
            body[key] = value
    api.assert_error(api.post("/api/payment-requests", body), 400, message)


def test_create_line_items_sum_against_basket_when_partial(api):
    items = [{"name": "A", "qty": "1", "price": "1500"}]
    body = api.create_body(
        1000, partialAllowed=True, basketAmount="2000", lineItems=items
    )
    api.assert_error(
        api.post("/api/payment-requests", body), 400, "LINE_ITEMS_SUM_CHECK_FAILED"
    )


def test_create_business_rule_errors(api):
    body = api.create_body(1000)
    body["configId"] = "mc_000000000000000000000000"
    api.assert_error(api.post("/api/payment-requests", body), 403, "Forbidden")
    body = api.create_body(1000)
    body["value"]["currency"] = "USD"
    api.assert_error(
        api.post("/api/payment-requests", body), 403, "NO_AVAILABLE_PAYMENT_OPTIONS"
    )
    body = api.create_body(1000, barcode="79927398713")  # Luhn-valid
    api.assert_error(
        api.post("/api/payment-requests", body), 403, "PATRON_CODE_INVALID"
    )
    body = api.create_body(1000, redirectPaidUrl="https://example.invalid/paid")
    api.assert_error(
        api.post("/api/payment-requests", body), 403, "REDIRECT_URL_INVALID"
    )


def test_create_rejects_malformed_json(api, sandbox):
    resp = api.session.post(
        sandbox.base_url + "/api/payment-requests",
        data=b"{not json",
        headers={"X-Api-Key": sandbox.api_key, "Content-Type": "application/json"},
    )
    api.assert_error(resp, 400, "Invalid JSON body")


def test_auth_is_required(api, sandbox):
    for resp in (
        api.post("/api/payment-requests", api.create_body(), key=False),
        api.post(
            "/api/payment-requests",
            api.create_body(),
            key=False,
            headers={"X-Api-Key": "wrong"},
        ),
        api.get("/api/payment-requests/abc", key=False),
    ):
        assert resp.status_code == 401
        assert resp.json() == {
            "statusCode": 401,
            "error": "Unauthorized",
            "message": "Missing authentication",
        }


def test_unknown_route_or_method_is_404(api):
    api.assert_error(api.get("/api/nope"), 404, "Not Found")
    api.assert_error(api.call("DELETE", "/api/payment-requests/abc"), 404, "Not Found")
    api.assert_error(api.post("/api/payment-requests/abc/cancel"), 404, "Not Found")


def test_unknown_payment_request_is_forbidden(api):
    body = {"value": {"amount": "1", "currency": "NZD"}, "externalRef": "r"}
    for resp in (
        api.get("/api/payment-requests/doesNotExist"),
        api.get("/api/payment-requests/doesNotExist/activities"),
        api.get("/api/payment-requests/doesNotExist/summary", key=False),
        api.post("/api/payment-requests/doesNotExist/void"),
        api.post("/api/payment-requests/doesNotExist/refund", body),
        api.post(
            "/api/payment-requests/doesNotExist/pay",
            {"assetType": "centrapay.nzd.test", "idempotencyKey": "k"},
        ),
    ):
        api.assert_error(resp, 403, "Forbidden")


def test_get_by_short_code(api):
    older = api.create(100)
    pr = api.create(200)
    resp = api.get(f"/api/payment-requests/short-code/{pr['shortCode']}")
    assert resp.status_code == 200
    assert resp.json()["id"] == pr["id"]
    lower = api.get(f"/api/payment-requests/short-code/{older['shortCode'].lower()}")
    assert lower.json()["id"] == older["id"]


def test_get_by_short_code_checksum(api):
    pr = api.create()
    code = pr["shortCode"]
    last = code[-1]
    wrong = code[:-1] + ("0" if last != "0" else "1")
    api.assert_error(
        api.get(f"/api/payment-requests/short-code/{wrong}"), 400, "CHECKSUM_FAILED"
    )
    api.assert_error(
        api.get("/api/payment-requests/short-code/CP-12"), 400, "CHECKSUM_FAILED"
    )
    payload = "ZZZZZ"
    unknown = f"CP-ZZZ-ZZ{shortcode.check_symbol(payload)}"
    if unknown != code:
        api.assert_error(
            api.get(f"/api/payment-requests/short-code/{unknown}"), 403, "Forbidden"
        )


def test_list_by_external_ref_paginates(api, sandbox):
    ids = [api.create(100 + i, externalRef="order/42")["id"] for i in range(3)]
    api.create(999, externalRef="other")
    path = "/api/payment-requests/external-ref/order%2F42"
    params = {"merchantAccountId": sandbox.merchant_account_id, "paginationLimit": "2"}
    first = api.get(path, params=params).json()
    assert [item["id"] for item in first["items"]] == ids[::-1][:2]  # newest first
    assert "#" in first["nextPageKey"] and "|" in first["nextPageKey"]
    second = api.get(path, params={**params, "pageKey": first["nextPageKey"]}).json()
    assert [item["id"] for item in second["items"]] == ids[:1]
    assert "nextPageKey" not in second
    item = first["items"][0]
    assert set(item) >= {
        "id",
        "url",
        "merchantName",
        "value",
        "createdAt",
        "expiresAt",
        "paymentOptions",
        "status",
        "liveness",
    }


def test_list_by_external_ref_errors(api, sandbox):
    path = "/api/payment-requests/external-ref/x"
    api.assert_error(api.get(path), 400, "merchantAccountId is required")
    api.assert_error(
        api.get(path, params={"merchantAccountId": "someoneElse"}), 403, "Forbidden"
    )
    params = {"merchantAccountId": sandbox.merchant_account_id, "pageKey": "bogus"}
    api.assert_error(api.get(path, params=params), 400, "pageKey is invalid")
    empty = api.get(path, params={"merchantAccountId": sandbox.merchant_account_id})
    assert empty.json() == {"items": []}


def test_summary_only_while_new(api, control):
    pr = api.create(800, partialAllowed=True, basketAmount="1000")
    resp = api.get(f"/api/payment-requests/{pr['id']}/summary", key=False)
    assert resp.status_code == 200
    summary = resp.json()
    assert summary["remainingAmount"] == "800"
    assert summary["basketAmount"] == "1000"
    assert "shortCode" not in summary
    control.pay(pr["id"])
    api.assert_error(
        api.get(f"/api/payment-requests/{pr['id']}/summary", key=False),
        403,
        "REQUEST_PAID",
    )


def test_merchant_activities_paginate_newest_first(api, sandbox, control):
    first = api.create(100)
    control.pay(first["id"])
    second = api.create(200)
    path = "/api/payment-activities"
    params = {"merchantId": sandbox.merchant_id, "paginationLimit": "2"}
    page = api.get(path, params=params).json()
    assert [(a["paymentRequestId"], a["type"]) for a in page["items"]] == [
        (second["id"], "request"),
        (first["id"], "payment"),
    ]
    rest = api.get(path, params={**params, "pageKey": page["nextPageKey"]}).json()
    assert [(a["paymentRequestId"], a["type"]) for a in rest["items"]] == [
        (first["id"], "request")
    ]
    assert "nextPageKey" not in rest
    api.assert_error(api.get(path), 400, "merchantId is required")
    api.assert_error(api.get(path, params={"merchantId": "other"}), 403, "Forbidden")


def test_jwks(api, sandbox):
    resp = api.get("/api/.well-known/jwks.json", key=False)
    assert resp.status_code == 200
    assert re.search(r"max-age=\d+", resp.headers["Cache-Control"])
    (key,) = resp.json()["keys"]
    assert key["kty"] == "EC" and key["crv"] == "P-256"
    assert key["alg"] == "ES256" and key["use"] == "sig"
    assert key["kid"] == sandbox.signer.kid
    assert len(key["x"]) == len(key["y"]) == 43


def test_control_api_is_outside_api_and_needs_no_key(api, sandbox, control):
    info = control.info()
    assert info["merchant_config_id"] == sandbox.merchant_config_id
    assert "api_key" not in info
    api.assert_error(api.get("/api/_sandbox/info", key=False), 404, "Not Found")


def test_chunked_body_and_concurrent_creates(api, sandbox):
    body = json.dumps(api.create_body(321)).encode()
    resp = api.session.post(
        sandbox.base_url + "/api/payment-requests",
        data=iter([body[:7], body[7:]]),  # no length known: chunked encoding
        headers={"X-Api-Key": sandbox.api_key, "Content-Type": "application/json"},
    )
    assert resp.status_code == 200
    assert resp.json()["value"]["amount"] == "321"
    with ThreadPoolExecutor(max_workers=8) as pool:
        prs = list(pool.map(lambda i: api.create(100 + i), range(24)))
    assert len({pr["id"] for pr in prs}) == len({pr["shortCode"] for pr in prs}) == 24


def test_get_accepts_a_patron_jwt(api):
    pr = api.create()
    resp = api.get(
        f"/api/payment-requests/{pr['id']}", key=False, headers={"Authorization": "jwt"}
    )
    assert resp.status_code == 200


def test_a_merchant_with_two_configs(sandbox, api, control):
    """Each store's config creates its own requests (CP-CORE-9)."""
    second = control.add_merchant_config()
    assert second.startswith("mc_") and second != sandbox.merchant_config_id
    assert sandbox.merchant_config_ids == [sandbox.merchant_config_id, second]
    first_pr = api.create(1000)
    second_pr = api.create(1000, configId=second)
    assert first_pr["configId"] == sandbox.merchant_config_id
    assert second_pr["configId"] == second
    assert api.pr(second_pr["id"])["configId"] == second
    control.reset()  # credentials, so the configs, are kept
    assert api.create(1000, configId=second)["configId"] == second
    api.assert_error(
        api.post("/api/payment-requests", json=api.create_body(configId="mc_nope")),
        403,
        "Forbidden",
    )
