from odoo import models
from odoo.exceptions import ValidationError

from .. import error_messages
from .centrapay_payment_request_farmlands import at_rate

# The states in which an order counts as paid.
_PAID_STATES = ("paid", "done", "invoiced")


class PosOrder(models.Model):
    _inherit = "pos.order"

    def _centrapay_check_paid(self):
        """The one check of every path that makes an order paid.

        Each Centrapay line must be backed by the paid request made for it
        (``pos.payment._centrapay_verify``), and a Farmlands discount by the
        Farmlands card that paid the whole order; raises ValidationError
        otherwise.
        """
        paid = self.filtered(lambda o: o.state in _PAID_STATES)
        paid.payment_ids._centrapay_verify()
        paid._centrapay_check_farmlands_discount()

    def _centrapay_check_farmlands_discount(self):
        """A line discount at a Farmlands rate of the order's POS (CP-ASSET-3)
        needs the order's one payment to be a paid Farmlands card request that
        recorded that rate. Refund lines keep the sale's discount."""
        Request = self.env["centrapay.payment.request"].sudo()
        for order in self:
            rates = {
                method.centrapay_farmlands_discount
                for method in order.config_id.payment_method_ids
                if method.use_payment_terminal == "centrapay"
                and method.centrapay_farmlands_discount
            }
            discounted = order.lines.filtered(
                lambda line, rates=rates: (
                    not line.refunded_orderline_id
                    and any(at_rate(line.discount, rate) for rate in rates)
                )
            )
            if not discounted:
                continue
            payments = order.payment_ids.filtered(lambda p: not p.is_change)
            card = Request.browse()
            if len(payments) == 1 and payments.centrapay_request_id:
                card = Request.search(
                    [
                        ("centrapay_id", "=", payments.centrapay_request_id),
                        ("pos_payment_id", "=", payments.id),
                        ("status", "=", "paid"),
                        ("barcode_provider", "=", "farmlands"),
                    ],
                    limit=1,
                )
            if card and all(
                at_rate(line.discount, card.farmlands_discount_rate)
                for line in discounted
            ):
                continue
            raise ValidationError(
                self.env._(error_messages.ERROR_MESSAGES["farmlands.order_refused"])
                % {
                    "order": order.pos_reference or order.name,
                    "rate": f"{discounted[:1].discount:g}",
                }
            )

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
