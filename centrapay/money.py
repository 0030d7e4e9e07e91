"""Exact conversion between major-unit amounts and Centrapay minor-unit strings.

Centrapay ``monetary`` amounts are bignumber strings in the currency's smallest
unit (doc §3.2): ``{"amount": "10000", "currency": "NZD"}`` is NZ$100.00.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from .errors import CentrapayValidationError

# doc §3.2: a Payment Request value is positive and < 100000000 minor units.
MAX_MINOR_UNITS = 100_000_000

# ISO 4217 currencies whose minor unit is not 2.
_MINOR_UNIT_EXCEPTIONS = {
    # 0 decimals
    "BIF": 0, "CLP": 0, "DJF": 0, "GNF": 0, "ISK": 0, "JPY": 0, "KMF": 0,
    "KRW": 0, "PYG": 0, "RWF": 0, "UGX": 0, "UYI": 0, "VND": 0, "VUV": 0,
    "XAF": 0, "XOF": 0, "XPF": 0,
    # 3 decimals
    "BHD": 3, "IQD": 3, "JOD": 3, "KWD": 3, "LYD": 3, "OMR": 3, "TND": 3,
    # 4 decimals
    "CLF": 4, "UYW": 4,
}  # fmt: skip

# Active ISO 4217 currencies with 2 decimals. Funds and precious-metal codes
# without a minor unit (XAU, XDR, XXX…) are deliberately absent.
_TWO_DECIMAL_CODES = """
    AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BMD BND BOB BOV BRL
    BSD BTN BWP BYN BZD CAD CDF CHE CHF CHW CNY COP COU CRC CUC CUP CVE CZK DKK
    DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD GTQ GYD HKD HNL HTG HUF
    IDR ILS INR IRR JMD KES KGS KHR KPW KYD KZT LAK LBP LKR LRD LSL MAD MDL MGA
    MKD MMK MNT MOP MRU MUR MVR MWK MXN MXV MYR MZN NAD NGN NIO NOK NPR NZD PAB
    PEN PGK PHP PKR PLN QAR RON RSD RUB SAR SBD SCR SDG SEK SGD SHP SLE SLL SOS
    SRD SSP STN SVC SYP SZL THB TJS TMT TOP TRY TTD TWD TZS UAH USD USN UYU UZS
    VED VES WST XCD XCG YER ZAR ZMW ZWG ZWL
