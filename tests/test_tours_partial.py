import json
from urllib.parse import quote

from odoo.tests import tagged

from ..centrapay.client import CentrapayClient
from .common import CentrapayTillCommon


@tagged("post_install", "-at_install")
class TestCentrapayPartialConditionTours(CentrapayTillCommon):
    """Partial payments (CP-EXT-17) and payment conditions (CP-EXT-8,
    CP-EXT-9) on the POS, with a method that offers both."""

    centrapay_method_settings = {
        "centrapay_partial_allowed": True,
        "centrapay_conditions_enabled": True,
    }

    def test_partial_payment_completed_with_cash(self):
        """CP-EXT-17: the customer pays part; the order is completed in cash."""
        self.start_pos_tour("CentrapayPartialCashTour")
        request = self._requests()
        self.assertEqual(request.status, "paid")
        self.assertTrue(request.partial_allowed)
        self.assertEqual(request.paid_amount, 1.0)
        self.assertEqual(request.remaining_amount, 0.98)
        order = request.pos_order_id
        self.assertEqual(order.state, "paid")
        self.assertEqual(request.pos_payment_id.amount, 1.0)
        self.assertEqual(
            sorted(order.payment_ids.mapped("amount")), [0.98, 1.0], "the rest in cash"
        )

    def test_partial_payment_abandoned_and_refunded(self):
        """CP-EXT-17: the cashier deletes the order; the Centrapay part is
        refunded, recorded and reconciled."""
        self.start_pos_tour("CentrapayPartialAbandonTour")
        request = self._requests()
        self.assertEqual(request.status, "paid")
        self.assertTrue(request.pos_abandoned_at)
        self.assertFalse(request.pos_payment_id)
        # The engine's next pass gives it back.
        self.env.flush_all()
        self.env["centrapay.engine"]._centrapay_pass()
        self.env.invalidate_all()
        refund = request.refund_ids
        self.assertEqual(refund.origin, "abandoned")
        self.assertEqual(refund.amount, 1.0)
        self.assertIn(refund.state, ("initiated", "completed"))
        session = self.main_pos_config.current_session_id
        item = (
            self.env["centrapay.reconciliation.item"]
            ._centrapay_reconcile_sessions(session)
            .filtered(lambda i: i.request_id == request)
        )
        self.assertEqual(item.kind, "matched")

    def test_customer_display_follows_remaining_amount(self):
        """CP-EXT-14: the customer display shows the latest remainingAmount,
        while the request waits and after the customer paid part of it.

        The till's states are read here, as the cashier, and handed to the
        display's tour: a till's status poll that makes the engine read a
        request deadlocks on the single test cursor (the engine's read
        thread), so the tour itself does not poll.
        """
        session = self.main_pos_config.current_session_id
        session.set_opening_control(0, "")
        method = self.centrapay_method.with_user(self.pos_user)
        state = method.centrapay_create_request(
            {
                "amount": 12.5,
                "payment_uuid": "display-remainder-line",
                "session_id": session.id,
                "device_id": "display-till",
            }
        )
        centrapay_id = state["centrapay_id"]
        request = self.Request.search([("centrapay_id", "=", centrapay_id)])

        def till_reads():
            """What the till's status RPC answers once the engine read it."""
            request._centrapay_refresh()
            return method.centrapay_get_status(centrapay_id, session.id)

        # Centrapay's remainingAmount changes while the request waits: 2.50 of
        # it is paid with an external tender (doc §15.22)...
        client = CentrapayClient(self.sandbox.base_url, self.sandbox.api_key)
        client.pay_payment_request(
            centrapay_id,
            asset_type="external.test",
            idempotency_key="display-remainder",
            amount="250",
        )
        waiting = till_reads()
        self.assertEqual((waiting["status"], waiting["remaining_amount"]), ("new", 10))
        # ...then the customer pays 5.00 of the rest in their app.
        self.control.pay(centrapay_id, amount=500, mode="partial-payment")
        paid = till_reads()
        self.assertEqual(paid["status"], "paid")
        self.assertEqual((paid["paid_amount"], paid["remaining_amount"]), (5, 5))
        config = self.main_pos_config
        states = quote(json.dumps([waiting, paid]))
        self.start_tour(
            f"/pos_customer_display/{config.id}/{config.access_token}?states={states}",
            "CentrapayCustomerDisplayRemainderTour",
            login="pos_user",
        )

    def test_photo_id_condition_accepted(self):
        """CP-EXT-8, CP-EXT-9: the photo-ID check shown, accepted, paid."""
        self.start_pos_tour("CentrapayConditionAcceptTour")
        request = self._requests().filtered(lambda r: r.flow == "barcode")
        self.assertTrue(request.conditions_enabled)
        self.assertEqual(request.status, "paid")
        self.assertEqual(request.pos_order_id.state, "paid")
        answers = [
            a["type"]
            for a in CentrapayClient(
                self.sandbox.base_url, self.sandbox.api_key
            ).list_payment_request_activities(request.centrapay_id)
        ]
        self.assertIn("accept-condition", answers)

    def test_photo_id_condition_declined(self):
        """CP-EXT-9: the photo-ID check declined: cancelled by the till."""
        self.start_pos_tour("CentrapayConditionDeclineTour")
        request = self._requests().filtered(lambda r: r.flow == "barcode")
        self.assertEqual(request.status, "cancelled")
        self.assertEqual(request.cancellation_reason, "DECLINED_BY_MERCHANT")
