"""Tours of the QR screen and the customer display, checked at the sandbox.

The status in words as the sandbox flips it (CP-CORE-15, CP-POS-8), the
button's mark (CP-POS-12), terminal and device ids (CP-CORE-11), "customer not
present" (CP-EXT-10), a split tender's line items (CP-CORE-12), the customer
display (CP-CORE-2, CP-FLOW-1), showing the QR code the POS draws, read back
in the browser as the request's url (CP-CORE-5).
"""

import re
from pathlib import Path

from odoo.tests import tagged

from ..centrapay.client import CentrapayClient
from ..centrapay.line_items import OTHER_TENDERS
from .common import CentrapayHttpCommon
from .test_error_messages import CANCELLATION_REASONS

MODULE_DIR = Path(__file__).resolve().parent.parent


@tagged("post_install", "-at_install")
class TestCentrapayDisplayTours(CentrapayHttpCommon):
    def setUp(self):
        super().setUp()
        # The cashier validates: while the POS saves an order by itself it
        # blocks the screen, and a tour cannot read the final word then.
        self.main_pos_config.auto_validate_terminal_payment = False
        self.main_pos_config.with_user(self.pos_user).open_ui()
        self.pos_session = self.main_pos_config.current_session_id
        self.Request = self.env["centrapay.payment.request"]

    def requests(self):
        return self.Request.search(
            [("payment_method_id", "=", self.centrapay_method.id)], order="id"
        )

    def created(self, request):
        """The Payment Request as Centrapay has it."""
        client = CentrapayClient(self.sandbox.base_url, self.sandbox.api_key)
        return client.get_payment_request(request.centrapay_id)

    def test_paid(self):
        self.start_pos_tour("CentrapayStatusPaidTour")
        request = self.requests()
        self.assertEqual(request.status, "paid")
        created = self.created(request)
        # What Centrapay received: the POS's name and this till's device id.
        self.assertEqual(created["terminalId"], "Shop")
        self.assertEqual(created["deviceId"], "tour-till-7")
        self.assertEqual(request.device_id, "tour-till-7")
        # The order's lines, summing to the request.
        items = created["lineItems"]
        self.assertEqual(items[0]["name"], "Desk Pad")
        self.assertEqual(
            sum(int(i["price"]) for i in items), int(created["value"]["amount"])
        )

    def test_patron_cancels(self):
        self.start_pos_tour("CentrapayStatusPatronCancelTour")
        request = self.requests()
        self.assertEqual(request.status, "cancelled")
        self.assertEqual(request.cancellation_reason, "CANCELLED_BY_PATRON")

    def test_cashier_cancels(self):
        self.start_pos_tour("CentrapayStatusMerchantCancelTour")
        request = self.requests()
        self.assertEqual(request.status, "cancelled")
        self.assertEqual(request.cancellation_reason, "CANCELLED_BY_MERCHANT")

    def test_expires(self):
        self.start_pos_tour("CentrapayStatusExpiredTour")
        self.assertEqual(self.requests().status, "expired")

    def test_customer_not_present(self):
        self.start_pos_tour("CentrapayPatronNotPresentTour")
        first, second = self.requests()
        self.assertEqual(first.status, "cancelled")
        self.assertEqual(first.cancellation_reason, "CANCELLED_BY_MERCHANT")
        self.assertNotIn("patronNotPresent", self.created(first))
        self.assertEqual(second.status, "paid")
        self.assertTrue(second.patron_not_present)
        self.assertIs(self.created(second)["patronNotPresent"], True)
        self.assertEqual(second.pos_payment_id.pos_order_id.state, "paid")

    def test_split_tender(self):
        self.start_pos_tour("CentrapaySplitTenderTour")
        request = self.requests()
        self.assertEqual(request.status, "paid")
        created = self.created(request)
        items = created["lineItems"]
        self.assertEqual(items[0]["name"], "Desk Pad")
        self.assertEqual(items[-1]["name"], OTHER_TENDERS)
        self.assertEqual(items[-1]["price"], "-100")  # the 1.00 paid in cash
        self.assertEqual(
            sum(int(i["price"]) for i in items), int(created["value"]["amount"])
        )

    def test_every_cancellation_reason_has_words(self):
        # The one table of words in JS names exactly doc §4.3's reasons (and ours).
        js = (MODULE_DIR / "static/src/common/centrapay_status.js").read_text()
        table = js[js.index("const CANCELLATION_REASONS") :]
        table = table[: table.index("};")]
        codes = re.findall(r"^\s+([A-Z_]+):", table, re.MULTILINE)
        self.assertEqual(sorted(codes), sorted(CANCELLATION_REASONS))
        self.start_pos_tour("CentrapayCancellationWordsTour")

    def test_customer_display(self):
        self.pos_session.set_opening_control(0, "")
        state = self.centrapay_method.with_user(self.pos_user).centrapay_create_request(
            {
                "amount": 12.5,
                "payment_uuid": "display-line",
                "session_id": self.pos_session.id,
                "device_id": "display-till",
            }
        )
        config = self.main_pos_config
        self.start_tour(
            f"/pos_customer_display/{config.id}/{config.access_token}"
            f"?method={self.centrapay_method.id}&session={self.pos_session.id}"
            f"&request={state['centrapay_id']}",
            "CentrapayCustomerDisplayTour",
            login="pos_user",
        )
        request = self.Request.search([("centrapay_id", "=", state["centrapay_id"])])
        # Paid by the sandbox patron at the url the tour read from the QR code
        # on the display.
        self.assertEqual(request.status, "paid")