"""
_TWO_DECIMALS = frozenset(_TWO_DECIMAL_CODES.split())

MINOR_UNITS: Mapping[str, int] = {
    **dict.fromkeys(_TWO_DECIMALS, 2),
    **_MINOR_UNIT_EXCEPTIONS,
}


def minor_unit(currency: str) -> int:
    """Return the ISO 4217 minor unit (number of decimals) of ``currency``."""
    if not isinstance(currency, str) or currency not in MINOR_UNITS:
        raise CentrapayValidationError(
            "currency", "invalid_currency", "currency must be an ISO 4217 code"
        )
    return MINOR_UNITS[currency]


def _to_decimal(amount: Decimal | int | str, field: str) -> Decimal:
    # Floats are rejected outright: 0.1 + 0.2 style errors must never reach
    # a payment amount. bool is an int subclass, so reject it explicitly.
    if isinstance(amount, bool) or not isinstance(amount, Decimal | int | str):
        raise CentrapayValidationError(
            field, "invalid_amount_type", f"{field} must be a Decimal, int or str"
        )
    try:
        value = Decimal(amount.strip() if isinstance(amount, str) else amount)
    except InvalidOperation:
        raise CentrapayValidationError(
            field, "invalid_amount", f"{field} is not a number"
        ) from None
    if not value.is_finite():
        raise CentrapayValidationError(
            field, "invalid_amount", f"{field} must be finite"
        )
    return value


def to_minor_units(
    amount: Decimal | int | str, currency: str, *, field: str = "amount"
) -> str:
    """Convert a major-unit amount to a Centrapay minor-unit string.

    ``to_minor_units(Decimal("100.00"), "NZD") == "10000"``. Raises
    :class:`CentrapayValidationError` for floats, non-numbers, more decimals than
    the currency allows, zero, negative and too-large (≥ 100000000 minor units)
    amounts, and unknown currencies.
    """
    exponent = minor_unit(currency)
    value = _to_decimal(amount, field)
    if value.adjusted() > 20:
        # Checked before scaling so absurd exponents cannot overflow Decimal.
        raise CentrapayValidationError(
            field,
            "amount_too_large",
            f"{field} must be less than {MAX_MINOR_UNITS} minor units",
        )
    minor = value.scaleb(exponent)
    if minor != minor.to_integral_value():
        raise CentrapayValidationError(
            field,
            "amount_precision",
            f"{field} has more than {exponent} decimal places for {currency}",
        )
    minor_int = int(minor)
    if minor_int <= 0:
        raise CentrapayValidationError(
            field, "amount_not_positive", f"{field} must be positive"
        )
    if minor_int >= MAX_MINOR_UNITS:
        raise CentrapayValidationError(
            field,
            "amount_too_large",
            f"{field} must be less than {MAX_MINOR_UNITS} minor units",
        )
    return str(minor_int)


def parse_minor_units(minor: str | int, *, field: str = "amount") -> int:
    """Parse a bignumber minor-unit amount (a string of digits, maybe signed)."""
    if isinstance(minor, bool) or not isinstance(minor, str | int):
        raise CentrapayValidationError(
            field, "invalid_amount_type", f"{field} must be a str or int"
        )
    if isinstance(minor, int):
        return minor
    text = minor.strip()
    digits = text[1:] if text[:1] in "+-" else text
    # str.isdigit() accepts non-ASCII digits such as "²"; require plain ASCII.
    if not (digits.isascii() and digits.isdigit()):
        raise CentrapayValidationError(
            field, "invalid_amount", f"{field} must be an integer in minor units"
        )
    return int(text)


def from_minor_units(minor: str | int, currency: str) -> Decimal:
    """Convert a Centrapay minor-unit amount back to a major-unit Decimal.

    ``from_minor_units("10000", "NZD") == Decimal("100.00")``.
    """
    exponent = minor_unit(currency)
    return Decimal(parse_minor_units(minor)).scaleb(-exponent)


def discount_minor_units(
    amount: Decimal | int | str, rate: Decimal | int | str, currency: str
) -> int:
    """What ``rate`` % off a major-unit ``amount`` takes, in minor units.

    As Odoo's line discount does: the amount less its discounted price, each
    rounded half away from zero to the currency's minor unit, so that
    ``discount_minor_units(Decimal("12.50"), 5, "NZD") == 62`` (11.875 is
    charged 11.88).
    """
    exponent = minor_unit(currency)
    value = _to_decimal(amount, "amount")
    if value.adjusted() > 20:
        raise CentrapayValidationError(
            "amount", "amount_too_large", "amount is out of range"
        )
    kept = value * (100 - _to_decimal(rate, "rate")) / 100

    def minor(major: Decimal) -> int:
        return int(major.scaleb(exponent).quantize(Decimal(1), rounding=ROUND_HALF_UP))

    return minor(value) - minor(kept)


def line_items_sum_ok(
    line_items: Iterable[Mapping[str, object]], total: str | int
) -> bool:
    """Return True if the line items' ``price`` values (minor units) sum to ``total``.

    doc §10.1: the prices must equal the Payment Request ``value.amount`` (or
    ``basketAmount`` for partial payments; for a refund, the refund value),
    otherwise the API answers 400 ``LINE_ITEMS_SUM_CHECK_FAILED``.
    """
    expected = parse_minor_units(total, field="total")
    prices = (parse_minor_units(item["price"], field="price") for item in line_items)
    return sum(prices) == expected
