from decimal import Decimal

from odoo import api, fields, models
from odoo.exceptions import UserError
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
            # Only a request the manager may read (its company's) shows an amount.
            wizard.request_id.check_access("read")
            wizard.refundable = wizard.request_id.sudo()._centrapay_refundable()

    @api.model
    def default_get(self, fields_list):
        values = super().default_get(fields_list)
        request = self.env["centrapay.payment.request"].browse(
            values.get("request_id") or self.env.context.get("active_id")
        )
        if request:
            request.check_access("read")
            values["request_id"] = request.id
            values.setdefault("amount", request.sudo()._centrapay_refundable())
        return values

    def action_refund(self):
        """Refund through Centrapay; the refund is kept whatever the answer."""
        self.ensure_one()
        request = self.request_id
        # A POS manager of the request's company (ACL and record rules).
        request.check_access("write")
        original = request.sudo().pos_order_id
        Refund = self.env["centrapay.refund"].sudo()
        if original and not Refund._centrapay_book_session(request.sudo()):
            raise UserError(
                self.env._(
                    "Open a session of %(pos)s first: a refund of a POS sale is "
                    "recorded as a refund order of its open session, so that the "
                    "books agree with Centrapay.",
                    pos=original.config_id.display_name,
                )
            )
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
