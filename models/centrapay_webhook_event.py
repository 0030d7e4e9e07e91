import logging

from odoo import api, fields, models

from .. import const
from ..centrapay.errors import WebhookVerificationError

_logger = logging.getLogger(__name__)


class CentrapayWebhookEvent(models.Model):
    """A verified Centrapay notification (doc §11), kept to drop duplicates.

    Webhooks only accelerate the engine: a verified notification is recorded and
    wakes the engine, which reads the request (its status is the truth). No
    Centrapay call happens while Centrapay waits for our answer (CP-POS-14).
    """

    _name = "centrapay.webhook.event"
    _description = "Centrapay Webhook Notification"
    _order = "id desc"

    notification_id = fields.Char(required=True, readonly=True)
    notification_type = fields.Char(readonly=True)
    request_id = fields.Many2one(
        "centrapay.payment.request", readonly=True, ondelete="cascade"
    )

    _sql_constraints = [
        (
            "notification_unique",
            "unique(notification_id)",
            "A Centrapay notification is processed once.",
        )
    ]

    @api.model
    def _centrapay_register(self, notification_id, notification_type, request):
        """Record a notification; False if seen before (delivery is at least once)."""
        self.env.cr.execute(
            """
            INSERT INTO centrapay_webhook_event
                   (notification_id, notification_type, request_id,
                    create_uid, write_uid, create_date, write_date)
            VALUES (%s, %s, %s, %s, %s,
                    now() at time zone 'UTC', now() at time zone 'UTC')
            ON CONFLICT (notification_id) DO NOTHING
            RETURNING id
            """,
            [
                notification_id,
                notification_type,
                request.id or None,
                self.env.uid,
                self.env.uid,
            ],
        )
        return bool(self.env.cr.fetchone())

    @api.model
    def _centrapay_handle_webhook(self, payment_request_id, authorization, raw_body):
        """Verify and record one notification; return what happened to it.

        ``rejected``: the signature, audience, expiry or body hash failed.
        ``unavailable``: the signing keys could not be fetched; Centrapay retries.
        ``ignored``: valid, but not about a request of ours, or webhooks are off.
        ``duplicate``: that notification id was recorded before.
        ``processed``: recorded; the engine reads the request at once.
        """
        Request = self.env["centrapay.payment.request"]
        request = Request.search([("centrapay_id", "=", payment_request_id)], limit=1)
        methods = request.payment_method_id or self.env["pos.payment.method"].search(
            [
                ("use_payment_terminal", "=", "centrapay"),
                ("centrapay_webhook_enabled", "=", True),
            ]
        )
        notification, outcome = None, "rejected"
        for method in methods:
            try:
                notification = method._centrapay_verifier().verify(
                    authorization, raw_body
                )
                break
            except WebhookVerificationError as exc:
                _logger.warning("Centrapay webhook rejected: %s", exc.code)
                if exc.transient:
                    outcome = "unavailable"
        if notification is None:
            return outcome
        if not request or not request.payment_method_id.centrapay_webhook_enabled:
            return "ignored"
        kind = str(notification.get("type") or "")
        if not self._centrapay_register(str(notification.get("id")), kind, request):
            return "duplicate"
        if kind.startswith("payment-request:refund"):
            # A refund leaves the status "paid": its trace is in the ledger.
            request.ledger_pending = True
        if request.status in const.PENDING_STATUSES:
            request.next_poll_at = fields.Datetime.now()
        self.env["centrapay.engine"]._centrapay_wake()
        return "processed"
