"""Sandbox: the barcode flow (doc §6.2 Quick Pay, §6.12 E17 decode, §13).

Checklist: CP-FLOW-4 (16-digit app barcodes, Luhn-valid and invalid),
CP-FLOW-6 (a complete barcode payment), CP-ASSET-3 (decode tells a Farmlands
card by ``provider``), and the four Farmlands test cards.
"""

import pytest

from centrapay.sandbox import barcodes
from centrapay.sandbox.control import SandboxControlError

PAYS, NO_BALANCE, EXPIRED, INACTIVE = "424242424", "434343434", "454545454", "464646464"


def _decode(api, code, config=None):
    body = {
        "code": code,
        "scannedBy": "merchant",
        "merchantConfigId": config or api.sandbox.merchant_config_id,
    }
    return api.post("/api/decode", body)


def test_fixed_patron_barcodes_are_well_formed():
    for code in (barcodes.PATRON_BARCODE, barcodes.PHOTO_ID_BARCODE):
        assert len(code) == 16 and barcodes.is_patron_barcode(code)
    assert not barcodes.luhn_ok("9990001234567895")  # the docs' own example


@pytest.mark.parametrize(
    ("code", "provider", "name"),
    [
        (PAYS, "farmlands", "Farmlands Card"),
        (INACTIVE, "farmlands", "Farmlands Card"),
        (barcodes.PATRON_BARCODE, "centrapay", "Centrapay"),
    ],
)
def test_decode_known_codes(api, code, provider, name):
    resp = _decode(api, code)
    assert resp.status_code == 200, resp.text
    assert resp.json() == {
        "code": code,
        "scannedBy": "merchant",
        "merchantConfigId": api.sandbox.merchant_config_id,
        "provider": provider,
        "displayName": name,
    }


def test_decode_refusals(api):
    bad_luhn = barcodes.PATRON_BARCODE[:-1] + str(
        (int(barcodes.PATRON_BARCODE[-1]) + 1) % 10
    )
    api.assert_error(_decode(api, bad_luhn), 400, "CHECKSUM_FAILED")
    # Luhn-valid, Centrapay prefix, but no such patron code.
    api.assert_error(_decode(api, barcodes.patron_barcode(555)), 403, "UNKNOWN_CODE")
    api.assert_error(_decode(api, "not-a-code"), 403, "UNKNOWN_CODE")
    api.assert_error(_decode(api, "1" * 17), 403, "UNKNOWN_CODE")
    api.assert_error(_decode(api, PAYS, "mc_unknown"), 403, "MERCHANT_CONFIG_NOT_FOUND")


def test_patron_codes_made_by_tests_are_known(api, control):
    code = control.add_patron_code()
    assert barcodes.is_patron_barcode(code["barcode"])
    assert _decode(api, code["barcode"]).json()["provider"] == "centrapay"
    listed = {item["barcode"]: item for item in control.patron_codes()}
    assert code["barcode"] in listed and PAYS in listed
    assert listed[NO_BALANCE]["refusal"] == "PAYMENT_DECLINED"
    control.reset()  # tests' codes are payment data; the fixed ones stay
    api.assert_error(_decode(api, code["barcode"]), 403, "UNKNOWN_CODE")
    assert _decode(api, barcodes.PATRON_BARCODE).status_code == 200


def test_farmlands_quick_pay_first_read_pays(api, sandbox):
    pr = api.create(4200, barcode=PAYS, externalRef="fl-1")
    assert pr["status"] == "new" and pr["barcode"] == PAYS
    assert pr["patronCodeId"]
    assert [o["assetType"] for o in pr["paymentOptions"]] == ["farmlands.nzd.test"]
    # doc §6.2: the first read takes the payment.
    read = api.pr(pr["id"])
    assert read["status"] == "paid" and read["remainingAmount"] == "0"
    assert read["paidBy"]["assetTotals"][0]["type"] == "farmlands.nzd.test"
    payment = [a for a in api.activities(pr["id"]) if a["type"] == "payment"]
    assert len(payment) == 1 and payment[0]["externalPaymentRef"]
    # A later read takes nothing more.
    assert api.pr(pr["id"])["status"] == "paid"
    assert len(api.activities(pr["id"])) == 2


@pytest.mark.parametrize(
    ("card", "reason"),
    [
        (NO_BALANCE, "PAYMENT_DECLINED"),
        (EXPIRED, "PATRON_CODE_EXPIRED"),
        (INACTIVE, "INACTIVE_ASSET"),
    ],
)
def test_farmlands_refusing_cards_cancel_on_first_read(api, card, reason):
    pr = api.create(4200, barcode=card)
    assert pr["status"] == "new"
    read = api.pr(pr["id"])
    assert read["status"] == "cancelled"
    assert read["cancellationReason"] == reason
    types = [a["type"] for a in api.activities(pr["id"])]
    assert types == ["cancellation", "request"]


def test_farmlands_void_before_first_read_cancels(api):
    pr = api.create(4200, barcode=PAYS)
    assert api.void(pr["id"]).json()["type"] == "cancellation"
    assert api.pr(pr["id"])["status"] == "cancelled"


