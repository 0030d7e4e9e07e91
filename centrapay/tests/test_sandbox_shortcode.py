"""Sandbox: short-code format and Luhn mod N check symbol."""

import itertools
import re

from centrapay.sandbox import shortcode


def test_generated_codes_validate():
    for _ in range(200):
        code = shortcode.generate()
        assert re.fullmatch(r"CP-[0-9A-Z]{3}-[0-9A-Z]{3}", code)
        assert shortcode.normalize(code) == code
        assert shortcode.normalize(code.lower()) == code


def test_every_single_symbol_change_is_caught():
    code = shortcode.generate()
    symbols = code.replace("CP-", "").replace("-", "")
    for index, replacement in itertools.product(range(6), shortcode.ALPHABET):
        if symbols[index] == replacement:
            continue
        changed = symbols[:index] + replacement + symbols[index + 1 :]
        assert shortcode.normalize(f"CP-{changed[:3]}-{changed[3:]}") is None


def test_known_vector_and_rejections():
    assert shortcode.check_symbol("00000") == "0"
    assert shortcode.normalize("CP-000-000") == "CP-000-000"
    for bad in (
        "",
        "CP-000-00",
        "CP-000-0000",
        "XX-000-000",
        "CP-0I0-000",
        "CP-000-000-03",
    ):
        assert shortcode.normalize(bad) is None
