"""Money conversion edge cases (doc §3.2, §10.1). No HTTP."""

from decimal import Decimal

import pytest

from centrapay.errors import CentrapayValidationError
from centrapay.money import (
    MAX_MINOR_UNITS,
    MINOR_UNITS,
    discount_minor_units,
    from_minor_units,
    line_items_sum_ok,
    minor_unit,
    parse_minor_units,
    to_minor_units,
)


@pytest.mark.parametrize(
    ("amount", "currency", "expected"),
    [
        (Decimal("100.00"), "NZD", "10000"),
        (Decimal(100), "NZD", "10000"),
        (Decimal("0.01"), "NZD", "1"),
        (Decimal("12.5"), "AUD", "1250"),
        (Decimal("12.50000"), "USD", "1250"),  # trailing zeros are exact
        (Decimal("999999.99"), "NZD", "99999999"),  # the largest allowed value
        (7, "EUR", "700"),
        ("19.99", "GBP", "1999"),
        (" 19.99 ", "CAD", "1999"),
        (Decimal(500), "JPY", "500"),
        (Decimal("1.234"), "KWD", "1234"),
        (Decimal("0.001"), "BHD", "1"),
        (Decimal("1.2345"), "CLF", "12345"),
        (Decimal("1E+2"), "NZD", "10000"),
    ],
)
def test_to_minor_units(amount, currency, expected):
    assert to_minor_units(amount, currency) == expected


@pytest.mark.parametrize(
    ("minor", "currency", "expected"),
    [
        ("10000", "NZD", Decimal("100.00")),
        ("1", "NZD", Decimal("0.01")),
        (1999, "USD", Decimal("19.99")),
        ("500", "JPY", Decimal(500)),
        ("1234", "KWD", Decimal("1.234")),
        ("-150", "NZD", Decimal("-1.50")),
        ("0", "NZD", Decimal("0.00")),
    ],
)
def test_from_minor_units(minor, currency, expected):
    result = from_minor_units(minor, currency)
    assert result == expected
    assert result.as_tuple().exponent == -minor_unit(currency)


@pytest.mark.parametrize("currency", ["NZD", "JPY", "KWD", "CLF"])
@pytest.mark.parametrize("text", ["1", "99", "1234", "99999999"])
def test_round_trip(text, currency):
    assert to_minor_units(from_minor_units(text, currency), currency) == text


@pytest.mark.parametrize(
    ("amount", "currency", "code"),
    [
        (0.1, "NZD", "invalid_amount_type"),
        (10.0, "NZD", "invalid_amount_type"),
        (True, "NZD", "invalid_amount_type"),
        (None, "NZD", "invalid_amount_type"),
        ([1], "NZD", "invalid_amount_type"),
        ("ten", "NZD", "invalid_amount"),
        ("", "NZD", "invalid_amount"),
        (Decimal("NaN"), "NZD", "invalid_amount"),
        (Decimal("Infinity"), "NZD", "invalid_amount"),
        ("sNaN", "NZD", "invalid_amount"),
        (Decimal("1.001"), "NZD", "amount_precision"),
        (Decimal("0.005"), "NZD", "amount_precision"),
        (Decimal("1.5"), "JPY", "amount_precision"),
        (Decimal("1.2345"), "KWD", "amount_precision"),
        (Decimal("1E-999999"), "NZD", "amount_precision"),
        (0, "NZD", "amount_not_positive"),
        (Decimal("0.00"), "NZD", "amount_not_positive"),
        (Decimal("-0"), "NZD", "amount_not_positive"),
        (Decimal("-1.00"), "NZD", "amount_not_positive"),
        ("-5", "NZD", "amount_not_positive"),
        (Decimal("1000000.00"), "NZD", "amount_too_large"),
        (MAX_MINOR_UNITS, "JPY", "amount_too_large"),
        (Decimal("1E+999999"), "NZD", "amount_too_large"),
        (Decimal("1.00"), "nzd", "invalid_currency"),
        (Decimal("1.00"), "NZ", "invalid_currency"),
        (Decimal("1.00"), "ABC", "invalid_currency"),
        (Decimal("1.00"), "XAU", "invalid_currency"),  # no minor unit
        (Decimal("1.00"), None, "invalid_currency"),
    ],
)
def test_to_minor_units_rejects(amount, currency, code):
    with pytest.raises(CentrapayValidationError) as info:
        to_minor_units(amount, currency)
    assert info.value.code == code
    assert info.value.field in ("amount", "currency")


