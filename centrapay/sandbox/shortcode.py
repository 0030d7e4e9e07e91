"""Short codes ``CP-XXX-XXC`` with a Luhn mod N check character.

doc §15.7: the real alphabet and algorithm are undocumented, so the sandbox
uses its own self-consistent scheme:

* alphabet: Crockford base32 ``0-9 A-Z`` without ``I L O U`` (32 symbols);
* 5 random payload symbols followed by 1 check symbol computed with the
  Luhn mod N algorithm (N = 32), grouped as ``CP-`` + 3 + ``-`` + 3;
* lookups upper-case the code; any code that is not ``CP-XXX-XXX`` over that
  alphabet, or whose check symbol does not validate, is ``CHECKSUM_FAILED``.

Luhn mod N catches every single-symbol typo and most adjacent transpositions,
which is what the docs' "Luhn-style check" is for (OCR/manual entry).
"""

import re
import secrets

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_N = len(ALPHABET)
_PATTERN = re.compile(r"CP-([0-9A-Z]{3})-([0-9A-Z]{3})")


def _luhn_sum(symbols, start_factor):
    factor = start_factor
    total = 0
    for ch in reversed(symbols):
        addend = factor * ALPHABET.index(ch)
        factor = 1 if factor == 2 else 2
        total += addend // _N + addend % _N
    return total


def check_symbol(payload):
    """Return the Luhn mod N check symbol for ``payload``."""
    return ALPHABET[(_N - _luhn_sum(payload, 2) % _N) % _N]


def generate():
    """Return a new random short code, e.g. ``CP-7KD-R2M``."""
    payload = "".join(secrets.choice(ALPHABET) for _ in range(5))
    code = payload + check_symbol(payload)
    return f"CP-{code[:3]}-{code[3:]}"


def normalize(code):
    """Return the canonical form of ``code``, or None if it fails the checksum."""
    code = (code or "").strip().upper()
    match = _PATTERN.fullmatch(code)
    if not match:
        return None
    symbols = match.group(1) + match.group(2)
    if any(ch not in ALPHABET for ch in symbols):
        return None
    if _luhn_sum(symbols, 1) % _N:
        return None
    return code
