from decimal import Decimal

from odoo import api, fields, models
from odoo.tools import float_repr


class CentrapayRefundWizard(models.TransientModel):
    """Back office: refund all or part of a paid Centrapay payment, with a reason."""

    _name = "centrapay.refund.wizard"
    _description = "Refund a Centrapay Payment"

    request_id = fields.Many2one(
        "centrapay.payment.request", required=True, readonly=True
    )
    currency_id = fields.Many2one(related="request_id.currency_id")
    refundable = fields.Monetary(
        "Left to refund", compute="_compute_refundable", readonly=True
    )
    amount = fields.Monetary(required=True)
    reason = fields.Char(required=True)

    @api.depends("request_id")
    def _compute_refundable(self):
        for wizard in self:
            wizard.refundable = wizard.request_id.sudo()._centrapay_refundable()

    @api.model
    def default_get(self, fields_list):
        values = super().default_get(fields_list)
        request = self.env["centrapay.payment.request"].browse(
            values.get("request_id") or self.env.context.get("active_id")
        )
        if request:
            values["request_id"] = request.id
            values.setdefault("amount", request.sudo()._centrapay_refundable())
        return values

    def action_refund(self):
        """Refund through Centrapay; the refund is kept whatever the answer."""
        self.ensure_one()
        request = self.request_id
        # A POS manager of the request's company (ACL and record rules).
        request.check_access("write")
        digits = request.currency_id.decimal_places
        refund = (
            self.env["centrapay.refund"]
            .sudo()
            ._centrapay_start(
                request.sudo(),
                Decimal(float_repr(self.amount, digits)),
                "backoffice",
                reason=self.reason,
            )
        )
        return refund._centrapay_notification()
