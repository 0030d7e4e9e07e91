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
