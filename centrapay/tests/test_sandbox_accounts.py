"""Sandbox: more merchant accounts, the money trail, call counts, deferred saves."""

import json
import time

from centrapay.sandbox import Sandbox


class Account:
    """The Api helper's calls with another account's key and config."""

    def __init__(self, api, info):
        self.api = api
        self.info = info

    def call(self, method, path, json=None, **kwargs):
        headers = {"X-Api-Key": self.info["api_key"]}
        return self.api.call(
            method, path, json=json, key=False, headers=headers, **kwargs
        )

    def create(self, amount=1000, config_id=None, **fields):
        body = self.api.create_body(amount, **fields)
        body["configId"] = config_id or self.info["merchant_config_id"]
        return self.call("POST", "/api/payment-requests", body)


def test_add_account_gives_its_own_identity(sandbox, control):
    info = control.add_account("Second shop")
    assert info["api_key"] and info["api_key"] != sandbox.api_key
    assert info["merchant_name"] == "Second shop"
    for key in ("merchant_config_id", "merchant_id", "merchant_account_id"):
        assert info[key] != sandbox.info()[key]
    assert info["base_url"] == sandbox.base_url
    listed = control.accounts()
    assert [a["merchant_id"] for a in listed] == [
        sandbox.merchant_id,
        info["merchant_id"],
    ]
    assert all("api_key" not in a for a in listed)  # the control API has no auth
    assert control.add_account()["merchant_name"] == "Centrapay Sandbox Merchant 3"


def test_each_key_creates_and_sees_only_its_own_account(api, sandbox, control):
    other = Account(api, control.add_account())
    resp = other.create(700, externalRef="shop2-1")
    assert resp.status_code == 200, resp.text
    pr = resp.json()
    assert pr["merchantId"] == other.info["merchant_id"]
    assert pr["configId"] == other.info["merchant_config_id"]
    assert pr["createdByAccountId"] == other.info["merchant_account_id"]
    # Another account's config is unknown to a key.
    api.assert_error(other.create(700, sandbox.merchant_config_id), 403, "Forbidden")
    # The first account's key does not see, void or list the second's request.
    by_ref = "/api/payment-requests/external-ref/shop2-1"
    for resp in (
        api.get(f"/api/payment-requests/{pr['id']}"),
        api.void(pr["id"]),
        api.get(f"/api/payment-requests/{pr['id']}/activities"),
        api.get(f"/api/payment-requests/short-code/{pr['shortCode']}"),
        api.get(by_ref, params={"merchantAccountId": pr["createdByAccountId"]}),
    ):
        api.assert_error(resp, 403, "Forbidden")
    assert other.call("GET", f"/api/payment-requests/{pr['id']}").json() == pr
    found = other.call(
        "GET", by_ref, params={"merchantAccountId": pr["createdByAccountId"]}
    )
    assert [item["id"] for item in found.json()["items"]] == [pr["id"]]
    # The patron pays any request; its own account's key voids (refunds) it.
    control.pay(pr["id"])
    void = other.call("POST", f"/api/payment-requests/{pr['id']}/void")
    assert void.json()["type"] == "refund"


def test_feed_holds_only_the_merchants_activities(api, sandbox, control):
    other = Account(api, control.add_account())
    mine = api.paid(500)
    theirs = other.create(600).json()
    control.pay(theirs["id"])

    def feed(account, merchant_id):
        return account.call(
            "GET", "/api/payment-activities", params={"merchantId": merchant_id}
        )

    items = feed(other, other.info["merchant_id"]).json()["items"]
    assert {a["paymentRequestId"] for a in items} == {theirs["id"]}
    assert [a["type"] for a in items] == ["payment", "request"]
    assert {a["merchantAccountId"] for a in items} == {
        other.info["merchant_account_id"]
    }
    own = api.get("/api/payment-activities", params={"merchantId": sandbox.merchant_id})
    assert {a["paymentRequestId"] for a in own.json()["items"]} == {mine["id"]}
    api.assert_error(feed(other, sandbox.merchant_id), 403, "Forbidden")


def test_feed_pages_follow_each_other_newest_first(api, sandbox, control):
    control.configure(pageSize=2)
    for _ in range(3):
        api.paid(100)
    seen, key = [], None
    while True:
        params = {"merchantId": sandbox.merchant_id}
        if key:
            params["pageKey"] = key
        page = api.get("/api/payment-activities", params=params).json()
        assert len(page["items"]) <= 2
        seen += page["items"]
        key = page.get("nextPageKey")
        if not key:
            break
    assert len(seen) == 6
    stamps = [(a["createdAt"], a["activityNumber"]) for a in seen]
    assert len(set(a["id"] for a in seen)) == 6
    assert stamps == sorted(stamps, reverse=True)


