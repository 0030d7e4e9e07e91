import base64
import json
import logging
from decimal import Decimal

from odoo.exceptions import AccessError
from odoo.tests import tagged

from ..centrapay.client import CentrapayClient
from .common import CentrapayHttpCommon

WEBHOOK_LOGGER = "odoo.addons.pos_centrapay.models.centrapay_webhook_event"


@tagged("post_install", "-at_install")
class TestCentrapayWebhook(CentrapayHttpCommon):
    def setUp(self):
        super().setUp()
        self.env["ir.config_parameter"].sudo().set_param(
            "web.base.url", self.base_url()
        )
        self.centrapay_method.centrapay_webhook_enabled = True
        self.main_pos_config.open_ui()
        self.main_pos_config.current_session_id.set_opening_control(0, "")
        self.state = self.centrapay_method.centrapay_create_request(
            {
                "amount": 8.0,
                "payment_uuid": "webhook-line",
                "order_uuid": "webhook-order",
                "order_name": "Webhook 0001",
                "session_id": self.main_pos_config.current_session_id.id,
            }
        )
        self.request = self.env["centrapay.payment.request"].search(
            [("centrapay_id", "=", self.state["centrapay_id"])]
        )
        self.audience = self.centrapay_method.centrapay_webhook_url

    def notification(self, notification_id="n-1", request_id=None):
        body = {
            "id": notification_id,
            "type": "payment-request:paid",
            "data": {"paymentRequestId": request_id or self.state["centrapay_id"]},
            "accountId": self.sandbox.merchant_account_id,
            "test": True,
            "createdAt": "2026-11-25T00:00:00.000Z",
        }
        return json.dumps(body).encode()

    def post(self, body, token):
        return self.url_open(
            "/pos_centrapay/webhook",
            data=body,
            headers={"Authorization": token, "Content-Type": "application/json"},
        )

    def test_paid_webhook_is_verified_applied_once(self):
        self.control.pay(self.state["centrapay_id"])
        body = self.notification()
        token = self.control.sign(body, self.audience)
        response = self.post(body, f"Bearer {token}")
        self.assertEqual(response.status_code, 200)
        self.assertEqual(response.json()["result"], "processed")
        # The webhook made no Centrapay call (CP-POS-14): it woke the engine.
        self.assertFalse(self.calls_to(self.state["centrapay_id"]))
        self.request.invalidate_recordset()
        self.assertEqual(self.request.status, "new")
        event = self.env["centrapay.webhook.event"].search(
            [("notification_id", "=", "n-1")]
        )
        self.assertEqual(event.centrapay_request_id, self.state["centrapay_id"])
        self.assertFalse(event.handled, "the engine takes it on its next pass")
        self.env["centrapay.engine"]._centrapay_pass()
        self.request.invalidate_recordset()
        self.assertEqual(self.request.status, "paid")
        again = self.post(body, token)
        self.assertEqual(again.json()["result"], "duplicate")

    def test_the_payment_a_paid_webhook_carries_needs_no_read(self):
        """The paid notification carries the payment that made the request
        paid, with its paidBy (doc §15.25): its row keeps it, and the engine
        applies it without reading the request, even with no feed."""
        cp_id = self.state["centrapay_id"]
        self.control.add_fault(
            kind="status", status=500, path="/api/payment-activities", times=None
        )
        payment = self.control.pay(cp_id)
        self.assertTrue(payment.get("paidBy"))
        body = json.loads(self.notification("n-with-payment"))
        body["data"] = payment
        raw = json.dumps(body).encode()
        response = self.post(raw, f"Bearer {self.control.sign(raw, self.audience)}")
        self.assertEqual(response.json()["result"], "processed")
        event = self.env["centrapay.webhook.event"].search(
            [("notification_id", "=", "n-with-payment")]
        )
        self.assertEqual(json.loads(event.paid_by_json), payment["paidBy"])
        self.control.clear_calls()
        self.env["centrapay.engine"]._centrapay_pass()
        self.request.invalidate_recordset()
        self.assertEqual(self.request.status, "paid")
        self.assertTrue(self.request.paid_by_description)
        reads = [c for c in self.calls_to(cp_id) if c["path"].endswith(cp_id)]
        self.assertEqual(reads, [], "no read of the request (E2)")

    def test_data_as_a_json_string_is_accepted(self):
        self.control.pay(self.state["centrapay_id"])
        body = json.loads(self.notification("n-str"))
        body["data"] = json.dumps(body["data"])
        raw = json.dumps(body).encode()
        response = self.post(raw, self.control.sign(raw, self.audience))
        self.assertEqual(response.status_code, 200)
        self.assertEqual(response.json()["result"], "processed")

    def test_a_deeply_nested_body_is_refused_without_a_server_error(self):
        raw = b'{"data":' + b"[" * 50000 + b"]" * 50000 + b"}"
        response = self.post(raw, "Bearer x")
        self.assertEqual(response.status_code, 413)
        raw = b'{"data":' + b"[" * 5000 + b"]" * 5000 + b"}"
        self.assertEqual(self.post(raw, "Bearer x").status_code, 400)

    def calls_to(self, centrapay_id):
        return [c for c in self.control.calls() if centrapay_id in c["path"]]

    def test_refund_webhook_records_the_refund_activity(self):
        centrapay_id = self.state["centrapay_id"]
        self.control.pay(centrapay_id)
        self.post(
            self.notification("n-paid"),
            self.control.sign(self.notification("n-paid"), self.audience),
        )
        client = CentrapayClient(self.sandbox.base_url, self.sandbox.api_key)
        client.refund_payment_request(
            centrapay_id, amount=Decimal("3"), currency="NZD", external_ref="refund-1"
        )
        body = json.dumps(
            {
                "id": "n-refund",
                "type": "payment-request:refund-completed",
                "data": {"paymentRequestId": centrapay_id},
                "accountId": self.sandbox.merchant_account_id,
                "test": True,
                "createdAt": "2026-11-25T00:00:00.000Z",
            }
        ).encode()
        response = self.post(body, self.control.sign(body, self.audience))
        self.assertEqual(response.json()["result"], "processed")
        self.env["centrapay.engine"]._centrapay_pass()
        self.request.invalidate_recordset()
        self.assertEqual(self.request.status, "paid")
        self.assertIn("refund", self.request.activity_ids.mapped("activity_type"))

    def test_forged_webhooks_are_rejected(self):
        body = self.notification()
        cases = {
            "wrong audience": (
                body,
                self.control.sign(body, "https://elsewhere/webhook"),
            ),
            "tampered body": (
                self.notification("n-2"),
                self.control.sign(body, self.audience),
            ),
            "not a token": (body, "forged"),
        }
        token = self.control.sign(body, self.audience)
        _header, claims, signature = token.split(".")
        for header in ({"alg": "ES256", "kid": 123}, {"alg": "ES256", "crit": "x"}):
            raw = base64.urlsafe_b64encode(json.dumps(header).encode())
            forged = f"{raw.rstrip(b'=').decode()}.{claims}.{signature}"
            cases[f"header {header}"] = (body, forged)
        for name, (payload, token) in cases.items():
            with (
                self.subTest(name),
                # The number: Odoo names its level 25 "INFO" too.
                self.assertLogs(WEBHOOK_LOGGER, logging.INFO) as logs,
            ):
                self.assertEqual(self.post(payload, token).status_code, 401)
            # One line, and not a WARNING: forged input is not our fault.
            self.assertEqual(
                [(r.levelname, r.getMessage().split(":")[0]) for r in logs.records],
                [("INFO", "Centrapay webhook rejected")],
            )
        self.request.invalidate_recordset()
        self.assertEqual(self.request.status, "new")

    def test_a_body_too_large_is_refused_before_it_is_read(self):
        body = b'{"data": {"paymentRequestId": "x"}, "pad": "' + b"x" * 70000 + b'"}'
        self.assertEqual(self.post(body, "Bearer x").status_code, 413)
        # Chunked: no Content-Length to check, the route's own limit refuses it.
        chunks = (body[i : i + 8192] for i in range(0, len(body), 8192))
        self.assertEqual(self.post(chunks, "Bearer x").status_code, 413)
        self.assertFalse(self.env["centrapay.webhook.event"].search([]))

    def test_unknown_request_is_ignored(self):
        body = self.notification("n-3", request_id="NotOurRequest123")
        token = self.control.sign(body, self.audience)
        response = self.post(body, token)
        self.assertEqual(response.status_code, 200)
        self.assertEqual(response.json()["result"], "ignored")

    def test_malformed_body_is_refused(self):
        response = self.post(b"{not json", "whatever")
        self.assertEqual(response.status_code, 400)

    def test_api_key_never_reaches_the_pos(self):
        key = self.sandbox.api_key
        session = self.main_pos_config.current_session_id
        for user in (self.pos_user, self.pos_admin):
            loaded = session.with_user(user).load_data([])
            methods = loaded["pos.payment.method"]
            self.assertNotIn("error", methods)
            self.assertIn("Centrapay", [m["name"] for m in methods["data"]])
            self.assertNotIn(key, json.dumps(loaded, default=str))
        self.assertNotIn(key, json.dumps(self.state, default=str))
        status = self.centrapay_method.with_user(self.pos_user).centrapay_get_status(
            self.state["centrapay_id"], self.main_pos_config.current_session_id.id
        )
        self.assertNotIn(key, json.dumps(status, default=str))
        with self.assertRaises(AccessError):
            self.centrapay_method.with_user(self.pos_user).read(["centrapay_api_key"])
