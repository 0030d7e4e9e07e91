"""The POS basket as Centrapay line items (centrapay/line_items.py, doc §10.1)."""

import random
from decimal import Decimal

import pytest

from centrapay.client import CentrapayClient
from centrapay.line_items import (
    OTHER_TENDERS,
    OVERPAYMENT,
    ROUNDING,
    line_items,
    parse_basket,
    rate_discount,
)


def basket(lines, **order):
    return parse_basket(lines, order or None)


def prices(items):
    return [int(item["price"]) for item in items]


def line(name, price, qty=1, **extra):
    return {"name": name, "qty": qty, "price": price, **extra}


def test_a_line_costs_unit_times_qty_less_discount_plus_tax():
    # 3 x 10.00, 10 % off, 15 % GST on top: 27.00 + 4.05 = 31.05.
    items = line_items(
        basket(
            [
                line(
                    "Desk Pad",
                    31.05,
                    qty=3,
                    sku="DP-1",
                    untaxed=27.0,
                    untaxed_before_discount=30.0,
                )
            ]
        ),
        Decimal("31.05"),
        2,
    )
    assert items == [
        {
            "name": "Desk Pad",
            "qty": "3",
            "price": "3105",
            "sku": "DP-1",
            "discount": "300",
            "tax": "15.00",
        }
    ]


def test_several_taxes_give_the_line_its_combined_rate():
    # 15 % GST and a 2 % levy on 100.00.
    items = line_items(
        basket([line("Wine", 117.0, untaxed=100.0, untaxed_before_discount=100.0)]),
        "117.00",
        2,
    )
    assert items[0]["price"] == "11700"
    assert items[0]["tax"] == "17.00"
    assert "discount" not in items[0]


def test_a_global_discount_and_a_reward_are_their_own_negative_lines():
    lines = [
        line("Desk Pad", 23.0, qty=2, untaxed=20.0, untaxed_before_discount=20.0),
        line("Monitor Stand", 11.5, untaxed=10.0, untaxed_before_discount=10.0),
        # pos_discount's global discount and a loyalty reward are order lines.
        line("Discount 10%", -3.45, untaxed=-3.0, untaxed_before_discount=-3.0),
        line("Free coffee", -4.6, untaxed=-4.0, untaxed_before_discount=-4.0),
    ]
    items = line_items(basket(lines, total=26.45), "26.45", 2)
    assert [i["name"] for i in items] == [
        "Desk Pad",
        "Monitor Stand",
        "Discount 10%",
        "Free coffee",
    ]
    assert prices(items) == [2300, 1150, -345, -460]
    assert items[2]["tax"] == "15.00"
    assert sum(prices(items)) == 2645


def test_taxes_rounded_over_the_order_become_a_rounding_line():
    # Three lines of 0.333 tax each, rounded per line to 0.33; the order's
    # tax, rounded once, is 1.00: the order costs a cent more than its lines.
    lines = [line(f"Item {n}", 2.55, untaxed=2.22) for n in range(3)]
    items = line_items(basket(lines, total=7.66), "7.66", 2)
    assert items[-1] == {"name": ROUNDING, "qty": "1", "price": "1"}
    assert sum(prices(items)) == 766


def test_cash_rounding_of_this_tender_is_a_rounding_line():
    lines = [line("Tea", 4.13), line("Cake", 6.99)]
    # The order costs 11.12; paid in full with cash rounding to 0.10 (half up).
    items = line_items(basket(lines, total=11.12, rounding=-0.02), "11.10", 2)
    assert items[-1] == {"name": ROUNDING, "qty": "1", "price": "-2"}
    assert sum(prices(items)) == 1110


def test_cash_rounding_does_not_count_when_the_tender_pays_part_of_the_order():
    lines = [line("Tea", 4.13), line("Cake", 6.99)]
    items = line_items(basket(lines, total=11.12, rounding=-0.02), "5.00", 2)
    assert [i["name"] for i in items] == ["Tea", "Cake", OTHER_TENDERS]
    assert sum(prices(items)) == 500


