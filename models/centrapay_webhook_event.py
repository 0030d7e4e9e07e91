import json
import logging

import psycopg2.errors

from odoo import api, fields, models

from ..centrapay.errors import WebhookVerificationError

_logger = logging.getLogger(__name__)


class CentrapayWebhookEvent(models.Model):
    """A verified Centrapay notification (doc §11), kept to drop duplicates.

    Webhooks only accelerate the engine: a verified notification is recorded and
    wakes the engine, which reads the request (its status is the truth), or
    applies the payment a paid notification carries when its ``paidBy`` covers
    the whole amount (doc §15.25). No Centrapay call happens while Centrapay
    waits for our answer (CP-POS-14).
    """

    _name = "centrapay.webhook.event"
    _description = "Centrapay Webhook Notification"
    _order = "id desc"

    notification_id = fields.Char(required=True, readonly=True)
    notification_type = fields.Char(readonly=True)
    # Centrapay's id, not a link: the webhook's transaction must not lock the
    # request's row, which the engine may be updating at that very moment.
    centrapay_request_id = fields.Char(
        "Centrapay Request ID", readonly=True, index=True
    )
    external_ref = fields.Char(
        "Activity External Reference",
        readonly=True,
        help="The externalRef of the activity it carries (a refund's).",
    )
    company_id = fields.Many2one(
        "res.company",
        readonly=True,
        index=True,
        help="The company of the request it is about.",
    )
    paid_by_json = fields.Text(
        "Paid By",
        readonly=True,
        help="The paidBy of the payment a paid notification carries: what paid "
        "the request, and when it settles.",
    )
    handled = fields.Boolean(
        readonly=True, index=True, help="The engine has taken it into account."
    )

    _sql_constraints = [
        (
            "notification_unique",
            "unique(notification_id)",
            "A Centrapay notification is processed once.",
        )
    ]

    def init(self):
        # Notifications recorded before company_id existed take their request's
        # company, or the company rule would hide them from every manager.
        self.env.cr.execute(
            """
            UPDATE centrapay_webhook_event e
               SET company_id = r.company_id
              FROM centrapay_payment_request r
             WHERE e.company_id IS NULL
               AND r.centrapay_id = e.centrapay_request_id
            """
        )

    @api.model
    def _centrapay_register(self, notification, request):
        """Record a notification; False if seen before (delivery is at least once)."""
        data = notification.get("data")
        external_ref = data.get("externalRef") if isinstance(data, dict) else None
        # Kept on the notification's own row, not in the ledger that the feed
        # writes: a webhook never waits on, nor conflicts with, a feed page.
        paid_by = (
            json.dumps(data["paidBy"])
            if notification.get("type") == "payment-request:paid"
            and isinstance(data, dict)
            and isinstance(data.get("paidBy"), dict)
            else None
        )
        try:
            self.env.cr.execute(
                """
                INSERT INTO centrapay_webhook_event
                       (notification_id, notification_type, centrapay_request_id,
                        external_ref, paid_by_json, company_id, handled,
                        create_uid, write_uid, create_date, write_date)
                VALUES (%s, %s, %s, %s, %s, %s, false, %s, %s,
                        now() at time zone 'UTC', now() at time zone 'UTC')
                ON CONFLICT (notification_id) DO NOTHING
                RETURNING id
                """,
                [
                    str(notification.get("id")),
                    str(notification.get("type") or "")[:64],
                    request.centrapay_id,
                    str(external_ref)[:128] if external_ref else None,
                    paid_by,
                    request.company_id.id or None,
                    self.env.uid,
                    self.env.uid,
                ],
                log_exceptions=False,
            )
        except psycopg2.errors.SerializationFailure:
            # The same notification delivered twice at one instant: under Odoo's
            # REPEATABLE READ the later insert cannot serialize. Expected, not
            # an error: Odoo retries the request, which then finds a duplicate.
            _logger.info("Centrapay notification recorded concurrently; retried")
            raise
        return bool(self.env.cr.fetchone())

    @api.model
    def _centrapay_take_new(self):
        """The engine's side: requests that new notifications are about.

        Marks them handled; the engine then reads those requests first. Returns
        ``(Centrapay ids to read, Centrapay ids with a refund, completed refunds as
        (Centrapay id, externalRef))``.
        """
        self.env.cr.execute(
            """
            UPDATE centrapay_webhook_event SET handled = true
             WHERE NOT handled
         RETURNING centrapay_request_id, notification_type, external_ref
            """,
            # Two engines at once: the caller leaves them to the other one.
            log_exceptions=False,
        )
        rows = self.env.cr.fetchall()
        refunds = {
            r
            for r in rows
            if r[0] and (r[1] or "").startswith("payment-request:refund")
        }
        return (
            {row[0] for row in rows if row[0]},
            {row[0] for row in refunds},
            {
                (row[0], row[2])
                for row in refunds
                if row[1] == "payment-request:refund-completed" and row[2]
            },
        )

    @api.model
    def _centrapay_handle_webhook(self, payment_request_id, authorization, raw_body):
        """Verify and record one notification; return what happened to it.

        ``rejected``: the signature, audience, expiry or body hash failed.
        ``unavailable``: the signing keys could not be fetched; Centrapay retries.
        ``ignored``: valid, but not about a request of ours, or webhooks are off.
        ``duplicate``: that notification id was recorded before.
        ``processed``: recorded; the engine, woken, reads the request first
        (or applies the paid payment it carries: ``paid_by_json``).
        """
        Request = self.env["centrapay.payment.request"]
        request = Request.search([("centrapay_id", "=", payment_request_id)], limit=1)
        methods = request.payment_method_id or self.env["pos.payment.method"].search(
            [
                ("use_payment_terminal", "=", "centrapay"),
                ("centrapay_webhook_enabled", "=", True),
            ]
        )
        notification, outcome, codes = None, "rejected", []
        for method in methods:
            try:
                notification = method._centrapay_verifier().verify(
                    authorization, raw_body
                )
                break
            except WebhookVerificationError as exc:
                codes.append(exc.code)
                if exc.transient:
                    outcome = "unavailable"
        if notification is None:
            # One line per notification. A forged one is the sender's problem
            # (INFO); keys we cannot fetch are ours (WARNING).
            level = logging.WARNING if outcome == "unavailable" else logging.INFO
            _logger.log(
                level, "Centrapay webhook rejected: %s", ", ".join(codes) or "no method"
            )
            return outcome
        if not request or not request.payment_method_id.centrapay_webhook_enabled:
            return "ignored"
        if not self._centrapay_register(notification, request):
            return "duplicate"
        # Nothing else here: no Centrapay call, and no write on the request.
        self.env["centrapay.engine"]._centrapay_wake()
        return "processed"
