"""A POS basket as Centrapay line items that sum exactly to the request (pure).

doc §10.1: each line item's ``price`` is what that line costs the customer, in
minor units (unit × qty − discount + tax); ``discount`` is in minor units, tax
excluded; ``tax`` is a rate in %. The prices must sum to ``value.amount``, or
Centrapay answers 400 ``LINE_ITEMS_SUM_CHECK_FAILED``.

Nothing is dropped to make the sum work. Order lines are sent as they are:
global discounts, loyalty rewards and refunds are order lines of their own in
Odoo, so they arrive here as lines with a negative price. What the order lines
do not explain becomes a line of its own:

* ``Rounding``: the order's total minus the sum of its lines (taxes rounded
  over the whole order rather than per line), plus the cash rounding this
  tender applied when it pays the rest of the order;
* ``Paid with other tenders`` (negative): the part of the basket that other
  tenders pay, when this payment is one of several (a split tender).

Decision (doc §10.3): a split tender sends the whole basket plus that negative
line, so the items sum to ``value.amount``. ``partialAllowed`` and
``basketAmount`` are not sent: they would let the patron pay less than the
amount asked, which this version does not handle (CP-EXT-17).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from .money import discount_minor_units

__all__ = [
    "OTHER_TENDERS",
    "OVERPAYMENT",
    "ROUNDING",
    "Basket",
    "BasketLine",
    "line_items",
    "parse_basket",
    "rate_discount",
]

ROUNDING = "Rounding"
OTHER_TENDERS = "Paid with other tenders"
OVERPAYMENT = "Adjustment"

NAME_MAX = 120
SKU_MAX = 64
# Bounds on the numbers of a basket, checked before anything is stored: a
# number from the POS may be any JSON, and Decimal takes "1e999999" as it is.
NUMBER_TEXT_MAX = 40  # characters of a number sent as text
MONEY_MAX = Decimal(10) ** 9  # prices and totals, in major units
QTY_MAX = Decimal(10) ** 6
TAX_RATE_MAX = Decimal(1000)  # %
DISCOUNT_MAX = Decimal(101)  # a line's discount rate, in %, bound excluded
# Digits kept after the point: POS floats carry noise such as 1.1e-16, which is
# rounded away rather than refused; no currency has more than 3 minor digits.
DECIMALS = 12
_QUANTUM = Decimal(1).scaleb(-DECIMALS)
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


@dataclass(frozen=True)
class BasketLine:
    """One order line, in major units of the order's currency.

    ``price``: what the line costs, tax included, after its discount.
    ``untaxed``: the same without tax; ``untaxed_before_discount``: without
    tax and before the line's discount (both optional).
    ``tax``: a tax rate in %, used when ``untaxed`` is not known.
    ``discount``: the line's discount rate in % (0 to 100), as Odoo sets it.
    """

    name: str
    qty: Decimal
    price: Decimal
    sku: str | None = None
    untaxed: Decimal | None = None
    untaxed_before_discount: Decimal | None = None
    tax: Decimal | None = None
    discount: Decimal = Decimal(0)


@dataclass(frozen=True)
class Basket:
    """An order as the POS sees it when one of its payments is requested.

    ``total``: the order's total, tax included, before the cash rounding of a
    tender (None: the sum of the lines). ``other_payments``: what the order's
    other payment lines pay. ``rounding``: the cash rounding this tender would
    apply to pay the rest of the order (0 when it does not round).
    """

    lines: tuple[BasketLine, ...]
    total: Decimal | None = None
    other_payments: Decimal = Decimal(0)
    rounding: Decimal = Decimal(0)


def _text(value: object, limit: int) -> str:
    return _CONTROL.sub("", str(value or "")).strip()[:limit]


def _number(
    value: object, where: str, optional: bool = False, limit: Decimal = MONEY_MAX
) -> Decimal | None:
    """A finite number from JSON (int, float or numeric string), as a Decimal.

    A missing value (None) is None when ``optional``, else 0. Its magnitude is
    below ``limit``; it is rounded to ``DECIMALS`` digits after the point.
    """
    if value is None:
        return None if optional else Decimal(0)
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"{where} is not a number")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{where} is not a finite number")
    if isinstance(value, str) and len(value) > NUMBER_TEXT_MAX:
        raise ValueError(f"{where} is too long")
    if isinstance(value, int) and not -limit < value < limit:
        # Checked before Decimal(): int() of a long text is already bounded by
        # Python, but a 4000-digit int is no price.
        raise ValueError(f"{where} is out of range")
    try:
        # repr() of a float is the shortest string that reads back the same:
        # 0.1 stays 0.1 instead of 0.1000000000000000055...
        number = Decimal(repr(value) if isinstance(value, float) else value)
    except ArithmeticError:
        raise ValueError(f"{where} is not a number") from None
    if not number.is_finite():
        raise ValueError(f"{where} is not a finite number")
    # The exponent first: any arithmetic, even abs(), overflows on "1e1000000".
    if number.adjusted() > limit.adjusted() or abs(number) >= limit:
        raise ValueError(f"{where} is out of range")
    return number.quantize(_QUANTUM) + 0  # + 0: no "-0"


def _tax_rate(price: Decimal, untaxed: Decimal | None, where: str) -> None:
    """Refuse a line whose prices imply an absurd tax rate (see ``_item``)."""
    if untaxed and abs((price - untaxed) / untaxed * 100) >= TAX_RATE_MAX:
        raise ValueError(f"{where} has a tax rate out of range")


def parse_basket(lines: object, basket: object = None, max_lines: int = 500) -> Basket:
    """The basket from what the POS sent; ValueError when it is malformed.

    ``lines``: a list of ``{name, qty, price, sku?, untaxed?,
    untaxed_before_discount?, tax?, discount?}``; ``basket``: None or ``{total?,
    other_payments?, rounding?}``. Texts lose control characters and are
    bounded.
    """
    if lines is None:
        lines = []
    if not isinstance(lines, list) or len(lines) > max_lines:
        raise ValueError(f"line items must be a list of at most {max_lines} lines")
    parsed = []
    for index, line in enumerate(lines):
        where = f"line {index}"
        if not isinstance(line, Mapping):
            raise ValueError(f"{where} is not an object")
        item = BasketLine(
            name=_text(line.get("name"), NAME_MAX) or "Item",
            qty=_number(line.get("qty"), f"{where} qty", limit=QTY_MAX),
            price=_number(line.get("price"), f"{where} price"),
            sku=_text(line.get("sku"), SKU_MAX) or None,
            untaxed=_number(line.get("untaxed"), f"{where} untaxed", True),
            untaxed_before_discount=_number(
                line.get("untaxed_before_discount"),
                f"{where} untaxed_before_discount",
                True,
            ),
            tax=_number(line.get("tax"), f"{where} tax", True, limit=TAX_RATE_MAX),
            discount=_number(
                line.get("discount"), f"{where} discount", limit=DISCOUNT_MAX
            ),
        )
        if not 0 <= item.discount <= 100:
            raise ValueError(f"{where} discount is not between 0 and 100")
        _tax_rate(item.price, item.untaxed, where)
        parsed.append(item)
    if basket is None:
        basket = {}
    if not isinstance(basket, Mapping):
        raise ValueError("the basket is not an object")
    return Basket(
        lines=tuple(parsed),
        total=_number(basket.get("total"), "the basket total", True),
        other_payments=_number(basket.get("other_payments"), "other payments"),
        rounding=_number(basket.get("rounding"), "the rounding"),
    )


def _minor(amount: Decimal, digits: int) -> int:
    """Major units to whole minor units, half away from zero (as Odoo rounds)."""
    return int(amount.scaleb(digits).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def _qty(qty: Decimal) -> str:
    text = format(qty.normalize(), "f")
    return text if text not in ("-0", "") else "0"


def _item(line: BasketLine, digits: int) -> dict:
    item = {
        "name": line.name,
        "qty": _qty(line.qty),
        "price": _minor(line.price, digits),
    }
    if line.sku:
        item["sku"] = line.sku
    if line.untaxed is not None:
        if line.untaxed_before_discount is not None:
            discount = _minor(line.untaxed_before_discount - line.untaxed, digits)
            if discount > 0:
                item["discount"] = discount
        if line.untaxed:
            rate = (line.price - line.untaxed) / line.untaxed * 100
            item["tax"] = format(rate.quantize(Decimal("0.01")), "f")
    elif line.tax is not None:
        item["tax"] = format(line.tax.quantize(Decimal("0.01")), "f")
    return item


def rate_discount(basket: Basket, rate: Decimal | int | str, currency: str) -> int:
    """What ``rate`` % off every line of ``basket`` takes, in minor units.

    Per line, on its price without tax before its discount (the ``discount``
    of doc §10.1 is tax excluded), rounded half up per line as Odoo rounds a
    discounted price (``money.discount_minor_units``).
    """
    total = 0
    for line in basket.lines:
        base = line.untaxed_before_discount
        if base is None:
            base = line.untaxed if line.untaxed is not None else line.price
        total += discount_minor_units(base, rate, currency)
    return total


def line_items(basket: Basket, amount: Decimal | int | str, digits: int) -> list[dict]:
    """Centrapay line items for a payment of ``amount`` (major units).

    Prices and discounts are whole minor units (ints); the prices always sum
    to ``amount`` in minor units. An empty basket gives no line items.
    """
    if not basket.lines:
        return []
    requested = _minor(Decimal(amount), digits)
    items = [_item(line, digits) for line in basket.lines]
    lines_sum = sum(item["price"] for item in items)
    total = lines_sum if basket.total is None else _minor(basket.total, digits)
    rounding = total - lines_sum
    # The tender's cash rounding counts only when it pays the rest of the order.
    rest = total - _minor(basket.other_payments, digits)
    cash_rounding = _minor(basket.rounding, digits)
    if cash_rounding and requested == rest + cash_rounding:
        rounding += cash_rounding
    if rounding:
        items.append({"name": ROUNDING, "qty": "1", "price": rounding})
    gap = requested - (lines_sum + rounding)
    if gap:
        name = OTHER_TENDERS if gap < 0 else OVERPAYMENT
        items.append({"name": name, "qty": "1", "price": gap})
    for item in items:
        item["price"] = str(item["price"])
        if "discount" in item:
            item["discount"] = str(item["discount"])
    return items
