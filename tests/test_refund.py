from decimal import Decimal

from odoo import Command
from odoo.exceptions import AccessError, ValidationError
from odoo.tests import tagged

from .common import CASHIER, MANAGER, CentrapayCommon


@tagged("post_install", "-at_install")
class TestCentrapayRefund(CentrapayCommon):
    """Refunds through Centrapay, against the sandbox, as a cashier would."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.cashier = cls._user("refund_cashier", CASHIER)
        cls.manager = cls._user("refund_manager", MANAGER)

    def setUp(self):
        super().setUp()
        self.control.configure(partialRefunds=1, refundWindowSeconds=90 * 24 * 3600)

    def paid(self, amount=20.0, payment_uuid="paid-line"):
        """A till's sale of 100 units paid by a Centrapay request."""
        state = self.create_request(amount, payment_uuid=payment_uuid)
        self.control.pay(state["centrapay_id"])
        self.make_stale(self.record(state))
        self.assertEqual(self.status(state)["status"], "paid")
        request = self.record(state)
        self.sale(request, qty=100)
        return request

    def refund(
        self,
        request=None,
        amount=5.0,
        payment_uuid="refund-1",
        qty=None,
        user=None,
        **extra,
    ):
        """A POS refund of ``amount`` (by the cashier unless ``user``), returning
        its worth of the request's sale, or ``qty`` units of it."""
        data = {
            "amount": amount,
            "payment_uuid": payment_uuid,
            "session_id": self.session.id,
            "order_uuid": f"order-{payment_uuid}",
            **extra,
        }
        if request is not None:
            data["centrapay_id"] = request.centrapay_id
            sale = request.pos_order_id
            if sale and "refunded_lines" not in data:
                unit = sale.lines[:1].price_unit
                data["refunded_lines"] = self.returned(
                    sale, qty if qty is not None else amount / unit
                )
        return self.method.with_user(user or self.cashier).centrapay_refund_request(
            data
        )

    def refunds_at_centrapay(self, request):
        activities = self.sandbox_client().list_payment_request_activities(
            request.centrapay_id
        )
        return [a for a in activities if a["type"] == "refund"]

    def test_full_refund(self):
        request = self.paid(20)
        state = self.refund(request, 20)
        self.assertTrue(state["accepted"], state)
        self.assertTrue(state["short_code"].startswith(request.short_code))
        self.assertEqual(len(self.refunds_at_centrapay(request)), 1)
        self.assertEqual(request._centrapay_refundable(), 0)
        again = self.refund(request, 1, payment_uuid="refund-2")
        self.assertIn("left to return", again["error"])

    def test_partial_and_repeated_refunds_up_to_what_is_left(self):
        request = self.paid(20)
        first = self.refund(request, 5, payment_uuid="r1")
        second = self.refund(request, 7.5, payment_uuid="r2")
        self.assertTrue(first["accepted"] and second["accepted"])
        self.assertNotEqual(first["external_ref"], second["external_ref"])
        self.assertNotEqual(first["short_code"], second["short_code"])
        beyond = self.refund(request, 8, payment_uuid="r3", qty=37.5)
        self.assertIn("7.50", beyond["error"])
        last = self.refund(request, 7.5, payment_uuid="r4")
        self.assertTrue(last["accepted"])
        refunds = self.refunds_at_centrapay(request)
        self.assertEqual(
            sorted(int(r["value"]["amount"]) for r in refunds), [500, 750, 750]
        )
        self.assertEqual(request.refunded_amount, 20)

    def test_a_retry_after_a_lost_answer_refunds_once(self):
        request = self.paid(20)
        self.control.add_fault(
            method="POST",
            path=f"/api/payment-requests/{request.centrapay_id}/refund",
            kind="commit_then_drop",
            times=3,
        )
        with self.assertLogs("odoo.addons.pos_centrapay", "WARNING"):
            lost = self.refund(request, 6, payment_uuid="lost")
        self.assertEqual(lost["status"], "unknown")
        self.assertTrue(lost["error"])
        # The cashier retries the same line: the same externalRef is sent again.
        again = self.refund(request, 6, payment_uuid="lost")
        self.assertTrue(again["accepted"], again)
        self.assertEqual(again["external_ref"], lost["external_ref"])
        self.assertEqual(len(self.refunds_at_centrapay(request)), 1)

    def test_refund_line_items_sum_to_the_refund(self):
        request = self.paid(20)
        state = self.refund(
            request,
            6,
            line_items=[
                {"name": "Tea", "qty": 2, "price": 4.0},
                {"name": "Cake", "qty": 1, "price": 2.0},
            ],
        )
        self.assertTrue(state["accepted"], state)
        [refund] = self.refunds_at_centrapay(request)
        self.assertEqual(
            [(i["name"], i["price"]) for i in refund["lineItems"]],
            [("Tea", "400"), ("Cake", "200")],
        )

    def test_each_refusal_has_a_clear_message(self):
        request = self.paid(20)
        self.control.configure(partialRefunds=0)
        partial = self.refund(request, 5, payment_uuid="p")
        self.assertIn("only be refunded in full", partial["error"])
        self.assertNotIn("PARTIAL_REFUNDS_NOT_ALLOWED", partial["error"])
        self.control.configure(partialRefunds=1, refundWindowSeconds=0)
        late = self.refund(request, 5, payment_uuid="w")
        self.assertIn("another way", late["error"])
        self.assertNotIn("REFUND_WINDOW_EXCEEDED", late["error"])
        self.control.configure(refundWindowSeconds=90 * 24 * 3600)
        # Refunded in full outside Odoo, which Odoo has not seen yet.
        self.sandbox_client().refund_payment_request(
            request.centrapay_id,
            amount=Decimal("20"),
            currency="NZD",
            external_ref="portal-1",
        )
        gone = self.refund(request, 5, payment_uuid="g")
        self.assertIn("already been fully refunded", gone["error"])
        # Refused refunds are kept, with their message, and hold nothing.
        self.assertEqual(
            request.refund_ids.filtered(lambda r: r.state == "failed").mapped(
                "external_ref"
            ),
            request.refund_ids.filtered(lambda r: r.origin == "pos").mapped(
                "external_ref"
            ),
        )

    def test_a_refund_made_outside_odoo_shows_through_the_ledger(self):
        request = self.paid(20)
        self.sandbox_client().refund_payment_request(
            request.centrapay_id,
            amount=Decimal("4"),
            currency="NZD",
            external_ref="portal-2",
        )
        self.make_stale(request)
        self.engine_pass()
        outside = request.refund_ids.filtered(lambda r: r.origin == "outside")
        self.assertEqual(outside.amount, 4)
        self.assertEqual(outside.external_ref, "portal-2")
        self.assertTrue(outside.short_code)
        self.assertEqual(request._centrapay_refundable(), 16)

    def test_refund_by_short_code(self):
        request = self.paid(20)
        state = self.refund(
            None,
            3,
            short_code=request.short_code.lower(),
            refunded_lines=self.returned(request.pos_order_id, 15),
        )
        self.assertTrue(state["accepted"], state)
        bad = self.refund(
            None, 3, payment_uuid="bad", short_code="CP-AAA-AAA", user=self.manager
        )
        self.assertIn("check character", bad["error"])

    def test_refund_by_short_code_of_a_request_not_in_odoo(self):
        created = self.sandbox_client().create_payment_request(
            config_id=self.sandbox.merchant_config_id,
            amount=Decimal("9"),
            currency="NZD",
            external_ref="elsewhere-1",
        )
        code = created["shortCode"]
        unpaid = self.refund(None, 3, "u", short_code=code, user=self.manager)
        self.assertIn("never paid", unpaid["error"])
        self.control.pay(created["id"])
        # No sale in Odoo: a manager's decision, never a cashier's.
        refused = self.refund(None, 3, "c", short_code=code)
        self.assertIn("manager decides", refused["error"])
        self.assertFalse(self.Request.search([("centrapay_id", "=", created["id"])]))
        state = self.refund(None, 3, "e", short_code=code, user=self.manager)
        self.assertTrue(state["accepted"], state)
        adopted = self.Request.search([("centrapay_id", "=", created["id"])])
        self.assertEqual(adopted.amount, 9)
        self.assertEqual(adopted._centrapay_refundable(), 6)

    def test_a_request_of_another_merchant_is_refused(self):
        request = self.paid(20)
        code = request.short_code
        # Not in this database by that code, and the method is another merchant's.
        request.sudo().short_code = False
        # (SQL: the open session forbids editing the method.)
        self.env.cr.execute(
            "UPDATE pos_payment_method SET centrapay_merchant_id = 'someone-else' "
            "WHERE id = %s",
            [self.method.id],
        )
        self.method.invalidate_recordset()
        state = self.refund(None, 3, short_code=code, user=self.manager)
        self.assertIn("another merchant", state["error"])

    def test_split_paid_order_refunds_the_chosen_payment(self):
        first = self.paid(10, payment_uuid="split-1")
        second = self.paid(15, payment_uuid="split-2")
        state = self.refund(second, 15)
        self.assertTrue(state["accepted"])
        self.assertEqual(first._centrapay_refundable(), 10)
        self.assertEqual(second._centrapay_refundable(), 0)

    def test_a_refund_line_is_verified_when_its_order_is_saved(self):
        request = self.paid(20)
        state = self.refund(request, 5)
        sale_line = request.pos_order_id.lines

        def order(amount, ref, uuid="order-refund-1", returns=True):
            return self.env["pos.order"].create(
                {
                    "session_id": self.session.id,
                    "uuid": uuid,
                    "state": "paid",
                    "amount_total": -amount,
                    "amount_tax": 0,
                    "amount_paid": -amount,
                    "amount_return": 0,
                    "lines": [
                        Command.create(
                            {
                                "product_id": sale_line.product_id.id,
                                "qty": -25,
                                "price_unit": 0.2,
                                "price_subtotal": -amount,
                                "price_subtotal_incl": -amount,
                                "refunded_orderline_id": returns and sale_line.id,
                            }
                        )
                    ],
                    "payment_ids": [
                        Command.create(
                            {
                                "amount": -amount,
                                "payment_method_id": self.method.id,
                                "centrapay_request_id": request.centrapay_id,
                                "centrapay_refund_ref": ref,
                            }
                        )
                    ],
                }
            )

        with self.assertRaisesRegex(ValidationError, "no such refund"):
            order(5, "made-up")
        with self.assertRaisesRegex(ValidationError, "not this amount"):
            order(50, state["external_ref"])
        with self.assertRaisesRegex(ValidationError, "another refund order"):
            order(5, state["external_ref"], uuid="some-other-order")
        with self.assertRaisesRegex(ValidationError, "returns nothing"):
            order(5, state["external_ref"], returns=False)
        saved = order(5, state["external_ref"])
        refund = request.refund_ids.filtered(
            lambda r: r.external_ref == state["external_ref"]
        )
        self.assertEqual(refund.pos_order_id, saved)
        with self.assertRaisesRegex(ValidationError, "another order"):
            order(5, state["external_ref"])

    def test_a_manager_refunds_from_the_back_office(self):
        request = self.paid(20)
        Wizard = self.env["centrapay.refund.wizard"]
        with self.assertRaises(AccessError):
            Wizard.with_user(self.cashier).create(
                {"request_id": request.id, "amount": 2, "reason": "no"}
            )
        wizard = (
            Wizard.with_user(self.manager)
            .with_context(active_id=request.id)
            .create({"amount": 2, "reason": "Cold coffee"})
        )
        self.assertEqual(wizard.refundable, 20)
        action = wizard.action_refund()
        self.assertEqual(action["params"]["type"], "success")
        refund = request.refund_ids
        self.assertEqual(refund.reason, "Cold coffee")
        self.assertEqual(refund.user_id, self.manager)
        self.assertEqual(refund.origin, "backoffice")
        self.assertTrue(refund.short_code)
        # In the books: a paid refund order of the open session, whose Centrapay
        # line is the refund, so reconciliation matches it.
        booked = refund.pos_order_id
        self.assertEqual(booked.session_id, self.session)
        self.assertEqual(booked.state, "paid")
        self.assertEqual(booked.amount_total, -2)
        self.assertEqual(refund.pos_payment_id.amount, -2)
        item = (
            self.env["centrapay.reconciliation.item"]
            ._centrapay_reconcile_sessions(self.session)
            .filtered(lambda i: i.request_id == request)
        )
        self.assertEqual(item.kind, "matched")
        self.assertEqual((item.odoo_amount, item.centrapay_amount), (18, 18))

    def test_a_completed_webhook_completes_the_refund(self):
        request = self.paid(20)
        state = self.refund(request, 5)
        refund = request.refund_ids
        self.env["centrapay.webhook.event"]._centrapay_register(
            {
                "id": "n-refund-completed",
                "type": "payment-request:refund-completed",
                "data": {
                    "paymentRequestId": request.centrapay_id,
                    "externalRef": state["external_ref"],
                },
            },
            request,
        )
        self.engine_pass()
        self.assertEqual(refund.state, "completed")
