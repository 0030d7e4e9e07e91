import time
from decimal import Decimal
from unittest.mock import patch

from odoo import Command, fields
from odoo.exceptions import AccessError, ValidationError
from odoo.tests import tagged

from .. import const, error_messages
from ..centrapay.sandbox import barcodes
from .common import CASHIER, CentrapayCommon, centrapay_method_vals

PHOTO_ID = barcodes.PHOTO_ID_BARCODE


@tagged("post_install", "-at_install")
class TestCentrapayPartialConditions(CentrapayCommon):
    """Partial payments and payment conditions at the till, against the
    sandbox, as a cashier of the method's company.

    Checklist: CP-EXT-7 (conditionsEnabled from the method's setting), CP-EXT-8
    (every condition shown, its message verbatim, later ones too), CP-EXT-9
    (accept and decline, each followed by a read), CP-EXT-14 (the latest
    remainingAmount), CP-EXT-15 (partialAllowed from the setting), CP-EXT-16
    (value.amount and basketAmount), CP-EXT-17 (the rest due in another
    tender; an abandoned partial payment refunded).
    """

    centrapay_method_settings = {
        "centrapay_partial_allowed": True,
        "centrapay_conditions_enabled": True,
    }

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.cashier = cls._user("pc_cashier", CASHIER)
        cls.internal = cls._user("pc_internal", "base.group_user")
        # A method without either setting, in a POS of its own.
        journal = cls.env["account.journal"].create(
            {"name": "Centrapay Plain", "code": "CPP", "type": "bank"}
        )
        cls.plain = cls.env["pos.payment.method"].create(
            centrapay_method_vals(cls.sandbox, journal, name="Centrapay plain")
        )
        config = cls.env["pos.config"].create(
            {"name": "Plain POS", "payment_method_ids": [Command.set(cls.plain.ids)]}
        )
        config.open_ui()
        cls.plain_session = config.current_session_id
        cls.plain_session.set_opening_control(0, "")
        cls.cash = cls.cash_method

    def new_request(self, amount=20.0, payment_uuid="pc-line", plain=False, **extra):
        """The create RPC as the cashier."""
        method = self.plain if plain else self.method
        return self.create_request(
            amount,
            payment_uuid,
            method=method.with_user(self.cashier),
            session=self.plain_session if plain else self.session,
            **extra,
        )

    def read_status(self, state):
        return self.method.with_user(self.cashier).centrapay_get_status(
            state["centrapay_id"], self.session.id
        )

    def answer(self, state, condition_id, accept, user=None):
        method = self.method.with_user(user or self.cashier)
        answer = (
            method.centrapay_accept_condition
            if accept
            else method.centrapay_decline_condition
        )
        result = answer(state["centrapay_id"], self.session.id, condition_id)
        self.env.invalidate_all()
        return result

    def created(self, state):
        """The Payment Request as Centrapay has it."""
        return self.sandbox_client().get_payment_request(state["centrapay_id"])

    # --- Creation (CP-EXT-7, CP-EXT-15, CP-EXT-16) --------------------------------

    def test_flags_follow_the_methods_settings(self):
        """CP-EXT-7, CP-EXT-15: partialAllowed and conditionsEnabled only when
        the method allows them."""
        with_flags = self.created(self.new_request(20.0))
        self.assertIs(with_flags["partialAllowed"], True)
        self.assertIs(with_flags["conditionsEnabled"], True)
        self.assertEqual(with_flags["basketAmount"], "2000")
        plain = self.created(self.new_request(20.0, payment_uuid="plain", plain=True))
        self.assertFalse(plain.get("partialAllowed"))
        self.assertFalse(plain.get("conditionsEnabled"))
        self.assertNotIn("basketAmount", plain)

    def test_basket_amount_is_what_the_order_still_has_due(self):
        """CP-EXT-16: value.amount is the Centrapay part, basketAmount what the
        order has due (its total less its other tenders)."""
        lines = [{"name": "Desk Pad", "qty": 1, "price": 50.0}]
        # A split tender: 30 in cash first, the rest through Centrapay.
        split = self.created(
            self.new_request(
                20.0,
                payment_uuid="split",
                line_items=lines,
                basket={"total": 50.0, "other_payments": 30.0},
            )
        )
        self.assertEqual(split["value"]["amount"], "2000")
        self.assertEqual(split["basketAmount"], "2000")
        # The customer asks to pay 15 of the 20 due through Centrapay.
        part = self.created(
            self.new_request(
                15.0,
                payment_uuid="part",
                line_items=lines,
                basket={"total": 50.0, "other_payments": 30.0},
            )
        )
        self.assertEqual(part["value"]["amount"], "1500")
        self.assertEqual(part["basketAmount"], "2000")
        request = self.Request.search([("centrapay_id", "=", part["id"])])
        self.assertTrue(request.partial_allowed)
        self.assertEqual(request.basket_amount, 20.0)

    # --- Partial payment (CP-EXT-14, CP-EXT-17) ------------------------------------

    def pay_part(self, amount=20.0, part=800, payment_uuid="pc-line"):
        state = self.new_request(amount, payment_uuid=payment_uuid)
        self.control.pay(state["centrapay_id"], amount=part, mode="partial-payment")
        request = self.record(state)
        self.make_stale(request)
        self.engine_pass()
        return state, request

    def test_the_rest_is_due_in_another_tender(self):
        """CP-EXT-17: paid with remainingAmount > 0, the line keeps what
        Centrapay took and the order is completed with cash; the server
        accepts a Centrapay line of exactly that amount, nothing else."""
        state, request = self.pay_part()
        status = self.read_status(state)
        self.assertEqual(status["status"], "paid")
        self.assertEqual(status["paid_amount"], 8.0)
        self.assertEqual(status["remaining_amount"], 12.0)
        self.assertEqual(request.paid_amount, 8.0)
        self.assertEqual(request._centrapay_taken(), 8.0)
        # The amount asked, or any amount but what Centrapay took, is refused.
        for forged in (20.0, 12.0, 8.01):
            with (
                self.subTest(amount=forged),
                self.assertRaises(ValidationError),
                self.cr.savepoint(),
            ):
                self.sale(request, amount=forged, other=[(self.cash, 20.0 - forged)])
        order = self.sale(request, amount=8.0, other=[(self.cash, 12.0)])
        self.assertEqual(order.state, "paid")
        self.assertEqual(request.pos_payment_id.amount, 8.0)
        # Every path that makes an order paid runs the same check.
        order._centrapay_check_paid()
        self.assertEqual(
            sorted(order.payment_ids.mapped("amount")), [8.0, 12.0], "8 + 12 cash"
        )

    def test_the_rest_taken_in_cash_is_recorded_at_centrapay(self):
        """CP-EXT-13: once the order is paid, the engine records the cash taken
        for the rest as an external.test payment for remainingAmount; the
        request stays paid, with nothing left, and it is recorded once."""
        state, request = self.pay_part(payment_uuid="external")
        self.sale(request, amount=8.0, other=[(self.cash, 12.0)])
        self.assertTrue(request.external_pending)
        self.control.clear_calls()
        self.engine_pass()
        pays = self.calls("POST", f"{state['centrapay_id']}/pay")
        self.assertEqual(len(pays), 1, pays)
        request.invalidate_recordset()
        self.assertFalse(request.external_pending)
        self.assertEqual(request.status, "paid")
        self.assertEqual(request.remaining_amount, 0.0)
        seen = next(
            r for r in self.control.money_trail() if r["id"] == state["centrapay_id"]
        )
        self.assertEqual(int(seen["remainingAmount"]), 0)
        self.assertEqual(int(seen["external"]), 1200, "external.test, for the rest")
        self.assertEqual(int(seen["paid"]), 800)
        # What Centrapay took is still all a refund may give back.
        self.assertEqual(request._centrapay_taken(), 8.0)
        self.control.clear_calls()
        self.engine_pass()
        self.assertEqual(self.calls("POST", "/pay"), [], "recorded once")

    def test_a_failed_record_of_the_rest_waits_as_the_retry_policy_says(self):
        """A record of the rest that fails (Centrapay errs) is tried again 1,
        2, 4 ... 30 s later, not at every pass: an outage would otherwise spend
        the account's budget four times a second."""
        self.new_request(payment_uuid="still-waiting")  # the passes go on
        state, request = self.pay_part(payment_uuid="external-fails")
        self.sale(request, amount=8.0, other=[(self.cash, 12.0)])
        pay = f"/api/payment-requests/{state['centrapay_id']}/pay"
        self.control.add_fault(kind="status", status=500, path=pay, times=None)
        self.control.clear_calls()
        for _ in range(4):
            self.engine_pass()
        self.assertEqual(len(self.calls("POST", pay)), 1)
        request.invalidate_recordset()
        self.assertTrue(request.external_pending)
        self.control.clear_faults()
        time.sleep(1.1)
        self.engine_pass()
        self.assertEqual(len(self.calls("POST", pay)), 2, "tried again later")
        request.invalidate_recordset()
        self.assertFalse(request.external_pending)
        self.assertEqual(request.remaining_amount, 0.0)

    def test_the_latest_remaining_amount_while_polled(self):
        """CP-EXT-14: the remainder shown is the one of the latest read."""
        state = self.new_request(20.0, payment_uuid="multi")
        self.assertEqual(self.read_status(state)["remaining_amount"], 20.0)
        # Part paid with one asset; the request waits for the rest.
        self.control.pay(state["centrapay_id"], amount=500, mode="multi-asset-payment")
        self.make_stale(self.record(state))
        self.engine_pass()
        status = self.read_status(state)
        self.assertEqual(status["status"], "new")
        self.assertEqual(status["remaining_amount"], 15.0)

    # --- A payment the feed brings (doc §15.25) -------------------------------------

    def paid_through_the_feed(self, state, **pay):
        """Pay, then one pass in which the feed, not a routine read, is due:
        the calls that pass made."""
        request = self.record(state)
        self.engine_pass()
        self.control.pay(state["centrapay_id"], **pay)
        self.make_feed_due(request)
        self.control.clear_calls()
        self.engine_pass()
        return [(c["method"], c["path"].split("?")[0]) for c in self.control.calls()]

    def test_a_whole_payment_the_feed_brings_is_known_without_a_read(self):
        """The payment that made the request paid carries paidBy: the feed
        alone says it is paid and what paid, in one call, not two; the ledger
        has it, so no list of its activities (E9) follows."""
        state = self.new_request(20.0, payment_uuid="fed")
        calls = self.paid_through_the_feed(state)
        self.assertEqual(calls, [("GET", "/api/payment-activities")])
        status = self.read_status(state)
        self.assertEqual(status["status"], "paid")
        self.assertEqual(status["paid_amount"], 20.0)
        self.assertEqual(status["remaining_amount"], 0.0)
        request = self.record(state)
        self.assertTrue(request.paid_by_description)
        self.assertEqual(request._centrapay_taken(), 20.0)
        self.control.clear_calls()
        time.sleep(0.6)
        self.engine_pass()
        self.assertFalse(request.ledger_pending)
        self.assertEqual(self.calls("GET", f"{state['centrapay_id']}/activities"), [])

    def test_a_payment_in_parts_is_known_from_the_feed_once_whole(self):
        """A payment of part (one asset of several) leaves the request waiting:
        the read says what is left. The one that completes it carries paidBy
        over both, and is taken without a read."""
        state = self.new_request(20.0, payment_uuid="parts")
        cp_id = state["centrapay_id"]
        calls = self.paid_through_the_feed(
            state, amount=500, mode="multi-asset-payment"
        )
        self.assertIn(("GET", f"/api/payment-requests/{cp_id}"), calls)
        self.assertEqual(self.read_status(state)["remaining_amount"], 15.0)
        calls = self.paid_through_the_feed(state, amount=1500)
        self.assertNotIn(("GET", f"/api/payment-requests/{cp_id}"), calls)
        self.assertEqual(self.read_status(state)["status"], "paid")
        self.assertEqual(self.record(state).paid_amount, 20.0)

    def test_a_partial_payment_the_feed_brings_is_read(self):
        """A partial payment's paidBy covers less than asked: only the read
        gives remainingAmount, so the request is read as before."""
        state = self.new_request(20.0, payment_uuid="fed-part")
        calls = self.paid_through_the_feed(state, amount=800, mode="partial-payment")
        self.assertIn(("GET", f"/api/payment-requests/{state['centrapay_id']}"), calls)
        status = self.read_status(state)
        self.assertEqual(status["status"], "paid")
        self.assertEqual(status["remaining_amount"], 12.0)

    def test_refunds_are_limited_to_what_centrapay_took(self):
        """A partly paid request refunds at most what Centrapay took."""
        _state, request = self.pay_part(payment_uuid="refund-part")
        order = self.sale(request, amount=8.0, other=[(self.cash, 12.0)])
        quote = self.method.with_user(self.cashier).centrapay_refund_quote(
            {
                "session_id": self.session.id,
                "centrapay_id": request.centrapay_id,
                "order_uuid": "refund-order",
                "refunded_lines": self.returned(order),
            }
        )
        self.assertEqual(quote["left"], 8.0)
        self.assertEqual(quote["refunded"], 0.0)
        refused = self.method.with_user(self.cashier).centrapay_refund_request(
            {
                "session_id": self.session.id,
                "centrapay_id": request.centrapay_id,
                "order_uuid": "refund-order",
                "payment_uuid": "refund-line",
                "amount": 20.0,
                "refunded_lines": self.returned(order),
            }
        )
        self.assertIn("error", refused)
        self.assertFalse(request.refund_ids)

    def test_an_abandoned_partial_payment_is_given_back(self):
        """CP-EXT-17: the cashier drops the order; what Centrapay took is
        refunded by the give-back step, recorded and reconciled."""
        state, request = self.pay_part(payment_uuid="dropped")
        abandoned = self.method.with_user(self.cashier).centrapay_abandon_request(
            state["centrapay_id"], self.session.id
        )
        self.assertTrue(abandoned["abandoned"])
        self.assertTrue(request.pos_abandoned_at)
        # The cashier deleted the order: nothing can claim the payment now.
        self.engine_pass()
        refund = request.refund_ids
        self.assertEqual(refund.origin, "abandoned")
        self.assertIn(refund.state, ("initiated", "completed"))
        self.assertEqual(refund.amount, 8.0)
        self.assertEqual(request._centrapay_refundable(), 0)
        refunds = [
            a
            for a in self.sandbox_client().list_payment_request_activities(
                state["centrapay_id"]
            )
            if a["type"] == "refund"
        ]
        self.assertEqual([r["value"]["amount"] for r in refunds], ["800"])
        self.engine_pass()
        self.assertEqual(len(request.refund_ids), 1, "never twice")
        item = (
            self.env["centrapay.reconciliation.item"]
            ._centrapay_reconcile_sessions(self.session)
            .filtered(lambda i: i.request_id == request)
        )
        self.assertEqual(item.kind, "matched")

    def abandoned_with_refunds_answering(self, status, payment_uuid):
        """A partly paid payment the cashier dropped, whose refund Centrapay
        answers with ``status``, while another request waits (so the passes
        go on); returns it and the refund's path."""
        state, request = self.pay_part(payment_uuid=payment_uuid)
        self.method.with_user(self.cashier).centrapay_abandon_request(
            state["centrapay_id"], self.session.id
        )
        refund = f"/api/payment-requests/{state['centrapay_id']}/refund"
        self.control.add_fault(kind="status", status=status, path=refund, times=None)
        self.new_request(payment_uuid=f"{payment_uuid}-other")
        self.control.clear_calls()
        return request, refund

    def test_a_refused_give_back_is_not_started_again(self):
        """Centrapay refuses the refund of an abandoned payment: one refund,
        kept failed with its answer, not a new one at every pass."""
        request, refund = self.abandoned_with_refunds_answering(403, "refused-back")
        for _ in range(4):
            self.engine_pass()
        self.assertEqual(request.refund_ids.mapped("state"), ["failed"])
        self.assertTrue(request.refund_ids.error)
        self.assertEqual(len(self.calls("POST", refund)), 1)
        time.sleep(1.1)
        self.engine_pass()
        self.assertEqual(len(request.refund_ids), 1)
        self.assertEqual(len(self.calls("POST", refund)), 1, "not sent again")

    def test_a_give_back_not_sent_waits_as_the_retry_policy_says(self):
        """Centrapay fails the refund of an abandoned payment: the same refund
        is sent again 1, 2, 4 ... 30 s later, not at every pass."""
        request, refund = self.abandoned_with_refunds_answering(500, "failing-back")
        with self.assertLogs("odoo.addons.pos_centrapay", "WARNING"):
            self.engine_pass()  # the refund call's own retries, then no answer
        sent = len(self.calls("POST", refund))
        self.assertTrue(sent)
        for _ in range(3):
            self.engine_pass()
        self.assertEqual(len(self.calls("POST", refund)), sent, "not at every pass")
        self.control.clear_faults()
        time.sleep(1.1)
        self.engine_pass()
        self.assertEqual(len(request.refund_ids), 1, "the same refund, sent again")
        self.assertIn(request.refund_ids.state, ("initiated", "completed"))
        self.assertEqual(request._centrapay_refundable(), 0)

    def test_payments_given_back_never_crowd_out_a_new_one(self):
        """More payments given back than a pass takes (``ENGINE_STEP_BATCH``):
        one abandoned after them is still given back at the next pass."""
        with patch.object(const, "ENGINE_STEP_BATCH", 2):
            dropped = []
            for n in range(3):
                state, request = self.pay_part(payment_uuid=f"crowd-{n}")
                self.method.with_user(self.cashier).centrapay_abandon_request(
                    state["centrapay_id"], self.session.id
                )
                dropped.append(request)
                self.engine_pass()
            self.assertTrue(all(request.refund_ids for request in dropped))
            state, request = self.pay_part(payment_uuid="crowd-last")
            self.method.with_user(self.cashier).centrapay_abandon_request(
                state["centrapay_id"], self.session.id
            )
            self.engine_pass()
        self.assertEqual(request.refund_ids.origin, "abandoned")
        self.assertIn(request.refund_ids.state, ("initiated", "completed"))

    def test_a_give_back_centrapay_rate_limits_is_sent_again_later(self):
        """A 429 is no refusal: the give-back refund stays to be sent, and is
        sent again later, not kept failed for good."""
        request, refund = self.abandoned_with_refunds_answering(429, "limited-back")
        with self.assertLogs("odoo.addons.pos_centrapay", "WARNING"):
            self.engine_pass()
        self.assertEqual(request.refund_ids.state, "draft")
        self.assertFalse(request.given_back)
        self.control.clear_faults()
        self.env["centrapay.rate.limit"].sudo().search([]).blocked_until = 0
        time.sleep(1.1)
        self.engine_pass()
        self.assertEqual(len(request.refund_ids), 1, "the same refund, sent again")
        self.assertIn(request.refund_ids.state, ("initiated", "completed"))
        self.assertTrue(request.given_back)

    def test_a_refund_left_unsent_is_sent_then_the_rest_given_back(self):
        """An abandoned payment with a back-office refund of part of it whose
        outcome is unknown: the give-back sends that refund again, then gives
        back the rest, and only then is done with it."""
        state, request = self.pay_part(payment_uuid="part-refunded")
        refund = f"/api/payment-requests/{state['centrapay_id']}/refund"
        self.control.add_fault(kind="status", status=500, path=refund, times=None)
        with self.assertLogs("odoo.addons.pos_centrapay", "WARNING"):
            self.env["centrapay.refund"].sudo()._centrapay_start(
                request, Decimal("3.00"), "backoffice"
            )
        self.assertEqual(request.refund_ids.state, "unknown")
        self.control.clear_faults()
        self.method.with_user(self.cashier).centrapay_abandon_request(
            state["centrapay_id"], self.session.id
        )
        self.engine_pass()
        self.engine_pass()
        self.assertEqual(
            sorted(request.refund_ids.mapped(lambda r: (r.origin, r.amount))),
            [("abandoned", 5.0), ("backoffice", 3.0)],
        )
        self.assertNotIn("unknown", request.refund_ids.mapped("state"))
        self.assertEqual(request._centrapay_refundable(), 0)
        self.assertTrue(request.given_back)

    def test_a_claimed_or_full_payment_is_never_given_back(self):
        """Only a partly paid payment that no order took can be abandoned; an
        order that claims it later keeps it."""
        state = self.new_request(5.0, payment_uuid="full")
        self.control.pay(state["centrapay_id"])
        self.make_stale(self.record(state))
        self.engine_pass()
        refused = self.method.with_user(self.cashier).centrapay_abandon_request(
            state["centrapay_id"], self.session.id
        )
        self.assertIn("error", refused)
        state, request = self.pay_part(payment_uuid="claimed")
        self.method.with_user(self.cashier).centrapay_abandon_request(
            state["centrapay_id"], self.session.id
        )
        self.sale(request, amount=8.0, other=[(self.cash, 12.0)])
        request.sudo().write(
            {
                "pos_abandoned_at": fields.Datetime.subtract(
                    fields.Datetime.now(), minutes=16
                )
            }
        )
        self.engine_pass()
        self.assertFalse(request.refund_ids)

    def test_only_the_sessions_cashier_may_abandon(self):
        state, request = self.pay_part(payment_uuid="not-yours")
        with self.assertRaises(AccessError):
            self.method.with_user(self.internal).centrapay_abandon_request(
                state["centrapay_id"], self.session.id
            )
        self.assertFalse(request.pos_abandoned_at)

    # --- Conditions (CP-EXT-8, CP-EXT-9) -------------------------------------------

    def test_every_condition_is_shown_verbatim(self):
        """CP-EXT-8: a condition Odoo has never heard of is shown with its own
        message; one added later while polling too; awaiting-patron ones as
        information."""
        state = self.new_request(20.0, payment_uuid="cond")
        message = "Ask for the <b>loyalty</b> card — «carte» 42 ✓"
        self.control.add_condition(state["centrapay_id"], "odd-new-check", message)
        request = self.record(state)
        self.make_stale(request)
        self.engine_pass()
        status = self.read_status(state)
        self.assertEqual(status["status"], "new")
        self.assertEqual(
            status["awaiting_merchant"],
            [
                {
                    "id": "1",
                    "name": "odd-new-check",
                    "message": message,
                    "status": "awaiting-merchant",
                }
            ],
        )
        self.control.add_condition(
            state["centrapay_id"],
            "app-confirm",
            "Confirm in your app",
            "awaiting-patron",
        )
        self.make_stale(request)
        self.engine_pass()
        status = self.read_status(state)
        self.assertEqual(len(status["awaiting_merchant"]), 1)
        self.assertEqual(
            [(c["name"], c["message"]) for c in status["awaiting_patron"]],
            [("app-confirm", "Confirm in your app")],
        )

    def photo_id_request(self, payment_uuid, **extra):
        """A typed photo-ID test code, approved by the customer in the app; the
        engine's read raises the photo-ID check."""
        state = self.new_request(
            20.0, payment_uuid=payment_uuid, barcode=PHOTO_ID, **extra
        )
        self.assertFalse(state.get("error"), state)
        self.control.approve(state["centrapay_id"])
        self.engine_pass()
        return state

    def test_accepted_condition_then_paid(self):
        """CP-EXT-9: accept; a read follows at once, and the payment goes on."""
        state = self.photo_id_request("accept")
        status = self.read_status(state)
        self.assertEqual(status["status"], "new")
        [condition] = status["awaiting_merchant"]
        self.assertEqual(condition["message"], "Please check ID")
        self.control.clear_calls()
        answered = self.answer(state, condition["id"], accept=True)
        self.assertNotIn("answer_error", answered)
        self.assertEqual(answered["status"], "paid")
        self.assertEqual(answered["awaiting_merchant"], [])
        calls = [(c["method"], c["path"]) for c in self.control.calls()]
        cp_id = state["centrapay_id"]
        self.assertEqual(
            calls,
            [
                ("POST", f"/api/payment-requests/{cp_id}/conditions/1/accept"),
                ("GET", f"/api/payment-requests/{cp_id}"),
            ],
        )

    def test_declined_condition_cancels(self):
        """CP-EXT-9: decline; a read follows at once, and the request is
        cancelled, declined by the till."""
        state = self.photo_id_request("decline")
        [condition] = self.read_status(state)["awaiting_merchant"]
        self.control.clear_calls()
        answered = self.answer(state, condition["id"], accept=False)
        self.assertEqual(answered["status"], "cancelled")
        self.assertEqual(answered["cancellation_reason"], "DECLINED_BY_MERCHANT")
        self.assertEqual([c["method"] for c in self.control.calls()], ["POST", "GET"])
        self.assertEqual(self.record(state).status, "cancelled")

    def test_customer_not_present_suppresses_the_photo_id_check(self):
        """Patron not present (doc §10.4): Centrapay raises no photo-ID check."""
        state = self.photo_id_request("remote", patron_not_present=True)
        status = self.read_status(state)
        self.assertEqual(status["awaiting_merchant"], [])
        self.assertEqual(status["status"], "paid")

    def test_a_condition_without_the_setting_cancels(self):
        """Without conditionsEnabled, a condition cancels the request."""
        state = self.new_request(20.0, payment_uuid="plain-cond", plain=True)
        self.control.add_condition(state["centrapay_id"], "photo-id-check", "Check")
        request = self.record(state)
        self.make_stale(request)
        self.engine_pass()
        self.assertEqual(request.status, "cancelled")
        self.assertEqual(request.cancellation_reason, "PAYMENT_DECLINED")

    def test_answers_are_checked(self):
        """Only the session's cashier answers; a condition no longer waiting
        is refused in words, and the read after it shows what holds."""
        state = self.photo_id_request("checked")
        with self.assertRaises(AccessError):
            self.answer(state, "1", accept=True, user=self.internal)
        unknown = self.answer(state, "99", accept=True)
        self.assertTrue(unknown["answer_error"])
        self.assertEqual(unknown["awaiting_merchant"][0]["id"], "1")
        # Voided at Centrapay since the last read (another one came): refused,
        # then read again.
        self.control.add_condition(state["centrapay_id"], "second", "Second check")
        self.control.void_condition(state["centrapay_id"], "1")
        answered = self.answer(state, "1", accept=True)
        self.assertTrue(
            answered["answer_error"].startswith(
                self.env._(error_messages.ERROR_MESSAGES["CONDITION_ALREADY_SET"])
            ),
            answered["answer_error"],
        )
        self.assertEqual(answered["status"], "new")
        self.assertEqual(
            [c["message"] for c in answered["awaiting_merchant"]], ["Second check"]
        )
        answered = self.answer(state, "2", accept=True)
        self.assertEqual(answered["status"], "paid", "the approval went through")
