"""Sandbox settlements (E19, doc §6.13) and the client's ``list_settlements``."""

from datetime import datetime, timezone

import pytest
import requests

from centrapay.client import CentrapayClient
from centrapay.errors import CentrapayAuthError, CentrapayForbidden
from centrapay.sandbox import Sandbox

DAY = 86400


def _ts(value):
    when = datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%fZ")
    return when.replace(tzinfo=timezone.utc).timestamp()


def to_morning(control):
    """Move the sandbox clock to 10:00 UTC of the next day; return that time."""
    now = _ts(control.clock()["now"])
    morning = (int(now) // DAY + 1) * DAY + 10 * 3600
    control.advance_clock(morning - now)
    return morning


def settlements(api, sandbox, **params):
    resp = api.get(f"/api/merchants/{sandbox.merchant_id}/settlements", params=params)
    assert resp.status_code == 200, resp.text
    return resp.json()


@pytest.fixture
def client(sandbox):
    session = requests.Session()
    session.trust_env = False  # loopback only
    with CentrapayClient(sandbox.base_url, sandbox.api_key, session=session) as c:
        yield c
    session.close()


def test_a_day_of_payments_and_refunds_is_settled_once_the_day_is_over(
    api, sandbox, control
):
    morning = to_morning(control)
    first = api.paid(1000)
    second = api.paid(500)
    assert api.refund(first["id"], 200, "r-1").status_code == 200
    assert settlements(api, sandbox) == {"items": []}  # the day is not over
    paid = api.pr(first["id"])["paidBy"]["assetTotals"][0]
    payment = next(a for a in api.activities(second["id"]) if a["type"] == "payment")
    midnight = morning - 10 * 3600 + DAY
    control.advance_clock(midnight - morning)
    (settlement,) = settlements(api, sandbox)["items"]
    assert settlement["status"] == "awaiting-confirmation"
    assert settlement["settlementAmount"] == "1300"  # 1000 + 500 - 200
    assert settlement["assetType"] == "centrapay.nzd.test"
    assert settlement["currency"] == "NZD" and settlement["test"] is True
    assert settlement["type"] == "centrapay"
    assert settlement["settlementBankTransferId"]
    assert settlement["settlementBankAccountId"]
    assert "settledAt" not in settlement
    # Each payment names the settlement that covers it (request and activity).
    assert _ts(settlement["createdAt"]) == midnight
    assert paid["settlementDate"] == settlement["createdAt"]
    assert (
        payment["paidBy"]["assetTotals"][0]["settlementDate"]
        == (settlement["createdAt"])
    )
    control.advance_clock(DAY)  # settlementConfirmSeconds: a day by default
    (confirmed,) = settlements(api, sandbox)["items"]
    assert confirmed["status"] == "confirmed"
    assert _ts(confirmed["settledAt"]) == midnight + DAY
    assert confirmed["settledBy"]
    for name in ("id", "settlementBankTransferId", "createdAt", "settlementAmount"):
        assert confirmed[name] == settlement[name]


def test_a_refund_counts_on_its_own_day(api, sandbox, control):
    to_morning(control)
    pr = api.paid(700)
    control.advance_clock(DAY)
    assert api.refund(pr["id"], 700, "next-day").status_code == 200
    control.advance_clock(DAY)
    later, earlier = settlements(api, sandbox)["items"]
    assert earlier["settlementAmount"] == "700"
    assert later["settlementAmount"] == "-700"  # only a refund that day
    assert _ts(later["createdAt"]) - _ts(earlier["createdAt"]) == DAY
    assert earlier["status"] == "confirmed"
    assert later["status"] == "awaiting-confirmation"


def test_confirmation_delay_is_a_setting(api, sandbox, control):
    morning = to_morning(control)
    api.paid(100)
    control.configure(settlementConfirmSeconds=3600)
    midnight = morning - 10 * 3600 + DAY
    control.advance_clock(midnight + 3600 - morning)
    (settlement,) = settlements(api, sandbox)["items"]
    assert settlement["status"] == "confirmed"
    assert _ts(settlement["settledAt"]) == midnight + 3600


def test_settlements_paginate_and_need_the_merchants_key(api, sandbox, control):
    control.seed_settlements(days=3)
    path = f"/api/merchants/{sandbox.merchant_id}/settlements"
    page = settlements(api, sandbox, paginationLimit="2")
    assert len(page["items"]) == 2
    rest = settlements(api, sandbox, paginationLimit="2", pageKey=page["nextPageKey"])
    assert len(rest["items"]) == 1 and "nextPageKey" not in rest
    dates = [s["createdAt"] for s in page["items"] + rest["items"]]
    assert dates == sorted(dates, reverse=True)
    api.assert_error(api.get(path, key=False), 401, "Missing authentication")
    api.assert_error(
        api.get(path, headers={"X-Api-Key": "wrong"}, key=False),
        401,
        "Missing authentication",
    )
    api.assert_error(api.get("/api/merchants/other/settlements"), 403, "Forbidden")
    api.assert_error(
        api.get(path, params={"pageKey": "nope"}), 400, "pageKey is invalid"
    )


def test_seed_makes_past_days_of_settlements(api, sandbox, control):
    seeded = control.seed_settlements(days=3)
    assert [s["status"] for s in seeded] == [
        "awaiting-confirmation",
        "confirmed",
        "confirmed",
    ]
    # Three sales (plus the day's offset) less an 800 refund, each day.
    assert [int(s["settlementAmount"]) for s in seeded] == [
        1250 + 4800 + 2390 + 3 * back - 800 for back in (1, 2, 3)
    ]
    now = _ts(control.clock()["now"])
    today = int(now) // DAY * DAY
    assert [_ts(s["createdAt"]) for s in seeded] == [
        today,
        today - DAY,
        today - 2 * DAY,
    ]
    # The sales are real: paid requests in the merchant's feed, in the past.
    feed = api.get(
        "/api/payment-activities",
        params={"merchantId": sandbox.merchant_id, "paginationLimit": "100"},
    ).json()["items"]
    assert sum(a["type"] == "payment" for a in feed) == 9
    assert sum(a["type"] == "refund" for a in feed) == 3
    assert all(_ts(a["createdAt"]) < today for a in feed)
    assert control.clock()["offsetSeconds"] == 0  # the clock itself did not move
    with pytest.raises(Exception, match="days must be"):
        control.seed_settlements(days=0)


def test_force_pins_status_and_amount(api, sandbox, control):
    seeded = control.seed_settlements(days=2)
    awaiting, confirmed = seeded
    short = control.force_settlement(confirmed["id"], amount=100)
    assert short["settlementAmount"] == "100" and short["status"] == "confirmed"
    held = control.force_settlement(awaiting["id"], status="awaiting-confirmation")
    control.advance_clock(5 * DAY)
    by_id = {s["id"]: s for s in settlements(api, sandbox)["items"]}
    assert by_id[awaiting["id"]]["status"] == "awaiting-confirmation"
    assert "settledAt" not in by_id[awaiting["id"]]
    assert by_id[confirmed["id"]]["settlementAmount"] == "100"
    assert held["settlementBankTransferId"] == awaiting["settlementBankTransferId"]
    confirmed_now = control.force_settlement(awaiting["id"], status="confirmed")
    assert confirmed_now["settledAt"]
    assert control.settlements() == settlements(api, sandbox)["items"]
    with pytest.raises(Exception, match="403"):
        control.force_settlement("unknown", status="confirmed")
    with pytest.raises(Exception, match="400"):
        control.force_settlement(awaiting["id"], amount="ten")


def test_reset_forgets_settlements_and_restart_keeps_them(tmp_path):
    path = str(tmp_path / "state.json")
    with Sandbox(state_path=path) as sandbox:
        seeded = sandbox.control.seed_settlements(days=1)
    with Sandbox(state_path=path) as sandbox:
        assert sandbox.control.settlements() == seeded
        sandbox.control.reset()
        assert sandbox.control.settlements() == []


def test_client_lists_settlements_page_by_page(client, sandbox, control):
    control.seed_settlements(days=3)
    first = client.list_settlements(sandbox.merchant_id, limit=2)
    assert len(first.items) == 2 and first.next_page_key
    rest = client.list_settlements(sandbox.merchant_id, page_key=first.next_page_key)
    assert len(rest.items) == 1 and rest.next_page_key is None
    assert {s["status"] for s in first.items + rest.items} == {
        "awaiting-confirmation",
        "confirmed",
    }
    with pytest.raises(CentrapayForbidden):
        client.list_settlements("someone-else")


def test_client_settlements_need_a_valid_key(sandbox):
    session = requests.Session()
    session.trust_env = False
    with CentrapayClient(sandbox.base_url, "not-the-key", session=session) as client:
        with pytest.raises(CentrapayAuthError):
            client.list_settlements(sandbox.merchant_id)
    session.close()


def test_each_account_reads_only_its_own_settlements(api, sandbox, control):
    other = control.add_account("Second shop")
    headers = {"X-Api-Key": other["api_key"]}
    to_morning(control)
    api.paid(1000)
    body = api.create_body(400)
    body["configId"] = other["merchant_config_id"]
    theirs = api.call(
        "POST", "/api/payment-requests", body, key=False, headers=headers
    ).json()
    control.pay(theirs["id"])
    control.advance_clock(DAY)
    (mine,) = settlements(api, sandbox)["items"]
    path = f"/api/merchants/{other['merchant_id']}/settlements"
    (their,) = api.call("GET", path, key=False, headers=headers).json()["items"]
    assert mine["settlementAmount"] == "1000"
    assert their["settlementAmount"] == "400"
    assert mine["settlementBankAccountId"] != their["settlementBankAccountId"]
    api.assert_error(api.get(path), 403, "Forbidden")
    assert len(control.settlements()) == 2