def test_a_split_tender_sends_the_basket_less_what_other_tenders_pay():
    lines = [line("Desk Pad", 30.0), line("Monitor Stand", 20.0)]
    # 20.00 paid in cash already, Centrapay pays the remaining 30.00.
    items = line_items(basket(lines, total=50.0, other_payments=20.0), "30.00", 2)
    assert items[-1] == {"name": OTHER_TENDERS, "qty": "1", "price": "-2000"}
    assert sum(prices(items)) == 3000
    # Centrapay first, for part: the rest is left to tenders still to come.
    items = line_items(basket(lines, total=50.0), "12.34", 2)
    assert items[-1]["price"] == "-3766"


def test_asking_more_than_the_basket_is_shown_as_an_adjustment():
    items = line_items(basket([line("Tea", 4.0)], total=4.0), "5.00", 2)
    assert items[-1] == {"name": OVERPAYMENT, "qty": "1", "price": "100"}


def test_lines_without_order_data_still_sum_to_the_amount():
    items = line_items(basket([line("Tea", 4.0, tax=15)]), "3.00", 2)
    assert items[0]["tax"] == "15.00"
    assert sum(prices(items)) == 300


def test_no_lines_no_items():
    assert line_items(basket([]), "3.00", 2) == []


def test_quantities_and_other_currencies():
    items = line_items(
        basket([line("Cheese", 12.345, qty=1.25), line("Bag", 0.0, qty=-1)]),
        "12.345",
        3,
    )
    assert items[0]["qty"] == "1.25"
    assert items[0]["price"] == "12345"
    assert items[1]["qty"] == "-1"
    assert items[1]["price"] == "0"


def test_float_prices_convert_exactly():
    # 0.1 + 0.2 in floats is 0.30000000000000004: each price converts alone.
    items = line_items(basket([line("A", 0.1), line("B", 0.2)], total=0.3), "0.3", 2)
    assert prices(items) == [10, 20]


@pytest.mark.parametrize("seed", range(25))
def test_items_always_sum_to_the_amount(seed):
    rng = random.Random(seed)
    lines = []
    for n in range(rng.randint(1, 12)):
        untaxed = round(rng.uniform(-20, 200), 2)
        price = round(untaxed * rng.choice([1, 1.15, 1.17, 1.125]), 2)
        lines.append(line(f"L{n}", price, qty=rng.randint(1, 5), untaxed=untaxed))
    drift = rng.choice([0, 0.01, -0.01])  # taxes rounded over the whole order
    total = round(sum(item["price"] for item in lines) + drift, 2)
    others = rng.choice([0, round(rng.uniform(0, abs(total)), 2)])
    amount = Decimal(str(round(abs(total - others) or 1, 2)))
    items = line_items(
        basket(lines, total=total, other_payments=others, rounding=0.02), amount, 2
    )
    assert sum(prices(items)) == int(amount * 100)
    # Every order line is there, in order.
    assert [i["name"] for i in items[: len(lines)]] == [x["name"] for x in lines]


def test_the_client_accepts_the_items():
    lines = [
        line("Desk Pad", 31.05, qty=3, untaxed=27.0, untaxed_before_discount=30.0),
        line("Discount", -3.1),
    ]
    items = line_items(basket(lines, total=27.95, other_payments=7.95), "20.00", 2)
    client = CentrapayClient("http://127.0.0.1:9", "key")
    body = client._create_body(
        config_id="mc_1",
        amount=Decimal("20.00"),
        currency="NZD",
        external_ref="ref",
        terminal_id=None,
        device_id=None,
        operator_id=None,
        line_items=items,
        expiry_seconds=None,
        optional_fields={},
    )
    assert sum(int(i["price"]) for i in body["lineItems"]) == 2000


def test_the_sandbox_accepts_the_items(api):
    lines = [
        line("Desk Pad", 31.05, qty=3, untaxed=27.0, untaxed_before_discount=30.0),
        line("Global discount", -3.1, untaxed=-2.7),
    ]
    items = line_items(basket(lines, total=27.96, rounding=0.04), "28.00", 2)
    pr = api.create(2800, lineItems=items)
    assert [i["name"] for i in pr["lineItems"]] == [
        "Desk Pad",
        "Global discount",
        ROUNDING,
    ]


