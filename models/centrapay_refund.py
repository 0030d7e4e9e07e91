import json
import logging
import uuid
from decimal import Decimal

from odoo import Command, api, fields, models
from odoo.exceptions import UserError
from odoo.tools import float_repr

from ..centrapay import errors as cp_errors
from ..centrapay.money import line_items_sum_ok
from .centrapay_payment_request import clean_text

_logger = logging.getLogger(__name__)

REFUND_STATES = [
    ("draft", "Not sent yet"),
    ("unknown", "Outcome unknown"),
    ("initiated", "Accepted"),
    ("completed", "Completed"),
    ("failed", "Refused"),
]

# The only moves ``state`` may make (see _centrapay_set_state). Money Centrapay
# accepted never becomes "refused" again: that would free it for a second refund.
TRANSITIONS = {
    "draft": {"unknown", "initiated", "completed", "failed"},
    "unknown": {"initiated", "completed", "failed"},
    "initiated": {"completed"},
    "completed": set(),
    # Only the ledger moves a refused refund on: Centrapay made it after all.
    "failed": {"initiated"},
}

# Errors after which a refund stays to be sent: nothing was refused.
_NOT_TAKEN_YET = (cp_errors.CentrapayBudgetExhausted, cp_errors.CentrapayRateLimited)


