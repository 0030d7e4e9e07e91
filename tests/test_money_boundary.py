"""The POS asks, the server decides: every path that moves Centrapay money.

Each test plays a real user of one group (cashier or manager, in one of two
companies) against the sandbox over HTTP, and checks that the one server check
of each kind of money move holds on every entry point: an order made paid, a
refund sent, a session closed, a status or state written.
"""

from uuid import uuid4

from odoo import Command, fields
from odoo.exceptions import AccessError, UserError, ValidationError
from odoo.tests import tagged

from .common import TwoCompanyCommon


@tagged("post_install", "-at_install")
class TestCentrapayMoneyBoundary(TwoCompanyCommon):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.product = cls.env["product.product"].create(
            {
                "name": "Boundary Tea",
                "list_price": 2.0,
                "taxes_id": [Command.clear()],
                "available_in_pos": True,
            }
        )

    def paid_request(self, user=None, amount=2.0, payment_uuid=None, session=None):
        """A request a cashier made and the patron paid, as the engine knows it."""
        payment_uuid = payment_uuid or str(uuid4())
        user = user or self.cashier_a
        state = self.as_cashier(
            user,
            self.method,
            amount=amount,
            payment_uuid=payment_uuid,
            session=session or self.session,
        )
        self.control.pay(state["centrapay_id"])
        self.make_stale(self.record(state))
        self.method.with_user(user).centrapay_get_status(
            state["centrapay_id"], (session or self.session).id
        )
        request = self.record(state)
        self.assertEqual(request.status, "paid")
        return request

    def ui_order(self, payments, state="paid", session=None, total=2.0):
        """The order dict a till syncs (``sync_from_ui``), one line of ``total``."""
        session = session or self.session
        order_uuid = str(uuid4())
        return {
            "uuid": order_uuid,
            "access_token": str(uuid4()),
            "name": f"Order {order_uuid}",
            "session_id": session.id,
            "state": state,
            "amount_paid": sum(p["amount"] for p in payments),
            "amount_return": 0,
            "amount_tax": 0,
            "amount_total": total,
            "date_order": fields.Datetime.to_string(fields.Datetime.now()),
            "pricelist_id": session.config_id.pricelist_id.id,
            "fiscal_position_id": False,
            "partner_id": self.partner_a.id,
            "sequence_number": 1,
            "lines": [
                Command.create(
                    {
                        "product_id": self.product.id,
                        "qty": 1,
                        "price_unit": total,
                        "price_subtotal": total,
                        "price_subtotal_incl": total,
                        "tax_ids": [],
                        "uuid": str(uuid4()),
                    }
                )
            ],
            "payment_ids": [Command.create(p) for p in payments],
        }

    def centrapay_line(self, request=None, amount=2.0, **extra):
        return {
            "amount": amount,
            "payment_method_id": self.method.id,
            "centrapay_request_id": request.centrapay_id if request else False,
            "uuid": request.pos_payment_uuid if request else str(uuid4()),
            "payment_status": "done",
            **extra,
        }

    def sync(self, user, order):
        return (
            self.env["pos.order"]
            .with_user(user)
            .with_company(self.company_a)
            .sync_from_ui([order])
        )

    def refund_calls(self):
        return self.calls("POST", "/refund")

    # --- 1. A Centrapay line is never change ---

    def test_a_centrapay_change_line_never_pays_an_order(self):
        order = self.ui_order([self.centrapay_line(is_change=True)])
        with (
            self.assertRaisesRegex(ValidationError, "Centrapay gives no change"),
            self.env.cr.savepoint(),
        ):
            self.sync(self.cashier_a, order)
        self.assertFalse(
            self.env["pos.order"].search([("uuid", "=", order["uuid"])]),
            "nothing saved",
        )

    # --- 2. Every path that makes an order paid runs the same check ---

    def test_a_draft_with_a_forged_line_never_becomes_paid(self):
        order = self.ui_order([self.centrapay_line()], state="draft")
        self.sync(self.cashier_a, order)
        saved = self.env["pos.order"].search([("uuid", "=", order["uuid"])])
        self.assertEqual(saved.state, "draft")
        as_cashier = saved.with_user(self.cashier_a)
        for label, make_paid in (
            ("action_pos_order_paid", as_cashier.action_pos_order_paid),
            ("write state", lambda: as_cashier.write({"state": "paid"})),
            ("invoice", as_cashier.action_pos_order_invoice),
            (
                "sync as paid",
                lambda: self.sync(self.cashier_a, {**order, "state": "paid"}),
            ),
        ):
            with (
                self.subTest(label),
                self.assertRaisesRegex(ValidationError, "cannot be verified"),
                self.env.cr.savepoint(),
            ):
                make_paid()
            saved.invalidate_recordset()
            self.assertEqual(saved.state, "draft", label)

    # --- 3. A refund only for a refund order of lines that request paid ---

    def test_a_cashier_refunds_only_what_the_refund_order_returns(self):
        request = self.paid_request(amount=10.0)
        sale = self.sale(request, qty=5)  # 5 x 2.00
        other = self.sale(self.paid_request(amount=4.0), qty=2)
        base = {
            "payment_uuid": str(uuid4()),
            "session_id": self.session.id,
            "order_uuid": str(uuid4()),
            "centrapay_id": request.centrapay_id,
        }
        refund = self.method.with_user(self.cashier_a).centrapay_refund_request
        for label, data, message in (
            ("no refund order", {"amount": 2, "refunded_lines": []}, "does not return"),
            (
                "lines of another sale",
                {"amount": 2, "refunded_lines": self.returned(other, 1)},
                "does not return",
            ),
            (
                "more than the lines are worth",
                {"amount": 10, "refunded_lines": self.returned(sale, 1)},
                "At most",
            ),
            (
                "more units than were sold",
                {"amount": 2, "refunded_lines": self.returned(sale, 6)},
                "left to return",
            ),
            (
                "no refund order uuid",
                {"amount": 2, "order_uuid": "", "refunded_lines": self.returned(sale)},
                "no refund order",
            ),
        ):
            with self.subTest(label):
                state = refund({**base, **data, "payment_uuid": str(uuid4())})
                self.assertIn(message, state.get("error") or "", label)
        self.assertFalse(self.refund_calls(), "nothing was sent to Centrapay")
        self.assertFalse(request.refund_ids)
        # What the lines refund goes through, once.
        ok = refund({**base, "amount": 2, "refunded_lines": self.returned(sale, 1)})
        self.assertTrue(ok["accepted"], ok)
        self.assertEqual(request.refund_ids.pos_session_id, self.session)
        # A second refund order cannot return the same unit again before syncing.
        again = refund(
            {
                **base,
                "payment_uuid": str(uuid4()),
                "order_uuid": str(uuid4()),
                "amount": 8.01,
                "refunded_lines": self.returned(sale, 4),
            }
        )
        self.assertIn("At most", again["error"])

    def test_another_company_cashier_cannot_refund_a_sale(self):
        request = self.paid_request(amount=2.0)
        sale = self.sale(request)
        state = self.method_b.with_user(self.cashier_b).centrapay_refund_request(
            {
                "amount": 2,
                "payment_uuid": str(uuid4()),
                "session_id": self.session_b.id,
                "order_uuid": str(uuid4()),
                "centrapay_id": request.centrapay_id,
                "refunded_lines": self.returned(sale),
            }
        )
        self.assertIn("Unknown", state["error"])
        self.assertFalse(self.refund_calls())

    def test_the_quote_offers_what_is_left_after_a_back_office_refund(self):
        request = self.paid_request(amount=6.79)
        sale = self.sale(request)
        self.env["centrapay.refund.wizard"].with_user(self.manager_a).with_context(
            active_id=request.id
        ).create({"amount": 2.76, "reason": "Cold"}).action_refund()
        quote = self.method.with_user(self.cashier_a).centrapay_refund_quote(
            {
                "session_id": self.session.id,
                "order_uuid": str(uuid4()),
                "centrapay_id": request.centrapay_id,
                "refunded_lines": self.returned(sale),
            }
        )
        self.assertEqual((quote["left"], quote["refunded"]), (4.03, 2.76))
        self.assertEqual(quote["short_code"], request.short_code)

    # --- 4. Every close passes the Centrapay guard ---

    def test_a_pending_request_stops_every_close(self):
        state = self.as_cashier(self.cashier_a, self.method, payment_uuid="close-1")
        session = self.session.with_user(self.cashier_a)
        self.assertTrue(self.session.centrapay_close_blocked)
        for label, close in (
            ("validate", session.action_pos_session_validate),
            ("close", session.action_pos_session_close),
            ("closing control", session.action_pos_session_closing_control),
            (
                "the till's closing control state",
                lambda: session.update_closing_control_state_session("bye"),
            ),
            (
                "a forged manager decision",
                session.with_context(
                    centrapay_close_despite=True
                ).action_pos_session_validate,
            ),
        ):
            with (
                self.subTest(label),
                self.assertRaisesRegex(UserError, state["short_code"]),
                self.env.cr.savepoint(),
            ):
                close()
            self.assertEqual(self.session.state, "opened", label)
        result = session.close_session_from_ui()
        self.assertFalse(result["successful"])
        self.assertTrue(result["centrapay"])
        self.assertIn("waiting for a payment of", result["message"])
        self.assertEqual(self.session.state, "opened", "a refused close leaves it open")
        self.assertFalse(self.session.centrapay_close_forced_by)

    def test_a_session_with_nothing_to_check_closes_without_an_override(self):
        self.sale(self.paid_request(amount=3.0))
        self.assertFalse(self.session.centrapay_close_blocked)
        self.session.with_user(self.manager_a).action_pos_session_closing_control()
        self.assertEqual(self.session.state, "closed")
        self.assertFalse(self.session.centrapay_close_forced_by)

    def test_close_despite_centrapay_is_recorded_and_survives_the_force_close(self):
        state = self.as_cashier(self.cashier_a, self.method, payment_uuid="force-1")
        with self.assertRaises(AccessError):
            self.session.with_user(self.cashier_a).action_centrapay_close_anyway()
        # Odoo's Force Close wizard rolls the first attempt back, then closes
        # with the context of the action that opened it: the decision rides on it.
        wizard_context = {"centrapay_close_despite": True}
        self.session.with_user(self.manager_a).with_context(
            **wizard_context
        ).action_pos_session_closing_control()
        self.assertEqual(self.session.state, "closed")
        self.assertEqual(self.session.centrapay_close_forced_by, self.manager_a)
        self.assertTrue(self.session.centrapay_close_forced_at)
        self.assertIn(state["short_code"], self.session.centrapay_close_forced_items)
        item = self.env["centrapay.reconciliation.item"].search(
            [("short_code", "=", state["short_code"])]
        )
        self.assertEqual(item.action_ids.action, "close")
        self.assertEqual(item.action_ids.user_id, self.manager_a)

    def test_an_expired_request_does_not_block_the_close(self):
        state = self.as_cashier(self.cashier_a, self.method, payment_uuid="exp-1")
        request = self.record(state)
        self.assertTrue(self.session.centrapay_close_blocked)
        self.control.expire(state["centrapay_id"])
        # Odoo has not read it since: its expiry has passed, so the close reads it.
        request.sudo().write(
            {"expires_at": fields.Datetime.subtract(fields.Datetime.now(), minutes=8)}
        )
        self.session.with_user(self.manager_a).action_pos_session_closing_control()
        self.assertEqual(request.status, "expired")
        self.assertEqual(self.session.state, "closed")
        item = self.env["centrapay.reconciliation.item"]._centrapay_reconcile_sessions(
            self.session
        )
        mine = item.filtered(lambda i: i.request_id == request)
        self.assertIn(mine.kind, (False, "void"), "not pending any more")

    def test_a_back_office_refund_is_in_the_books_when_the_session_closes(self):
        request = self.paid_request(amount=6.79)
        self.sale(request)
        self.env["centrapay.refund.wizard"].with_user(self.manager_a).with_context(
            active_id=request.id
        ).create({"amount": 2.76, "reason": "Cold"}).action_refund()
        self.assertFalse(self.session.centrapay_close_blocked)
        self.session.with_user(self.manager_a).action_pos_session_closing_control()
        self.assertEqual(self.session.state, "closed")
        posted = sum(
            self.session.bank_payment_ids.filtered(
                lambda p: p.pos_payment_method_id == self.method
            ).mapped("amount_signed")
        )
        self.assertAlmostEqual(posted, 4.03, places=2)

    # --- 5. A line is backed only by the request made for it ---

    def test_an_order_cannot_claim_another_lines_or_a_refunded_request(self):
        # Another till's session of the same company, with a paid request no
        # order uses yet: its ids are readable by any POS user.
        config_2 = self.env["pos.config"].create(
            {"name": "Till 2", "payment_method_ids": [Command.set(self.method.ids)]}
        )
        config_2.open_ui()
        session_2 = config_2.current_session_id
        session_2.set_opening_control(0, "")
        theirs = self.paid_request(amount=2.0, session=session_2)
        forged = self.ui_order(
            [self.centrapay_line(theirs)]  # even with its payment uuid
        )
        with self.assertRaisesRegex(ValidationError, "another payment line or session"):
            self.sync(self.cashier_a, forged)
        # Refunded in full (an orphan refund) before any order claimed it.
        mine = self.paid_request(amount=2.0)
        item = (
            self.env["centrapay.reconciliation.item"]
            ._centrapay_reconcile_sessions(self.session)
            .filtered(lambda i: i.request_id == mine)
        )
        item.with_user(self.manager_a).action_centrapay_refund_orphan()
        with self.assertRaisesRegex(ValidationError, "refunded"):
            self.sync(self.cashier_a, self.ui_order([self.centrapay_line(mine)]))
        self.assertFalse(theirs.pos_order_id or mine.pos_order_id)

    # --- 6. Money records change only through their state machines ---

    def test_no_user_rewrites_a_status_a_state_or_an_explanation(self):
        request = self.paid_request(amount=5.0)
        self.sale(request)
        self.env["centrapay.refund.wizard"].with_user(self.manager_a).with_context(
            active_id=request.id
        ).create({"amount": 1, "reason": "Spilt"}).action_refund()
        refund = request.refund_ids
        item = self.env["centrapay.reconciliation.item"]._centrapay_reconcile_sessions(
            self.session
        )[:1]
        for record, values in (
            (request, {"status": "cancelled"}),
            (request, {"refunded_by_void": True}),
            (refund, {"state": "failed"}),
            (item, {"explained": True, "explanation": "nothing to see"}),
        ):
            for user in (self.manager_a, self.cashier_a):
                with (
                    self.subTest(model=record._name, user=user.login),
                    self.assertRaises(AccessError),
                ):
                    record.with_user(user).write(values)
        self.assertEqual(refund.state, "initiated")
        # The state machine refuses what the table does not allow.
        refund.sudo()._centrapay_set_state("completed")
        self.assertFalse(refund.sudo()._centrapay_set_state("failed"))
        self.assertEqual(refund.state, "completed")
        self.assertEqual(request._centrapay_refundable(), 4)

    # --- 12. A payment the till abandoned is given back ---

    def test_a_payment_paid_after_the_cashiers_cancel_is_refunded(self):
        state = self.as_cashier(self.cashier_a, self.method, payment_uuid="gone-1")
        centrapay_id = state["centrapay_id"]
        request = self.record(state)
        # The cashier cancels; the void's outcome stays unknown (a 503, then a
        # timeout); the patron pays; the till gives up with "waiting".
        self.control.add_fault(
            method="POST",
            path=f"/api/payment-requests/{centrapay_id}/void",
            kind="status",
            status=503,
            times=1,
        )
        self.control.add_fault(
            method="POST",
            path=f"/api/payment-requests/{centrapay_id}/void",
            kind="timeout",
            seconds=0.5,
            times=None,
        )
        with self.assertLogs("odoo.addons.pos_centrapay", "WARNING"):
            cancelled = self.method.with_user(self.cashier_a).centrapay_cancel_request(
                centrapay_id, self.session.id
            )
        self.assertFalse(cancelled["final"])
        self.assertTrue(request.void_requested)
        self.control.pay(centrapay_id)
        self.make_stale(request)
        self.engine_pass()
        self.assertEqual(request.status, "paid")
        self.assertFalse(request.refund_ids, "the till's window is still open")
        # No order claimed it once the till's window passed: Odoo gives it back.
        request.sudo().write(
            {
                "status_changed_at": fields.Datetime.subtract(
                    fields.Datetime.now(), minutes=16
                )
            }
        )
        self.engine_pass()
        refund = request.refund_ids
        self.assertEqual(refund.origin, "abandoned")
        self.assertIn(refund.state, ("initiated", "completed"))
        self.assertEqual(refund.amount, request.amount)
        self.assertEqual(request._centrapay_refundable(), 0)
        at_centrapay = [
            a
            for a in self.sandbox_client().list_payment_request_activities(centrapay_id)
            if a["type"] == "refund"
        ]
        self.assertEqual(len(at_centrapay), 1)
        self.engine_pass()  # a later pass refunds nothing twice
        self.assertEqual(len(request.refund_ids), 1)
        item = (
            self.env["centrapay.reconciliation.item"]
            ._centrapay_reconcile_sessions(self.session)
            .filtered(lambda i: i.request_id == request)
        )
        self.assertEqual(item.kind, "matched")

    # --- 11. The refund wizard shows only its company's payments ---

    def test_the_refund_wizard_shows_no_other_companys_payment(self):
        request = self.paid_request(amount=7.0)
        Wizard = self.env["centrapay.refund.wizard"]
        with self.assertRaises(AccessError):
            Wizard.with_user(self.manager_b).with_context(active_id=request.id).create(
                {"amount": 1, "reason": "peek"}
            )
        with self.assertRaises(AccessError):
            wizard = Wizard.with_user(self.manager_b).create(
                {"request_id": request.id, "amount": 1, "reason": "peek"}
            )
            self.assertFalse(wizard.refundable)
        self.assertFalse(request.refund_ids)

    def test_a_payment_the_till_was_told_paid_is_never_given_back(self):
        state = self.as_cashier(self.cashier_a, self.method, payment_uuid="kept-1")
        request = self.record(state)
        self.control.pay(state["centrapay_id"])
        # The cashier's cancel comes second: the till is told "paid" and keeps it
        # (the customer may leave with the goods before the order syncs).
        told = self.method.with_user(self.cashier_a).centrapay_cancel_request(
            state["centrapay_id"], self.session.id
        )
        self.assertEqual(told["status"], "paid")
        self.assertTrue(request.void_requested and request.pos_told_paid)
        request.sudo().write(
            {
                "status_changed_at": fields.Datetime.subtract(
                    fields.Datetime.now(), minutes=16
                )
            }
        )
        self.engine_pass()
        self.assertFalse(request.refund_ids)
