"""A code scanned or typed at the till, checked before any call (doc §13).

Centrapay patron barcodes have 16 digits (a 6-digit prefix, 9 code digits and
a Luhn check digit); Farmlands cards and other providers' codes are shorter and
carry no Luhn digit (doc §15.19). Which provider a code belongs to is
Centrapay's answer (E17, ``CentrapayClient.decode_scanned_code``).
"""

from __future__ import annotations

from typing import Any

from .errors import CentrapayValidationError

MAX_DIGITS = 16  # doc §13: codes of up to 16 digits must be accepted


def luhn_ok(digits: str) -> bool:
    """Whether a string of digits passes the Luhn check."""
    total = 0
    for index, digit in enumerate(reversed(digits)):
        n = int(digit) * (2 if index % 2 else 1)
        total += n - 9 if n > 9 else n
    return total % 10 == 0


def normalize_scanned_code(code: Any) -> str:
    """The code without spaces or dashes, or :class:`CentrapayValidationError`.

    ``code`` is ``barcode_required``, ``barcode_format`` (not 1 to 16 digits)
    or ``barcode_checksum`` (a 16-digit code failing the Luhn check).
    """
    if not isinstance(code, str) or not code.strip():
        raise CentrapayValidationError(
            "barcode", "barcode_required", "the barcode is empty"
        )
    digits = "".join(code.split()).replace("-", "")
    if not (digits.isascii() and digits.isdigit()) or len(digits) > MAX_DIGITS:
        raise CentrapayValidationError(
            "barcode", "barcode_format", "a barcode is 1 to 16 digits"
        )
    if len(digits) == MAX_DIGITS and not luhn_ok(digits):
        raise CentrapayValidationError(
            "barcode", "barcode_checksum", "the barcode's check digit is wrong"
        )
    return digits
