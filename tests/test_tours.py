from odoo.tests import tagged

from .common import CentrapayHttpCommon


@tagged("post_install", "-at_install")
class TestCentrapayTours(CentrapayHttpCommon):
    def setUp(self):
        super().setUp()
        self.main_pos_config.with_user(self.pos_user).open_ui()
        self.Request = self.env["centrapay.payment.request"]

    def test_smoke(self):
        self.start_pos_tour("CentrapaySmokeTour")

    def test_pay(self):
        self.start_pos_tour("CentrapayPayTour")
        request = self.Request.search(
            [("payment_method_id", "=", self.centrapay_method.id)]
        )
        self.assertEqual(request.status, "paid")
        self.assertTrue(
            request.pos_payment_id, "the synced payment line links its request"
        )
        self.assertEqual(
            request.pos_payment_id.centrapay_short_code, request.short_code
        )
        self.assertEqual(request.pos_order_id.state, "paid")

    def test_cancel(self):
        self.start_pos_tour("CentrapayCancelTour")
        request = self.Request.search(
            [("payment_method_id", "=", self.centrapay_method.id)]
        )
        self.assertEqual(request.status, "cancelled")
        self.assertEqual(request.cancellation_reason, "CANCELLED_BY_MERCHANT")

    def test_expire(self):
        self.start_pos_tour("CentrapayExpireTour")
        request = self.Request.search(
            [("payment_method_id", "=", self.centrapay_method.id)]
        )
        self.assertEqual(request.status, "expired")

    def test_reload_mid_payment_then_pay(self):
        self.start_pos_tour("CentrapayReloadTour")
        request = self.Request.search(
            [("payment_method_id", "=", self.centrapay_method.id)]
        )
        self.assertEqual(
            len(request), 1, "the reload resumed the request, it made no new one"
        )
        self.assertEqual(request.status, "paid")

    def test_an_unverified_centrapay_line_does_not_sync(self):
        self.start_pos_tour("CentrapayUnverifiedLineTour")
        orders = self.env["pos.order"].search(
            [("config_id", "=", self.main_pos_config.id)]
        )
        self.assertFalse(orders.filtered(lambda o: o.state != "draft"))

    def _refunds(self):
        return self.env["centrapay.refund"].search(
            [("request_id.payment_method_id", "=", self.centrapay_method.id)]
        )

    def test_full_refund_from_the_pos(self):
        self.start_pos_tour("CentrapayFullRefundTour")
        refund = self._refunds()
        self.assertEqual(refund.state, "initiated")
        self.assertEqual(refund.amount, refund.request_id.amount)
        self.assertTrue(refund.pos_order_id, "the refund order synced and links it")
        self.assertTrue(refund.short_code)

    def test_partial_refund_from_the_pos(self):
        self.start_pos_tour("CentrapayPartialRefundTour")
        refund = self._refunds()
        request = refund.request_id
        self.assertEqual(refund.state, "initiated")
        self.assertAlmostEqual(refund.amount * 3, request.amount, places=2)
        self.assertEqual(
            request._centrapay_refundable(),
            request.currency_id.round(request.amount - refund.amount),
        )

    def test_a_refund_centrapay_refuses(self):
        self.control.configure(refundWindowSeconds=0)
        self.addCleanup(self.control.configure, refundWindowSeconds=90 * 24 * 3600)
        self.start_pos_tour("CentrapayRefusedRefundTour")
        refund = self._refunds()
        self.assertEqual(refund.state, "failed")
        self.assertFalse(refund.pos_order_id)

    def test_a_refund_with_no_refund_order_is_refused(self):
        self.control.clear_calls()
        self.start_pos_tour("CentrapayRefundWithoutRefundOrderTour")
        self.assertFalse(self._refunds())
        refunds_sent = [
            c
            for c in self.control.calls()
            if c["method"] == "POST" and c["path"].endswith("/refund")
        ]
        self.assertFalse(refunds_sent, "nothing was sent to Centrapay")

    def test_a_close_with_a_pending_request_is_stopped_at_the_till(self):
        session = self.main_pos_config.current_session_id
        session.set_opening_control(0, "")
        self.env.flush_all()
        state = self.centrapay_method.with_user(self.pos_user).centrapay_create_request(
            {"amount": 3.0, "payment_uuid": "pending-at-close", "session_id": session.id}
        )
        self.assertEqual(state["status"], "new")
        self.start_pos_tour("CentrapayCloseWithPendingTour")
        self.assertEqual(session.state, "opened", "a refused close leaves it open")
        self.assertFalse(session.centrapay_close_forced_by)
