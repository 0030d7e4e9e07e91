"""The cashier-facing label of the payment button (CP-CORE-3)."""

import pytest

from centrapay.branding import asset_types_of, cashier_label


@pytest.mark.parametrize(
    "asset_types, label",
    [
        (["farmlands.nzd.main"], "Farmlands"),
        (["farmlands.nzd.test"], "Farmlands"),
        (["farmlands.nzd.main", "Farmlands.NZD.test"], "Farmlands"),
        (["farmlands.nzd.main", "centrapay.nzd.main"], "Centrapay"),
        (["centrapay.nzd.test"], "Centrapay"),
        (["centrapay.nzd.main", "paypal.usd.main"], "Centrapay"),
        # A name that only starts like Farmlands is not Farmlands.
        (["farmlandsx.nzd.main"], "Centrapay"),
        # Not known yet: the default label.
        ([], "Centrapay"),
        (None, "Centrapay"),
        (["", "  "], "Centrapay"),
    ],
)
def test_label(asset_types, label):
    assert cashier_label(asset_types) == label


def test_asset_types_of_a_payment_request_and_a_merchant_config():
    request_options = [
        {"assetType": "farmlands.nzd.test", "amount": "100"},
        {"assetType": "centrapay.nzd.test", "amount": "100"},
    ]
    assert asset_types_of(request_options) == [
        "farmlands.nzd.test",
        "centrapay.nzd.test",
    ]
    config_options = [{"type": "farmlands.nzd.main", "farmlandsMerchantNumber": "D"}]
    assert cashier_label(asset_types_of(config_options)) == "Farmlands"


@pytest.mark.parametrize("options", [None, "x", [1, None, {"assetType": 3}, {}]])
def test_odd_payment_options_have_no_asset_types(options):
    assert asset_types_of(options) == []
