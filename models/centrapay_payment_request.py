import json
import logging
import re
import threading
from datetime import timedelta
from decimal import Decimal

from odoo import api, fields, models
from odoo.exceptions import UserError
from odoo.tools import SQL, float_repr
from odoo.tools.sql import create_index

from .. import const
from ..centrapay import errors as cp_errors
from ..centrapay.branding import asset_types_of
from ..centrapay.client import is_our_request
from ..centrapay.line_items import Basket, parse_basket
from ..centrapay.line_items import line_items as basket_line_items
from ..centrapay.money import to_minor_units
from ..centrapay.pending import GIVE_UP_NEVER_CREATED, void_or_give_up
from ..centrapay.status import map_payment_request, refunded_after
from ..error_messages import (
    ERROR_MESSAGES,
    centrapay_code_message,
    centrapay_error_message,
)
from ..locks import lock_rows

_logger = logging.getLogger(__name__)

# The creates of this process that hold their own cursors (const.CREATES_AT_ONCE).
_CREATE_TURNS = threading.BoundedSemaphore(const.CREATES_AT_ONCE)

STATUSES = [
    ("draft", "Creating"),
    ("new", "Waiting for payment"),
    ("paid", "Paid"),
    ("cancelled", "Cancelled"),
    ("expired", "Expired"),
    ("error", "Failed"),
]

# The only moves ``status`` may make (see _centrapay_set_status). A final status
# never becomes pending again. ``paid`` may still become ``cancelled`` when we
# learn late that our void refunded the payment; ``error`` (we gave up) yields
# to what Centrapay later says.
TRANSITIONS = {
    "draft": {"new", "paid", "cancelled", "expired", "error"},
    "new": {"paid", "cancelled", "expired", "error"},
    "paid": {"cancelled"},
    "cancelled": set(),
    "expired": set(),
    "error": {"paid", "cancelled", "expired"},
}

# Control characters are stripped from what the POS sends on to Centrapay.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")

# The void's refund may be stamped a little before our clock's void time.
_VOID_CLOCK_SKEW = timedelta(seconds=30)


def clean_text(value, limit):
    """A printable, bounded string from POS input (or '')."""
    return _CONTROL.sub("", str(value or "")).strip()[:limit]


