"""Farmlands-only discounts (CP-ASSET-3, doc §15.24), against the sandbox.

Each test plays a real cashier: the quote of a scanned code, the create, the
engine's read, the order synced as a till syncs it, and a refund.
"""

import re
from uuid import uuid4

from odoo import Command, fields
from odoo.exceptions import ValidationError
from odoo.tests import tagged

from .. import error_messages
from ..centrapay.sandbox import barcodes
from .common import CASHIER, CentrapayCommon, centrapay_method_vals

PAYS = "424242424"  # a Farmlands test card that pays
APP_CODE = barcodes.PATRON_BARCODE  # a Centrapay app code
# The order: two untaxed lines. At 5 %, 20.00 is charged 19.00 and 12.50 is
# charged 11.88 (11.875, rounded half up): 32.50 becomes 30.88, 1.62 off.
LINES = (("Seed", 20.0, 19.0), ("Feed", 12.5, 11.88))
FULL, DISCOUNTED = 32.5, 30.88


class FarmlandsCommon(CentrapayCommon):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.cashier = cls._user("farmlands_cashier", CASHIER)
        cls.products = [
            cls.env["product.product"].create(
                {
                    "name": name,
                    "list_price": price,
                    "taxes_id": [Command.clear()],
                    "available_in_pos": True,
                }
            )
            for name, price, _after in LINES
        ]

    def data(self, amount, payment_uuid, rate=0, code=None, other=0.0):
        """What the POS sends for a payment line of the order, its lines
        discounted by ``rate`` %; ``other``: what other tenders pay."""
        lines = [
            {
                "name": name,
                "qty": 1,
                "price": after if rate else price,
                "untaxed": after if rate else price,
                "untaxed_before_discount": price,
                "discount": rate,
            }
            for name, price, after in LINES
        ]
        data = {
            "amount": amount,
            "payment_uuid": payment_uuid,
            "order_uuid": "order-fl",
            "order_name": "Order FL",
            "session_id": self.session.id,
            "device_id": "till-1",
            "line_items": lines,
            "basket": {
                "total": sum(line["price"] for line in lines),
                "other_payments": other,
                "rounding": 0,
            },
        }
        if code:
            data["barcode"] = code
        return data

    def quote(self, code, **kw):
        self.env.flush_all()
        data = self.data(FULL, "fl-line", code=code, **kw)
        return self.method.with_user(self.cashier).centrapay_farmlands_discount_quote(
            data
        )

    def create_line(self, amount, payment_uuid, **kw):
        self.env.flush_all()
        result = self.method.with_user(self.cashier).centrapay_create_request(
            self.data(amount, payment_uuid, **kw)
        )
        self.env.invalidate_all()
        return result

    def paid_card(self, payment_uuid="fl-line"):
        """A Farmlands card charged for the discounted order, as the POS does."""
        state = self.create_line(DISCOUNTED, payment_uuid, rate=5, code=PAYS)
        self.assertFalse(state.get("error"), state)
        self.engine_pass()
        request = self.record(state)
        self.assertEqual(request.status, "paid")
        return request

    def ui_order(self, payments, rate=0):
        """The order a till syncs (``sync_from_ui``), its lines at ``rate`` %."""
        order_uuid = str(uuid4())
        prices = [(price, after if rate else price) for _n, price, after in LINES]
        total = sum(after for _price, after in prices)
        return {
            "uuid": order_uuid,
            "access_token": str(uuid4()),
            "name": f"Order {order_uuid}",
            "session_id": self.session.id,
            "state": "paid",
            "amount_paid": sum(p["amount"] for p in payments),
            "amount_return": 0,
            "amount_tax": 0,
            "amount_total": total,
            "date_order": fields.Datetime.to_string(fields.Datetime.now()),
            "pricelist_id": self.session.config_id.pricelist_id.id,
            "fiscal_position_id": False,
            "sequence_number": 1,
            "lines": [
                Command.create(
                    {
                        "product_id": product.id,
                        "qty": 1,
                        "price_unit": price,
                        "discount": rate,
                        "price_subtotal": after,
                        "price_subtotal_incl": after,
                        "tax_ids": [],
                        "uuid": str(uuid4()),
                    }
                )
                for product, (price, after) in zip(self.products, prices, strict=True)
            ],
            "payment_ids": [Command.create(p) for p in payments],
        }

    def card_line(self, request, amount=DISCOUNTED):
        return {
            "amount": amount,
            "payment_method_id": self.method.id,
            "centrapay_request_id": request.centrapay_id,
            "uuid": request.pos_payment_uuid,
            "payment_status": "done",
        }

    def cash_line(self, amount=DISCOUNTED):
        return {"amount": amount, "payment_method_id": self.cash_method.id}

    def sync(self, order):
        self.env.flush_all()
        self.env["pos.order"].with_user(self.cashier).sync_from_ui([order])
        return self.env["pos.order"].search([("uuid", "=", order["uuid"])])

    def assert_refused(self, order):
        words = self.env._(error_messages.ERROR_MESSAGES["farmlands.order_refused"])
        start = words.split("%(order)s")[-1].split("%(rate)s")[0]
        with (
            self.assertRaisesRegex(ValidationError, re.escape(start)),
            self.env.cr.savepoint(),
        ):
            self.sync(order)
        self.assertFalse(
            self.env["pos.order"].search([("uuid", "=", order["uuid"])]),
            "nothing saved: the order stays on the POS",
        )