def test_rate_limit_is_per_account(api, control):
    other = Account(api, control.add_account())
    control.configure(rateLimit=2)
    for _ in range(2):
        assert api.get("/api/payment-requests/none").status_code == 403
    api.assert_error(api.get("/api/payment-requests/none"), 429, "RATE_LIMIT_EXCEEDED")
    assert other.call("GET", "/api/payment-requests/none").status_code == 403
    stats = control.call_stats()
    assert stats["rateLimited"] == {api.sandbox.merchant_account_id: 1}


def test_webhook_of_another_account(api, control, receiver):
    other = Account(api, control.add_account())
    control.set_webhook(receiver.url)
    pr = other.create(900).json()
    control.pay(pr["id"])
    (note,) = receiver.wait(1)
    body = json.loads(note["body"])
    assert body["accountId"] == other.info["merchant_account_id"]
    assert body["data"]["paymentRequestId"] == pr["id"]


def test_money_trail(api, sandbox, control):
    other = Account(api, control.add_account())
    paid = api.paid(1000)
    refunded = other.create(400).json()
    control.pay(refunded["id"])
    other.call("POST", f"/api/payment-requests/{refunded['id']}/void")
    cancelled = api.create(300)
    api.void(cancelled["id"])
    expired = api.create(200, expirySeconds=30)
    control.advance_clock(31)
    trail = {item["id"]: item for item in control.money_trail()}
    assert set(trail) == {paid["id"], refunded["id"], cancelled["id"], expired["id"]}
    summary = {
        pr_id: (t["status"], t["amount"], t["paid"], t["refunded"])
        for pr_id, t in trail.items()
    }
    assert summary == {
        paid["id"]: ("paid", 1000, 1000, 0),
        refunded["id"]: ("paid", 400, 400, 400),
        cancelled["id"]: ("cancelled", 300, 0, 0),
        expired["id"]: ("expired", 200, 0, 0),  # expired by the listing itself
    }
    assert trail[refunded["id"]]["accountId"] == other.info["merchant_account_id"]
    assert trail[paid["id"]]["accountId"] == sandbox.merchant_account_id
    assert [a[0] for a in trail[refunded["id"]]["activities"]] == [
        "request",
        "payment",
        "refund",
    ]
    assert trail[cancelled["id"]]["cancellationReason"] == "CANCELLED_BY_MERCHANT"


def test_call_stats_count_beyond_the_log(api, control):
    control.add_fault(kind="drop", path="/api/payment-requests/")
    control.add_fault(kind="status", status=503, path="/api/payment-requests/")
    for _ in range(3):
        try:
            api.get("/api/payment-requests/none")
        except Exception:  # noqa: BLE001 (the dropped call)
            pass
    stats = control.call_stats()
    assert stats["total"] == 3
    assert stats["status"] == {"dropped": 1, "503": 1, "403": 1}
    assert stats["fault"] == {"drop": 1, "status": 1, "none": 1}
    assert stats["route"] == {"get": 3}
    control.clear_calls()
    assert control.call_stats()["total"] == 0


def test_accounts_survive_restart_and_reset(tmp_path, api_for):
    state = str(tmp_path / "state.json")
    first = Sandbox(state_path=state).start()
    info = first.add_account("Kept")
    first.stop()
    second = Sandbox(state_path=state).start()
    try:
        second.reset()
        assert [a["merchant_id"] for a in second.control.accounts()][1] == (
            info["merchant_id"]
        )
        other = Account(api_for(second), info)
        assert other.create(100).status_code == 200
    finally:
        second.stop()


def test_deferred_saves(tmp_path, api_for):
    state = tmp_path / "state.json"
    sandbox = Sandbox(state_path=str(state), save_interval=0.3).start()
    try:
        api = api_for(sandbox)
        pr = api.create(100)
        deadline = time.monotonic() + 5
        while pr["id"] not in state.read_text() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert pr["id"] in state.read_text()  # saved by the thread
        control_pr = api.create(200)
    finally:
        sandbox.stop()
    assert control_pr["id"] in state.read_text()  # saved at stop
