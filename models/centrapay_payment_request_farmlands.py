"""Farmlands-only discounts (CP-ASSET-3, doc §15.24).

A Farmlands card is charged at its first read (Quick Pay), so its discount is
known before the charge: the scanned code is decoded (E17) and, for a
Farmlands card that would pay the whole order, the server answers the rate
and what it takes off; the POS applies it as Odoo's own line discount and
sends the create with the code. At create, a basket carrying the rate is
accepted only with a Farmlands card, and the request records the discount;
at order sync, ``pos.order`` refuses the rate on any other tender.
"""

from decimal import Decimal

from odoo import api, fields, models
from odoo.exceptions import UserError
from odoo.tools import float_compare, float_repr

from .. import error_messages
from ..centrapay.line_items import rate_discount
from ..centrapay.money import from_minor_units


def at_rate(discount, rate):
    """Whether a line's discount (%) is the Farmlands rate ``rate`` (> 0)."""
    return bool(rate) and float_compare(float(discount), rate, precision_digits=2) == 0


class CentrapayPaymentRequest(models.Model):
    _inherit = "centrapay.payment.request"

    farmlands_discount_rate = fields.Float(
        "Farmlands Discount (%)",
        digits=(5, 2),
        readonly=True,
        help="The Farmlands discount the order's lines got before the card was "
        "charged (0: none).",
    )
    farmlands_discount = fields.Monetary(
        "Farmlands Discount",
        readonly=True,
        help="What the Farmlands discount took off the order, tax excluded, "
        "rounded per line.",
    )

    @api.model
    def _centrapay_farmlands_offered(self, method, basket):
        """Whether the method's Farmlands discount may go to this basket.

        Only when the card pays the whole order (no other payment, no refund
        line) and no line has another discount: one line discount in Odoo.
        """
        rate = method.centrapay_farmlands_discount
        return bool(
            rate
            and basket.lines
            and not basket.other_payments
            and all(line.qty > 0 for line in basket.lines)
            and all(
                not line.discount or at_rate(line.discount, rate)
                for line in basket.lines
            )
        )

    @api.model
    def _centrapay_farmlands_minor(self, method, basket):
        """The discount of the method's rate on the basket, in minor units."""
        rate = Decimal(float_repr(method.centrapay_farmlands_discount, 2))
        return rate_discount(basket, rate, method._centrapay_currency().name)

    @api.model
    def _centrapay_farmlands_quote(self, method, data):
        """The answer to a scan before the charge (see the method's RPC)."""
        scanned = self._centrapay_decode_barcode(method, data["barcode"])
        answer = {
            "provider": scanned["barcode_provider"],
            "rate": False,
            "discount": False,
        }
        basket = data["line_items"]
        if scanned["barcode_provider"] == "farmlands" and (
            self._centrapay_farmlands_offered(method, basket)
        ):
            answer.update(
                rate=method.centrapay_farmlands_discount,
                discount=str(self._centrapay_farmlands_minor(method, basket)),
                currency=method._centrapay_currency().name,
            )
        return answer

    @api.model
    def _centrapay_farmlands_values(self, method, scanned, data, open_requests):
        """What a new request records of the Farmlands discount, checked before
        anything is stored or voided; UserError when the basket carries the
        rate and no Farmlands card pays the whole order.

        Sent without a code (a reload), a line resumes its card's request.
        """
        basket = data["line_items"]
        rate = method.centrapay_farmlands_discount
        if not any(at_rate(line.discount, rate) for line in basket.lines):
            return {}
        messages = error_messages.ERROR_MESSAGES
        if scanned.get("barcode_provider") == "farmlands":
            if not self._centrapay_farmlands_offered(method, basket):
                raise UserError(self.env._(messages["farmlands.whole_order"]))
            return {
                "farmlands_discount_rate": rate,
                "farmlands_discount": float(
                    from_minor_units(
                        self._centrapay_farmlands_minor(method, basket),
                        method._centrapay_currency().name,
                    )
                ),
                # The card pays it all (doc §15.24): never part of it.
                "partial_allowed": False,
                "basket_amount": 0.0,
            }
        if not scanned and open_requests.filtered("farmlands_discount_rate"):
            return {}
        raise UserError(
            self.env._(messages["farmlands.not_farmlands"]) % {"rate": f"{rate:g}"}
        )

    def _centrapay_public_state(self):
        state = super()._centrapay_public_state()
        state["farmlands_discount_rate"] = self.farmlands_discount_rate or False
        return state