class CentrapayRefund(models.Model):
    """A refund of a paid Centrapay Payment Request (doc §6.6, §8).

    Its ``external_ref`` is stored before the call and reused by every retry,
    so Centrapay records one refund however often the answer is lost. The
    answer means *accepted* (``initiated``); a ``refund-completed`` webhook
    completes it. Refunds made outside Odoo come in through the ledger.
    """

    _name = "centrapay.refund"
    _inherit = ["centrapay.engine.record"]
    _description = "Centrapay Refund"
    _order = "id desc"
    _check_company_auto = True

    request_id = fields.Many2one(
        "centrapay.payment.request",
        required=True,
        readonly=True,
        index=True,
        ondelete="restrict",
        check_company=True,
    )
    amount = fields.Monetary(readonly=True, required=True)
    currency_id = fields.Many2one(related="request_id.currency_id", store=True)
    state = fields.Selection(
        REFUND_STATES, default="draft", required=True, readonly=True
    )
    external_ref = fields.Char("External Reference", readonly=True, required=True)
    short_code = fields.Char(readonly=True, index=True)
    activity_number = fields.Integer(readonly=True)
    reason = fields.Char(readonly=True)
    error = fields.Char(readonly=True)
    line_items_json = fields.Text(readonly=True)
    origin = fields.Selection(
        [
            ("pos", "Point of Sale"),
            ("backoffice", "Back office"),
            ("abandoned", "Odoo: abandoned by the till"),
            ("outside", "Outside Odoo"),
        ],
        required=True,
        readonly=True,
        default="pos",
    )
    user_id = fields.Many2one("res.users", "Made by", readonly=True)
    pos_payment_uuid = fields.Char(readonly=True, index=True)
    pos_session_id = fields.Many2one(
        "pos.session", "Refunded in Session", readonly=True, index=True
    )
    pos_order_uuid = fields.Char("Refund Order UUID", readonly=True)
    refunded_lines_json = fields.Text(
        readonly=True,
        help="The original order's lines this POS refund returns: {line id: qty}.",
    )
    pos_payment_id = fields.Many2one("pos.payment", "Refund Payment", readonly=True)
    pos_order_id = fields.Many2one("pos.order", "Refund Order", readonly=True)
    company_id = fields.Many2one(related="request_id.company_id", store=True)

    _sql_constraints = [
        (
            "external_ref_unique",
            "unique(request_id, external_ref)",
            "Each refund of a Centrapay request needs its own external reference.",
        ),
    ]

    # --- The state machine --------------------------------------------------------

    def _centrapay_set_state(self, state, **values):
        """The only place that changes ``state``. Returns False if refused."""
        self.ensure_one()
        if state != self.state and state not in TRANSITIONS[self.state]:
            _logger.info(
                "Centrapay refund %s: refused state change %s -> %s",
                self.id,
                self.state,
                state,
            )
            return False
        if state != self.state:
            values["state"] = state
        if values:
            self.sudo().write(values)
        if state in ("initiated", "completed") and self.origin == "backoffice":
            self._centrapay_book()
        return True

    @api.model
    def _centrapay_book_session(self, request):
        """The open session a refund of ``request``'s POS sale is booked in."""
        session = request.pos_order_id.config_id.current_session_id
        return session if session.state == "opened" else session.browse()

    def _centrapay_book(self):
        """Put a back-office refund of a POS sale in Odoo's books: a refund order.

        The order, in the open session of the sale's POS, holds one line of
        the "Centrapay refund" product and a Centrapay payment of minus the
        refund. Its session's close then posts the refund to the method's
        journal, and reconciliation matches it as it matches a till's refund.
        A refund of money Odoo never recorded (an orphan) needs no order.
        """
        self.ensure_one()
        original = self.request_id.pos_order_id
        if self.pos_payment_id or not original:
            return
        session = self._centrapay_book_session(self.request_id)
        if not session:
            _logger.info(
                "Centrapay refund %s: no open session to book it in", self.external_ref
            )
            return
        product = self.env.ref("pos_centrapay.product_centrapay_refund")
        code = self.request_id.short_code or self.request_id.centrapay_id
        order_uuid = str(uuid.uuid4())
        self.sudo().write({"pos_order_uuid": order_uuid})
        order = (
            self.env["pos.order"]
            .sudo()
            .with_company(session.company_id)
            .create(
                {
                    "session_id": session.id,
                    "uuid": order_uuid,
                    "partner_id": original.partner_id.id,
                    "pos_reference": original.pos_reference,
                    "amount_tax": 0,
                    "amount_total": -self.amount,
                    "amount_paid": 0,
                    "amount_return": 0,
                    "lines": [
                        Command.create(
                            {
                                "product_id": product.id,
                                "full_product_name": self.env._(
                                    "Centrapay refund of %(code)s (%(order)s)",
                                    code=code,
                                    order=original.name,
                                ),
                                "qty": -1,
                                "price_unit": self.amount,
                                "price_subtotal": -self.amount,
                                "price_subtotal_incl": -self.amount,
                                "tax_ids": [Command.clear()],
                            }
                        )
                    ],
                }
            )
        )
        order.add_payment(
            {
                "pos_order_id": order.id,
                "amount": -self.amount,
                "payment_method_id": self.request_id.payment_method_id.id,
                "centrapay_request_id": self.request_id.centrapay_id,
                "centrapay_refund_ref": self.external_ref,
                "centrapay_short_code": self.short_code,
                "transaction_id": self.short_code,
                "payment_ref_no": self.short_code,
            }
        )
        order.action_pos_order_paid()

    # --- Creating and sending -----------------------------------------------------

    @api.model
    def _centrapay_start(self, request, amount, origin, reason=None, **extra):
        """Record a refund of ``amount`` (Decimal) on a paid ``request`` and send it.

        Raises UserError, before anything is sent, when the request cannot be
        refunded that much. The refund is kept whatever Centrapay answers.
        """
        request._centrapay_lock(wait=True)
        if request.status != "paid" or request.refunded_by_void:
            raise UserError(
                self.env._(
                    "Only a paid Centrapay payment can be refunded through Centrapay."
                )
            )
        left = request._centrapay_refundable()
        if amount <= 0 or request.currency_id.compare_amounts(float(amount), left) > 0:
            raise UserError(
                self.env._(
                    "At most %(left)s is left to refund on Centrapay payment %(code)s.",
                    left=request.currency_id.format(left),
                    code=request.short_code or request.centrapay_id,
                )
            )
        count = self.search_count([("request_id", "=", request.id)])
        items = request._centrapay_line_items(amount, extra.pop("line_items", None))
        refund = self.create(
            {
                "request_id": request.id,
                "amount": float(amount),
                # Unique among the request's refunds; a retry reuses it.
                "external_ref": f"{request.external_ref}/R{count + 1}"[-120:],
                "origin": origin,
                "reason": clean_text(reason, 200) or False,
                "user_id": self.env.user.id,
                "line_items_json": json.dumps(items) if items else False,
                **extra,
            }
        )
        refund._centrapay_send()
        return refund

    def _centrapay_send(self):
        """Send (or resend, with the same externalRef) the refund to Centrapay."""
        self.ensure_one()
        if self.state not in ("draft", "unknown"):
            return
        request = self.request_id
        client = request.payment_method_id._centrapay_client("refund")
        try:
            activity = client.refund_payment_request(
                request.centrapay_id,
                amount=Decimal(
                    float_repr(self.amount, self.currency_id.decimal_places)
                ),
                currency=self.currency_id.name,
                external_ref=self.external_ref,
                line_items=self._centrapay_line_items(),
                # doc §15.19: a Farmlands refund names the refunding config.
                merchant_config_id=request._centrapay_refund_config_id(),
            )
        except cp_errors.CentrapayUnknownOutcome as exc:
            self._centrapay_set_state("unknown", error=self._centrapay_message(exc))
            _logger.info("Centrapay refund %s: %r", self.external_ref, exc)
            return
        except cp_errors.CentrapayError as exc:
            # Definite: Centrapay refused it; or it was not sent, or not taken,
            # for now (our budget, Centrapay's rate limit), and stays to send.
            state = "draft" if isinstance(exc, _NOT_TAKEN_YET) else "failed"
            self._centrapay_set_state(state, error=self._centrapay_message(exc))
            _logger.info("Centrapay refund %s refused: %r", self.external_ref, exc)
            return
        number = activity.get("activityNumber")
        self._centrapay_set_state(
            "initiated",
            error=False,
            short_code=activity.get("shortCode") or False,
            activity_number=int(number) if str(number or "").isdigit() else 0,
        )
        self.env["centrapay.payment.activity"]._centrapay_store([activity], request)

    def _centrapay_line_items(self):
        """The refunded lines, priced to sum exactly to the refund; else None."""
        items = json.loads(self.line_items_json) if self.line_items_json else None
        digits = self.currency_id.decimal_places
        cents = str(round(self.amount * 10**digits))
        return items if items and line_items_sum_ok(items, cents) else None

    def _centrapay_message(self, exc):
        return self.env["centrapay.payment.request"]._centrapay_error_message(exc)

    # --- What Centrapay tells us later --------------------------------------------

    @api.model
    def _centrapay_completed(self, request, external_ref):
        """A refund-completed notification for ``external_ref``."""
        refund = self.search(
            [("request_id", "=", request.id), ("external_ref", "=", external_ref)],
            limit=1,
        )
        if refund:
            refund._centrapay_set_state("completed")

    @api.model
    def _centrapay_from_ledger(self, activities):
        """Refund activities of our requests that Odoo did not make (outside Odoo)."""
        for activity in activities.filtered(
            lambda a: a.activity_type == "refund" and a.request_id
        ):
            known = self.search(
                [
                    ("request_id", "=", activity.request_id.id),
                    "|",
                    ("external_ref", "=", activity.external_ref or ""),
                    ("activity_number", "=", activity.activity_number),
                ],
                limit=1,
            )
            if known:
                values = {}
                if not known.short_code and activity.short_code:
                    values["short_code"] = activity.short_code
                if known.state in ("draft", "unknown", "failed"):
                    # Its answer was lost, but Centrapay made it: the ledger says so.
                    known._centrapay_set_state("initiated", error=False, **values)
                elif values:
                    known.sudo().write(values)
                continue
            self.create(
                {
                    "request_id": activity.request_id.id,
                    "amount": activity.amount,
                    "external_ref": activity.external_ref
                    or f"outside/{activity.activity_number}",
                    "state": "initiated",
                    "short_code": activity.short_code,
                    "activity_number": activity.activity_number,
                    "origin": "outside",
                }
            )

    # --- Back office --------------------------------------------------------------

    def action_centrapay_retry(self):
        """Send again, with the same externalRef, a refund whose outcome is unknown."""
        self.check_access("write")
        for refund in self.filtered(lambda r: r.state in ("draft", "unknown")):
            refund.sudo()._centrapay_send()
        return self[:1]._centrapay_notification()

    def _centrapay_notification(self):
        """Tell the manager what became of the refund (it is kept in any case)."""
        self.ensure_one()
        if self.state in ("initiated", "completed"):
            kind, message = (
                "success",
                self.env._(
                    "Centrapay accepted the refund of %(amount)s (%(code)s).",
                    amount=self.currency_id.format(self.amount),
                    code=self.short_code or self.external_ref,
                ),
            )
        elif self.state == "failed":
            kind, message = "danger", self.error
        else:
            kind, message = (
                "warning",
                self.error
                or self.env._(
                    "The refund was not sent yet. Retry it from the request."
                ),
            )
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {
                "type": kind,
                "message": message,
                "sticky": kind != "success",
                "next": {"type": "ir.actions.act_window_close"},
            },
        }

    # --- What the POS sees --------------------------------------------------------

    def _centrapay_public_state(self):
        """The refund as the POS may see it."""
        self.ensure_one()
        return {
            "refund_id": self.id,
            "centrapay_id": self.request_id.centrapay_id,
            "short_code": self.short_code or False,
            "request_short_code": self.request_id.short_code or False,
            "amount": self.amount,
            "status": self.state,
            "final": self.state in ("initiated", "completed", "failed"),
            "accepted": self.state in ("initiated", "completed"),
            "error": self.error or False,
            "payment_uuid": self.pos_payment_uuid or False,
            "external_ref": self.external_ref,
        }