def test_texts_are_cleaned_and_bounded():
    parsed = parse_basket(
        [{"name": "Tea\x07\x1b" + "x" * 200, "qty": 1, "price": 2, "sku": " \x00 "}]
    )
    assert parsed.lines[0].name == "Tea" + "x" * 117
    assert parsed.lines[0].sku is None
    assert parse_basket([{"price": 1}]).lines[0].name == "Item"


@pytest.mark.parametrize(
    "lines, order",
    [
        ("x", None),
        (["x"], None),
        ([{"price": "abc"}], None),
        ([{"price": float("nan")}], None),
        ([{"price": "Infinity"}], None),
        ([{"price": True}], None),
        ([{"price": 1, "qty": [1]}], None),
        ([{"price": 1, "untaxed": "x"}], None),
        ([{"price": 1}] * 501, None),
        ([], "x"),
        ([], {"total": "x"}),
        ([], {"other_payments": {}}),
    ],
)
def test_malformed_input_is_refused(lines, order):
    with pytest.raises(ValueError):
        parse_basket(lines, order)


@pytest.mark.parametrize(
    "lines, order",
    [
        ([{"price": 1, "qty": "1e1000000"}], None),
        ([{"price": 1, "qty": "1e999998"}], None),
        ([{"price": "1e30"}], None),
        ([{"price": 10**9}], None),
        ([{"price": -1e9}], None),
        ([{"price": 1, "qty": 10**6}], None),
        ([{"price": 1, "untaxed": "1e-7"}], None),
        ([{"price": "1" * 41}], None),
        ([{"price": "0." + "1" * 39}], None),
        ([{"price": 1, "tax": "1e4"}], None),
        ([{"price": 1000, "untaxed": 0.001}], None),
        ([{"price": 1}], {"total": "-1e999999"}),
        ([{"price": 1}], {"other_payments": 1e300}),
        ([{"price": 1}], {"rounding": 10**400}),
    ],
)
def test_numbers_out_of_bounds_are_refused(lines, order):
    with pytest.raises(ValueError):
        parse_basket(lines, order)


def test_huge_quantities_on_every_line_are_refused_before_any_text_is_built():
    with pytest.raises(ValueError, match="line 0 qty is out of range"):
        parse_basket([{"price": 1, "qty": 1e308}] * 500)
    with pytest.raises(ValueError, match="line 0 qty is out of range"):
        parse_basket([{"price": 1, "qty": "1e999998"}] * 500)


def test_numbers_within_bounds_and_float_noise_are_taken():
    parsed = basket(
        [line("Big", 999_999_999.99, qty="999999.999", untaxed=869_565_217.38)],
        total=999_999_999.99,
        rounding=1.1102230246251565e-16,
        other_payments="-0.0",
    )
    assert parsed.lines[0].qty == Decimal("999999.999")
    assert parsed.rounding == 0
    assert str(parsed.other_payments) == "0E-12"
    items = line_items(parsed, "999999999.99", 2)
    assert prices(items) == [99_999_999_999]
    assert items[0]["qty"] == "999999.999"
    assert items[0]["tax"] == "15.00"


def test_a_rate_discount_is_rounded_half_up_per_line():
    """CP-ASSET-3: 5 % off each line's untaxed price, rounded per line."""
    lines = basket(
        [
            line("Seed", "14.38", untaxed="12.50", untaxed_before_discount="12.50"),
            line("Feed", "14.15", untaxed="12.30", untaxed_before_discount="12.30"),
        ]
    )
    # 11.875 and 11.685 are charged 11.88 and 11.69: 62 + 61 cents off.
    assert rate_discount(lines, 5, "NZD") == 123
    assert rate_discount(lines, 0, "NZD") == 0


def test_a_line_keeps_its_discount_rate():
    parsed = basket([line("Seed", "9.50", discount=5), line("Feed", "3")])
    assert [item.discount for item in parsed.lines] == [5, 0]


@pytest.mark.parametrize("discount", [-1, "100.5", 1000, "x", True])
def test_a_discount_rate_outside_0_to_100_is_refused(discount):
    with pytest.raises(ValueError):
        basket([line("Seed", "9.50", discount=discount)])
