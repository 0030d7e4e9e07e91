"""Partial payments (doc §10.3; CP-EXT-14 to CP-EXT-17): the patron may pay
part of the amount asked; the rest is due in another tender.

The request keeps what Centrapay took (``paid_amount``) and what is left
(``remaining_amount``); a payment line is backed by what Centrapay took, and
refunds never exceed it. A partly paid payment the till abandoned is given back
by the engine's give-back step (``_centrapay_give_back``).
"""

import logging
from decimal import Decimal

from odoo import api, fields, models
from odoo.exceptions import UserError
from odoo.tools import float_repr

from ..centrapay import errors as cp_errors
from ..centrapay.money import to_minor_units

_logger = logging.getLogger(__name__)


class CentrapayPaymentRequest(models.Model):
    _inherit = "centrapay.payment.request"

    partial_allowed = fields.Boolean(
        "Partial Payment Allowed",
        readonly=True,
        help="Created with partialAllowed: the customer may pay part of the amount.",
    )
    basket_amount = fields.Monetary(
        readonly=True, help="Sent as basketAmount: what the order still had due."
    )
    paid_amount = fields.Monetary(
        "Paid Through Centrapay",
        readonly=True,
        help="What Centrapay took (its paidBy), which may be less than the amount "
        "asked when partial payments are allowed.",
    )
    remaining_amount = fields.Monetary(
        readonly=True,
        help="Centrapay's remainingAmount: what is left for another tender.",
    )
    external_pending = fields.Boolean(
        readonly=True,
        help="The rest was taken in another tender at the till; the engine still "
        "has to record it at Centrapay as an external payment (CP-EXT-13).",
    )
    pos_abandoned_at = fields.Datetime(
        "Abandoned at the Till",
        readonly=True,
        help="The cashier removed this partly paid payment from its order. Unless "
        "an order line claims it in time, Odoo refunds what Centrapay took.",
    )

    def _centrapay_taken(self):
        self.ensure_one()
        if self.status == "paid" and self.partial_allowed and self.paid_amount:
            return self.paid_amount
        return super()._centrapay_taken()

    def _centrapay_partly_paid(self):
        """Paid, with part of the amount asked still due in another tender."""
        self.ensure_one()
        return (
            self.status == "paid"
            and not self.refunded_by_void
            and self.currency_id.compare_amounts(self.remaining_amount, 0) > 0
        )

    def _centrapay_major(self, minor):
        return float(Decimal(minor).scaleb(-self.currency_id.decimal_places))

    def _centrapay_extension_values(self, got):
        values = super()._centrapay_extension_values(got)
        if "remaining_amount" in got:
            values["remaining_amount"] = self._centrapay_major(got["remaining_amount"])
        if "centrapay_amount" in got:
            values["paid_amount"] = self._centrapay_major(got["centrapay_amount"])
        return values

    @api.model
    def _centrapay_extension_create_values(self, method, amount, data):
        values = super()._centrapay_extension_create_values(method, amount, data)
        if method.centrapay_partial_allowed:
            values.update(
                partial_allowed=True,
                basket_amount=float(self._centrapay_basket_amount(amount, data)),
            )
        return values

    @api.model
    def _centrapay_basket_amount(self, amount, data):
        """basketAmount: what the order still has due, never below the amount
        asked (doc §15.23): its total less its other tenders, with this
        tender's rounding; the amount when the POS sent no total."""
        basket = data.get("line_items")
        total = getattr(basket, "total", None)
        if total is None:
            return amount
        due = Decimal(total) - Decimal(basket.other_payments) + Decimal(basket.rounding)
        return max(amount, due.quantize(amount))

    def _centrapay_extension_create_fields(self):
        fields_ = super()._centrapay_extension_create_fields()
        if self.partial_allowed:
            digits = self.currency_id.decimal_places
            fields_.update(
                partial_allowed=True,
                basket_amount=Decimal(float_repr(self.basket_amount, digits)),
            )
        return fields_

    def _centrapay_abandon(self):
        """The cashier removed this partly paid payment from its order.

        Recorded only: the engine's give-back step refunds what Centrapay took
        once ``pos_centrapay.abandoned_after_seconds`` passed with no order line
        claiming it (doc §10.3: a remainder that cannot be collected is
        refunded). Raises UserError for a request not partly paid.
        """
        self.ensure_one()
        self._centrapay_lock(wait=True)
        if not self._centrapay_partly_paid() or self.pos_payment_id:
            raise UserError(
                self.env._(
                    "Only a partly paid Centrapay payment that no order took can "
                    "be given back from the till."
                )
            )
        if not self.pos_abandoned_at:
            self.pos_abandoned_at = fields.Datetime.now()

    def _centrapay_record_external(self):
        """Record at Centrapay the rest its order took in another tender: an
        ``external.*`` payment for ``remainingAmount`` (CP-EXT-13, doc §15.22),
        then read the request again. The engine's step calls it, outside any
        till's transaction; the idempotency key makes a resend safe.

        A refusal Centrapay will repeat (the request is no longer partly paid,
        the asset type is not the merchant's) ends the attempt, kept on the
        request; anything else is tried again as the retry policy says (the
        engine's step, ``_centrapay_try_later``).
        """
        self.ensure_one()
        if not self._centrapay_partly_paid():
            self.external_pending = False
            return
        method = self.payment_method_id
        client = method._centrapay_client("read")
        digits = self.currency_id.decimal_places
        try:
            client.pay_payment_request(
                self.centrapay_id,
                asset_type=method._centrapay_external_asset_type(),
                amount=to_minor_units(
                    Decimal(float_repr(self.remaining_amount, digits)),
                    self.currency_id.name,
                ),
                idempotency_key=f"{self.external_ref}:external",
            )
        except (cp_errors.CentrapayBadRequest, cp_errors.CentrapayForbidden) as exc:
            self._centrapay_note_error(exc)
            self.external_pending = False
            return
        _logger.info(
            "Centrapay request %s: the rest taken in another tender recorded", self.id
        )
        self.external_pending = False
        self._centrapay_refresh()

    def _centrapay_till_abandoned(self):
        # Told "paid" (partly), but the cashier dropped the order before its
        # remainder was taken: the customer left with nothing.
        return super()._centrapay_till_abandoned() or bool(self.pos_abandoned_at)

    def _centrapay_give_back_reason(self):
        if self.pos_abandoned_at:
            return "Partly paid; the till abandoned the order before the rest was paid."
        return super()._centrapay_give_back_reason()

    def _centrapay_public_state(self):
        state = super()._centrapay_public_state()
        state.update(
            partial_allowed=self.partial_allowed,
            paid_amount=self._centrapay_taken() if self.status == "paid" else False,
            # While it waits, what is left to pay (other assets may have paid
            # part); once paid, what is due in another tender.
            remaining_amount=self.remaining_amount
            if self.status == "new" or self._centrapay_partly_paid()
            else 0.0,
            abandoned=bool(self.pos_abandoned_at),
        )
        return state
