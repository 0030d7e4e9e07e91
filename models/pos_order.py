from odoo import models

# The states in which an order counts as paid.
_PAID_STATES = ("paid", "done", "invoiced")


class PosOrder(models.Model):
    _inherit = "pos.order"

    def _centrapay_check_paid(self):
        """The one check of every path that makes an order paid.

        Each Centrapay line must be backed by the paid request made for it
        (``pos.payment._centrapay_verify``); raises ValidationError otherwise.
        """
        self.filtered(lambda o: o.state in _PAID_STATES).payment_ids._centrapay_verify()

    def _process_payment_lines(self, pos_order, order, pos_session, draft):
        # An order saved as draft earlier (restaurant, for example) had its
        # Centrapay lines left unchecked: check them now that it is paid.
        res = super()._process_payment_lines(pos_order, order, pos_session, draft)
        if not draft:
            order._centrapay_check_paid()
        return res

    def write(self, vals):
        # Only orders that become paid: one already paid (closing its session
        # moves it to done) was checked when it did.
        becoming = (
            self.filtered(lambda o: o.state not in _PAID_STATES)
            if vals.get("state") in _PAID_STATES
            else self.browse()
        )
        res = super().write(vals)
        becoming._centrapay_check_paid()
        return res

    def action_pos_order_paid(self):
        res = super().action_pos_order_paid()
        self._centrapay_check_paid()
        return res

    def action_pos_order_invoice(self):
        self._centrapay_check_paid()
        return super().action_pos_order_invoice()
