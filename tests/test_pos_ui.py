"""What Centrapay receives from the POS's screens, checked at the sandbox.

The terminal and device ids (CP-CORE-11), one merchant config per store
(CP-CORE-9), the "customer not present" flag (CP-EXT-10), line items that always
sum (CP-CORE-12, CP-POS-10), the button's brand (CP-CORE-3, CP-POS-12) and the
pay URL the POS draws its QR code from (CP-CORE-5, CP-FLOW-3; the code itself is
read back in the browser, CentrapayPayTour).
"""

from odoo import Command
from odoo.tests import tagged

from ..centrapay.line_items import OTHER_TENDERS, ROUNDING
from ..models.pos_payment_method import centrapay_mark_b64
from .common import CentrapayCommon, centrapay_method_vals

PIXEL = (
    b"iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGNgYGAAAAAEAAH2FzhVAAAAAEl"
    b"FTkSuQmCC"
)


def prices(items):
    return [int(item["price"]) for item in items]


@tagged("post_install", "-at_install")
class TestCentrapayPosUi(CentrapayCommon):
    def created(self, state):
        """The Payment Request as Centrapay has it."""
        return self.sandbox_client().get_payment_request(state["centrapay_id"])

    # --- Terminal and device ---------------------------------------------------

    def test_the_terminal_is_the_pos_and_the_device_the_till(self):
        state = self.create_request(device_id="till-1")
        created = self.created(state)
        self.assertEqual(created["terminalId"], "Centrapay Test POS")
        self.assertEqual(created["deviceId"], "till-1")
        # The QR screen and the payment method's form show them.
        self.assertEqual(state["terminal_id"], "Centrapay Test POS")
        self.assertEqual(state["device_id"], "till-1")
        self.method.invalidate_recordset()
        self.assertEqual(self.method.centrapay_last_device_id, "till-1")
        self.assertEqual(self.method.centrapay_last_terminal_id, "Centrapay Test POS")

    def test_the_terminal_id_is_bounded_and_printable(self):
        self.pos_config.name = "Front\x07 counter " + "x" * 100
        created = self.created(self.create_request(payment_uuid="long-name"))
        self.assertEqual(created["terminalId"], ("Front counter " + "x" * 100)[:64])

    def test_two_stores_each_create_with_their_own_config(self):
        second_config = self.control.add_merchant_config()
        journal = self.env["account.journal"].create(
            {"name": "Centrapay Store 2", "code": "CP2", "type": "bank"}
        )
        method2 = self.env["pos.payment.method"].create(
            centrapay_method_vals(
                self.sandbox,
                journal,
                name="Centrapay Store 2",
                centrapay_merchant_config_id=second_config,
            )
        )
        pos2 = self.env["pos.config"].create(
            {"name": "Store 2", "payment_method_ids": [Command.set(method2.ids)]}
        )
        pos2.open_ui()
        session2 = pos2.current_session_id
        session2.set_opening_control(0, "")

        first = self.create_request(payment_uuid="store-1")
        second = method2.centrapay_create_request(
            {"amount": 5, "payment_uuid": "store-2", "session_id": session2.id}
        )
        first_config = self.sandbox.merchant_config_id
        self.assertEqual(self.created(first)["configId"], first_config)
        self.assertEqual(self.created(second)["configId"], second_config)
        self.assertEqual(self.created(second)["terminalId"], "Store 2")
        self.assertEqual(self.record(second).merchant_config_id, second_config)
        self.assertNotEqual(second_config, self.sandbox.merchant_config_id)

    # --- Customer not present ---------------------------------------------------

    def test_customer_not_present_is_sent_when_chosen(self):
        absent = self.create_request(payment_uuid="absent", patron_not_present=True)
        self.assertIs(self.created(absent)["patronNotPresent"], True)
        self.assertTrue(self.record(absent).patron_not_present)
        self.assertIs(absent["patron_not_present"], True)
        for uuid, flag in (("present", False), ("odd", "yes"), ("unset", None)):
            with self.subTest(flag=flag):
                extra = {} if flag is None else {"patron_not_present": flag}
                state = self.create_request(payment_uuid=uuid, **extra)
                self.assertNotIn("patronNotPresent", self.created(state))
                self.assertFalse(state["patron_not_present"])

    # --- Line items -------------------------------------------------------------

    def test_discounts_taxes_and_rewards_are_lines_summing_to_the_amount(self):
        state = self.create_request(
            amount=27.6,
            line_items=[
                {
                    "name": "Desk Pad",
                    "qty": 3,
                    "price": 34.5,
                    "untaxed": 30.0,
                    "untaxed_before_discount": 33.33,
                    "sku": "DP",
                },
                {"name": "Global discount", "qty": 1, "price": -4.6, "untaxed": -4.0},
                {"name": "Loyalty reward", "qty": 1, "price": -2.3, "untaxed": -2.0},
            ],
            basket={"total": 27.6, "other_payments": 0},
        )
        items = self.created(state)["lineItems"]
        names = [i["name"] for i in items]
        self.assertEqual(names, ["Desk Pad", "Global discount", "Loyalty reward"])
        self.assertEqual(prices(items), [3450, -460, -230])
        self.assertEqual(items[0]["discount"], "333")
        self.assertEqual(items[0]["tax"], "15.00")
        self.assertEqual(sum(prices(items)), 2760)

    def test_a_split_tender_sends_the_basket_less_the_other_tenders(self):
        state = self.create_request(
            amount=20.0,
            payment_uuid="split",
            line_items=[{"name": "Desk Pad", "qty": 1, "price": 50.0}],
            basket={"total": 50.0, "other_payments": 30.0},
        )
        items = self.created(state)["lineItems"]
        self.assertEqual(items[-1]["name"], OTHER_TENDERS)
        self.assertEqual(prices(items), [5000, -3000])

    def test_cash_rounding_is_a_line_of_its_own(self):
        state = self.create_request(
            amount=11.1,
            line_items=[
                {"name": "Tea", "qty": 1, "price": 4.13},
                {"name": "Cake", "qty": 1, "price": 6.99},
            ],
            basket={"total": 11.12, "rounding": -0.02},
        )
        items = self.created(state)["lineItems"]
        self.assertEqual(items[-1], {"name": ROUNDING, "qty": "1", "price": "-2"})
        self.assertEqual(sum(prices(items)), 1110)

    def test_lines_that_do_not_sum_are_no_longer_dropped(self):
        # What the POS sent before (a split tender without order data).
        state = self.create_request(
            amount=5.0, line_items=[{"name": "Tea", "qty": 2, "price": 8.0}]
        )
        items = self.created(state)["lineItems"]
        self.assertEqual(prices(items), [800, -300])
        self.assertEqual(items[-1]["name"], OTHER_TENDERS)

    def test_malformed_basket_is_refused(self):
        for basket in ("x", {"total": "abc"}, {"rounding": float("nan")}):
            with self.subTest(basket=basket):
                result = self.create_request(
                    payment_uuid="bad-basket",
                    line_items=[{"name": "Tea", "qty": 1, "price": 1}],
                    basket=basket,
                )
                error = {"error": "The POS sent malformed line items."}
                self.assertEqual(result, error)

    # --- The button ---------------------------------------------------------------

    def test_the_button_shows_centrapays_mark(self):
        self.assertTrue(self.method.image, "a Centrapay method gets the mark")
        self.assertEqual(self.method.image[:8], centrapay_mark_b64()[:8])
        self.assertIn("image", self.method._load_pos_data_fields(self.pos_config.id))
        journal = self.env["account.journal"].create(
            {"name": "Other bank", "code": "OBK", "type": "bank"}
        )
        own = self.env["pos.payment.method"].create(
            centrapay_method_vals(self.sandbox, journal, name="Own icon", image=PIXEL)
        )
        self.assertNotEqual(own.image, self.method.image, "a chosen image is kept")
        plain = self.env["pos.payment.method"].create(
            {"name": "Card", "journal_id": journal.id, "payment_method_type": "none"}
        )
        self.assertFalse(plain.image, "other methods keep the generic icon")

    def test_the_label_follows_what_the_merchant_accepts(self):
        fields = self.method._load_pos_data_fields(self.pos_config.id)
        self.assertIn("centrapay_label", fields)
        self.assertEqual(self.method.centrapay_label, "Centrapay")
        # The merchant's config accepts Farmlands only: Centrapay's create
        # answer lists it as the only payment option.
        self.control.add_fault(
            kind="odd_body",
            method="POST",
            path="/api/payment-requests",
            patch={"paymentOptions": [{"assetType": "farmlands.nzd.test"}]},
        )
        self.create_request(payment_uuid="farmlands")
        self.assertEqual(self.method.centrapay_asset_types, "farmlands.nzd.test")
        self.assertEqual(self.method.centrapay_label, "Farmlands")
        loaded = self.method.read(["centrapay_label"])[0]
        self.assertEqual(loaded["centrapay_label"], "Farmlands")
        # Back to the sandbox's own options (Centrapay's test asset).
        self.create_request(payment_uuid="centrapay")
        self.assertEqual(self.method.centrapay_label, "Centrapay")

    # --- The QR code --------------------------------------------------------------

    def test_the_pos_gets_the_url_and_draws_the_qr_code_itself(self):
        state = self.create_request()
        created = self.created(state)
        self.assertEqual(state["url"], created["url"])
        self.assertNotIn("qr", state)
        # The status RPC, which the POS polls, the same.
        status = self.status(state)
        self.assertEqual(status["url"], created["url"])
        self.assertNotIn("qr", status)
        self.assertNotIn("qr_code", self.env["centrapay.payment.request"]._fields)


@tagged("post_install", "-at_install")
class TestCentrapayQrOtherHost(CentrapayCommon):
    """Centrapay answers with a pay URL on another host: the POS gets that one."""

    sandbox_public_url = "https://pay.other-host.example:9443"

    def test_the_url_is_the_one_centrapay_returned(self):
        state = self.create_request()
        self.assertTrue(state["url"].startswith(self.sandbox_public_url + "/pay/"))
        created = self.sandbox_client().get_payment_request(state["centrapay_id"])
        self.assertEqual(created["url"], state["url"])