def test_field_name_is_reported():
    with pytest.raises(CentrapayValidationError) as info:
        to_minor_units(Decimal("1.001"), "NZD", field="basket_amount")
    assert info.value.field == "basket_amount"
    assert "basket_amount" in str(info.value)


def test_minor_unit_table():
    assert MINOR_UNITS["NZD"] == 2
    assert {
        c: MINOR_UNITS[c] for c in ("AUD", "USD", "EUR", "GBP", "CAD")
    } == dict.fromkeys(("AUD", "USD", "EUR", "GBP", "CAD"), 2)
    assert MINOR_UNITS["JPY"] == 0
    assert MINOR_UNITS["KRW"] == 0
    assert MINOR_UNITS["KWD"] == 3
    assert MINOR_UNITS["CLF"] == 4
    assert all(len(code) == 3 and code.isupper() for code in MINOR_UNITS)


@pytest.mark.parametrize("bad", ["1.5", "abc", "", "1e3", "²", 1.0, None, True])
def test_parse_minor_units_rejects(bad):
    with pytest.raises(CentrapayValidationError):
        parse_minor_units(bad)


def test_parse_minor_units():
    assert parse_minor_units("0042") == 42
    assert parse_minor_units("-400") == -400
    assert parse_minor_units(7) == 7


def test_line_items_sum_ok():
    items = [
        {"name": "Hard Hat", "qty": "1", "price": "4000", "discount": "400"},
        {"name": "Tool Belt", "qty": "1", "price": 6000},
    ]
    assert line_items_sum_ok(items, "10000")
    assert line_items_sum_ok(items, 10000)
    assert not line_items_sum_ok(items, "9999")
    # A basket-wide discount may be its own negative line (doc §10.1).
    assert line_items_sum_ok(
        [*items, {"name": "Promo", "qty": "1", "price": "-500"}], "9500"
    )
    assert line_items_sum_ok([], "0")


def test_line_items_sum_rejects_fractional_prices():
    with pytest.raises(CentrapayValidationError):
        line_items_sum_ok([{"name": "x", "qty": "1", "price": "10.5"}], "10")


@pytest.mark.parametrize(
    ("amount", "rate", "currency", "expected"),
    [
        (Decimal("12.50"), 5, "NZD", 62),  # 11.875 is charged 11.88
        (Decimal("12.30"), 5, "NZD", 61),  # 11.685 is charged 11.69
        (Decimal("12.20"), 5, "NZD", 61),  # 11.59
        (Decimal("20.00"), 5, "NZD", 100),
        (Decimal("10.00"), "2.5", "NZD", 25),
        (Decimal("10.00"), 0, "NZD", 0),
        (Decimal("10.00"), 100, "NZD", 1000),
        (Decimal("10.004"), 0, "NZD", 0),  # unrounded prices: both rounded
        (Decimal(333), 5, "JPY", 17),  # 316.35 yen is charged 316
        (Decimal("-12.50"), 5, "NZD", -62),  # half away from zero
    ],
)
def test_discount_minor_units_rounds_the_price_half_up(
    amount, rate, currency, expected
):
    assert discount_minor_units(amount, rate, currency) == expected


def test_discount_minor_units_refuses_floats():
    with pytest.raises(CentrapayValidationError):
        discount_minor_units(12.5, 5, "NZD")
