from odoo import api, fields, models


class CentrapayWebhookEvent(models.Model):
    """A verified Centrapay notification, kept to drop duplicate deliveries."""

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
