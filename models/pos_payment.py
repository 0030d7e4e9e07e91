import logging

from odoo import api, fields, models

_logger = logging.getLogger(__name__)


class PosPayment(models.Model):
    _inherit = "pos.payment"

    centrapay_request_id = fields.Char(
        "Centrapay Request ID", readonly=True, copy=False, index="btree_not_null"
    )
    centrapay_short_code = fields.Char(
        "Centrapay Short Code", readonly=True, copy=False
    )

    @api.model_create_multi
    def create(self, vals_list):
        payments = super().create(vals_list)
        payments.filtered("centrapay_request_id")._centrapay_link_requests()
        return payments

    def _centrapay_link_requests(self):
        requests = (
            self.env["centrapay.payment.request"]
            .sudo()
            .search([("centrapay_id", "in", self.mapped("centrapay_request_id"))])
        )
        by_id = {r.centrapay_id: r for r in requests}
        for payment in self:
            request = by_id.get(payment.centrapay_request_id)
            if not request:
                continue
            if (
                request.payment_method_id != payment.payment_method_id
                or request.status != "paid"
                or request.currency_id.compare_amounts(request.amount, payment.amount)
            ):
                # Kept, as the POS recorded it, but flagged for reconciliation.
                _logger.warning(
                    "POS payment %s claims Centrapay request %s (%s, %s) that does "
                    "not match it",
                    payment.id,
                    request.centrapay_id,
                    request.status,
                    request.amount,
                )
                continue
            request.write(
                {
                    "pos_payment_id": payment.id,
                    "pos_order_id": payment.pos_order_id.id,
                }
            )
