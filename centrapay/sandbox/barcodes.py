"""Codes a cashier can scan in the sandbox (doc §13): Centrapay patron barcodes
and the four Farmlands test cards."""

import hashlib

from .util import BASE58

# doc §13: the 6-digit prefixes of a 16-digit Centrapay patron barcode.
CENTRAPAY_PREFIXES = frozenset(
    {
        "121921", "123000", "282828", "293000", "321000", "321123", "636863",
        "713131", "765432", "777000", "839234", "848484", "888444", "929394",
        "987600", "999000",
    }
)  # fmt: skip
MAX_DIGITS = 16
PATRON_ASSET = "centrapay.nzd.test"
FARMLANDS_ASSET = "farmlands.nzd.test"
PHOTO_ID_SCENARIO = "force-condition-check-photo-id"
TEST_SCENARIOS = (PHOTO_ID_SCENARIO,)
# doc §13 names the cards; doc §15.19: how each refuses, as the cancellation
# reason of its Quick Pay (None: it pays).
FARMLANDS_CARDS = {
    "424242424": None,
    "434343434": "PAYMENT_DECLINED",
    "454545454": "PATRON_CODE_EXPIRED",
    "464646464": "INACTIVE_ASSET",
}
PROVIDERS = {
    "centrapay": {"displayName": "Centrapay", "asset": PATRON_ASSET, "quickPay": False},
    "farmlands": {
        "displayName": "Farmlands Card",
        "asset": FARMLANDS_ASSET,
        "quickPay": True,
    },
}


def is_digits(code):
    return isinstance(code, str) and code.isascii() and code.isdigit()


def luhn_ok(code):
    """Whether a string of digits passes the Luhn check."""
    total = 0
    for index, digit in enumerate(reversed(code)):
        n = int(digit) * (2 if index % 2 else 1)
        total += n - 9 if n > 9 else n
    return total % 10 == 0


def luhn_digit(body):
    """The check digit that makes ``body + digit`` pass the Luhn check."""
    return next(d for d in "0123456789" if luhn_ok(body + d))


def patron_barcode(number, prefix="999000"):
    """A 16-digit patron barcode: prefix, 9-digit code, Luhn digit (doc §13)."""
    body = f"{prefix}{number:09d}"
    return body + luhn_digit(body)


# Patron codes every sandbox has, so that demos and tours can type them.
PATRON_BARCODE = patron_barcode(123456789)
PHOTO_ID_BARCODE = patron_barcode(100000001)
FIXED_PATRON_CODES = {
    PATRON_BARCODE: None,
    PHOTO_ID_BARCODE: PHOTO_ID_SCENARIO,
}


def is_patron_barcode(code):
    """A well-formed Centrapay patron barcode (prefix, length and Luhn)."""
    return (
        is_digits(code)
        and len(code) == MAX_DIGITS
        and code[:6] in CENTRAPAY_PREFIXES
        and luhn_ok(code)
    )


def stable_id(code, length=22):
    """A base58 id derived from a code, the same in every sandbox."""
    digest = hashlib.sha256(code.encode()).digest()
    return "".join(BASE58[byte % 58] for byte in digest[:length])
