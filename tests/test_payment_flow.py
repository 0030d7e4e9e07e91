import json
import threading
import time
from datetime import timedelta
from unittest.mock import patch

from odoo import fields
from odoo.tests import tagged

from .. import const, error_messages
from ..models import centrapay_payment_request
from .common import CentrapayCommon, centrapay_method_vals


@tagged("post_install", "-at_install")
class TestCentrapayPaymentFlow(CentrapayCommon):
    def test_an_activity_type_is_stored_in_lower_case(self):
        stored = self.env["centrapay.payment.activity"]._centrapay_store(
            [{"paymentRequestId": "cp-case", "activityNumber": 1, "type": "PayMent"}],
            company=self.env.company,
        )
        self.assertEqual(stored.activity_type, "payment")

    def test_the_feed_files_each_activity_under_its_session_and_pos(self):
        state = self.create_request(4.0)
        self.control.pay(state["centrapay_id"])
        self.engine_pass()
        activities = self.record(state).activity_ids
        self.assertEqual(
            set(activities.mapped("activity_type")), {"request", "payment"}
        )
        # What the back office groups them by (stored, though written in SQL).
        self.assertEqual(activities.session_id, self.session)
        self.assertEqual(activities.config_id, self.session.config_id)
        self.assertEqual(
            self.env["centrapay.payment.activity"].search_count(
                [("session_id", "=", self.session.id)]
            ),
            len(activities),
        )

    def test_create_paid_recorded(self):
        state = self.create_request(12.5)
        self.assertEqual(state["status"], "new")
        self.assertTrue(state["short_code"].startswith("CP-"))
        self.assertTrue(state["url"].startswith(self.sandbox.base_url))
        self.assertNotIn("qr", state)  # the POS draws it from the url
        request = self.record(state)
        self.assertEqual(request.amount, 12.5)
        self.assertEqual(request.session_id, self.session)
        self.assertEqual(request.terminal_id, "Centrapay Test POS")
        self.assertEqual(request.device_id, "till-1")
        created = self.sandbox_client().get_payment_request(state["centrapay_id"])
        self.assertEqual(created["value"], {"amount": "1250", "currency": "NZD"})
        self.assertEqual(created["externalRef"], request.external_ref)

        self.control.pay(state["centrapay_id"])
        self.make_stale(request)
        status = self.status(state)
        self.assertEqual(status["status"], "paid")
        self.assertTrue(status["paid_by"])
        self.assertEqual(request.paid_by_description, status["paid_by"])
        # The engine brings the activities into the ledger.
        self.engine_pass()
        self.assertEqual(
            sorted(request.activity_ids.mapped("activity_type")), ["payment", "request"]
        )
        self.assertEqual(request.activity_ids[0].amount, 12.5)

        order = self.env["pos.order"].create(
            {
                "session_id": self.session.id,
                "state": "paid",
                "amount_total": 12.5,
                "amount_tax": 0,
                "amount_paid": 12.5,
                "amount_return": 0,
                "payment_ids": [
                    fields.Command.create(
                        {
                            "amount": 12.5,
                            "payment_method_id": self.method.id,
                            "centrapay_request_id": state["centrapay_id"],
                            "centrapay_short_code": state["short_code"],
                            "uuid": state["payment_uuid"],
                        }
                    )
                ],
            }
        )
        self.assertEqual(request.pos_order_id, order)
        self.assertEqual(
            request.pos_payment_id.centrapay_short_code, state["short_code"]
        )

    def test_the_till_is_pushed_what_its_own_create_did_not_tell_it(self):
        def pushed():
            self.env.flush_all()
            messages = (
                self.env["bus.bus"]
                .sudo()
                .search([("message", "like", const.BUS_CHANNEL)], order="id")
            )
            return [json.loads(m.message)["payload"]["status"] for m in messages]

        before = pushed()
        state = self.create_request()
        # Its answer shows the QR code: a push of "new" would make it ask again.
        self.assertEqual(state["status"], "new")
        self.assertEqual(pushed(), before)
        self.control.pay(state["centrapay_id"])
        self.make_stale(self.record(state))
        self.engine_pass()
        self.assertEqual(pushed(), [*before, "paid"])

    def test_same_line_and_amount_reuses_the_request(self):
        first = self.create_request(5)
        again = self.create_request(5)
        self.assertEqual(first["centrapay_id"], again["centrapay_id"])
        self.assertEqual(len(self.calls("POST", "/api/payment-requests")), 1)

    def test_amount_changed_voids_the_old_request(self):
        first = self.create_request(5)
        second = self.create_request(7)
        self.assertNotEqual(first["centrapay_id"], second["centrapay_id"])
        self.assertEqual(self.record(first).status, "cancelled")
        self.assertEqual(self.record(second).status, "new")
        old = self.sandbox_client().get_payment_request(first["centrapay_id"])
        self.assertEqual(old["status"], "cancelled")

    def test_cancel_voids(self):
        state = self.create_request(3)
        result = self.cancel(state)
        self.assertEqual(result["status"], "cancelled")
        self.assertEqual(result["cancellation_reason"], "CANCELLED_BY_MERCHANT")
        self.assertEqual(len(self.calls("POST", "/void")), 1)
        self.engine_pass()
        self.assertIn(
            "cancellation", self.record(state).activity_ids.mapped("activity_type")
        )

    def test_cancel_loses_the_race_to_paid(self):
        state = self.create_request(3)
        self.control.pay(state["centrapay_id"])
        result = self.cancel(state)
        self.assertEqual(result["status"], "paid")
        # Voiding a paid request refunds it: it must not be sent.
        self.assertFalse(self.calls("POST", "/void"))

    def test_a_payment_landing_between_read_and_void_is_not_reported_paid(self):
        state = self.create_request(3)
        centrapay_id = state["centrapay_id"]
        # The void waits a second before Centrapay handles it; the patron pays then.
        self.control.add_fault(
            method="POST",
            path=f"/api/payment-requests/{centrapay_id}/void",
            kind="latency",
            seconds=1.0,
        )
        patron = threading.Timer(0.3, self.control.pay, [centrapay_id])
        patron.start()
        result = self.cancel(state)
        patron.join()
        # Centrapay refunded the payment and still says "paid": the sale is not paid.
        self.assertEqual(result["status"], "cancelled")
        self.assertEqual(result["cancellation_reason"], "REFUNDED_BY_VOID")
        request = self.record(state)
        self.make_stale(request)
        self.engine_pass()
        self.assertEqual(request.status, "cancelled")
        self.assertIn("refund", request.activity_ids.mapped("activity_type"))

    def refunded_by_a_lost_void(self, ago):
        """A request whose earlier void (``ago`` before now) had all its
        answers lost (its own, then the activities): it refunded a payment
        made meanwhile, and Centrapay still says "paid" (the fault soak's
        race). Returns the POS state and the record."""
        state = self.create_request(3)
        request = self.record(state)
        self.env.cr.execute(
            "UPDATE centrapay_payment_request SET void_requested = true, "
            "void_attempted_at = (now() at time zone 'UTC') - %s WHERE id = %s",
            [ago, request.id],
        )
        self.env.invalidate_all()
        self.control.pay(state["centrapay_id"])
        self.sandbox_client().void_payment_request(state["centrapay_id"])
        return state, request

    def test_a_void_whose_answers_were_lost_never_turns_paid_later(self):
        state, request = self.refunded_by_a_lost_void(timedelta(0))
        # The cashier presses Cancel again: the refund since the first void
        # decides, not the "paid" read first.
        result = self.cancel(state)
        self.assertEqual(result["status"], "cancelled")
        self.assertEqual(result["cancellation_reason"], "REFUNDED_BY_VOID")
        # The engine's reads keep it so.
        self.make_stale(request)
        self.engine_pass()
        self.assertEqual(request.status, "cancelled")

    def test_the_feed_never_makes_a_lost_voids_payment_paid(self):
        """The feed brings the payment, with its paidBy, of a request whose
        void's answers were lost: the engine reads it as before (doc §15.25),
        and the refund that void made decides, not the payment."""
        state, request = self.refunded_by_a_lost_void(timedelta(0))
        self.make_feed_due(request)
        self.engine_pass()
        stored = self.env["centrapay.payment.activity"].search(
            [
                ("centrapay_request_id", "=", state["centrapay_id"]),
                ("paid_by_json", "!=", False),
            ]
        )
        self.assertTrue(stored, "the feed brought the payment and its paidBy")
        self.assertEqual(request.status, "cancelled")
        self.assertEqual(request.cancellation_reason, "REFUNDED_BY_VOID")

    def test_a_void_refund_older_than_the_last_cancel_still_counts(self):
        """The cashier cancels again long after a void whose answers were lost:
        the refund that void made still decides, not the last attempt's time
        (the fault soak: a refund 43 s before the cashier's third cancel)."""
        state, _request = self.refunded_by_a_lost_void(timedelta(minutes=1))
        centrapay_id = state["centrapay_id"]
        time.sleep(1.1)
        # The cancel's first read cannot list the activities; its void is
        # refused (already refunded); its last read can.
        activities = f"/api/payment-requests/{centrapay_id}/activities"
        self.control.add_fault(kind="status", status=503, path=activities, times=3)
        with (
            patch.object(centrapay_payment_request, "_VOID_CLOCK_SKEW", timedelta(0)),
            self.assertLogs("odoo.addons.pos_centrapay", "WARNING"),
        ):
            result = self.cancel(state)
        self.assertEqual(result["status"], "cancelled")
        self.assertEqual(result["cancellation_reason"], "REFUNDED_BY_VOID")

    def test_a_new_amount_after_the_old_qr_was_paid_keeps_that_payment(self):
        first = self.create_request(5)
        self.control.pay(first["centrapay_id"])
        again = self.create_request(7)
        self.assertEqual(again["centrapay_id"], first["centrapay_id"])
        self.assertEqual(again["status"], "paid")
        self.assertEqual(len(self.calls("POST", "/api/payment-requests")), 1)

    def test_expiry(self):
        state = self.create_request(4)
        request = self.record(state)
        self.control.advance_clock(121)
        self.make_stale(request)
        self.engine_pass()
        self.assertEqual(request.status, "expired")

    def test_pos_timeout_voids(self):
        state = self.create_request(4)
        request = self.record(state)
        # Centrapay still says "new", but the POS gave up 7 s after expiry.
        request.sudo().write(
            {
                "expires_at": fields.Datetime.now() - timedelta(seconds=8),
                "next_poll_at": False,
            }
        )
        self.engine_pass()
        self.assertEqual(request.status, "cancelled")
        self.assertEqual(len(self.calls("POST", "/void")), 1)

    def test_unknown_errors_are_retried_then_voided(self):
        state = self.create_request(4)
        request = self.record(state)
        self.control.add_fault(
            method="GET",
            path=f"/api/payment-requests/{state['centrapay_id']}",
            kind="status",
            status=503,
            times=1000,
        )
        for attempt in range(1, 3):
            request.sudo().next_poll_at = False
            self.engine_pass()
            self.assertEqual(request.unknown_error_count, attempt)
            self.assertFalse(self.calls("POST", "/void"))
            self.assertTrue(request.next_poll_at, "read again later")
        request.sudo().next_poll_at = False
        with self.assertLogs("odoo.addons.pos_centrapay", "WARNING"):
            # The void's own reads retry (the cashier's calls do).
            self.engine_pass()
        # The third unknown read: voided, as the POS would at its timeout.
        self.assertEqual(len(self.calls("POST", "/void")), 1)
        self.control.clear_faults()
        request.sudo().next_poll_at = False
        self.engine_pass()
        self.assertEqual(request.status, "cancelled")

    def test_lost_create_response_is_recovered(self):
        self.control.add_fault(
            method="POST",
            path="/api/payment-requests",
            kind="commit_then_drop",
            times=1,
        )
        with self.assertLogs("odoo.addons.pos_centrapay", "WARNING") as logs:
            state = self.create_request(9)
        self.assertIn("looking up externalRef", logs.output[0])
        self.assertEqual(state["status"], "new")
        request = self.record(state)
        found = self.sandbox_client().list_payment_requests_by_external_ref(
            request.external_ref, self.sandbox.merchant_account_id
        )
        self.assertEqual([item["id"] for item in found.items], [state["centrapay_id"]])

    def test_bad_amounts_are_refused_before_any_call(self):
        for amount in (0, -5, "abc", None, True):
            result = self.create_request(amount, payment_uuid=f"bad-{amount}")
            self.assertIn("error", result)
        self.assertFalse(self.calls("POST", "/api/payment-requests"))

    def test_a_create_waits_its_turn_then_is_refused_with_nothing_stored(self):
        # Every turn of this process is taken (creates holding their cursors):
        # a create waits, then the cashier is told to try again.
        turns = centrapay_payment_request._CREATE_TURNS
        Request = self.env["centrapay.payment.request"]
        before = Request.search_count([])
        for _turn in range(const.CREATES_AT_ONCE):
            self.assertTrue(turns.acquire(timeout=1))
        try:
            with patch.object(const, "CREATE_TURN_WAIT_SECONDS", 0.2):
                result = self.create_request(3)
        finally:
            for _turn in range(const.CREATES_AT_ONCE):
                turns.release()
        self.assertEqual(
            result["error"], str(error_messages.ERROR_MESSAGES["create.busy"])
        )
        self.assertEqual(Request.search_count([]), before)
        self.assertFalse(self.calls("POST", "/api/payment-requests"))
        # A turn free: the same line creates its request.
        self.assertEqual(self.create_request(3)["status"], "new")
        self.assertEqual(len(self.calls("POST", "/api/payment-requests")), 1)

    def test_bad_api_key_gives_a_clear_error(self):
        self.method.centrapay_api_key = "wrong-key"
        result = self.create_request(2)
        self.assertIn("API key", result["error"])
        self.assertNotIn("wrong-key", result["error"])

    def test_a_misconfigured_method_does_not_stall_the_status_job(self):
        state = self.create_request(4)
        request = self.record(state)
        healthy = self.record(self.create_request(5, payment_uuid="line-2"))
        other_method = self.env["pos.payment.method"].create(
            centrapay_method_vals(self.sandbox, self.journal, name="Centrapay 2")
        )
        healthy.sudo().payment_method_id = other_method
        self.control.pay(healthy.centrapay_id)
        healthy.sudo().next_poll_at = False
        # Bypasses the constraints, as a broken database or a module update might.
        self.env.cr.execute(
            "UPDATE pos_payment_method SET use_payment_terminal = NULL WHERE id = %s",
            [self.method.id],
        )
        self.method.invalidate_recordset()
        request.sudo().next_poll_at = False
        with self.assertLogs("odoo.addons.pos_centrapay", "ERROR"):
            self.engine_pass()
        self.assertIn("not configured for Centrapay", request.last_error)
        self.assertEqual(request.status, "new")
        self.assertTrue(request.next_poll_at)
        self.assertEqual(healthy.status, "paid", "the other request was still polled")

    def test_an_unreadable_request_is_abandoned_not_polled_forever(self):
        state = self.create_request(4)
        request = self.record(state)
        self.control.add_fault(
            path=f"/api/payment-requests/{state['centrapay_id']}",
            kind="status",
            status=403,
            times=1000,
        )
        request.sudo().write(
            {
                "expires_at": fields.Datetime.now() - timedelta(minutes=11),
                "next_poll_at": False,
            }
        )
        self.engine_pass()
        self.assertEqual(request.status, "error")
        self.assertIn("abandoned", request.last_error)

    def test_a_line_sent_again_after_its_request_was_paid_gets_that_payment(self):
        """A reload resends the line: the request paid meanwhile is handed back."""
        first = self.create_request(5, payment_uuid="reload-line")
        self.control.pay(first["centrapay_id"])
        self.make_stale(self.record(first))
        self.assertEqual(self.status(first)["status"], "paid")
        again = self.create_request(5, payment_uuid="reload-line")
        self.assertEqual(again["centrapay_id"], first["centrapay_id"])
        self.assertEqual(again["status"], "paid")
        self.assertTrue(again["final"])
        self.assertEqual(len(self.calls("POST", "/api/payment-requests")), 1)
