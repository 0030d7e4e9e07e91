from decimal import Decimal, InvalidOperation

from odoo import api, fields, models


class CentrapayPaymentActivity(models.Model):
    """A Payment Activity of a request (SPEC §4.2): request, payment, refund..."""

    _name = "centrapay.payment.activity"
    _description = "Centrapay Payment Activity"
    _order = "activity_number desc, id desc"

    request_id = fields.Many2one(
        "centrapay.payment.request", required=True, ondelete="cascade", index=True
    )
    activity_number = fields.Integer(readonly=True)
    activity_type = fields.Char("Type", readonly=True)
    amount = fields.Monetary(readonly=True)
    currency_id = fields.Many2one(related="request_id.currency_id")
    asset_type = fields.Char(readonly=True)
    external_ref = fields.Char(readonly=True)
    occurred_at = fields.Datetime(readonly=True)
    company_id = fields.Many2one(related="request_id.company_id", store=True)

    @api.model
    def _centrapay_amount(self, value, currency):
        """A Centrapay monetary (minor units as a string) in major units."""
        try:
            minor = Decimal(str((value or {}).get("amount") or 0))
        except (InvalidOperation, AttributeError):
            return 0.0
        return float(minor.scaleb(-currency.decimal_places))