class CentrapayPaymentRequest(models.Model):
    """A Centrapay Payment Request made by the POS, and its state machine.

    The Centrapay calls for one request (create, read, void) live here; when and
    how often they happen is the engine's business (centrapay.engine).
    """

    _name = "centrapay.payment.request"
    _inherit = ["centrapay.engine.record"]
    _description = "Centrapay Payment Request"
    _order = "id desc"
    _rec_name = "name"
    _check_company_auto = True

    name = fields.Char(compute="_compute_name", store=True)
    centrapay_id = fields.Char("Centrapay ID", readonly=True, index=True, copy=False)
    short_code = fields.Char(readonly=True, index=True, copy=False)
    url = fields.Char("Pay URL", readonly=True, copy=False)
    amount = fields.Monetary(readonly=True, required=True)
    currency_id = fields.Many2one("res.currency", readonly=True, required=True)
    status = fields.Selection(
        STATUSES, default="draft", required=True, readonly=True, index=True
    )
    status_changed_at = fields.Datetime(readonly=True)
    expires_at = fields.Datetime(readonly=True)
    external_ref = fields.Char(
        "External Reference", readonly=True, required=True, copy=False, index=True
    )
    merchant_config_id = fields.Char("Merchant Config ID", readonly=True)
    merchant_id = fields.Char("Merchant ID", readonly=True)
    terminal_id = fields.Char(readonly=True)
    device_id = fields.Char(readonly=True)
    operator_id = fields.Char(readonly=True)
    patron_not_present = fields.Boolean(
        "Customer Not Present",
        readonly=True,
        help="Created for a customer who is not at the counter (phone order): "
        "sent to Centrapay as patronNotPresent.",
    )
    payment_method_id = fields.Many2one(
        "pos.payment.method",
        readonly=True,
        required=True,
        ondelete="restrict",
        check_company=True,
    )
    config_id = fields.Many2one(
        "pos.config", "Point of Sale", readonly=True, check_company=True
    )
    session_id = fields.Many2one(
        "pos.session", readonly=True, index=True, check_company=True
    )
    pos_order_id = fields.Many2one(
        "pos.order", "Order", readonly=True, index=True, check_company=True
    )
    pos_payment_id = fields.Many2one(
        "pos.payment", "Payment", readonly=True, index=True, check_company=True
    )
    pos_order_uuid = fields.Char(readonly=True, index=True)
    pos_payment_uuid = fields.Char(readonly=True, index=True)
    paid_by_description = fields.Char("Paid With", readonly=True)
    asset_types = fields.Char("Asset Types", readonly=True)
    accepted_asset_types = fields.Char(
        readonly=True,
        help="What the merchant config accepted, as the create's answer listed "
        "it: the method's cashier label follows the last one.",
    )
    paid_by_json = fields.Text(readonly=True)
    cancellation_reason = fields.Char(readonly=True)
    activity_ids = fields.One2many(
        "centrapay.payment.activity", "request_id", readonly=True
    )
    refund_ids = fields.One2many("centrapay.refund", "request_id", readonly=True)
    refunded_amount = fields.Monetary(compute="_compute_refunded_amount")
    refund_status = fields.Selection(
        [("partial", "Partly refunded"), ("full", "Refunded")],
        string="Refunded",
        compute="_compute_refund_status",
        search="_search_refund_status",
        help="Whether part or all of a paid request was given back (refunds "
        "sent or made, or a void that refunded a late payment).",
    )
    last_error = fields.Char(readonly=True)
    unknown_error_count = fields.Integer(readonly=True)
    error_count = fields.Integer(
        readonly=True, help="Consecutive failed calls of any kind (for the backoff)."
    )
    void_requested = fields.Boolean(readonly=True)
    pos_told_paid = fields.Boolean(
        "Till Told Paid",
        readonly=True,
        help="A till read this request as paid: the customer may have left with "
        "the goods, so Odoo never gives such a payment back by itself.",
    )
    void_attempted_at = fields.Datetime(readonly=True)
    refunded_by_void = fields.Boolean(
        readonly=True,
        help="The patron paid just before our void, which refunded the payment.",
    )
    given_back = fields.Boolean(
        "Given Back",
        readonly=True,
        help="The till abandoned this payment, and Odoo is done giving it "
        "back: refunded, refused by Centrapay, or nothing left to refund.",
    )
    ledger_pending = fields.Boolean(
        readonly=True, help="Final, and its activities are not in the ledger yet."
    )
    read_now = fields.Boolean(
        readonly=True,
        help="A feed activity or a webhook concerns it: read it first, from the "
        "feed's share of the budget.",
    )
    last_read_at = fields.Datetime(readonly=True)
    next_poll_at = fields.Datetime(readonly=True, index=True)
    company_id = fields.Many2one(
        "res.company", required=True, readonly=True, default=lambda s: s.env.company
    )

    _sql_constraints = [
        (
            "external_ref_unique",
            "unique(external_ref)",
            "Each Centrapay request needs its own external reference.",
        ),
    ]

    @api.depends("refund_ids.amount", "refund_ids.state")
    def _compute_refunded_amount(self):
        for request in self:
            request.refunded_amount = sum(
                r.amount
                for r in request.refund_ids
                if r.state in ("unknown", "initiated", "completed")
            )

    @api.depends("refunded_amount", "amount", "refunded_by_void")
    def _compute_refund_status(self):
        for request in self:
            if request.refunded_by_void or (
                request.refunded_amount
                and request.currency_id.compare_amounts(
                    request.refunded_amount, request._centrapay_taken()
                )
                >= 0
            ):
                request.refund_status = "full"
            elif request.refunded_amount:
                request.refund_status = "partial"
            else:
                request.refund_status = False

    def _search_refund_status(self, operator, value):
        if operator not in ("=", "!=", "in", "not in"):
            raise NotImplementedError(operator)
        values = {value} if operator in ("=", "!=") else set(value or ())
        candidates = self.search(
            [
                "|",
                ("refunded_by_void", "=", True),
                ("refund_ids.state", "in", ("unknown", "initiated", "completed")),
            ]
        )
        ids = candidates.filtered(lambda r: r.refund_status in values).ids
        if False in values:
            operator = "not in" if operator in ("=", "in") else "in"
            ids = candidates.filtered(lambda r: r.refund_status not in values).ids
            return [("id", operator, ids)]
        return [("id", "in" if operator in ("=", "in") else "not in", ids)]

    def init(self):
        # The engine looks four times a second for the few requests its steps
        # have work for, among every request ever made: small indexes of those
        # few, so that a pass costs the same after a year as on the first day.
        cr = self.env.cr
        # 18.0.1.1.0's first index of the give-back step also kept the payments
        # a void refunded, which the step never selects.
        cr.execute("DROP INDEX IF EXISTS centrapay_payment_request_abandoned_idx")
        for name, where in (
            ("ledger", "ledger_pending"),
            ("external", "external_pending"),
            # The engine's ``_centrapay_abandoned``, less its moments.
            ("give_back", "status = 'paid' AND pos_payment_id IS NULL"
             " AND given_back IS NOT TRUE"
             " AND NOT COALESCE(refunded_by_void, FALSE)"
             " AND ((void_requested AND NOT COALESCE(pos_told_paid, FALSE))"
             "      OR pos_abandoned_at IS NOT NULL)"),
        ):  # fmt: skip
            create_index(
                cr, f"centrapay_payment_request_{name}_idx", self._table, ["id"],
                where=where,
            )  # fmt: skip

    def _centrapay_taken(self):
        """What Centrapay took for this request: its amount, unless only part
        of it was paid (partial payments, doc §10.3)."""
        self.ensure_one()
        return self.amount

    def _centrapay_refundable(self):
        """What is left to refund: what Centrapay took, less every refund that
        holds part of it."""
        self.ensure_one()
        if self.status != "paid" or self.refunded_by_void:
            return 0.0
        held = sum(
            r.amount for r in self.refund_ids if r.state in const.REFUND_HELD_STATES
        )
        return self.currency_id.round(self._centrapay_taken() - held)

    @api.depends("short_code", "external_ref")
    def _compute_name(self):
        for request in self:
            request.name = request.short_code or request.external_ref

    # --- The state machine --------------------------------------------------------

    def _centrapay_set_status(self, status, message=None, **values):
        """The only place that changes ``status``. Returns False if refused.

        A move outside TRANSITIONS is refused and logged. A change is pushed to
        the POS once, but for a draft becoming new: the till that created it
        shows the QR code from its create's answer, and a push would only make
        it ask again. A final status also wakes the engine, which then brings
        the request's activities into the ledger. No Centrapay call here.
        """
        self.ensure_one()
        if status != self.status and status not in TRANSITIONS[self.status]:
            _logger.info(
                "Centrapay request %s: refused status change %s -> %s",
                self.id,
                self.status,
                status,
            )
            return False
        changed = status != self.status
        created = self.status == "draft" and status == "new"
        if status == "error":
            values["last_error"] = message or self.last_error
        if changed:
            values.update(status=status, status_changed_at=fields.Datetime.now())
            if status in const.FINAL_STATUSES:
                values.update(ledger_pending=True, next_poll_at=False)
        if values:
            self.sudo().write(values)
        if changed:
            if not created:
                self._centrapay_notify_pos()
            if status in const.FINAL_STATUSES:
                self.env["centrapay.engine"]._centrapay_wake()
        return True

    def _centrapay_apply(self, payment_request):
        """Apply what Centrapay says about this request (a read, create or void)."""
        self.ensure_one()
        if self.status == "draft" and isinstance(payment_request, dict):
            # The create's answer lists what the merchant config accepts (CP-CORE-3).
            types = asset_types_of(payment_request.get("paymentOptions"))
            self.sudo().accepted_asset_types = ",".join(sorted(set(types))) or False
        mapped = map_payment_request(
            payment_request, refunded_by_void=self.refunded_by_void
        )
        got = mapped["values"]
        values = {
            "cancellation_reason": got["cancellation_reason"] or False,
            "last_read_at": fields.Datetime.now(),
            "unknown_error_count": 0,
            "error_count": 0,
            "last_error": False,
        }
        for field in ("centrapay_id", "short_code", "expires_at", "merchant_id"):
            if got.get(field):
                values[field] = got[field]
        if got.get("config_id"):
            values["merchant_config_id"] = got["config_id"]
        if got.get("url") and got["url"] != self.url:
            values["url"] = got["url"]
        if got.get("paid_by"):
            values.update(
                paid_by_description=got["paid_by_description"],
                asset_types=got["asset_types"],
                paid_by_json=json.dumps(got["paid_by"], default=str),
            )
        values.update(self._centrapay_extension_values(got))
        self._centrapay_set_status(mapped["status"], **values)

    def _centrapay_extension_values(self, got):
        """The record's values for what the protocol extensions add to a read
        (``got``: the mapping's values); extended per extension."""
        return {}

    def _centrapay_note_error(self, exc, unknown=False):
        """Keep a failed call on the request (message, counters); log it."""
        vals = {
            "last_error": self._centrapay_error_message(exc),
            "error_count": self.error_count + 1,
        }
        if unknown:
            vals["unknown_error_count"] = self.unknown_error_count + 1
        self.write(vals)
        _logger.info("Centrapay request %s (%s): %r", self.id, self.external_ref, exc)

    # --- Creation -----------------------------------------------------------------

    @api.model
    def _centrapay_create_for_line(self, method, session, amount, data):
        """The public state of a payment line's open request, created when needed.

        A request of the same line, method, session and company, for the same
        amount, is reused; one for another amount is voided first, so the
        patron can never pay a stale QR code. Raises UserError for the cashier.
        """
        payment_uuid = data["payment_uuid"]
        currency = method._centrapay_currency()
        line_requests = self.search(
            [
                ("pos_payment_uuid", "=", payment_uuid),
                ("payment_method_id", "=", method.id),
                ("session_id", "=", session.id),
                ("company_id", "=", method.company_id.id),
                ("status", "in", (*const.PENDING_STATUSES, "paid")),
            ]
        )
        open_requests = line_requests.filtered(
            lambda r: r.status in const.PENDING_STATUSES
        )
        paid = line_requests.filtered(
            lambda r: (
                r.status == "paid" and not r.refunded_by_void and not r.pos_payment_id
            )
        )[:1]
        if paid:
            # Paid while the POS was away (a reload): that is this line's payment.
            return paid._centrapay_public_state()
        barcode = data.get("barcode")
        # The barcode flow: decoded (E17) before anything is stored or voided,
        # so a refused code leaves the line as it was.
        scanned = self._centrapay_decode_barcode(method, barcode) if barcode else {}
        # The Farmlands discount (CP-ASSET-3) goes with a Farmlands card only.
        farmlands = self._centrapay_farmlands_values(
            method, scanned, data, open_requests
        )
        for request in open_requests:
            if (
                request._centrapay_matches_scan(scanned)
                and request.status == "new"
                and not request.void_requested
                and request.currency_id == currency
                and request.currency_id.compare_amounts(request.amount, float(amount))
                == 0
                and request.expires_at
                and request.expires_at > fields.Datetime.now()
            ):
                return request._centrapay_public_state()
            request._centrapay_void(reason="superseded")
            if request.status == "paid":
                # The patron paid the old QR code just now: that is this line's
                # payment, whatever the new amount. Never ask to pay twice.
                return request._centrapay_public_state()
        values = {
            "amount": float(amount),
            "currency_id": currency.id,
            "external_ref": self._centrapay_new_external_ref(data),
            "payment_method_id": method.id,
            "merchant_config_id": method.centrapay_merchant_config_id,
            "merchant_id": method.centrapay_merchant_id or False,
            "config_id": session.config_id.id,
            "session_id": session.id,
            "pos_order_uuid": data.get("order_uuid") or False,
            "pos_payment_uuid": payment_uuid,
            "terminal_id": session.config_id._centrapay_terminal_id(),
            "patron_not_present": bool(data.get("patron_not_present")),
            "device_id": data.get("device_id") or False,
            "operator_id": self.env.user.login,
            "company_id": method.company_id.id,
            **scanned,
            **self._centrapay_extension_create_values(method, amount, data),
            **farmlands,
        }
        return self._centrapay_create_and_send(
            values, amount, data.get("line_items"), barcode=barcode or None
        )

    @api.model
    def _centrapay_extension_create_values(self, method, amount, data):
        """What the protocol extensions store on a new request; extended."""
        return {}

    def _centrapay_extension_create_fields(self):
        """The extensions' create fields for the client (``partial_allowed``…)."""
        return {}

    @api.model
    def _centrapay_create_and_send(self, values, amount, line_items, barcode=None):
        """Store the request, commit it, then create it at Centrapay (E1).

        In a transaction of its own, committed before the call: if this server
        dies while Centrapay creates the request, the draft is already in the
        database, and the engine finds the request by its externalRef and voids
        it. Meanwhile the draft is locked, and not due for the engine until the
        call could have ended. What the draft refers to (the session, the
        method) must be committed, as a till's are. Returns the public state;
        raises UserError.
        """
        if not _CREATE_TURNS.acquire(timeout=const.CREATE_TURN_WAIT_SECONDS):
            # Nothing stored, nothing sent: the cashier presses Pay again.
            raise UserError(self.env._(ERROR_MESSAGES["create.busy"]))
        try:
            values["next_poll_at"] = fields.Datetime.now() + timedelta(
                seconds=const.CREATE_CALL_MAX_SECONDS
            )
            with self.pool.cursor() as cr:  # committed as the block ends
                request_id = self.with_env(self.env(cr=cr)).create(values).id
            with self.pool.cursor() as cr:
                request = self.with_env(self.env(cr=cr)).browse(request_id)
                request._centrapay_lock(wait=True)
                refused = None
                try:
                    request._centrapay_send_create(amount, line_items, barcode=barcode)
                except UserError as exc:
                    # What Centrapay said is committed first; then the cashier is told.
                    refused = exc
                state = request._centrapay_public_state()
        finally:
            _CREATE_TURNS.release()
        if refused:
            raise refused
        return state

    @api.model
    def _centrapay_new_external_ref(self, data):
        # Unique per attempt and per database (doc §3.7): the create
        # has no idempotency key, so a lost response is recovered by looking
        # this reference up, and two databases on one merchant account (a test
        # copy and production) must never issue the same one.
        order = clean_text(data.get("order_name") or data.get("order_uuid"), 60)
        dbuuid = self.env["ir.config_parameter"].sudo().get_param("database.uuid", "")
        seq = self.env["ir.sequence"].next_by_code("centrapay.payment.request")
        return f"{order or 'POS'}/{dbuuid[:8]}/{seq}"

    def _centrapay_send_create(self, amount, line_items, barcode=None):
        """Create the request at Centrapay (E1). Raises UserError for the cashier.

        The record is kept whatever happens: a request Centrapay may have
        created is found again (externalRef) and voided by the engine.
        ``barcode``: the patron's code (barcode flow), sent and never stored.
        """
        self.ensure_one()
        method = self.payment_method_id
        client = method._centrapay_client("create", session=self.session_id)
        try:
            response = client.create_payment_request(
                config_id=method.centrapay_merchant_config_id,
                amount=amount,
                currency=self.currency_id.name,
                external_ref=self.external_ref,
                terminal_id=self.terminal_id,
                device_id=self.device_id or self.terminal_id,
                operator_id=self.operator_id,
                line_items=self._centrapay_line_items(amount, line_items),
                expiry_seconds=method.centrapay_expiry_seconds,
                merchant_account_id=method.centrapay_merchant_account_id or None,
                patron_not_present=self.patron_not_present or None,
                barcode=barcode,
                **self._centrapay_extension_create_fields(),
            )
        except cp_errors.CentrapayUnknownOutcome as exc:
            # It may exist: the engine looks it up by externalRef and voids it.
            self._centrapay_note_error(exc, unknown=True)
            self.void_requested = True
            self.env["centrapay.engine"]._centrapay_schedule(self, delay=0)
            raise UserError(self._centrapay_error_message(exc)) from exc
        except cp_errors.CentrapayError as exc:
            # Definite: Centrapay refused it, or our budget kept it from being sent.
            self._centrapay_set_status("error", self._centrapay_error_message(exc))
            raise UserError(self._centrapay_error_message(exc)) from exc
        try:
            with self.env.cr.savepoint():
                self._centrapay_apply(response)
        except cp_errors.CentrapayError as exc:
            # Created, but its answer cannot be trusted: keep what identifies it,
            # and let the engine read it again and void it.
            centrapay_id = (
                response.get("id") if isinstance(response.get("id"), str) else None
            )
            self.write({"centrapay_id": centrapay_id or False, "void_requested": True})
            self._centrapay_note_error(exc, unknown=True)
            self.env["centrapay.engine"]._centrapay_schedule(self, delay=0)
            raise UserError(self._centrapay_error_message(exc)) from exc
        engine = self.env["centrapay.engine"]
        if self.flow == "barcode":
            # Quick Pay (doc §6.2): the first read takes the payment, so the
            # engine reads a barcode request at once.
            engine._centrapay_schedule(self, delay=0)
            return
        # Just read by the create: the engine's first own read comes at the
        # pace it will keep, so that 50 tills at once do not read in a burst.
        waiting = self.search_count(
            [
                ("payment_method_id", "=", method.id),
                ("status", "in", const.PENDING_STATUSES),
            ]
        )
        engine._centrapay_schedule(
            self,
            delay=engine._centrapay_read_interval(
                waiting, bool(method.centrapay_merchant_id or self.merchant_id)
            ),
        )

    def _centrapay_line_items(self, amount, basket):
        """Line items summing exactly to ``amount`` (centrapay/line_items.py)."""
        if not isinstance(basket, Basket):
            basket = parse_basket(basket)
        items = basket_line_items(basket, amount, self.currency_id.decimal_places)
        return items or None

    # --- Reads and voids ----------------------------------------------------------

    def _centrapay_refresh(self, interactive=False):
        """Read the request from Centrapay (E2), or find a lost create (E4);
        for the engine, not when the feed or a webhook brought the payment that
        made it paid (``_centrapay_known_paid``).

        Failures are kept on the request. Raises CentrapayBudgetExhausted, with
        nothing sent, when the account's budget is spent. A request the feed or
        a webhook flagged (``read_now``), one due at once (no ``next_poll_at``:
        a Quick Pay's first read, a void to retry) and one past its expiry are
        read from the feed's share: only routine reads yield to a busy window.
        """
        self.ensure_one()
        urgent = (
            self.read_now
            or not self.next_poll_at
            or (self.expires_at and fields.Datetime.now() >= self.expires_at)
        )
        client = self.payment_method_id._centrapay_client(
            "cashier" if interactive else "urgent" if urgent else "read",
            session=self.session_id if interactive else None,
        )
        if self.read_now:
            self.read_now = False
        paid = not interactive and self._centrapay_known_paid()
        if paid:
            # The feed or a webhook brought the payment that made it paid: a
            # read would spend a call and a round trip to say the same.
            self._centrapay_apply(paid)
            return
        try:
            if self.centrapay_id:
                self._centrapay_apply_read(
                    client, client.get_payment_request(self.centrapay_id)
                )
            else:
                self._centrapay_recover_lost_create(client)
        except cp_errors.CentrapayBudgetExhausted:
            raise
        except cp_errors.CentrapayUnknownOutcome as exc:
            self._centrapay_note_error(exc, unknown=True)
        except cp_errors.CentrapayError as exc:
            self._centrapay_note_error(exc)

    def _centrapay_known_paid(self):
        """What a read of this pending request would say, built from the
        payment that made it paid, as the feed (the ledger) or a paid webhook
        brought it; None when only a read can tell (doc §15.25).

        Centrapay gives ``paidBy`` on that payment alone. It is taken only when
        it covers the whole amount (nothing left for another tender, no
        discount) and no void of ours is under way (its read decides then).
        """
        self.ensure_one()
        if (
            self.status not in const.PENDING_STATUSES
            or not self.centrapay_id
            or self.void_requested
        ):
            return None
        told = [
            ("centrapay_request_id", "=", self.centrapay_id),
            ("paid_by_json", "!=", False),
        ]
        payment = (
            self.env["centrapay.payment.activity"]
            .sudo()
            .search(told + [("activity_type", "in", ("payment", "paid"))], limit=1)
        ) or (
            self.env["centrapay.webhook.event"]
            .sudo()
            .search(
                told + [("notification_type", "=", "payment-request:paid")], limit=1
            )
        )
        if not payment:
            return None
        body = {
            "id": self.centrapay_id,
            "status": "paid",
            "paidBy": json.loads(payment.paid_by_json),
            "remainingAmount": "0",
        }
        try:
            got = map_payment_request(body)["values"]
        except cp_errors.CentrapayUnknownOutcome as exc:
            # Not one to trust: the read tells, as before this shortcut.
            _logger.info(
                "Centrapay request %s: paidBy of %s refused: %r",
                self.id,
                payment._name,
                exc,
            )
            return None
        taken = got.get("centrapay_amount", 0) + got.get("external_amount", 0)
        return body if taken == self._centrapay_minor_amount() else None

    def _centrapay_minor_amount(self):
        """The amount asked, in Centrapay's minor units (an int)."""
        return int(
            to_minor_units(
                Decimal(float_repr(self.amount, self.currency_id.decimal_places)),
                self.currency_id.name,
            )
        )

    def _centrapay_recover_lost_create(self, client):
        """Find the request whose create answer was lost, by its externalRef.

        Only a request with exactly our externalRef, amount and currency is
        adopted; the POS gave up on it, so it is voided.
        """
        method = self.payment_method_id
        if not method.centrapay_merchant_account_id:
            self._centrapay_set_status(
                "error",
                self.env._(
                    "Centrapay did not answer the create, and without the merchant "
                    "account id it cannot be looked up. Check it in the Centrapay "
                    "portal."
                ),
            )
            return
        page = client.list_payment_requests_by_external_ref(
            self.external_ref, method.centrapay_merchant_account_id
        )
        value = {
            "amount": str(self._centrapay_minor_amount()),
            "currency": self.currency_id.name,
        }
        found = next(
            (i for i in page.items if is_our_request(i, self.external_ref, value)),
            None,
        )
        if found:
            self._centrapay_apply(client.get_payment_request(found["id"]))
        self._centrapay_void_or_give_up(found=bool(found))

    def _centrapay_void_or_give_up(self, now=None, found=None, shown_expiry=None):
        """Void this pending request, or give it up, as ``void_or_give_up`` says.

        ``found``: after a lost create's lookup, whether Centrapay listed it.
        ``shown_expiry``: the expiry the POS was shown, whose timeout counts
        (by default the request's).
        """
        self.ensure_one()
        step = void_or_give_up(
            now=now or fields.Datetime.now(),
            status=self.status,
            created_at=self.create_date,
            expires_at=shown_expiry or self.expires_at or None,
            unknown_errors=self.unknown_error_count,
            void_requested=self.void_requested,
            found=found,
        )
        if step.void:
            self._centrapay_void(reason=step.void)
        if not step.give_up or self.status not in const.PENDING_STATUSES:
            return
        if step.give_up == GIVE_UP_NEVER_CREATED:
            message = self.env._("Centrapay never created this request.")
        else:
            message = self.env._(
                "Centrapay could not be reached about this request; it was "
                "abandoned. Check it in the Centrapay portal."
            )
        self._centrapay_set_status("error", message)

    def _centrapay_lock(self, wait):
        """Lock this request's row for the transaction; False if another has it.

        ``NO KEY UPDATE``: the feed storing an activity of this request (its
        foreign key takes a key share lock) does not wait for the holder.
        """
        self.ensure_one()
        self.flush_recordset()
        # Changed since this transaction began (the engine read it meanwhile):
        # the caller's RPC fails to serialize and Odoo runs it again, as it
        # does for any conflict; expected, so not logged as a bad query.
        self.env.cr.execute(
            lock_rows(self._table, SQL("id = %s", self.id), no_key=True, wait=wait),
            log_exceptions=False,
        )
        locked = bool(self.env.cr.fetchone())
        if locked:
            self.invalidate_recordset()
        return locked

    def _centrapay_void(self, reason):
        """Void the request: Centrapay's only way to cancel it (doc §6.7).

        The request is read first: a paid one is reported paid, never voided
        here (voiding a paid request refunds it). After the void it is read
        again. If it then says paid, its activities decide: a refund made by our
        void means the sale is not paid, even when the void's own answer was lost.
        """
        self.ensure_one()
        self._centrapay_lock(wait=True)
        if self.status not in const.PENDING_STATUSES:
            return
        self.void_requested = True
        if not self.centrapay_id:
            try:
                self._centrapay_refresh(interactive=True)
            except cp_errors.CentrapayBudgetExhausted as exc:
                self._centrapay_note_error(exc)
            if not self.centrapay_id:
                return
        client = self.payment_method_id._centrapay_client(
            "void", session=self.session_id
        )
        _logger.info("Voiding Centrapay request %s (%s)", self.centrapay_id, reason)
        try:
            self._centrapay_apply_read(
                client, client.get_payment_request(self.centrapay_id)
            )
        except cp_errors.CentrapayError as exc:
            # An unknown status is exactly when a void is due (doc §7.3).
            self._centrapay_note_error(
                exc, unknown=isinstance(exc, cp_errors.CentrapayUnknownOutcome)
            )
        if self.status != "new":
            return
        # The first attempt's time: a refund since then is our void's, even
        # when every answer of that void was lost and the cashier cancels again.
        self.void_attempted_at = self.void_attempted_at or fields.Datetime.now()
        try:
            activity = client.void_payment_request(self.centrapay_id)
            if str(activity.get("type", "")).lower() == "refund":
                # Paid between our read and the void: Centrapay refunded it and
                # still says "paid" (doc §6.7). The sale is not paid.
                self.refunded_by_void = True
        except cp_errors.CentrapayError as exc:
            # REQUEST_EXPIRED, ALREADY_REFUNDED, a lost answer...: the reads
            # below tell the truth.
            self._centrapay_note_error(
                exc, unknown=isinstance(exc, cp_errors.CentrapayUnknownOutcome)
            )
        try:
            self._centrapay_apply_read(
                client, client.get_payment_request(self.centrapay_id)
            )
        except cp_errors.CentrapayError as exc:
            self._centrapay_note_error(exc, unknown=True)

    def _centrapay_apply_read(self, client, response):
        """Apply a read of this request. Once a void was attempted, a "paid"
        is checked against the activities first: a refund made since means our
        void refunded it (its answer may have been lost), so the sale is not
        paid. A failing list raises: the status stays as it was.
        """
        if (
            self.void_attempted_at
            and response.get("status") == "paid"
            and not self.refunded_by_void
        ):
            # The list decides; the ledger stores it later (the request ends,
            # ``ledger_pending``): a void never waits on the feed storing the
            # same activities at that instant.
            activities = client.list_payment_request_activities(self.centrapay_id)
            if refunded_after(activities, self.void_attempted_at - _VOID_CLOCK_SKEW):
                self.refunded_by_void = True
        self._centrapay_apply(response)

    def _centrapay_give_back(self):
        """Refund a payment the till abandoned (the cashier's cancel stands).

        The cashier cancelled, the void's outcome stayed unknown, the patron
        paid, no till was ever told it was paid (``pos_told_paid``: then the
        customer may have left with the goods), and no order line claimed the
        payment within ``ABANDONED_AFTER_SECONDS``. A refund, not a void: its
        externalRef makes a resend safe when an answer is lost (doc §8). It is
        recorded (origin "abandoned"), and reconciliation shows the request
        refunded. Returns whether a refund of it still waits to be sent.
        """
        self.ensure_one()
        if (
            self.pos_payment_id
            or not self._centrapay_till_abandoned()
            or self.status != "paid"
            or self.refunded_by_void
        ):
            return False

        def unsent():
            return self.refund_ids.filtered(lambda r: r.state in ("draft", "unknown"))

        def refused():
            # Centrapay refused it, and would refuse a new one: the refund
            # keeps its answer, and a manager decides, from reconciliation
            # ("Paid at Centrapay, no POS payment", to check).
            return self.refund_ids.filtered(
                lambda r: r.origin == "abandoned" and r.state == "failed"
            )

        left = self._centrapay_refundable()
        if waiting := unsent():
            waiting[:1]._centrapay_send()
        elif not refused() and self.currency_id.compare_amounts(left, 0) > 0:
            _logger.info(
                "Centrapay request %s: paid after the till cancelled it; refunding",
                self.id,
            )
            self.env["centrapay.refund"]._centrapay_start(
                self,
                Decimal(float_repr(left, self.currency_id.decimal_places)),
                "abandoned",
                reason=self._centrapay_give_back_reason(),
            )
        # Done once nothing waits to be sent and nothing is left to give back
        # (or Centrapay refused it): the engine's step never selects it again,
        # and a done one never crowds out a new one.
        if unsent():
            return True
        if (
            refused()
            or self.currency_id.compare_amounts(self._centrapay_refundable(), 0) <= 0
        ):
            self.given_back = True
        return False

    def _centrapay_till_abandoned(self):
        """Whether the till gave this payment up: the cashier cancelled and no
        till was told it was paid (the engine's give-back step selects the
        same in SQL)."""
        self.ensure_one()
        return self.void_requested and not self.pos_told_paid

    def _centrapay_give_back_reason(self):
        """Why a given-back payment was refunded (sent to Centrapay)."""
        return "Paid after the till cancelled it; no order took the payment."

    def _centrapay_sync_ledger(self):
        """Bring this request's activities (E9) into the ledger."""
        self.ensure_one()
        client = self.payment_method_id._centrapay_client("read")
        items = client.list_payment_request_activities(self.centrapay_id)
        self.env["centrapay.payment.activity"]._centrapay_store(items, self)
        self.ledger_pending = False

    @api.model
    def _centrapay_adopt_by_short_code(self, method, code):
        """A paid request of this merchant, found by its short code (E3).

        For a refund whose original order is not in Odoo. A request of another
        merchant, or one not paid, is refused.
        """
        client = method._centrapay_client("cashier")
        try:
            found = client.get_payment_request_by_short_code(code)
        except cp_errors.CentrapayError as exc:
            raise UserError(self._centrapay_error_message(exc)) from exc
        merchant = method.centrapay_merchant_id or (
            self.env["centrapay.account"]
            .search([("key", "=", method._centrapay_rate_key())], limit=1)
            .merchant_id
        )
        if not merchant or found.get("merchantId") != merchant:
            raise UserError(
                self.env._("This Centrapay payment was made at another merchant.")
            )
        if found.get("status") != "paid":
            raise UserError(centrapay_code_message(self.env, "NOT_PAID"))
        request = self.search([("centrapay_id", "=", found.get("id"))], limit=1)
        if request:
            if request.company_id != method.company_id:
                raise UserError(
                    self.env._("This Centrapay payment was made at another merchant.")
                )
            return request
        value = found.get("value") or {}
        currency = self.env["res.currency"].search(
            [("name", "=", value.get("currency"))], limit=1
        )
        if currency != method._centrapay_currency():
            raise UserError(
                self.env._("This Centrapay payment is in another currency.")
            )
        request = self.create(
            {
                "amount": self.env["centrapay.payment.activity"]._centrapay_amount(
                    value, currency
                ),
                "currency_id": currency.id,
                "external_ref": f"lookup/{found['id']}",
                "payment_method_id": method.id,
                "company_id": method.company_id.id,
                "centrapay_id": found["id"],
            }
        )
        request._centrapay_apply(found)
        return request

    # --- Back office --------------------------------------------------------------

    def action_centrapay_refresh(self):
        """Back office: read the request and its activities from Centrapay now."""
        self.check_access("write")
        for request in self:
            request._centrapay_lock(wait=True)
            try:
                request.sudo()._centrapay_refresh(interactive=True)
                if request.centrapay_id:
                    request.sudo()._centrapay_sync_ledger()
            except cp_errors.CentrapayError as exc:
                raise UserError(self._centrapay_error_message(exc)) from exc

    def action_centrapay_void(self):
        """Back office: void a request still waiting for payment."""
        self.check_access("write")
        for request in self.filtered(lambda r: r.status in const.PENDING_STATUSES):
            request.sudo()._centrapay_void(reason="back office")

    # --- What the POS sees --------------------------------------------------------

    def _centrapay_public_state(self):
        """The request as the POS may see it: no credentials, no internals.

        A till told "paid" after its cashier cancelled keeps the sale: that is
        recorded, as only such a payment could be given back (the write is rare,
        so a till's poll does not contend with the engine for the row).
        """
        self.ensure_one()
        if self.status == "paid" and self.void_requested and not self.pos_told_paid:
            self.sudo().pos_told_paid = True
        expires = self.expires_at
        return {
            "id": self.id,
            "centrapay_id": self.centrapay_id or False,
            "short_code": self.short_code or False,
            "url": self.url or False,
            "amount": self.amount,
            "currency": self.currency_id.name,
            "status": self.status,
            "final": self.status in const.FINAL_STATUSES,
            "expires_at": expires and expires.strftime("%Y-%m-%dT%H:%M:%SZ"),
            # Relative, so a POS whose clock is off still counts down correctly.
            "expires_in": expires
            and max(0, int((expires - fields.Datetime.now()).total_seconds())),
            "pos_timeout_seconds": const.POS_TIMEOUT_GRACE_SECONDS,
            "paid_by": self.paid_by_description or False,
            "cancellation_reason": self.cancellation_reason or False,
            "error": self.last_error if self.status == "error" else False,
            "payment_uuid": self.pos_payment_uuid,
            "patron_not_present": self.patron_not_present,
            "terminal_id": self.terminal_id or False,
            "device_id": self.device_id or False,
        }

    def _centrapay_notify_pos(self):
        """Tell the POS the status changed. It reads the details over RPC."""
        for request in self.filtered("config_id"):
            request.config_id._notify(
                const.BUS_CHANNEL,
                {
                    "request_id": request.id,
                    "payment_uuid": request.pos_payment_uuid,
                    "status": request.status,
                    "final": request.status in const.FINAL_STATUSES,
                },
            )

    # --- Messages -----------------------------------------------------------------

    @api.model
    def _centrapay_error_message(self, exc):
        """A translated, key-free message for the cashier or the back office."""
        return centrapay_error_message(self.env, exc)
