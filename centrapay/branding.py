"""What the cashier's payment button says (pure; CP-CORE-3, doc §12).

The option is labelled "Centrapay". It is labelled "Farmlands" only when
Farmlands is the only way the merchant's config accepts payment: every asset
type it offers is a Farmlands one (``farmlands.nzd.main``, ``farmlands.nzd.test``).
"""

from __future__ import annotations

from collections.abc import Iterable

CENTRAPAY = "Centrapay"
FARMLANDS = "Farmlands"


def asset_types_of(payment_options: object) -> list[str]:
    """The asset types of a Payment Request's ``paymentOptions`` (doc §4).

    Each option is ``{"assetType": ...}`` (a Payment Request) or ``{"type":
    ...}`` (a merchant config, E18). Anything else is ignored.
    """
    if not isinstance(payment_options, list):
        return []
    types = []
    for option in payment_options:
        if isinstance(option, dict):
            kind = option.get("assetType") or option.get("type")
            if isinstance(kind, str) and kind.strip():
                types.append(kind.strip())
    return types


def cashier_label(asset_types: Iterable[str] | None) -> str:
    """ "Farmlands" when Farmlands is the only accepted option, else "Centrapay"."""
    types = [t.strip().lower() for t in asset_types or () if t and t.strip()]
    if types and all(t.split(".", 1)[0] == "farmlands" for t in types):
        return FARMLANDS
    return CENTRAPAY
