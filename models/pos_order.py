from odoo import models


class PosOrder(models.Model):
    _inherit = "pos.order"

    def _process_payment_lines(self, pos_order, order, pos_session, draft):
        # An order saved as draft earlier (restaurant, for example) had its
        # Centrapay lines left unchecked: check them now that it is paid.
        res = super()._process_payment_lines(pos_order, order, pos_session, draft)
        if not draft:
            order.payment_ids._centrapay_verify()
        return res
