"""What the POS's QR screen needs beyond the request's status (CP-EXT-10, CP-CORE-3)."""

from odoo import fields, models

from ..centrapay.branding import asset_types_of


class CentrapayPaymentRequest(models.Model):
    _inherit = "centrapay.payment.request"

    patron_not_present = fields.Boolean(
        "Customer Not Present",
        readonly=True,
        help="Created for a customer who is not at the counter (phone order): "
        "sent to Centrapay as patronNotPresent.",
    )

    def _centrapay_apply(self, payment_request):
        if self.status == "draft" and isinstance(payment_request, dict):
            # The create's answer lists what the merchant config accepts.
            types = asset_types_of(payment_request.get("paymentOptions"))
            self.payment_method_id._centrapay_learn_asset_types(types)
        return super()._centrapay_apply(payment_request)

    def _centrapay_public_state(self):
        state = super()._centrapay_public_state()
        state.update(
            patron_not_present=self.patron_not_present,
            terminal_id=self.terminal_id or False,
            device_id=self.device_id or False,
        )
        return state
