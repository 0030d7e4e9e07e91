from odoo import api, fields, models


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
            if request:
                request.write(
                    {
                        "pos_payment_id": payment.id,
                        "pos_order_id": payment.pos_order_id.id,
                    }
                )
