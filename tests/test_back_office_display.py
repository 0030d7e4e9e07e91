from decimal import Decimal

from odoo.tests import tagged

from .common import MANAGER, CentrapayCommon
from .test_reconciliation import ReconciliationMixin


@tagged("post_install", "-at_install")
class TestCentrapayBackOfficeDisplay(ReconciliationMixin, CentrapayCommon):
    """What a manager reads in the back office (issue 21), as a real manager."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.manager = cls._user("display_manager", MANAGER)

    def setUp(self):
        super().setUp()
        self.control.configure(partialRefunds=1, refundWindowSeconds=90 * 24 * 3600)

    def test_a_refunded_request_says_so_and_can_be_filtered(self):
        Request = self.env["centrapay.payment.request"].with_user(self.manager)
        refunded = self.paid_request(6.79, "refunded-line")
        untouched = self.paid_request(4, "untouched-line")
        self.env["centrapay.refund"].sudo()._centrapay_start(
            refunded, Decimal("2.76"), "backoffice", reason="Damaged"
        )
        refunded.invalidate_recordset()
        refunded = Request.browse(refunded.id)
        self.assertEqual(refunded.status, "paid")
        self.assertAlmostEqual(refunded.refunded_amount, 2.76)
        self.assertEqual(refunded.refund_status, "partial")
        self.assertFalse(Request.browse(untouched.id).refund_status)
        found = Request.search([("refund_status", "in", ("partial", "full"))])
        self.assertIn(refunded, found)
        self.assertNotIn(untouched, found)
        self.assertIn(untouched, Request.search([("refund_status", "=", False)]))
        views = Request.get_views([(False, "list"), (False, "form"), (False, "search")])
        for view in ("list", "form"):
            self.assertIn("refunded_amount", views["views"][view]["arch"])
        self.assertIn('name="refunded"', views["views"]["search"]["arch"])

    def test_reconciliation_items_read_plainly(self):
        request = self.paid_request(6, "orphan-line")
        item = self.items().filtered(lambda i: i.request_id == request)
        item = item.with_user(self.manager)
        self.assertEqual(item.kind, "orphan")
        # A readable title: the short code and what is wrong, not an id.
        self.assertEqual(
            item.display_name,
            f"{request.short_code} · Paid at Centrapay, no POS payment",
        )
        self.assertEqual(item.session_label, self.session.name)
        # An item with no session has a group label that says why.
        item.sudo().session_id = False
        self.assertEqual(item.session_label, "No POS session (paid at Centrapay only)")
        # The dialogs have titles.
        self.assertEqual(
            item.action_centrapay_explain()["name"], "Explain Centrapay items"
        )
        self.assertEqual(
            item.action_centrapay_attach()["name"],
            "Attach a Centrapay payment to a POS order",
        )
        ask = item.action_centrapay_refund_orphan_ask()
        self.assertEqual(ask["name"], "Refund a Centrapay payment")
        # The refund is confirmed with its amount and code in view.
        wizard = (
            self.env["centrapay.reconciliation.wizard"]
            .with_user(self.manager)
            .with_context(**ask["context"])
            .create({})
        )
        self.assertIn(request.short_code, wizard.summary)
        self.assertIn("6.00", wizard.summary)
        self.assertFalse(request.refund_ids, "nothing is refunded before confirming")
        wizard.action_confirm()
        self.assertEqual(request.refund_ids.amount, 6)
        # "Mark explained" is reachable on a row and on the item's form.
        views = item.get_views([(False, "list"), (False, "form")])["views"]
        self.assertIn("o_centrapay_explain", views["list"]["arch"])
        self.assertIn("action_centrapay_explain", views["form"]["arch"])
