from odoo import api, fields, models
from odoo.exceptions import ValidationError


class PosPayment(models.Model):
    _inherit = "pos.payment"

    centrapay_request_id = fields.Char(
        "Centrapay Request ID", readonly=True, copy=False, index="btree_not_null"
    )
    centrapay_short_code = fields.Char(
        "Centrapay Short Code", readonly=True, copy=False
    )
    centrapay_refund_ref = fields.Char(
        "Centrapay Refund Reference",
        readonly=True,
        copy=False,
        help="The external reference of the Centrapay refund this line records.",
    )

    @api.model_create_multi
    def create(self, vals_list):
        payments = super().create(vals_list)
        payments._centrapay_verify()
        return payments

    def write(self, vals):
        res = super().write(vals)
        if {
            "centrapay_request_id",
            "centrapay_refund_ref",
            "amount",
            "payment_method_id",
            "pos_order_id",
            "is_change",
            "uuid",
        } & set(vals):
            self._centrapay_verify()
        return res

    def _centrapay_verify(self):
        """Accept a Centrapay line only if Centrapay took exactly that money.

        The line must reference the paid request made for that very line (same
        method, session and payment uuid), for the same amount and currency,
        with nothing of it refunded and no other payment using it. The request
        is then linked to it. Lines of a draft order (not money yet) are checked
        on every path that makes the order paid (``pos.order``). Otherwise the
        order does not sync: the POS shows the message and keeps the order.
        """
        lines = self.filtered(
            lambda p: (
                p.payment_method_id.use_payment_terminal == "centrapay"
                and p.pos_order_id.state != "draft"
            )
        )
        if not lines:
            return
        Request = self.env["centrapay.payment.request"].sudo()
        requests = Request.search(
            [("centrapay_id", "in", [r for r in lines.mapped("centrapay_request_id")])]
        )
        by_id = {r.centrapay_id: r for r in requests}
        for payment in lines:
            request = by_id.get(payment.centrapay_request_id)
            if payment.amount < 0 and not payment.is_change:
                payment._centrapay_verify_refund(request)
                continue
            problem = payment._centrapay_problem(request)
            if problem:
                raise ValidationError(
                    self.env._(
                        "The Centrapay payment of %(amount)s on order %(order)s "
                        "cannot be verified: %(problem)s The order was not saved; "
                        "it stays on the POS. Take the payment again, or with "
                        "another method.",
                        amount=payment.currency_id.format(payment.amount),
                        order=payment.pos_order_id.pos_reference
                        or payment.pos_order_id.name,
                        problem=problem,
                    )
                )
            if request.pos_payment_id != payment:
                request._centrapay_lock(wait=True)
                request.write(
                    {
                        "pos_payment_id": payment.id,
                        "pos_order_id": payment.pos_order_id.id,
                        # The rest was taken in another tender: the engine
                        # records it at Centrapay (CP-EXT-13).
                        "external_pending": request._centrapay_partly_paid(),
                    }
                )

    def _centrapay_verify_refund(self, request):
        """Accept a negative Centrapay line only for a refund Centrapay accepted."""
        refund = self.env["centrapay.refund"].sudo()
        if request and self.centrapay_refund_ref:
            refund = refund.search(
                [
                    ("request_id", "=", request.id),
                    ("external_ref", "=", self.centrapay_refund_ref),
                ],
                limit=1,
            )
        problem = None
        if not refund or refund.company_id != self.company_id:
            problem = self.env._("Centrapay has no such refund.")
        elif refund.state not in ("initiated", "completed"):
            problem = self.env._("Centrapay has not accepted this refund.")
        elif (
            refund.currency_id != self.currency_id
            or refund.currency_id.compare_amounts(refund.amount, -self.amount)
        ):
            problem = self.env._(
                "Centrapay refunded %(refunded)s, not this amount.",
                refunded=refund.currency_id.format(refund.amount),
            )
        elif refund.pos_payment_id and refund.pos_payment_id != self:
            problem = self.env._("that refund is already recorded on another order.")
        elif refund.pos_order_uuid and refund.pos_order_uuid != self.pos_order_id.uuid:
            problem = self.env._("that refund was made for another refund order.")
        elif refund.origin == "pos" and (
            refund.request_id.pos_order_id
            and refund.request_id.pos_order_id
            not in self.pos_order_id.lines.refunded_orderline_id.order_id
        ):
            problem = self.env._("this order returns nothing of the refunded sale.")
        if problem:
            raise ValidationError(
                self.env._(
                    "The Centrapay refund of %(amount)s on order %(order)s cannot be "
                    "verified: %(problem)s The order was not saved; it stays on the "
                    "POS.",
                    amount=self.currency_id.format(-self.amount),
                    order=self.pos_order_id.pos_reference or self.pos_order_id.name,
                    problem=problem,
                )
            )
        if refund.pos_payment_id != self:
            refund.write(
                {"pos_payment_id": self.id, "pos_order_id": self.pos_order_id.id}
            )

    def _centrapay_problem(self, request):
        """Why this line cannot be accepted as paid by ``request`` (or None)."""
        self.ensure_one()
        if self.is_change:
            return self.env._("Centrapay gives no change.")
        if not self.centrapay_request_id or not request:
            return self.env._("Centrapay has no such payment request.")
        if (
            request.payment_method_id != self.payment_method_id
            or request.company_id != self.company_id
        ):
            return self.env._("the request was made for another payment method.")
        if request.status != "paid" or request.refunded_by_void:
            return self.env._("Centrapay has not been paid for this request.")
        # A partly paid request (doc §10.3) backs only what Centrapay took.
        taken = request._centrapay_taken()
        if (
            request.currency_id != self.currency_id
            or request.currency_id.compare_amounts(taken, self.amount)
        ):
            return self.env._(
                "Centrapay was paid %(paid)s, not this amount.",
                paid=request.currency_id.format(taken),
            )
        if request.pos_payment_id == self:
            return None  # accepted before; later refunds do not undo the sale
        if request.pos_payment_id:
            return self.env._("that payment already pays another order.")
        if (
            not self.uuid
            or request.pos_payment_uuid != self.uuid
            or request.session_id != self.pos_order_id.session_id
        ):
            return self.env._(
                "the request was made for another payment line or session."
            )
        if request.currency_id.compare_amounts(request._centrapay_refundable(), taken):
            return self.env._("that payment was refunded.")
        return None
