from odoo.tests import tagged

from ..models.centrapay_payment_request import STATUSES, TRANSITIONS
from .common import CentrapayCommon


@tagged("post_install", "-at_install")
class TestCentrapayStateMachine(CentrapayCommon):
    def _request(self, status):
        request = self.Request.sudo().create(
            {
                "amount": 1,
                "currency_id": self.method._centrapay_currency().id,
                "external_ref": f"sm-{status}-{self.Request.search_count([])}",
                "payment_method_id": self.method.id,
                "session_id": self.session.id,
                "config_id": self.pos_config.id,
            }
        )
        request.sudo().write({"status": status})  # the fixture, not a transition
        return request

    def test_every_move_outside_the_table_is_refused(self):
        statuses = [code for code, _label in STATUSES]
        for source in statuses:
            for target in statuses:
                with self.subTest(source=source, target=target):
                    request = self._request(source)
                    allowed = target == source or target in TRANSITIONS[source]
                    self.assertEqual(request._centrapay_set_status(target), allowed)
                    self.assertEqual(request.status, target if allowed else source)

    def test_a_final_status_never_becomes_pending(self):
        for final in ("paid", "cancelled", "expired", "error"):
            self.assertFalse({"draft", "new"} & TRANSITIONS[final], final)

    def test_a_change_is_pushed_once_and_wakes_the_engine(self):
        request = self._request("new")
        cron = self.env.ref("pos_centrapay.ir_cron_centrapay_status")
        triggers = (
            self.env["ir.cron.trigger"].sudo().search_count([("cron_id", "=", cron.id)])
        )
        sent = []
        self.patch(
            type(self.pos_config),
            "_notify",
            lambda config, *args: sent.append((config.id, args)),
        )
        request._centrapay_set_status("paid")
        request._centrapay_set_status("paid")  # no change, no second push
        self.assertEqual(len(sent), 1)
        self.assertEqual(sent[0][1][1]["status"], "paid")
        self.assertTrue(request.ledger_pending)
        self.assertGreater(
            self.env["ir.cron.trigger"]
            .sudo()
            .search_count([("cron_id", "=", cron.id)]),
            triggers,
        )

    def test_a_create_answer_that_cannot_be_applied_is_kept_and_voided(self):
        # Centrapay created it, but answered with a status the docs never list.
        self.control.add_fault(
            method="POST",
            path="/api/payment-requests",
            kind="odd_body",
            patch={"status": "draft"},
            times=1,
        )
        result = self.create_request(6, payment_uuid="bad-answer")
        self.assertTrue(result.get("error"), result)
        request = self.Request.search([("pos_payment_uuid", "=", "bad-answer")])
        self.assertTrue(request, "the record is kept")
        self.assertTrue(request.void_requested)
        self.assertTrue(request.centrapay_id, "what identifies it is kept")
        request.sudo().next_poll_at = False
        self.engine_pass()
        # Read again and voided: the patron can no longer pay it.
        self.assertEqual(request.status, "cancelled")
        self.assertEqual(len(self.calls("POST", "/void")), 1)
