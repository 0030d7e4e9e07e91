from unittest.mock import patch

from odoo.exceptions import AccessError
from odoo.tests import tagged

from .. import error_messages
from ..centrapay.client import CentrapayClient
from ..centrapay.sandbox import barcodes
from .common import CASHIER, CentrapayCommon

PAYS, NO_BALANCE, EXPIRED, INACTIVE = "424242424", "434343434", "454545454", "464646464"
APP_CODE = barcodes.PATRON_BARCODE  # 9990001234567890-style, Luhn-valid


@tagged("post_install", "-at_install")
class TestCentrapayBarcodeFlow(CentrapayCommon):
    """The barcode flow at the till, against the sandbox, as a cashier.

    Checklist: CP-FLOW-4 (codes of up to 16 digits; a Luhn error or an unknown
    code refused in words before any request), CP-FLOW-5 (Quick Pay: the
    engine reads a barcode request at once), CP-FLOW-6 (a complete barcode
    payment: a Farmlands card, an app code approved in the app, each refused
    card in words, and a Farmlands refund).
    """

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.cashier = cls._user("barcode_cashier", CASHIER)

    def scan(self, code, amount=42.0, payment_uuid="bc-line", user=None):
        """The create RPC with a scanned code, as the cashier."""
        self.env.flush_all()
        result = self.method.with_user(user or self.cashier).centrapay_create_request(
            {
                "amount": amount,
                "payment_uuid": payment_uuid,
                "order_uuid": "order-bc",
                "order_name": "Order BC",
                "session_id": self.session.id,
                "device_id": "till-1",
                "barcode": code,
            }
        )
        self.env.invalidate_all()
        return result

    def read_status(self, state):
        """The status RPC, as the cashier."""
        return self.method.with_user(self.cashier).centrapay_get_status(
            state["centrapay_id"], self.session.id
        )

    def assert_nothing_stored(self, before):
        self.assertEqual(self.Request.search_count([]), before)
        self.assertFalse(self.calls("POST", "/api/payment-requests"))

    def test_farmlands_card_paid(self):
        """CP-FLOW-6: a Farmlands card is charged by the engine's first read."""
        state = self.scan("4242 4242 4")
        self.assertFalse(state.get("error"), state)
        self.assertEqual(state["status"], "new")
        self.assertEqual(state["flow"], "barcode")
        self.assertEqual(state["barcode_provider"], "farmlands")
        self.assertEqual(state["barcode_last4"], "2424")
        self.assertNotIn("qr", state)
        self.assertNotIn(PAYS, str(state))
        request = self.record(state)
        self.assertNotIn(PAYS, str(request.read()[0]))
        self.assertEqual(len(self.calls("POST", "/api/payment-requests")), 1)
        self.assertEqual(
            self.sandbox_client()
            .get_payment_request_by_short_code(state["short_code"])
            .get("barcode"),
            PAYS,
        )
        self.assertEqual(len(self.calls("POST", "/api/decode")), 1)
        self.engine_pass()
        status = self.read_status(state)
        self.assertEqual(status["status"], "paid")
        self.assertIn("Farmlands", status["paid_by"] or "")

    def test_engine_reads_a_barcode_request_at_once(self):
        """CP-FLOW-5: Quick Pay's first read takes the payment, so it is due now."""
        state = self.scan(PAYS)
        request = self.record(state)
        self.assertFalse(request.next_poll_at, "due at once")
        self.control.clear_calls()
        self.engine_pass()
        reads = self.calls("GET", f"/api/payment-requests/{state['centrapay_id']}")
        self.assertTrue(reads)
        self.assertEqual(request.status, "paid")
        # A QR request is not read at once: its first read waits its turn.
        qr = self.record(self.create_request(5.0, payment_uuid="qr-line"))
        self.assertTrue(qr.next_poll_at)

    def test_each_refused_card_in_words(self):
        """CP-FLOW-6: each refusing Farmlands card is cancelled, in words."""
        for index, (card, reason) in enumerate(
            [
                (NO_BALANCE, "PAYMENT_DECLINED"),
                (EXPIRED, "PATRON_CODE_EXPIRED"),
                (INACTIVE, "INACTIVE_ASSET"),
            ]
        ):
            with self.subTest(card=card):
                state = self.scan(card, payment_uuid=f"refused-{index}")
                self.assertEqual(state["status"], "new", state)
                self.engine_pass()
                final = self.read_status(state)
                self.assertEqual(final["status"], "cancelled")
                self.assertEqual(final["cancellation_reason"], reason)
                words = self.env._(error_messages.ERROR_MESSAGES[reason])
                self.assertEqual(final["cancellation_message"], words)
                self.assertNotIn(reason, final["cancellation_message"])

    def test_bad_codes_are_refused_before_anything_is_stored(self):
        """CP-FLOW-4: a bad Luhn, a malformed or an unknown code: words, no request."""
        before = self.Request.search_count([])
        bad_luhn = APP_CODE[:-1] + str((int(APP_CODE[-1]) + 1) % 10)
        cases = {
            bad_luhn: "validation.barcode_checksum",
            "12345678901234567": "validation.barcode_format",
            "abc": "validation.barcode_format",
            "x" * 5000: "validation.barcode_format",
            "   ": "validation.barcode_required",
        }
        for code, key in cases.items():
            with self.subTest(code=code[:20]):
                result = self.scan(code)
                self.assertEqual(
                    result["error"], self.env._(error_messages.ERROR_MESSAGES[key])
                )
        # None of these reached Centrapay at all.
        self.assertFalse(self.calls("POST", "/api/decode"))
        self.assert_nothing_stored(before)
        # Well-formed, Luhn-valid, but Centrapay does not know it: decoded, refused.
        unknown = barcodes.patron_barcode(555)
        result = self.scan(unknown)
        self.assertEqual(
            result["error"],
            self.env._(error_messages.ERROR_MESSAGES["UNKNOWN_CODE"]),
        )
        self.assertEqual(len(self.calls("POST", "/api/decode")), 1)
        self.assert_nothing_stored(before)

    def test_a_refused_code_leaves_the_open_qr_request(self):
        """A refused scan neither stores nor voids: the QR code stays valid."""
        qr = self.create_request(42.0, payment_uuid="bc-line")
        result = self.scan(barcodes.patron_barcode(555))
        self.assertIn("error", result)
        self.assertEqual(self.record(qr).status, "new")
        self.assertFalse(self.calls("POST", "/void"))

    def test_app_code_approved_in_the_app(self):
        """CP-FLOW-6: an app barcode waits for the patron, who approves in the app."""
        qr = self.create_request(15.0, payment_uuid="app-line")
        state = self.scan(APP_CODE, amount=15.0, payment_uuid="app-line")
        self.assertEqual(state["barcode_provider"], "centrapay")
        self.assertNotEqual(state["centrapay_id"], qr["centrapay_id"])
        # The line's QR request was superseded by the barcode one.
        self.assertEqual(self.record(qr).status, "cancelled")
        self.engine_pass()
        self.assertEqual(self.read_status(state)["status"], "new")
        # The same code scanned again resumes that request; a reload too.
        again = self.scan(APP_CODE, amount=15.0, payment_uuid="app-line")
        self.assertEqual(again["centrapay_id"], state["centrapay_id"])
        resumed = self.method.with_user(self.cashier).centrapay_create_request(
            {
                "amount": 15.0,
                "payment_uuid": "app-line",
                "session_id": self.session.id,
            }
        )
        self.assertEqual(resumed["centrapay_id"], state["centrapay_id"])
        self.assertEqual(resumed["flow"], "barcode")
        self.control.approve(state["centrapay_id"])
        self.make_stale(self.record(state))
        self.engine_pass()
        self.assertEqual(self.read_status(state)["status"], "paid")

    def test_cancel_voids_a_barcode_request(self):
        state = self.scan(APP_CODE, amount=9.0)
        cancelled = self.method.with_user(self.cashier).centrapay_cancel_request(
            state["centrapay_id"], self.session.id
        )
        self.assertEqual(cancelled["status"], "cancelled")

    def test_a_farmlands_payment_is_refunded(self):
        """CP-FLOW-6: a Farmlands refund names the merchant config (doc §15.19)."""
        state = self.scan(PAYS, amount=20.0, payment_uuid="fl-paid")
        self.engine_pass()
        self.assertEqual(self.read_status(state)["status"], "paid")
        request = self.record(state)
        sale = self.sale(request, qty=1)
        refund = self.method.with_user(self.cashier).centrapay_refund_request(
            {
                "amount": 20.0,
                "payment_uuid": "fl-refund",
                "session_id": self.session.id,
                "order_uuid": "order-fl-refund",
                "centrapay_id": request.centrapay_id,
                "refunded_lines": self.returned(sale, 1),
            }
        )
        # The sandbox refuses a Farmlands refund without merchantConfigId.
        self.assertTrue(refund.get("accepted"), refund)
        self.assertEqual(request._centrapay_refundable(), 0)

    def test_the_caller_is_checked_before_any_code_is_decoded(self):
        """Only a POS user of an open session may send a code: checked first."""
        internal = self._user("barcode_internal", "base.group_user")
        before = self.Request.search_count([])
        with self.assertRaises(AccessError):
            self.scan(PAYS, user=internal)
        self.assertFalse(self.calls("POST", "/api/decode"))
        self.assert_nothing_stored(before)

    def test_a_qr_paid_while_a_code_is_scanned_is_the_payment(self):
        """The line's QR request, paid just before the scan, is kept: never twice."""
        qr = self.create_request(42.0, payment_uuid="bc-line")
        self.control.pay(qr["centrapay_id"])
        self.control.clear_calls()
        state = self.scan(PAYS)
        self.assertEqual(state["centrapay_id"], qr["centrapay_id"])
        self.assertEqual(state["status"], "paid")
        self.assertEqual(state["flow"], "qr")
        self.assertFalse(self.calls("POST", "/api/payment-requests"))

    def test_a_code_of_another_provider_is_refused_in_words(self):
        """E17 may name providers this till does not take (PayPal, Venmo)."""
        before = self.Request.search_count([])
        decoded = {"provider": "paypal", "displayName": "PayPal"}
        with patch.object(CentrapayClient, "decode_scanned_code", return_value=decoded):
            result = self.scan("123456789")
        self.assertIn("PayPal", result["error"])
        self.assertIn("does not take", result["error"])
        self.assert_nothing_stored(before)