@tagged("post_install", "-at_install")
class TestFarmlandsDiscount(FarmlandsCommon):
    """CP-ASSET-3: the discount goes to a Farmlands card only, decided by the
    server at the scan, at the create and at the order's sync."""

    centrapay_method_settings = {"centrapay_farmlands_discount": 5.0}

    def test_a_farmlands_card_gets_the_discount_and_pays_it(self):
        quote = self.quote(PAYS)
        self.assertEqual(
            quote,
            {
                "provider": "farmlands",
                "rate": 5.0,
                "discount": "162",
                "currency": "NZD",
            },
        )
        # Decoded, nothing created at Centrapay yet.
        self.assertEqual(len(self.calls("POST", "/api/decode")), 1)
        self.assertFalse(self.calls("POST", "/api/payment-requests"))
        request = self.paid_card()
        self.assertEqual(request.amount, DISCOUNTED)
        self.assertEqual(request.farmlands_discount_rate, 5.0)
        self.assertEqual(request.farmlands_discount, 1.62)
        # Centrapay gets each line's price after the discount, and the discount.
        items = self.sandbox_client().get_payment_request(request.centrapay_id)[
            "lineItems"
        ]
        self.assertEqual(
            [(i["name"], i["price"], i.get("discount")) for i in items],
            [("Seed", "1900", "100"), ("Feed", "1188", "62")],
        )
        order = self.sync(self.ui_order([self.card_line(request)], rate=5))
        self.assertEqual(order.state, "paid")
        self.assertEqual(request.pos_order_id, order)

    def test_an_app_code_and_a_qr_code_get_no_discount(self):
        quote = self.quote(APP_CODE)
        self.assertEqual(quote["provider"], "centrapay")
        self.assertFalse(quote["rate"])
        self.assertFalse(quote["discount"])
        before = self.Request.search_count([])
        refused = self.env._(
            error_messages.ERROR_MESSAGES["farmlands.not_farmlands"]
        ) % {"rate": "5"}
        for label, code in (("app code", APP_CODE), ("QR code", None)):
            with self.subTest(label):
                state = self.create_line(DISCOUNTED, f"{label}-line", rate=5, code=code)
                self.assertEqual(state.get("error"), refused)
        self.assertEqual(self.Request.search_count([]), before, "nothing stored")
        self.assertFalse(self.calls("POST", "/api/payment-requests"))
        # The same order at its full price goes through, with no discount.
        for label, code in (("app code", APP_CODE), ("QR code", None)):
            with self.subTest(label):
                state = self.create_line(FULL, f"{label}-full", code=code)
                self.assertFalse(state.get("error"), state)
                self.assertEqual(self.record(state).farmlands_discount_rate, 0)

    def test_no_discount_when_the_card_does_not_pay_the_whole_order(self):
        self.assertFalse(self.quote(PAYS, other=10.0)["rate"])
        state = self.create_line(
            DISCOUNTED - 10, "split-line", rate=5, code=PAYS, other=10
        )
        self.assertEqual(
            state.get("error"),
            self.env._(error_messages.ERROR_MESSAGES["farmlands.whole_order"]),
        )

    def test_an_order_with_the_discount_paid_otherwise_is_refused(self):
        # In cash.
        self.assert_refused(self.ui_order([self.cash_line()], rate=5))
        # By a QR code, paid for the discounted amount.
        qr = self.record(self.create_line(DISCOUNTED, "qr-line"))
        self.control.pay(qr.centrapay_id)
        self.make_stale(qr)
        self.engine_pass()
        self.assertEqual(qr.status, "paid")
        self.assert_refused(self.ui_order([self.card_line(qr)], rate=5))
        # Without the discount, the same cash order is saved.
        self.assertEqual(self.sync(self.ui_order([self.cash_line(FULL)])).state, "paid")

    def test_a_refund_gives_back_at_most_the_discounted_prices(self):
        request = self.paid_card()
        sale = self.sync(self.ui_order([self.card_line(request)], rate=5))
        base = {
            "payment_uuid": "fl-refund",
            "session_id": self.session.id,
            "order_uuid": "order-fl-refund",
            "centrapay_id": request.centrapay_id,
            "refunded_lines": [{"id": line.id, "qty": 1} for line in sale.lines],
        }
        method = self.method.with_user(self.cashier)
        self.assertEqual(method.centrapay_refund_quote(base)["left"], DISCOUNTED)
        too_much = method.centrapay_refund_request({**base, "amount": FULL})
        self.assertIn("At most", too_much.get("error", ""))
        self.assertFalse(self.calls("POST", "/refund"))
        refund = method.centrapay_refund_request({**base, "amount": DISCOUNTED})
        self.assertTrue(refund.get("accepted"), refund)
        self.assertEqual(request._centrapay_refundable(), 0)
        # The refund order keeps the sale's discount: it is not refused for it.
        refund_order = self.ui_order(
            [
                {
                    "amount": -DISCOUNTED,
                    "payment_method_id": self.method.id,
                    "centrapay_request_id": request.centrapay_id,
                    "centrapay_refund_ref": refund["external_ref"],
                    "payment_status": "done",
                }
            ],
            rate=5,
        )
        refund_order["uuid"] = "order-fl-refund"
        for command, line in zip(refund_order["lines"], sale.lines, strict=True):
            values = command[2]
            values.update(
                qty=-1,
                refunded_orderline_id=line.id,
                price_subtotal=-values["price_subtotal"],
                price_subtotal_incl=-values["price_subtotal_incl"],
            )
        refund_order.update(amount_total=-DISCOUNTED, amount_paid=-DISCOUNTED)
        self.assertEqual(self.sync(refund_order).state, "paid")

    def test_the_rate_is_between_0_and_100(self):
        journal = self.env["account.journal"].create(
            {"name": "Centrapay FL", "code": "CPFL", "type": "bank"}
        )
        method = self.env["pos.payment.method"].create(
            centrapay_method_vals(self.sandbox, journal, name="Farmlands rate")
        )
        for rate in (-1, 100.5):
            with self.subTest(rate=rate), self.assertRaises(ValidationError):
                method.write({"centrapay_farmlands_discount": rate})
        method.write({"centrapay_farmlands_discount": 100})


@tagged("post_install", "-at_install")
class TestFarmlandsNoDiscount(FarmlandsCommon):
    """A rate of 0 (the default) changes nothing: no discount, no refusal."""

    def test_a_rate_of_0_changes_nothing(self):
        quote = self.quote(PAYS)
        self.assertEqual(quote["provider"], "farmlands")
        self.assertFalse(quote["rate"])
        # A line discount of the shop's own (5 %) is no Farmlands discount.
        card = self.paid_card()
        self.assertEqual(card.farmlands_discount_rate, 0)
        self.assertEqual(
            self.sync(self.ui_order([self.cash_line()], rate=5)).state, "paid"
        )
        app = self.create_line(DISCOUNTED, "app-line", rate=5, code=APP_CODE)
        self.assertFalse(app.get("error"), app)
