"""The pure mapping from a Centrapay Payment Request to our status (status.py)."""

from datetime import datetime

import pytest

from centrapay.errors import CentrapayUnknownOutcome
from centrapay.status import REFUNDED_BY_VOID, map_payment_request, refunded_after


def _pr(**fields):
    return {"id": "pr1", "status": "new", "value": {"amount": "100"}, **fields}


@pytest.mark.parametrize("status", ["new", "paid", "cancelled", "expired"])
def test_centrapay_statuses_map_to_ours(status):
    assert map_payment_request(_pr(status=status))["status"] == status


@pytest.mark.parametrize("status", ["draft", "error", "PAID", "", None, 3, "refunded"])
def test_local_and_unknown_statuses_are_refused(status):
    with pytest.raises(CentrapayUnknownOutcome) as caught:
        map_payment_request(_pr(status=status))
    assert caught.value.kind == "malformed"


@pytest.mark.parametrize(
    "paid_by",
    [
        "card",
        ["x"],
        3,
        {"assetTotals": "x"},
        {"assetTotals": [{"type": "a", "total": "2000"}]},
        {"assetTotals": [{"type": "a", "total": ["2000"]}]},
    ],
)
def test_a_paid_by_of_the_wrong_type_is_refused(paid_by):
    with pytest.raises(CentrapayUnknownOutcome):
        map_payment_request(_pr(status="paid", paidBy=paid_by))


def test_not_an_object_is_refused():
    with pytest.raises(CentrapayUnknownOutcome):
        map_payment_request(["status", "paid"])


def test_paid_values():
    mapped = map_payment_request(
        _pr(
            status="paid",
            shortCode="CP-ABC-DEF",
            url="https://app.centrapay.com/pay/pr1",
            expiresAt="2026-11-30T01:02:03.000Z",
            merchantId="m1",
            configId="mc1",
            paidBy={
                "assetTotals": [
                    {"type": "centrapay.nzd.main", "description": "Centrapay NZD"},
                    {"type": "farmlands.nzd.main", "description": "Farmlands"},
                ]
            },
        )
    )
    values = mapped["values"]
    assert values["short_code"] == "CP-ABC-DEF"
    assert values["expires_at"] == datetime(2026, 11, 30, 1, 2, 3)
    assert values["paid_by_description"] == "Centrapay NZD, Farmlands"
    assert values["asset_types"] == "centrapay.nzd.main, farmlands.nzd.main"
    assert values["merchant_id"] == "m1" and values["config_id"] == "mc1"


def test_a_url_that_is_not_http_is_not_taken():
    values = map_payment_request(_pr(url="javascript:alert(1)"))["values"]
    assert "url" not in values


def test_paid_after_our_void_refunded_it_is_cancelled():
    mapped = map_payment_request(_pr(status="paid"), refunded_by_void=True)
    assert mapped["status"] == "cancelled"
    assert mapped["values"]["cancellation_reason"] == REFUNDED_BY_VOID


def test_refunded_after():
    since = datetime(2026, 11, 30, 1, 0, 0)
    acts = [
        {"type": "payment", "createdAt": "2026-11-30T01:00:05Z"},
        {"type": "refund", "createdAt": "2026-11-30T00:59:00Z"},
    ]
    assert not refunded_after(acts, since)
    acts.append({"type": "Refund", "createdAt": "2026-11-30T01:00:06Z"})
    assert refunded_after(acts, since)
    assert not refunded_after(["junk", None], since)


def test_partial_payment_values():
    paid_by = {
        "assetTotals": [
            {"type": "centrapay.nzd.test", "total": {"amount": "3000"}},
            {"type": "external.test", "total": {"amount": 500}},
        ]
    }
    values = map_payment_request(
        _pr(status="paid", remainingAmount="1500", paidBy=paid_by)
    )["values"]
    assert values["remaining_amount"] == 1500
    assert (values["centrapay_amount"], values["external_amount"]) == (3000, 500)
    assert "remaining_amount" not in map_payment_request(_pr())["values"]


def test_conditions_values():
    conditions = [
        {"id": 1, "name": "photo-id-check", "message": "Please check ID",
         "status": "awaiting-merchant"},
        {"id": "2", "name": "x-new", "message": " Ünïcode, verbatim ",
         "status": "awaiting-patron"},
        {"id": "3", "name": "gone", "message": "", "status": "void"},
    ]  # fmt: skip
    values = map_payment_request(_pr(merchantConditions=conditions))["values"]
    assert [c["id"] for c in values["conditions"]] == ["1", "2", "3"]
    assert [c["id"] for c in values["awaiting_merchant"]] == ["1"]
    assert values["awaiting_patron"][0]["message"] == " Ünïcode, verbatim "
    assert map_payment_request(_pr())["values"]["conditions"] == []


@pytest.mark.parametrize(
    "fields",
    [
        {"remainingAmount": "1.5"},
        {"remainingAmount": True},
        {"merchantConditions": {"id": "1"}},
        {"merchantConditions": ["x"]},
        {"merchantConditions": [{"id": "1"}]},
        {"merchantConditions": [{"status": "awaiting-merchant"}]},
        {"status": "paid", "paidBy": {"assetTotals": [{"total": {"amount": "x"}}]}},
    ],
)
def test_malformed_partial_or_condition_fields_are_refused(fields):
    with pytest.raises(CentrapayUnknownOutcome):
        map_payment_request(_pr(**fields))
