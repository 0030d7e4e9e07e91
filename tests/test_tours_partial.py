from odoo.tests import tagged

from ..centrapay.client import CentrapayClient
from .common import CentrapayHttpCommon


@tagged("post_install", "-at_install")
class TestCentrapayPartialConditionTours(CentrapayHttpCommon):
    """Partial payments (CP-EXT-17) and payment conditions (CP-EXT-8,
    CP-EXT-9) on the POS, with a method that offers both."""

    centrapay_method_settings = {
        "centrapay_partial_allowed": True,
        "centrapay_conditions_enabled": True,
    }

    def setUp(self):
        super().setUp()
        self.main_pos_config.with_user(self.pos_user).open_ui()
        self.Request = self.env["centrapay.payment.request"]

    def _requests(self):
        return self.Request.search(
            [("payment_method_id", "=", self.centrapay_method.id)], order="id"
        )

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