def test_create_barcode_errors(api):
    body = api.create_body(1000, barcode="12345678901234567")
    api.assert_error(
        api.post("/api/payment-requests", body),
        400,
        "barcode must be at most 16 digits",
    )
    body = api.create_body(1000, barcode="4242-4242")
    api.assert_error(
        api.post("/api/payment-requests", body),
        400,
        "barcode must be a string of digits",
    )
    body = api.create_body(1000, barcode=barcodes.patron_barcode(42))
    api.assert_error(
        api.post("/api/payment-requests", body), 403, "PATRON_CODE_INVALID"
    )


def test_app_barcode_waits_for_the_patron(api, control):
    pr = api.create(1500, barcode=barcodes.PATRON_BARCODE, barcodeType="centrapay")
    assert pr["barcodeType"] == "centrapay"
    assert [o["assetType"] for o in pr["paymentOptions"]] == ["centrapay.nzd.test"]
    # Not Quick Pay: reads leave it waiting for the app.
    assert api.pr(pr["id"])["status"] == "new"
    assert api.pr(pr["id"])["status"] == "new"
    approved = control.approve(pr["id"])
    assert approved["status"] == "paid"
    read = api.pr(pr["id"])
    assert read["paidBy"]["assetTotals"][0]["total"]["amount"] == "1500"


def test_approve_only_barcode_requests(api, control):
    pr = api.create(1500)
    with pytest.raises(SandboxControlError) as info:
        control.approve(pr["id"])
    assert info.value.status == 400
    farm = api.create(1500, barcode=PAYS)
    with pytest.raises(SandboxControlError):
        control.approve(farm["id"])
    app = api.create(1500, barcode=barcodes.PATRON_BARCODE)
    api.void(app["id"])
    with pytest.raises(SandboxControlError) as info:
        control.approve(app["id"])
    assert info.value.body["message"] == "REQUEST_CANCELLED"


def test_barcode_flows_survive_a_restart(tmp_path, api_for):
    from centrapay.sandbox import Sandbox

    state = str(tmp_path / "state.json")
    first = Sandbox(state_path=state).start()
    api = api_for(first)
    farm = api.create(4200, barcode=PAYS)
    held = api.create(2500, barcode=barcodes.PHOTO_ID_BARCODE, conditionsEnabled=True)
    api.pr(held["id"])
    first.control.approve(held["id"])
    made = first.control.add_patron_code()
    first.stop()
    second = Sandbox(state_path=state).start()
    try:
        api = api_for(second)
        assert api.pr(farm["id"])["status"] == "paid"  # still its first read
        path = f"/api/payment-requests/{held['id']}/conditions/1/accept"
        assert api.post(path).status_code == 200
        assert api.pr(held["id"])["status"] == "paid"  # the held approval
        assert _decode(api, made["barcode"]).json()["provider"] == "centrapay"
    finally:
        second.stop()


def test_quick_pay_sends_the_paid_notification(api, control, receiver):
    control.set_webhook(receiver.url)
    pr = api.create(4200, barcode=PAYS)
    api.pr(pr["id"])
    receiver.wait(1)
    (note,) = receiver.notifications()
    assert note["type"] == "payment-request:paid"
    assert note["data"]["paymentRequestId"] == pr["id"]
    assert note["data"]["assetType"] == "farmlands.nzd.test"


def test_patron_app_finds_its_request(api, control):
    patron = {"Authorization": "Bearer patron-jwt"}
    path = "/api/me/patron-code-payment-request"
    api.assert_error(api.get(path, key=False, headers=patron), 403, "Forbidden")
    pr = api.create(1500, barcode=barcodes.PATRON_BARCODE)
    api.create(1500, barcode=PAYS)  # a Farmlands card is no patron code
    assert api.get(path, key=False, headers=patron).json()["id"] == pr["id"]
    api.assert_error(api.get(path), 403, "Forbidden")  # a merchant key
    control.approve(pr["id"])
    api.assert_error(api.get(path, key=False, headers=patron), 403, "Forbidden")


def test_farmlands_refund_names_the_merchant_config(api, sandbox):
    pr = api.create(4200, barcode=PAYS)
    api.pr(pr["id"])
    api.assert_error(
        api.refund(pr["id"], 1000, "r1"),
        400,
        "merchantConfigId is required for farmlands.nzd.*",
    )
    api.assert_error(
        api.refund(pr["id"], 1000, "r1", merchantConfigId="mc_other"),
        403,
        "MERCHANT_CONFIG_NOT_FOUND",
    )
    resp = api.refund(pr["id"], 1000, "r1", merchantConfigId=sandbox.merchant_config_id)
    assert resp.status_code == 200, resp.text
    assert resp.json()["assetType"] == "farmlands.nzd.test"
    # A void needs no body: it refunds the rest.
    assert api.void(pr["id"]).json()["value"]["amount"] == "3200"


def test_farmlands_patron_pay_needs_an_external_payment_ref(api, control):
    pr = api.create(4200, barcode=PAYS)
    with pytest.raises(SandboxControlError) as info:
        control.pay(pr["id"], asset_type="farmlands.nzd.test")
    assert info.value.body["message"] == "externalPaymentRef is required"
